"""The HTTP API over real loopback HTTP: spec validation (400s), backends, result files, token gate, metrics, keys."""

from __future__ import annotations

import json
import subprocess

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .helpers import SEEDS, Daemon, job_spec, selfinstruct_command, sim_backend, wait_until
from workers.simulated import SimConfig, start_in_thread

TOKEN = "test-token-0123456789abcdef"


KEY = "sk-very-secret-value-42"


@pytest.fixture(scope="module")
def sims():
    with start_in_thread(SimConfig(latency_ms=5, seed=3), port=0) as plain, \
            start_in_thread(SimConfig(latency_ms=5, seed=4, api_key=KEY), port=0) as keyed:
        yield plain, keyed


@pytest.fixture(scope="module")
def api(tmp_path_factory, sims):
    plain, keyed = sims
    root = tmp_path_factory.mktemp("api")
    (root / "seeds").mkdir()
    (root / "seeds" / "mine.jsonl").write_text("".join(SEEDS.read_text().splitlines(keepends=True)[:30]))
    config = {"seeds_dir": str(root / "seeds"), "backends": {
        "sim": sim_backend(plain.url),
        "keyed": sim_backend(keyed.url, api_key_env="SECRET_SIM_KEY"),
        "nokey": {"api_base": "http://203.0.113.7/v1", "api_key_env": "SELFINSTRUCT_TEST_UNSET_KEY"},
        "picky": sim_backend(plain.url, models=["only-this"], endpoint="chat"),
    }}
    d = Daemon(root / "state", env={"SECRET_SIM_KEY": KEY}, config=config)
    d.start()
    yield d
    d.stop()
    assert KEY not in d.log  # the key never reaches a log line


@pytest.mark.parametrize("body, needle", [
    ({"kind": "generate", "backend": "sim"}, "'model'"),
    ({"kind": "train", "backend": "sim", "model": "m"}, "unknown kind 'train'"),
    ({"backend": "sim", "model": "m", "temperature": 2}, "unknown setting 'temperature'"),
    ({"backend": "sim", "model": "m", "rpm": 5}, "belong to the backend"),
    ({"backend": "sim", "model": "m", "seed": "x"}, "'seed' must be an integer"),
    ({"backend": "sim", "model": "m", "num_instructions": 0}, "num_instructions"),
    ({"backend": "sim", "model": "m", "endpoint": "edits"}, "endpoint"),
    ({"backend": "sim", "model": "m", "api_key": "sk-x"}, "name a configured backend"),
    ({"model": "m"}, "missing 'backend'"),
    ({"backend": "elsewhere", "model": "m"}, "unknown backend 'elsewhere' (configured backends: keyed, nokey, "
                                             "picky, sim)"),
    ({"backend": "picky", "model": "m"}, "not offered by backend 'picky'"),
    ({"backend": "sim", "model": "m", "seed_tasks": "/etc/passwd"}, "no paths"),
    ({"backend": "sim", "model": "m", "seed_tasks": "../state/service.sqlite3"}, "no paths"),
    ({"backend": "sim", "model": "m", "seed_tasks": "missing.jsonl"}, "no seed file 'missing.jsonl'"),
    ({"backend": "sim", "model": "m", "seed_tasks": [{"instruction": "Hi."}, {"name": "x"}]},
     "seed_tasks:2: missing key 'instruction'"),
    ([1, 2, 3], "JSON object"),
])
def test_bad_spec_is_a_400_with_a_clear_message(api, body, needle):
    status, answer = api.call("POST", "/jobs", body)
    assert status == 400
    assert needle in answer["error"], answer


def test_body_that_is_not_json(api):
    status, answer = api.call("POST", "/jobs", raw=b"{not json")
    assert status == 400 and "not valid JSON" in answer["error"]


def test_unknown_job_and_action(api):
    assert api.call("GET", "/jobs/nope")[0] == 404
    assert api.call("POST", "/jobs/nope/pause")[0] == 404
    assert api.call("GET", "/jobs/nope/output?file=stats.json")[0] == 404


def test_unset_key_variable_fails_the_job_without_naming_it(api):
    jid = api.submit({"kind": "generate", "backend": "nokey", "model": "m"})
    view = api.wait_state(jid, ("failed",), timeout=30)
    assert "'nokey'" in view["error"] and "not set" in view["error"]
    assert "SELFINSTRUCT_TEST_UNSET_KEY" not in view["error"]
    assert "SELFINSTRUCT_TEST_UNSET_KEY" in api.log  # the operator's log says which variable


def test_keyed_backend_runs_and_nothing_holds_the_key(api, sims):
    _, keyed = sims
    jid = api.submit(job_spec("keyed", num_instructions=3))
    view = api.wait_state(jid, ("done",), timeout=120)
    assert view["spec"] == {"kind": "generate", "backend": "keyed", "model": "sim-davinci-001",
                            "num_instructions": 3, "mode": "online"}  # the backend's mode, stored with the job
    # The simulator answers 401 to any call without exactly this key: every call carried it.
    stats = keyed.stats(with_ids=False)
    assert stats["requests"] > 0 and stats["status"].get("401", 0) == 0, stats
    for path in ("/jobs", f"/jobs/{jid}", "/metrics", "/backends"):
        text = json.dumps(api.call("GET", path)[1])
        assert KEY not in text and "SECRET_SIM_KEY" not in text
    # Nothing the service wrote holds the key: not the job table, not the job's checkpoint or files.
    written = [p for p in api.state_dir.rglob("*") if p.is_file()]
    assert any(p.name == "service.sqlite3" for p in written)
    for path in written:
        assert KEY.encode() not in path.read_bytes(), path


