"""Simulator outage mode: a window of 503s to every completion call, counted; arrival times when asked."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from selfinstruct.errors import ConfigError
from workers.simulated import SimConfig, start_in_thread


async def _post(session: aiohttp.ClientSession, url: str) -> int:
    async with session.post(f"{url}/completions", json={"model": "m", "prompt": "hi", "max_tokens": 4}) as resp:
        await resp.read()
        return resp.status


async def test_configured_outage_window_answers_503_then_recovers(serve):
    async with serve(SimConfig(outage_after=0.3, outage_seconds=0.5, record_arrivals=True)) as (sim, url):
        async with aiohttp.ClientSession() as session:
            assert await _post(session, url) == 200
            await asyncio.sleep(0.4)
            assert [await _post(session, url) for _ in range(3)] == [503, 503, 503]
            assert sim.stats()["outage"] == {"active": True, "calls": 3}
            await asyncio.sleep(0.5)
            assert await _post(session, url) == 200
    stats = sim.stats()
    assert stats["outage"] == {"active": False, "calls": 3}
    assert stats["status"] == {"200": 2, "503": 3}
    times = stats["arrival_times"]
    assert len(times) == 5 and times == sorted(times)


async def test_admin_route_starts_and_ends_an_outage(serve):
    async with serve() as (sim, url):
        base = url[: -len("/v1")]
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{base}/_sim/outage", json={"seconds": 60}) as resp:
                assert resp.status == 200
            assert await _post(session, url) == 503
            async with session.post(f"{base}/_sim/outage", json={"seconds": 0}) as resp:
                assert resp.status == 200
            assert await _post(session, url) == 200
            async with session.post(f"{base}/_sim/outage", json={"seconds": "long"}) as resp:
                assert resp.status == 400
    assert sim.stats()["outage"]["calls"] == 1
    assert "arrival_times" not in sim.stats()


def test_running_sim_outage_method():
    with start_in_thread(SimConfig()) as server:
        server.outage(30)
        assert server.stats()["outage"]["active"] is True
        server.outage(0)
        assert server.stats()["outage"]["active"] is False


@pytest.mark.parametrize("kwargs", [{"outage_after": -1.0, "outage_seconds": 1.0},
                                    {"outage_after": float("nan"), "outage_seconds": 1.0},
                                    {"outage_after": 1.0, "outage_seconds": -2.0}])
def test_bad_outage_settings_are_config_errors(kwargs):
    with pytest.raises(ConfigError, match="outage"):
        SimConfig(**kwargs)

