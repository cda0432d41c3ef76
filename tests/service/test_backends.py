"""The operator's backend registry over real loopback HTTP: clients name backends, never URLs or keys."""

from __future__ import annotations

import subprocess
import time

from workers.simulated import SimConfig, start_in_thread

from .helpers import Recorder, job_spec, selfinstruct_command, sim_backend

SECRET = "aws-secret-0123456789-do-not-leak"
KEY = "sk-backend-key-0123456789"


def test_job_naming_an_unconfigured_host_or_key_variable_is_refused_and_the_host_hears_nothing(daemon_factory, sim):
    with Recorder(status=200) as listener:
        d = daemon_factory(args=("--backend", f"sim={sim.url}"), env={"AWS_SECRET_ACCESS_KEY": SECRET}).start()
        attacks = [
            {"api_base": listener.url, "api_key_env": "AWS_SECRET_ACCESS_KEY", "model": "m"},
            {"backend": "sim", "api_base": listener.url, "model": "m"},
            {"backend": "sim", "api_key_env": "AWS_SECRET_ACCESS_KEY", "model": "m"},
            {"backend": "sim", "model": "m", "Authorization": f"Bearer {SECRET}"},
            {"backend": "sim", "model": "m", "base_url": listener.url},
        ]
        for body in attacks:
            status, answer = d.call("POST", "/jobs", body)
            assert status == 400, (body, answer)
            assert "name a configured backend" in answer["error"] and "sim" in answer["error"], answer
        status, answer = d.call("POST", "/jobs", {"backend": listener.url, "model": "m"})
        assert status == 400 and "unknown backend" in answer["error"] and "sim" in answer["error"]
        assert d.call("GET", "/jobs")[1] == {"jobs": []}
        time.sleep(1.0)  # anything the service had started would have connected by now
        assert listener.connections == 0 and listener.requests == []
    assert SECRET not in d.log


def test_configured_backend_gets_201_runs_to_done_and_only_it_sees_its_key(daemon_factory):
    with start_in_thread(SimConfig(latency_ms=5, seed=7, api_key=KEY), port=0) as keyed, \
            Recorder(status=404) as other:
        config = {"backends": {"keyed": sim_backend(keyed.url, api_key_env="BACKEND_KEY"),
                               "other": {"api_base": other.url}}}
        d = daemon_factory(config=config, env={"BACKEND_KEY": KEY}).start()
        status, answer = d.call("POST", "/jobs", job_spec("keyed", num_instructions=5))
        assert status == 201, answer
        done = d.wait_state(answer["id"], ("done",), timeout=120)
        assert done["progress"]["accepted_instructions"] == 5
        # The simulator answers 401 to a call without exactly this bearer key; none was needed.
        stats = keyed.stats(with_ids=False)
        assert stats["requests"] > 0 and stats["status"].get("401", 0) == 0, stats

        # A job on the other backend goes to the other URL and carries no key.
        failed = d.wait_state(d.submit(job_spec("other", num_instructions=2)), ("failed",), timeout=60)
        assert "HTTP 404" in failed["error"] and other.url in failed["error"]
        assert other.requests
        for _, headers in other.requests:
            assert "Authorization" not in headers and KEY not in str(headers)
    assert KEY not in d.log


def test_a_redirect_is_not_followed_with_the_key(daemon_factory):
    with Recorder(status=200) as target:
        with Recorder(status=307, headers={"Location": f"{target.url}/completions"}) as moved:
            config = {"backends": {"moved": {"api_base": moved.url, "api_key_env": "MOVED_KEY"}}}
            d = daemon_factory(config=config, env={"MOVED_KEY": KEY}).start()
            view = d.wait_state(d.submit(job_spec("moved", num_instructions=2)), ("failed",), timeout=60)
            assert "HTTP 307" in view["error"] and moved.url in view["error"] and "not followed" in view["error"]
            # Its own backend got the key; the place it pointed to got nothing at all.
            assert moved.requests and all(h.get("Authorization") == f"Bearer {KEY}" for _, h in moved.requests)
        assert target.connections == 0 and target.requests == []


def test_without_backends_the_service_says_so_and_refuses_jobs(daemon_factory):
    d = daemon_factory().start()
    status, answer = d.call("POST", "/jobs", job_spec("anything"))
    assert status == 400 and "no backends configured" in answer["error"]
    assert d.call("GET", "/backends")[1] == {"backends": []}
    assert "no backends configured" in d.log


def test_backend_flag_is_loopback_only_and_config_errors_name_the_key_and_file(tmp_path):
    proc = subprocess.run([*selfinstruct_command(), "serve", "--state-dir", str(tmp_path / "s"), "--port", "0",
                           "--backend", "openai=https://api.openai.com/v1"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode != 0
    assert "not a loopback URL" in proc.stderr and "Traceback" not in proc.stderr

    config = tmp_path / "service.toml"
    config.write_text('[backends.local]\napi_base = "http://127.0.0.1:8000/v1"\napi_keyenv = "X"\n')
    proc = subprocess.run([*selfinstruct_command(), "serve", "--state-dir", str(tmp_path / "s"), "--port", "0",
                           "--config", str(config)], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "unknown key 'api_keyenv' in [backends.local]" in proc.stderr and str(config) in proc.stderr
