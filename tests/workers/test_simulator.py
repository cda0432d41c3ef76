"""Simulator behaviour: token-bucket math, 429s with headers when driven too fast, stats, reset, CLI."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import aiohttp
import pytest

from selfinstruct.errors import ConfigError
from workers.simulated import SimConfig
from workers.simulated.limits import RateLimiter, TokenBucket


def test_token_bucket_refills_continuously():
    b = TokenBucket(rate=10.0, capacity=5.0, now=0.0)
    b.level = 0.0
    b.refill(0.25)
    assert b.level == pytest.approx(2.5)
    assert b.wait_for(3.0) == pytest.approx(0.05)
    b.refill(100.0)
    assert b.level == 5.0 and b.wait_for(50.0) == 0.0  # oversized costs fit a full bucket


def test_rate_limiter_rejections_consume_nothing():
    lim = RateLimiter(rpm=600, tpm=6000, burst_seconds=1.0, now=0.0)  # 10 req and 100 tokens deep
    assert lim.admit(60, 0.0).wait == 0.0
    denied = lim.admit(60, 0.0)  # 40 tokens left: must wait for 20 more at 100/s
    assert denied.wait == pytest.approx(0.2)
    assert lim.tokens.level == pytest.approx(40) and lim.requests.level == pytest.approx(9)
    assert denied.headers["x-ratelimit-remaining-tokens"] == "40"
    assert denied.headers["x-ratelimit-reset-tokens"] == "600ms"
    assert lim.admit(60, 0.2).wait == 0.0


@pytest.mark.parametrize("kwargs", [{"p_500": 1.5}, {"p_500": 0.6, "p_drop": 0.6}, {"rpm": 0},
                                    {"latency_dist": "gamma"}, {"latency_ms": -1}, {"max_context": 0}])
def test_sim_config_validation(kwargs):
    with pytest.raises(ConfigError):
        SimConfig(**kwargs)


async def test_driving_faster_than_the_limit_gives_429s_with_headers(serve):
    async with serve(SimConfig(rpm=600, burst_seconds=0.5)) as (sim, url):  # 10 req/s, 5 deep
        async with aiohttp.ClientSession() as s:
            async def call(i):
                async with s.post(f"{url}/completions", json={"model": "m", "prompt": "x", "max_tokens": 1},
                                  headers={"X-Client-Request-Id": f"id{i}"}) as r:
                    await r.read()
                    return r.status, r.headers
            results = await asyncio.gather(*(call(i) for i in range(30)))
            limited = [h for status, h in results if status == 429]
            assert 15 <= len(limited) <= 25
            h = limited[0]
            assert float(h["retry-after-ms"]) > 0 and "Retry-After" not in h  # waits < 1 s: ms only
            assert h["x-ratelimit-limit-requests"] == "600"
            assert h["x-ratelimit-reset-requests"].endswith("ms")
            assert h["x-ratelimit-remaining-requests"] == "0"
            stats = sim.stats()
            assert stats["status"]["429"] == len(limited) and stats["requests"] == 30
            async with s.post(f"{url.removesuffix('/v1')}/_sim/reset") as r:
                assert r.status == 200
            async with s.get(f"{url.removesuffix('/v1')}/_sim/stats?ids=0") as r:
                body = await r.json()
            assert body["requests"] == 0 and "calls_per_id" not in body


async def test_tpm_limit_counts_prompt_plus_max_tokens(serve):
    async with serve(SimConfig(tpm=600, burst_seconds=1.0)) as (_, url):  # 10 tokens deep
        async with aiohttp.ClientSession() as s:
            async def call(max_tokens):
                async with s.post(f"{url}/completions",
                                  json={"model": "m", "prompt": "a b", "max_tokens": max_tokens}) as r:
                    return r.status, r.headers
            assert (await call(6))[0] == 200  # 2 + 6 = 8 tokens
            status, headers = await call(6)
            assert status == 429 and headers["x-ratelimit-remaining-tokens"] == "2"
            assert headers["x-ratelimit-limit-tokens"] == "600"


async def test_bad_request_bodies(serve):
    async with serve() as (_, url):
        async with aiohttp.ClientSession() as s:
            for path, body in [("/completions", b"{not json"), ("/completions", b'{"prompt": 5}'),
                               ("/chat/completions", b'{"messages": []}'),
                               ("/completions", b'{"prompt": "x", "max_tokens": -3}')]:
                async with s.post(url + path, data=body) as r:
                    assert r.status == 400
                    assert (await r.json())["error"]["type"] == "invalid_request_error"


def test_simulate_cli_serves_and_stops_on_sigterm():
    env = {**os.environ, "SIM_TEST_KEY": "sk-cli"}
    proc = subprocess.Popen([sys.executable, "-m", "selfinstruct", "simulate", "--port", "0", "--rpm", "120",
                             "--api-key-env", "SIM_TEST_KEY"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        import openai

        with openai.OpenAI(base_url=url, api_key="sk-cli", max_retries=0, timeout=10) as client:
            assert client.completions.create(model="m", prompt="hi", max_tokens=5).choices[0].text == "Echo: hi"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert "sk-cli" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_simulate_cli_missing_key_variable_exits_2():
    from selfinstruct.cli import main

    env_name = "SELFINSTRUCT_TEST_SURELY_UNSET"
    os.environ.pop(env_name, None)
    assert main(["simulate", "--port", "0", "--api-key-env", env_name]) == 2