def test_backends_lists_names_models_limits_and_no_key_variables(api, sims):
    plain, keyed = sims
    status, answer = api.call("GET", "/backends")
    assert status == 200
    backends = {b["name"]: b for b in answer["backends"]}
    assert sorted(backends) == ["keyed", "nokey", "picky", "sim"]
    assert backends["picky"]["models"] == ["only-this"] and backends["picky"]["endpoint"] == "chat"
    assert backends["sim"]["limits"] == {"rpm": 600, "tpm": None, "max_concurrency": 4}
    assert backends["keyed"]["api_base"] == keyed.url and backends["keyed"]["requires_key"] is True
    text = json.dumps(answer)
    for secret in ("SECRET_SIM_KEY", "SELFINSTRUCT_TEST_UNSET_KEY", KEY, "api_key_env"):
        assert secret not in text


def test_output_files_and_path_traversal(api):
    jid = api.submit(job_spec(num_instructions=5, seed_tasks="mine.jsonl"))  # a seed file from seeds_dir
    api.wait_state(jid, ("done",), timeout=120)
    status, listing = api.call("GET", f"/jobs/{jid}/output")
    assert status == 200
    assert {"machine_generated_instructions.jsonl", "stats.json", "rejects.jsonl"} <= set(listing["files"])
    assert not any(f.startswith("state.sqlite3") for f in listing["files"])
    stats = json.loads(api.output(jid, "stats.json"))
    assert stats["accepted_instructions"] == 5
    nested = [f for f in listing["files"] if f.startswith("finetuning/")]
    assert nested and api.call("GET", f"/jobs/{jid}/output?file={nested[0]}")[0] == 200

    for bad in ("../../service.sqlite3", "..%2F..%2Fservice.sqlite3", "/etc/passwd", "finetuning/../../x",
                "state.sqlite3", "state.sqlite3-wal", ".", ""):
        status, answer = api.call("GET", f"/jobs/{jid}/output?file={bad}")
        assert status == 400, (bad, answer)
    assert api.call("GET", f"/jobs/{jid}/output?file=no_such_file.jsonl")[0] == 404


def test_metrics_parse_as_prometheus_text(api):
    status, text = api.call("GET", "/metrics")
    assert status == 200
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name in ("selfinstruct_requests", "selfinstruct_tokens", "selfinstruct_retries", "selfinstruct_rate_limited",
                 "selfinstruct_in_flight", "selfinstruct_concurrency_window", "selfinstruct_accepted_instructions",
                 "selfinstruct_rejected", "selfinstruct_queue_depth", "selfinstruct_jobs"):
        assert name in families, sorted(families)
    # The job that ran in this process is there, with its requests by status.
    requests = [s for s in families["selfinstruct_requests"].samples if s.name == "selfinstruct_requests_total"]
    assert any(s.labels["status"] == "ok" and s.value > 0 for s in requests)
    states = {s.labels["state"]: s.value for s in families["selfinstruct_jobs"].samples}
    assert states["done"] >= 1 and states["failed"] >= 1


def test_non_loopback_bind_needs_a_token(tmp_path):
    proc = subprocess.run([*selfinstruct_command(), "serve", "--state-dir", str(tmp_path / "s"), "--host", "0.0.0.0",
                           "--port", "0"], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "refusing to bind 0.0.0.0" in proc.stderr and "--token-env" in proc.stderr

    proc = subprocess.run([*selfinstruct_command(), "serve", "--state-dir", str(tmp_path / "s"), "--host", "0.0.0.0",
                           "--port", "0", "--token-env", "SELFINSTRUCT_TEST_NO_SUCH_TOKEN"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "SELFINSTRUCT_TEST_NO_SUCH_TOKEN" in proc.stderr


def test_token_is_enforced_off_loopback(daemon_factory):
    d = daemon_factory(args=("--host", "0.0.0.0", "--token-env", "SVC_TOKEN"), env={"SVC_TOKEN": TOKEN}, token=TOKEN)
    d.start()
    assert d.call("GET", "/healthz", token="")[0] == 200
    for method, path in (("GET", "/jobs"), ("GET", "/metrics"), ("POST", "/jobs"), ("GET", "/jobs/x"),
                         ("POST", "/jobs/x/cancel"), ("GET", "/jobs/x/output?file=stats.json")):
        status, body = d.call(method, path, {} if method == "POST" else None, token="")
        assert status == 401, (method, path, body)
        assert d.call(method, path, {} if method == "POST" else None, token="wrong-token-0123456789")[0] == 401
    assert d.call("GET", "/jobs")[0] == 200
    assert d.call("GET", "/metrics")[0] == 200
    assert TOKEN not in d.log


def test_second_service_on_the_same_state_dir_is_refused(api):
    proc = subprocess.run([*selfinstruct_command(), "serve", "--state-dir", str(api.state_dir), "--port", "0"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "already uses this state directory" in proc.stderr
    wait_until(lambda: api.call("GET", "/healthz")[0] == 200, timeout=10, what="the first service to stay up")
