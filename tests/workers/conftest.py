"""Fixtures: a simulated endpoint on 127.0.0.1 in the test's own event loop, and a worker for it."""

from __future__ import annotations

import contextlib

import pytest

from workers import EndpointConfig, OpenAIWorker
from workers.simulated import SimConfig, SimulatedEndpoint


@pytest.fixture
def serve():
    """``async with serve(SimConfig(...)) as (sim, url)`` starts a server and always stops it."""

    @contextlib.asynccontextmanager
    async def _serve(config: SimConfig | None = None):
        sim = SimulatedEndpoint(config or SimConfig())
        url = await sim.start()
        try:
            yield sim, url
        finally:
            await sim.stop()

    return _serve


@pytest.fixture
def worker_for():
    made: list[OpenAIWorker] = []

    def _make(url: str, *, endpoint: str = "completions", key: str | None = None, **defaults) -> OpenAIWorker:
        w = OpenAIWorker(EndpointConfig(api_base=url, model="sim-test", endpoint=endpoint, defaults=defaults),
                         key, max_connections=8)
        made.append(w)
        return w

    yield _make
    for w in made:
        assert w._session is None, "test must aclose() its worker"
