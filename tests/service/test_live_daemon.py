"""A real daemon while its job runs: result files served before the end, and a backend outage made visible.

The simulator answers slowly (150 ms) so the job is still running while the test looks at it.
"""

from __future__ import annotations

import json
import re

import pytest

from workers.simulated import SimConfig, start_in_thread

from .helpers import job_spec, sim_backend, wait_until

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def slow_sim():
    with start_in_thread(SimConfig(latency_ms=150, seed=3), port=0) as running:
        yield running


def _rows(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_output_of_a_running_job_is_served_and_grows(daemon_factory, slow_sim):
    d = daemon_factory(config={"backends": {"sim": sim_backend(slow_sim.url)}}).start()
    job = d.submit(job_spec(num_instructions=400, export_interval=1))

    def rows_while_running() -> list[dict] | None:
        status, listing = d.call("GET", f"/jobs/{job}/output")
        if status != 200 or "machine_generated_instructions.jsonl" not in listing["files"]:
            return None
        rows = _rows(d.output(job, "machine_generated_instructions.jsonl"))
        return rows if rows and d.job(job)["state"] == "running" else None

    first = wait_until(rows_while_running, timeout=90, what="rows in the running job's instructions file")
    later = wait_until(lambda: (r := rows_while_running()) and len(r) > len(first) and r, timeout=90,
                       what="the running job's instructions file to grow")
    assert [r["instruction"] for r in later[:len(first)]] == [r["instruction"] for r in first]
    assert all(r["metadata"].get("model") == "sim-davinci-001" for r in later)
    status, _ = d.call("POST", f"/jobs/{job}/cancel")
    assert status == 200


def test_a_backend_outage_shows_on_the_job_and_in_metrics_then_fails_it_after_max_outage(daemon_factory, slow_sim):
    d = daemon_factory(config={"backends": {"sim": sim_backend(slow_sim.url)}}).start()
    job = d.submit(job_spec(num_instructions=400, max_outage=6))
    d.wait_accepted(job, 1, timeout=90)
    slow_sim.outage(600)

    down = wait_until(lambda: (v := d.job(job))["endpoint_down_since"] and v, timeout=60,
                      what="the job to report its endpoint down")
    assert down["state"] == "running"
    assert down["stats"]["endpoint_up"] is False
    status, text = d.call("GET", "/metrics")
    assert status == 200
    assert re.search(rf'selfinstruct_endpoint_up\{{job="{job}"\}} 0(\.0)?\n', text), text

    failed = d.wait_state(job, ("failed",), timeout=90)
    assert "down" in failed["error"], failed["error"]
    calls_during = slow_sim.stats(with_ids=False)["outage"]["calls"]
    # One probe per backoff interval once the breaker is open: a handful of calls, not a storm.
    assert calls_during <= 30, calls_during
