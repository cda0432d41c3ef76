"""A backend's mode (online, batch, auto) is its jobs' default; a batch backend takes batch jobs only, and a
backend cannot be batch with replicas. Over real HTTP against the daemon and the simulated Batch API."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

import pytest

from selfinstruct.errors import ConfigError
from selfinstruct.service.backends import BackendConfig
from selfinstruct.service.config import load_service_file
from selfinstruct.service.spec import validate_spec
from workers.simulated import SimConfig, start_in_thread

from .helpers import job_spec, selfinstruct_command, sim_backend, to_toml


def test_a_batch_backend_runs_its_jobs_through_batches_alone_and_refuses_online_ones(daemon_factory, tmp_path):
    with start_in_thread(SimConfig(seed=3), port=0) as server:
        config = tmp_path / "service.toml"
        config.write_text(to_toml({"backends": {
            "batchy": sim_backend(server.url, mode="batch", batch_poll_interval=0.05, batch_window="48h"),
            "plain": sim_backend(server.url)}}) +
            f'\n[backends.pool]\napi_base = "{server.url}"\n[[backends.pool.replicas]]\napi_base = "{server.url}"\n')
        d = daemon_factory(args=("--config", str(config))).start()
        shown = {b["name"]: b for b in d.call("GET", "/backends")[1]["backends"]}
        assert {n: (b["mode"], b["batch_poll_interval"], b["batch_window"]) for n, b in shown.items()} == {
            "batchy": ("batch", 0.05, "48h"), "plain": ("online", None, None), "pool": ("online", None, None)}

        for body, backend in ((job_spec("batchy", mode="online"), "batchy"), (job_spec("batchy", mode="auto"), "batchy"),
                              (job_spec("pool", mode="batch"), "pool")):
            status, answer = d.call("POST", "/jobs", body)
            assert status == 400 and f"backend {backend!r}" in answer["error"], (body, answer)
        assert d.call("GET", "/jobs")[1] == {"jobs": []}

        jid = d.submit(job_spec("batchy", num_instructions=8))          # no mode: the backend's
        done = d.wait_state(jid, ("done",), timeout=90)
        assert done["spec"]["mode"] == "batch" and done["spec"]["batch_window"] == "48h"
        assert done["progress"]["accepted_instructions"] >= 8
        stats = server.stats(with_ids=False)
        assert stats["requests"] == 0, stats                             # not one online completion call
        submitted = stats["batch"]["submitted"]
        assert submitted
        for b in submitted:                                              # the backend's window, passed through
            with urllib.request.urlopen(f"{server.url}/batches/{b['batch_id']}", timeout=10) as resp:
                assert json.load(resp)["completion_window"] == "48h"
        ids = [cid for b in submitted for cid in b["custom_ids"]]
        assert len(ids) == len(set(ids))


def test_backend_mode_is_the_default_and_only_a_batch_backend_forbids_other_modes():
    backends = {"on": BackendConfig(name="on", api_base="http://127.0.0.1:9/v1"),
                "auto": BackendConfig(name="auto", api_base="http://127.0.0.1:9/v1", mode="auto"),
                "batch": BackendConfig(name="batch", api_base="http://127.0.0.1:9/v1", mode="batch")}
    table = [("on", None, "online"), ("on", "batch", "batch"), ("auto", None, "auto"), ("auto", "online", "online"),
             ("batch", None, "batch"), ("batch", "batch", "batch")]
    for name, asked, runs in table:
        body = {"backend": name, "model": "m", **({"mode": asked} if asked else {})}
        assert validate_spec(body, backends=backends)["mode"] == runs, (name, asked)
    for asked in ("online", "auto"):
        with pytest.raises(ConfigError, match=f"backend 'batch' takes batch jobs only.*{asked!r}"):
            validate_spec({"backend": "batch", "model": "m", "mode": asked}, backends=backends)

    examples = load_service_file(Path(__file__).resolve().parents[2] / "examples" / "service.toml")["backends"]
    assert validate_spec({"backend": "openai-batch", "model": "gpt-4o-mini"}, backends=examples) == {
        "kind": "generate", "backend": "openai-batch", "model": "gpt-4o-mini", "mode": "batch",
        "batch_poll_interval": 60, "batch_window": "24h"}


def test_a_bad_mode_or_batch_with_replicas_fails_the_config_load_naming_backend_and_file(tmp_path):
    path = tmp_path / "service.toml"
    replicas = ('[[backends.pool.replicas]]\napi_base = "http://127.0.0.1:1/v1"\n'
                '[[backends.pool.replicas]]\napi_base = "http://127.0.0.1:2/v1"\n')
    for bad, message in [
        ('mode = "fast"\n', "backend 'pool': mode must be one of online, batch, auto, got 'fast'"),
        ('mode = 1\n', "backends.pool.mode must be"),
        ('mode = "batch"\nbatch_window = "1w"\n', "backend 'pool': batch_window must look like '24h'"),
        ('batch_poll_interval = 0\n', "backend 'pool': batch_poll_interval must be positive"),
        ('mode = "batch"\n' + replicas, "backend 'pool': mode = 'batch' cannot be combined with replicas"),
        ('mode = "auto"\n' + replicas, "backend 'pool': mode = 'auto' cannot be combined with replicas"),
    ]:
        path.write_text('[backends.pool]\napi_base = "http://127.0.0.1:1/v1"\n' + bad)
        with pytest.raises(ConfigError) as info:
            load_service_file(path)
        assert message in str(info.value) and str(path) in str(info.value), (bad, str(info.value))

    # The daemon itself refuses to start on it: non-zero exit, the message, no traceback.
    proc = subprocess.run([*selfinstruct_command(), "serve", "--state-dir", str(tmp_path / "s"), "--port", "0",
                           "--config", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "cannot be combined with replicas" in proc.stderr and str(path) in proc.stderr, proc.stderr
