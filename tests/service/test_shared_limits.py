"""Two jobs on one rate-limited backend share its one RPM budget and one concurrency window."""

from __future__ import annotations

import threading
import time

from prometheus_client.parser import text_string_to_metric_families

from .helpers import job_spec, sim_backend
from workers.simulated import SimConfig, start_in_thread

RPM = 600            # 10 requests/s for the account
BURST_SECONDS = 1.0  # the simulator's bucket depth: it admits up to one second's worth at once
KEY = "sk-sim-shared-0123456789"


def _sample(sim, stop: threading.Event, out: list[tuple[float, int]]) -> None:
    while not stop.is_set():
        t0 = time.monotonic()
        stats = sim.stats(with_ids=False)
        sent = stats["requests"]  # every call that reached the endpoint, 429s included
        out.append(((t0 + time.monotonic()) / 2, sent))
        stop.wait(0.25)


def test_two_jobs_stay_within_one_shared_limit(daemon_factory):
    config = SimConfig(latency_ms=10, rpm=RPM, burst_seconds=BURST_SECONDS, api_key=KEY, seed=2)
    with start_in_thread(config, port=0) as sim:
        d = daemon_factory(env={"SIM_KEY": KEY},
                           config={"backends": {"sim": sim_backend(sim.url, rpm=RPM, api_key_env="SIM_KEY")}}).start()
        samples: list[tuple[float, int]] = []
        stop = threading.Event()
        sampler = threading.Thread(target=_sample, args=(sim, stop, samples), daemon=True)
        sampler.start()
        # Two jobs on one backend: its limits are shared, whatever each job asks for.
        a = d.submit(job_spec(num_instructions=30, seed=1))
        b = d.submit(job_spec(num_instructions=30, seed=2))
        d.wait_accepted(a, 3)
        d.wait_accepted(b, 3)
        status, text = d.call("GET", "/metrics")
        assert status == 200
        families = {f.name: f for f in text_string_to_metric_families(text)}
        jobs_on_endpoint = [s.value for s in families["selfinstruct_endpoint_jobs"].samples]
        view_a, view_b = d.wait_state(a, ("done",), timeout=150), d.wait_state(b, ("done",), timeout=150)
        stop.set()
        sampler.join()
        stats = sim.stats(with_ids=False)

    assert view_a["progress"]["accepted_instructions"] == 30 and view_b["progress"]["accepted_instructions"] == 30
    assert samples and samples[-1][1] >= 100  # the jobs really ran through the sampled period
    rate = RPM / 60.0
    worst = 0.0
    for i, (t0, n0) in enumerate(samples):
        for t1, n1 in samples[i + 1:]:
            if t1 - t0 >= 2.0:
                # Calls sent in a window may not exceed the rate plus one full bucket of the
                # simulator (plus a tenth of a second of slack for when each sample was read).
                allowed = rate * (t1 - t0 + 0.1) + rate * BURST_SECONDS
                worst = max(worst, (n1 - n0) / allowed)
    # Alone, each job would send 10/s; unshared, the two would send 20/s into a 10/s account
    # and only back off after 429s.
    assert stats["status"].get("429", 0) <= 2, stats
    assert view_a["stats"]["rate_limited_429"] + view_b["stats"]["rate_limited_429"] <= 2
    assert worst <= 1.0, f"the combined rate exceeded the shared limit by {worst:.2f}x"
    assert 2 in jobs_on_endpoint  # both jobs were on one throttle while they ran together
