"""Account limits shared through a real redis-server on loopback: the Lua budget, the shared pause, the fallback,
and two `complete` processes on one simulated endpoint with and without Redis.

The full-size figures (3,000 RPM, 2 x 750 requests) are benchmarks/shared_limits_bench.py's; here the
runs are small and the assertions are on counts (429 shares, ids, log lines), never on wall-clock time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest

from selfinstruct.engine import LimitsConfig
from selfinstruct.engine.redis_limits import RedisLimits, account_key
from selfinstruct.errors import ConfigError

from .conftest import cli, read_output, write_requests

WARNING = "shared limits: Redis at"

pytestmark = pytest.mark.redis


async def test_the_budget_is_one_schedule_for_every_process_on_the_account(redis_server):
    # Two clients (as two processes would be) on one account at 600 RPM: their slots interleave 0.1 s apart.
    a, b = (RedisLimits(redis_server.url, fallback_fraction=0.5) for _ in range(2))
    try:
        acc_a = a.account("http://127.0.0.1:9/v1", "sk-secret", rpm=600, tpm=None)
        acc_b = b.account("http://127.0.0.1:9/v1/", "sk-secret", rpm=600, tpm=None)
        other = b.account("http://127.0.0.1:9/v1", "sk-other", rpm=600, tpm=None)
        waits = [await acc.reserve(10) for acc in (acc_a, acc_b, acc_a, acc_b)]
        assert waits[0] == pytest.approx(0.0, abs=0.02)
        # each reservation is 0.1 s after the one before, whichever process made it
        for earlier, later in zip(waits, waits[1:]):
            assert later - earlier == pytest.approx(0.1, abs=0.02)
        assert await other.reserve(10) == pytest.approx(0.0, abs=0.02)   # another key is another account
        # a 429 with Retry-After seen by one pauses the other, and cuts the shared rate
        acc_a.throttled(2.0)
        await asyncio.sleep(0.1)
        assert await acc_b.reserve(10) >= 1.7
        assert acc_b.rate is not None and acc_b.rate < 10.0
        # Redis restarted its script cache (SCRIPT FLUSH): the next call loads it again (NOSCRIPT handled)
        await a._client.script_flush()
        assert await acc_a.reserve(10) is not None and a.available
    finally:
        await a.aclose()
        await b.aclose()
    assert "sk-secret" not in account_key("http://h/v1", "sk-secret")


async def test_tokens_are_reserved_with_a_burst_and_corrected(redis_server):
    limits = RedisLimits(redis_server.url, fallback_fraction=0.5)
    try:
        acc = limits.account("http://127.0.0.1:9/v1", None, rpm=None, tpm=6000)   # 100 tokens/s, 5 s burst
        # GCRA: 5 s of tokens may go at once, plus the request that reaches past them
        assert await acc.reserve(400) == pytest.approx(0.0, abs=0.02)
        assert await acc.reserve(200) == pytest.approx(0.0, abs=0.02)
        assert await acc.reserve(100) == pytest.approx(1.0, abs=0.05)   # over it: one second's worth later
        # the answers used 200 tokens fewer than reserved: the refund makes room at once
        acc.correct_tokens(-200)
        await asyncio.sleep(0.05)
        assert await acc.reserve(100) == pytest.approx(0.0, abs=0.05)
    finally:
        await limits.aclose()


async def test_redis_away_falls_back_with_one_warning_and_comes_back(redis_server, caplog):
    limits = RedisLimits(redis_server.url, fallback_fraction=0.5, reconnect_interval=0.1)
    caplog.set_level(logging.INFO, logger="selfinstruct.engine.redis_limits")
    try:
        acc = limits.account("http://127.0.0.1:9/v1", None, rpm=600, tpm=None)
        assert await acc.reserve(1) is not None
        redis_server.kill()
        assert [await acc.reserve(1) for _ in range(20)] == [None] * 20   # local limits, every time
        assert not limits.available
        redis_server.start()
        deadline = time.monotonic() + 10
        while not limits.available and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert limits.available and await acc.reserve(1) is not None
    finally:
        await limits.aclose()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "local limits at 0.5" in warnings[0].getMessage()
    assert any("answers again" in r.getMessage() for r in caplog.records)


def test_bad_redis_settings_are_config_errors():
    with pytest.raises(ConfigError, match="redis://"):
        LimitsConfig(redis_url="http://127.0.0.1:6379")
    with pytest.raises(ConfigError, match="redis_fallback_fraction"):
        LimitsConfig(redis_url="redis://127.0.0.1:6379/0", redis_fallback_fraction=0.0)


def _pair(server, tmp_path, name, *, n, redis_url=None):
    procs, outs = [], []
    for p in range(2):
        inp = tmp_path / f"{name}{p}.jsonl"
        write_requests(inp, n)
        out = tmp_path / f"{name}{p}.out.jsonl"
        args = ["complete", str(inp), "--out", str(out), "--api-base", server.url, "--model", "sim",
                "--rpm", "3000", "--progress-interval", "3600"]
        if redis_url:
            args += ["--limits-redis", redis_url]
        procs.append(cli(*args))
        outs.append(out)
    return procs, outs


def _finish(procs, outs, n):
    errs = []
    for proc, out in zip(procs, outs):
        _, err = proc.communicate(timeout=80)
        assert proc.returncode == 0, err
        ids = [row["id"] for row in read_output(out)]
        assert len(ids) == len(set(ids)) == n
        errs.append(err)
    return errs


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_two_processes_sharing_redis_stay_under_the_account_limit(sim, redis_server, tmp_path):
    # True limit 3,000 RPM with one second of burst; each process is told the account's 3,000 RPM.
    shared = sim(rpm=3000, latency_ms=20)
    _finish(*_pair(shared, tmp_path, "r", n=200, redis_url=redis_server.url), 200)
    with_redis = shared.stats(with_ids=False)
    alone = sim(rpm=3000, latency_ms=20)
    _finish(*_pair(alone, tmp_path, "l", n=200), 200)
    without = alone.stats(with_ids=False)
    share = {name: st["status"].get("429", 0) / st["requests"] for name, st in
             (("redis", with_redis), ("local", without))}
    assert share["redis"] <= 0.05, share
    assert share["local"] > 2 * share["redis"] + 0.02, share   # without Redis they 429 each other


@pytest.mark.timeout(120)
def test_redis_killed_mid_run_both_finish_and_warn_once(sim, redis_server, tmp_path):
    server = sim(rpm=6000, latency_ms=20)
    procs, outs = _pair(server, tmp_path, "k", n=300, redis_url=redis_server.url)
    # kill Redis once both processes are sending
    deadline = time.monotonic() + 30
    while server.stats(with_ids=False)["requests"] < 60 and time.monotonic() < deadline:
        time.sleep(0.02)
    redis_server.kill()
    errs = _finish(procs, outs, 300)
    assert [err.count(WARNING) for err in errs] == [1, 1], errs
    for out in outs:
        stats = json.loads(out.with_name(out.stem + ".stats.json").read_text())
        assert stats["failed"] == 0
