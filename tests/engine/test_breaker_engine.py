"""The engine with its circuit breaker and stop event, in process against the simulator on 127.0.0.1.

What the CLI tests cannot see from outside: the stats while the endpoint is down, attempts not
used up by an outage, and a stop that ends waits on the breaker and the throttle at once.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from selfinstruct.engine import CheckpointStore, Engine, EngineStats, LimitsConfig, RetryConfig, Throttle
from selfinstruct.engine.breaker import BreakerConfig
from selfinstruct.engine.shutdown import Shutdown
from selfinstruct.errors import EndpointDown, RequestNotStarted
from workers import EndpointConfig, OpenAIWorker
from workers.base import Request

FAST = BreakerConfig(threshold=3, probe_base=0.2, probe_max=0.4, jitter=0.0, max_outage=60.0)


async def _engine(url, tmp_path, *, retry=None, limits=None, breaker=FAST, stop=None):
    store = await CheckpointStore(tmp_path / "state.sqlite3").open()
    worker = OpenAIWorker(EndpointConfig(api_base=url, model="sim"), None)
    engine = Engine(worker, throttle=Throttle(limits or LimitsConfig()), store=store, retry=retry or RetryConfig(),
                    stats=EngineStats(), defaults={"max_tokens": 8}, stop=stop, breaker=breaker)
    return engine, store, worker


def _requests(n):
    return [Request(id=f"r{i}", prompt=f"item {i}") for i in range(n)]


@pytest.mark.timeout(60)
async def test_an_outage_shows_in_the_stats_and_costs_no_attempts(sim, tmp_path):
    server = sim(latency_ms=10)
    engine, store, worker = await _engine(server.url, tmp_path, retry=RetryConfig(max_attempts=2, backoff_base=0.05))
    try:
        await engine.call(Request(id="before", prompt="hi"))
        server.outage(2.0)
        tasks = [asyncio.create_task(engine.call(r)) for r in _requests(20)]
        seen_down = None
        deadline = time.monotonic() + 30
        while not all(t.done() for t in tasks) and time.monotonic() < deadline:
            if engine.stats.endpoint_down_since is not None and seen_down is None:
                seen_down = engine.stats.snapshot()
            await asyncio.sleep(0.02)
        results = await asyncio.gather(*tasks)
    finally:
        await worker.aclose()
        await store.close()
    assert len(results) == 20 and engine.stats.failed == 0       # max_attempts=2, yet nothing failed
    assert seen_down is not None and seen_down["endpoint_up"] is False
    assert seen_down["endpoint_down_since"].endswith("Z")
    assert engine.stats.endpoint_down_since is None and engine.stats.snapshot()["endpoint_up"] is True
    outage_calls = server.stats(with_ids=False)["outage"]["calls"]
    # 20 first attempts + a few excused retries, then one probe per 0.2-0.4 s over 2 s
    assert 3 <= outage_calls <= 40


@pytest.mark.timeout(60)
async def test_max_outage_raises_endpoint_down_with_its_duration(sim, tmp_path):
    server = sim()
    cfg = BreakerConfig(threshold=2, probe_base=0.2, probe_max=0.4, jitter=0.0, max_outage=1.5)
    engine, store, worker = await _engine(server.url, tmp_path, breaker=cfg)
    try:
        await engine.call(Request(id="before", prompt="hi"))
        server.outage(60)
        started = time.monotonic()
        results = await asyncio.gather(*(engine.call(r) for r in _requests(5)), return_exceptions=True)
    finally:
        await worker.aclose()
        await store.close()
    assert all(isinstance(r, EndpointDown) for r in results), results
    assert 1.5 <= time.monotonic() - started < 10
    err = results[0]
    assert err.duration >= 1.5 and err.down_since is not None and abs(err.down_since - time.time()) < 30
    assert server.url in str(err) and "rerun" in str(err)
    assert engine.stats.failed == 0


@pytest.mark.timeout(60)
async def test_stop_ends_waits_on_the_breaker_and_the_throttle_at_once(sim, tmp_path):
    server = sim()
    shutdown = Shutdown()
    # At 6 requests per minute, all but the first wait for a permit. A stop must end every one of
    # those waits without sending anything.
    engine, store, worker = await _engine(server.url, tmp_path, limits=LimitsConfig(rpm=6, max_concurrency=4),
                                          stop=shutdown.stop)
    try:
        tasks = [asyncio.create_task(engine.call(r)) for r in _requests(6)]
        await asyncio.sleep(0.5)
        before = server.stats(with_ids=False)["requests"]
        stopped = time.monotonic()
        shutdown.stop.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        took = time.monotonic() - stopped
        late_call = await asyncio.gather(engine.call(Request(id="late", prompt="x")), return_exceptions=True)
    finally:
        await worker.aclose()
        await store.close()
    assert took < 0.5
    not_started = [r for r in results if isinstance(r, RequestNotStarted)]
    assert len(not_started) >= 4 and engine.not_started == len(not_started) + 1
    assert isinstance(late_call[0], RequestNotStarted)
    assert server.stats(with_ids=False)["requests"] == before
    assert engine.stats.failed == 0


@pytest.mark.timeout(60)
async def test_stop_ends_waits_on_an_open_breaker(sim, tmp_path):
    server = sim()
    shutdown = Shutdown()
    slow_probes = BreakerConfig(threshold=2, probe_base=30.0, probe_max=30.0, jitter=0.0, max_outage=600.0)
    engine, store, worker = await _engine(server.url, tmp_path, breaker=slow_probes, stop=shutdown.stop)
    try:
        await engine.call(Request(id="before", prompt="hi"))
        server.outage(600)
        tasks = [asyncio.create_task(engine.call(r)) for r in _requests(5)]
        deadline = time.monotonic() + 10
        while not engine.breaker.open and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert engine.breaker.open
        await asyncio.sleep(0.2)
        before = server.stats(with_ids=False)["requests"]
        stopped = time.monotonic()
        shutdown.stop.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        took = time.monotonic() - stopped
    finally:
        await worker.aclose()
        await store.close()
    assert took < 0.5
    assert all(isinstance(r, RequestNotStarted) for r in results), results
    assert server.stats(with_ids=False)["requests"] == before
    assert engine.stats.failed == 0 and store.failure is None
