"""Pin the public surface of `workers` so changes to it are deliberate."""

from __future__ import annotations

import subprocess
import sys

import workers
import workers.simulated


def test_workers_all():
    assert sorted(workers.__all__) == sorted([
        "ENDPOINTS", "Choice", "RateLimitInfo", "Request", "Response", "Worker",
        "EndpointConfig", "OpenAIWorker", "SimConfig", "SimulatedEndpoint", "RunningSim", "start_in_thread",
    ])
    for name in workers.__all__:
        assert getattr(workers, name) is not None
    assert sorted(workers.simulated.__all__) == sorted(
        ["SimConfig", "SimulatedEndpoint", "RunningSim", "start_in_thread", "serve_forever"])


def test_importing_workers_does_not_load_aiohttp():
    code = "import sys, workers; print('aiohttp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
