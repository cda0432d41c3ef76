"""Table tests of the service's pure parts: states, file names, loopback rule, specs, shared limits, logs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from selfinstruct.engine.throttle import LimitsConfig
from selfinstruct.errors import ConfigError, InputError
from selfinstruct.service.app import BadFileName, result_path
from selfinstruct.service.backends import BackendConfig, backend_key, parse_backend_flag, public_view
from selfinstruct.service.config import ServiceConfig, is_loopback_host, load_service_file
from selfinstruct.service.hygiene import HostPolicy
from selfinstruct.service.limits import SharedLimits
from selfinstruct.service.logs import JsonFormatter
from selfinstruct.service.spec import config_for_job, seed_path_for_job, validate_spec
from selfinstruct.service.states import RunEnd, Stop, action_target, end_state

SEEDS = Path(__file__).resolve().parents[2] / "data" / "seed_tasks.jsonl"


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


def _backends() -> dict[str, BackendConfig]:
    return {"local": BackendConfig(name="local", api_base="http://127.0.0.1:9/v1"),
            "picky": BackendConfig(name="picky", api_base="https://api.example.com/v1", api_key_env="PICKY_KEY",
                                   models=("m1",), endpoint="chat", rpm=60, max_concurrency=2)}


def test_validate_spec_keeps_only_the_backend_name(tmp_path):
    (tmp_path / "mine.jsonl").write_text(SEEDS.read_text())
    spec = validate_spec({"backend": "local", "model": "m", "seed": 3, "timeout": None, "seed_tasks": "mine.jsonl"},
                         backends=_backends(), seeds_dir=tmp_path)
    assert spec == {"kind": "generate", "backend": "local", "model": "m", "seed": 3, "seed_tasks": "mine.jsonl",
                    "mode": "online"}  # the backend's mode, stored with the job


@pytest.mark.parametrize("key", ["api_base", "api_key_env", "api_key", "key", "token", "Authorization", "secret",
                                 "password", "openai_api_key", "access_token", "base_url", "extra_headers",
                                 "MY_SECRET_THING", "token_env", "api-key"])
def test_key_like_or_url_fields_are_refused_naming_the_backends(key):
    with pytest.raises(ConfigError) as err:
        validate_spec({"backend": "local", "model": "m", key: "x"}, backends=_backends())
    assert "name a configured backend" in str(err.value) and "local, picky" in str(err.value)


@pytest.mark.parametrize("body, needle", [
    ({"model": "m"}, "missing 'backend'"),
    ({"backend": "nope", "model": "m"}, "unknown backend 'nope' (configured backends: local, picky)"),
    ({"backend": "picky", "model": "m2"}, "model 'm2' is not offered by backend 'picky' (its models: m1)"),
    ({"backend": "picky", "model": "m1", "endpoint": "completions"}, "serves the 'chat' endpoint only"),
    ({"backend": "local", "model": "m", "rpm": 5}, "belong to the backend"),
    ({"backend": "local", "model": "m", "max_concurrency": 5}, "belong to the backend"),
    ({"backend": "local", "model": "m", "seed_tasks": "/etc/passwd"}, "no paths"),
    ({"backend": "local", "model": "m", "seed_tasks": "../seeds.jsonl"}, "no paths"),
    ({"backend": "local", "model": "m", "seed_tasks": 7}, "must be a list of seed objects"),
])
def test_spec_refusals(tmp_path, body, needle):
    with pytest.raises(ConfigError) as err:
        validate_spec(body, backends=_backends(), seeds_dir=tmp_path)
    assert needle in str(err.value)


def test_no_backends_says_how_to_configure_them():
    with pytest.raises(ConfigError, match="no backends configured.*--config service.toml"):
        validate_spec({"backend": "x", "model": "m"}, backends={})


def test_seed_file_needs_a_seeds_dir_and_stays_inside_it(tmp_path):
    with pytest.raises(ConfigError, match="no seeds_dir"):
        validate_spec({"backend": "local", "model": "m", "seed_tasks": "s.jsonl"}, backends=_backends())
    outside = tmp_path / "outside.jsonl"
    outside.write_text(SEEDS.read_text())
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "link.jsonl").symlink_to(outside)
    with pytest.raises(ConfigError, match="outside the service's seeds_dir"):
        validate_spec({"backend": "local", "model": "m", "seed_tasks": "link.jsonl"}, backends=_backends(),
                      seeds_dir=tmp_path / "seeds")


def test_inline_seeds_have_seed_file_messages():
    good = {"instruction": "Say hi.", "instances": [{"input": "", "output": "hi"}]}
    with pytest.raises(InputError, match=r"seed_tasks:2: missing key 'instruction'"):
        validate_spec({"backend": "local", "model": "m", "seed_tasks": [good, {"name": "x"}]}, backends=_backends())
    with pytest.raises(InputError, match=r"seed_tasks:2: duplicate id 'a'"):
        validate_spec({"backend": "local", "model": "m", "seed_tasks": [dict(good, id="a"), dict(good, id="a")]},
                      backends=_backends())
    with pytest.raises(InputError, match="no seed tasks"):
        validate_spec({"backend": "local", "model": "m", "seed_tasks": []}, backends=_backends())


def test_run_config_takes_url_limits_and_endpoint_from_the_backend(tmp_path):
    spec = validate_spec({"backend": "picky", "model": "m1", "seed_tasks": [{"instruction": "Say hi."}]},
                         backends=_backends())
    seeds = seed_path_for_job(spec, tmp_path / "run", None)
    config = config_for_job(spec, tmp_path / "run", backend=_backends()["picky"], seed_path=seeds)
    assert config.endpoint.api_base == "https://api.example.com/v1" and config.endpoint.endpoint == "chat"
    assert (config.limits.rpm, config.limits.max_concurrency) == (60, 2)
    assert config.generation.seed_tasks == str(tmp_path / "run" / "seed_tasks.jsonl")
    assert json.loads(seeds.read_text()) == {"instruction": "Say hi."}
    with pytest.raises(ConfigError, match="no longer accepted"):  # a spec stored before backends existed
        config_for_job({"api_base": "http://x/v1", "model": "m"}, tmp_path, backend=_backends()["local"],
                       seed_path=None)


def test_backend_key_reads_only_its_own_variable():
    picky = _backends()["picky"]
    assert backend_key(picky, {"PICKY_KEY": "sk-1", "OTHER": "sk-2"}) == "sk-1"
    assert backend_key(_backends()["local"], {"OPENAI_API_KEY": "sk-2"}) is None
    with pytest.raises(ConfigError) as err:
        backend_key(picky, {"OPENAI_API_KEY": "sk-2"})
    assert "'picky'" in str(err.value) and "PICKY_KEY" not in str(err.value)


def test_public_view_has_no_key_variable():
    view = public_view(BackendConfig(name="o", api_base="https://api.example.com/v1", api_key_env="SECRET_VAR",
                                     rpm=5000, tpm=2_000_000))
    assert "SECRET_VAR" not in json.dumps(view)
    assert view["limits"] == {"rpm": 5000, "tpm": 2_000_000, "max_concurrency": 64} and view["requires_key"]


def test_service_file_parses_backends_and_rejects_unknown_keys(tmp_path):
    (tmp_path / "seeds").mkdir()
    path = tmp_path / "service.toml"
    path.write_text('seeds_dir = "seeds"\nallowed_origins = ["http://localhost:3000"]\n'
                    '[backends.local-vllm]\napi_base = "http://127.0.0.1:8000/v1"\nmodels = ["Qwen/Qwen2.5-7B"]\n'
                    'rpm = 6000\nmax_concurrency = 64\n'
                    '[backends.openai]\napi_base = "https://api.openai.com/v1"\napi_key_env = "OPENAI_API_KEY"\n'
                    'rpm = 5000\ntpm = 2000000\n')
    settings = load_service_file(path)
    assert sorted(settings["backends"]) == ["local-vllm", "openai"]
    assert settings["backends"]["local-vllm"].models == ("Qwen/Qwen2.5-7B",)
    assert settings["seeds_dir"] == (tmp_path / "seeds").resolve()
    ServiceConfig(state_dir=tmp_path, **settings)
    for text, needle in [('[backends.x]\napi_base = "http://127.0.0.1:1/v1"\napi_key = "sk"\n',
                          "unknown key 'api_key' in [backends.x]"),
                         ('[backends.x]\nrpm = 5\n', "[backends.x] needs api_base"),
                         ('[backends.x]\napi_base = "http://127.0.0.1:1/v1"\nrpm = -1\n',
                          "rpm must be a positive number"),
                         ('max_jobs = 3\n', "unknown key 'max_jobs'"),
                         ('allowed_origins = "*"\n', "allowed_origins must be a list"),
                         ('allowed_origins = ["*"]\n', "scheme://host[:port]"),
                         ('allowed_hosts = ["a:b:c"]\n', "allowed_hosts entries are 'name' or 'name:port'")]:
        path.write_text(text)
        with pytest.raises(ConfigError) as err:
            load_service_file(path)
        assert needle in str(err.value) and str(path) in str(err.value)


@pytest.mark.parametrize("text, error", [
    ("local=http://127.0.0.1:8000/v1", None), ("l=http://localhost:8000/v1", None), ("l=http://[::1]:80/v1", None),
    ("l=https://api.openai.com/v1", "not a loopback URL"), ("l=http://10.0.0.5/v1", "not a loopback URL"),
    ("nourl", "NAME=URL"), ("bad name=http://127.0.0.1/v1", "backend name"),
])
def test_backend_flag_is_loopback_only(text, error):
    if error is None:
        assert parse_backend_flag(text).api_key_env is None
    else:
        with pytest.raises(ConfigError, match=error):
            parse_backend_flag(text)


def test_shared_limits_are_per_backend():
    limits = SharedLimits()
    cfg = LimitsConfig(rpm=600, max_concurrency=4)
    a = limits.acquire("a", "one", "http://h/v1", cfg)
    b = limits.acquire("b", "one", "http://h/v1", cfg)
    c = limits.acquire("c", "two", "http://h/v1", cfg)  # same URL, another backend (another account)
    assert a is b and c is not a
    snap = {e["backend"]: e["jobs"] for e in limits.snapshot()}
    assert snap == {"one": ["a", "b"], "two": ["c"]}
    limits.release("a")
    limits.release("b")
    assert limits.acquire("e", "one", "http://h/v1", cfg) is not a  # fresh once unused


@pytest.mark.parametrize("header, ok", [
    ("127.0.0.1:8700", True), ("localhost:8700", True), ("LOCALHOST:8700", True), ("[::1]:8700", True),
    ("127.0.0.1:8701", False), ("localhost", False), ("evil.example:8700", False), ("evil.example", False),
    ("svc.example", True), ("svc.example:443", True), ("proxy.example:8443", True), ("proxy.example:8444", False),
    ("", False), (None, False), ("::1", False), ("[::1", False),
])
def test_host_policy(header, ok):
    policy = HostPolicy(bound_host="127.0.0.1", allowed=("svc.example", "proxy.example:8443"), port=8700)
    assert policy.accepts(header) is ok


def test_json_log_lines_carry_extra_fields():
    record = logging.LogRecord("selfinstruct.service", logging.INFO, __file__, 1, "job %s", ("started",), None)
    record.event, record.job = "job_start", "abc"
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "job started" and line["event"] == "job_start" and line["job"] == "abc"
    assert line["level"] == "info" and line["ts"].endswith("Z")


def test_public_surface_is_pinned():
    import selfinstruct.service as service

    assert service.__all__ == ["ServiceConfig", "is_loopback_host"]


def test_the_examples_parse_and_validate():
    examples = Path(__file__).resolve().parents[2] / "examples"
    settings = load_service_file(examples / "service.toml")
    job = json.loads((examples / "service_job.json").read_text())
    spec = validate_spec(job, backends=settings["backends"], seeds_dir=settings["seeds_dir"])
    assert spec["backend"] == "openai"
    validate_spec({"backend": "local-vllm", "model": "Qwen/Qwen2.5-7B", "seed_tasks": "bdd_seed_tasks.jsonl"},
                  backends=settings["backends"], seeds_dir=settings["seeds_dir"])
