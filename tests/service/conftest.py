"""Fixtures for the service tests: daemons started on demand (killed at the end) and a simulated endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from workers.simulated import SimConfig, start_in_thread

from .helpers import Daemon, sim_backend


@pytest.fixture
def daemon_factory(tmp_path: Path):
    started: list[Daemon] = []

    def make(name: str = "state", **kwargs: Any) -> Daemon:
        d = Daemon(tmp_path / name, **kwargs)
        started.append(d)
        return d

    yield make
    for d in started:
        d.stop()


@pytest.fixture
def sim():
    with start_in_thread(SimConfig(latency_ms=10, seed=1), port=0) as running:
        yield running


@pytest.fixture
def sim_config(sim) -> dict[str, Any]:
    """A service config whose one backend, "sim", is the simulator (600 RPM, 4 in flight, no key)."""
    return {"backends": {"sim": sim_backend(sim.url)}}
