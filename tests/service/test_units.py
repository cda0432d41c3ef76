"""Table tests of the service's pure parts: states, file names, loopback rule, specs, shared limits, logs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from selfinstruct.engine.throttle import LimitsConfig
from selfinstruct.errors import ConfigError
from selfinstruct.service.app import BadFileName, result_path
from selfinstruct.service.config import ServiceConfig, is_loopback_host
from selfinstruct.service.limits import SharedLimits
from selfinstruct.service.logs import JsonFormatter
from selfinstruct.service.spec import resolve_api_key, validate_spec
from selfinstruct.service.states import RunEnd, Stop, action_target, end_state


@pytest.mark.parametrize("action, state, target", [
    ("pause", "queued", "paused"), ("pause", "running", "paused"), ("pause", "paused", None),
    ("pause", "done", None), ("resume", "paused", "queued"), ("resume", "failed", "queued"),
    ("resume", "running", None), ("resume", "cancelled", None), ("cancel", "queued", "cancelled"),
    ("cancel", "running", "cancelled"), ("cancel", "paused", "cancelled"), ("cancel", "done", None),
    ("cancel", "cancelled", None),
])
def test_action_targets(action, state, target):
    assert action_target(action, state) == target


@pytest.mark.parametrize("end, stop, state", [
    (RunEnd(finished=True), None, "done"),
    (RunEnd(finished=True), Stop.PAUSE, "done"),       # it finished while draining: the work is complete
    (RunEnd(finished=False), Stop.PAUSE, "paused"),
    (RunEnd(finished=False), Stop.CANCEL, "cancelled"),
    (RunEnd(finished=False), Stop.REQUEUE, "queued"),
    (RunEnd(finished=False, stalled=True, accepted=3, target=9), None, "failed"),
    (RunEnd(finished=False, failed_requests=True), None, "failed"),
    (RunEnd(finished=False, error="boom"), None, "failed"),
    (RunEnd(finished=False, error="boom"), Stop.REQUEUE, "failed"),
    (RunEnd(finished=False, error="boom"), Stop.CANCEL, "cancelled"),
])
def test_end_states(end, stop, state):
    got, error = end_state(end, stop)
    assert got == state
    assert (error is not None) == (state == "failed")


def test_stalled_message_names_the_counts():
    _, error = end_state(RunEnd(finished=False, stalled=True, accepted=3, target=9), None)
    assert "stalled" in error and "3/9" in error


@pytest.mark.parametrize("name", ["../x", "a/../../x", "/etc/passwd", "", ".", "a\\..\\x", "state.sqlite3",
                                  "state.sqlite3-wal", "x\x00y"])
def test_result_path_rejects(tmp_path, name):
    with pytest.raises(BadFileName):
        result_path(tmp_path, name)


def test_result_path_accepts_nested_and_catches_symlinks(tmp_path):
    (tmp_path / "finetuning").mkdir()
    assert result_path(tmp_path, "finetuning/alpaca.json") == (tmp_path / "finetuning" / "alpaca.json").resolve()
    outside = tmp_path.parent / f"{tmp_path.name}-outside.txt"
    outside.write_text("secret")
    (tmp_path / "link.txt").symlink_to(outside)
    with pytest.raises(BadFileName):
        result_path(tmp_path, "link.txt")


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("127.8.9.1", True), ("localhost", True),
                                            ("::1", True), ("[::1]", True), ("0.0.0.0", False), ("::", False),
                                            ("10.0.0.5", False), ("example.com", False)])
def test_is_loopback_host(host, loopback):
    assert is_loopback_host(host) is loopback


def test_exposed_service_needs_a_token(tmp_path):
    with pytest.raises(ConfigError, match="refusing to bind 0.0.0.0"):
        ServiceConfig(state_dir=tmp_path, host="0.0.0.0")
    with pytest.raises(ConfigError, match="at least 16"):
        ServiceConfig(state_dir=tmp_path, host="0.0.0.0", token="short")
    cfg = ServiceConfig(state_dir=tmp_path, host="0.0.0.0", token="x" * 32)
    assert "x" * 32 not in repr(cfg)
    ServiceConfig(state_dir=tmp_path)  # loopback without a token is fine


def test_validate_spec_normalizes(tmp_path):
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text((Path(__file__).resolve().parents[2] / "data" / "seed_tasks.jsonl").read_text())
    spec = validate_spec({"api_base": "http://127.0.0.1:9/v1", "model": "m", "rpm": 60, "tpm": None,
                          "seed_tasks": str(seeds)})
    assert spec == {"kind": "generate", "api_base": "http://127.0.0.1:9/v1", "model": "m", "rpm": 60,
                    "seed_tasks": str(seeds.resolve())}


@pytest.mark.parametrize("env, base, expect", [
    ({"K": "sk-1"}, "https://api.example.com/v1", "sk-1"),
    ({}, "http://127.0.0.1:8000/v1", None),
    ({"K": ""}, "http://localhost:8000/v1", None),
])
def test_resolve_api_key(env, base, expect):
    assert resolve_api_key("K", base, env) == expect


def test_resolve_api_key_missing_for_remote_names_the_variable():
    with pytest.raises(ConfigError, match="environment variable K is not set"):
        resolve_api_key("K", "https://api.example.com/v1", {})


def test_shared_limits_follow_the_key_not_the_job():
    limits = SharedLimits()
    cfg = LimitsConfig(rpm=600, max_concurrency=4)
    a = limits.acquire("a", "http://h/v1", "sk-1", cfg)
    b = limits.acquire("b", "http://h/v1/", "sk-1", LimitsConfig(rpm=1200, max_concurrency=8))
    c = limits.acquire("c", "http://h/v1", "sk-2", cfg)
    d = limits.acquire("d", "http://other/v1", "sk-1", cfg)
    assert a is b and b.config == cfg          # first job's limits hold for the account
    assert c is not a and d is not a
    snap = {(e["endpoint"], e["group"]): e["jobs"] for e in limits.snapshot()}
    assert ["a", "b"] in snap.values()
    assert "sk-1" not in json.dumps(limits.snapshot())
    limits.release("a")
    limits.release("b")
    assert limits.acquire("e", "http://h/v1", "sk-1", LimitsConfig(rpm=60)) is not a  # fresh once unused


def test_json_log_lines_carry_extra_fields():
    record = logging.LogRecord("selfinstruct.service", logging.INFO, __file__, 1, "job %s", ("started",), None)
    record.event, record.job = "job_start", "abc"
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "job started" and line["event"] == "job_start" and line["job"] == "abc"
    assert line["level"] == "info" and line["ts"].endswith("Z")


def test_public_surface_is_pinned():
    import selfinstruct.service as service

    assert service.__all__ == ["ServiceConfig", "is_loopback_host"]
