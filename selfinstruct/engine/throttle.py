"""The async gate every request passes before it is sent: pause, concurrency window, pacing, RPM, TPM.

One ``Throttle`` per (endpoint, key): jobs that share an account share one, so
together they stay under the account's limits. The arithmetic lives in
``limits.py``; this module only waits.

Order of the waits, and why:
1. a global pause (after a 429 with Retry-After, or ``remaining == 0`` headers):
   every request waits it out, since limits are per account, not per request;
2. the concurrency window (a slot is taken before any rate token, so rate tokens
   are never wasted on a request that then waits for a slot);
3. the adaptive pacer, then aiolimiter's leaky bucket at the configured RPM (a hard
   ceiling that the adaptive rate cannot exceed), then the TPM bucket.

With ``[limits] redis_url`` the account's budget lives in Redis instead
(``redis_limits``): step 3 becomes one reservation there, shared by every
process on the account, and the local buckets (at ``redis_fallback_fraction``)
pace only while Redis is unreachable. The concurrency window stays local.
"""

from __future__ import annotations

import asyncio
import collections
from dataclasses import dataclass, field
from typing import Any

from aiolimiter import AsyncLimiter

from selfinstruct.engine.limits import AIMDWindow, Pacer, TokenBucket, TokenEstimator

__all__ = ["LimitsConfig", "Throttle", "Permit"]


@dataclass(frozen=True, kw_only=True)
class LimitsConfig:
    rpm: float | None = field(default=None, metadata={"help": "requests per minute (None: unlimited)"})
    tpm: float | None = field(default=None, metadata={"help": "tokens per minute (None: unlimited)"})
    max_concurrency: int = field(default=64, metadata={"help": "cap on requests in flight"})
    adaptive: bool = field(default=True, metadata={"help": "AIMD on 429s (rate and window)"})
    redis_url: str | None = field(default=None, metadata={
        "help": "redis://host:port/db holding the RPM/TPM budget and 429 pauses every process on the account "
                "shares (None: this process's limits only)"})
    redis_fallback_fraction: float = field(default=0.5, metadata={
        "help": "while Redis is unreachable, the share of rpm/tpm this process uses on its own"})

    def __post_init__(self) -> None:
        from selfinstruct.config import MAX_CONCURRENCY, MAX_RPM, MAX_TPM, check_range
        from selfinstruct.errors import ConfigError

        if self.redis_url is not None and (not isinstance(self.redis_url, str) or not self.redis_url.startswith(
                ("redis://", "rediss://", "unix://"))):
            raise ConfigError(f"limits.redis_url must be a redis://host:port/db URL, got {self.redis_url!r}")
        check_range("limits.redis_fallback_fraction", self.redis_fallback_fraction, lo=0, hi=1, lo_open=True)

        if self.rpm is not None:
            check_range("limits.rpm", self.rpm, lo=0, hi=MAX_RPM, lo_open=True)
        if self.tpm is not None:
            check_range("limits.tpm", self.tpm, lo=0, hi=MAX_TPM, lo_open=True)
        check_range("limits.max_concurrency", self.max_concurrency, lo=1, hi=MAX_CONCURRENCY)


@dataclass(slots=True)
class Permit:
    """What a request holds while it is in flight; handed back to ``Throttle.release``."""

    tokens: int
    released: bool = False
    shared: bool = False   # reserved in Redis (redis_limits), not from the local buckets


class Throttle:
    def __init__(self, config: LimitsConfig):
        self.config = config
        self.window = AIMDWindow(config.max_concurrency)
        self.estimator = TokenEstimator()
        self.in_flight = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._pause_until = 0.0
        self._pacer: Pacer | None = None
        self._ceiling: AsyncLimiter | None = None
        self._tokens: TokenBucket | None = None
        self._started = False
        self.throttled_events = 0  # 429 bursts that cut the rate
        self._shared: Any = None   # redis_limits.SharedAccount, when the account's limits live in Redis

    def share(self, account: Any) -> None:
        """Take the RPM/TPM budget from Redis (``redis_limits``); the local buckets, at the account's fallback
        fraction, only pace while Redis is unreachable. Before the first ``acquire``."""
        self._shared = account

    # -- lazily bound to the running loop's clock ---------------------------------
    def _start(self, now: float) -> None:
        self._started = True
        cfg = self.config
        scale = self._shared.fallback_fraction if self._shared is not None else 1.0
        if cfg.rpm:
            rate = cfg.rpm / 60.0 * scale
            self._pacer = Pacer(rate, now=now)
            # A bucket 50 ms deep, pre-filled so the first requests are spaced, not burst.
            burst = max(1.0, rate * 0.05)
            self._ceiling = AsyncLimiter(burst, burst / rate)
            self._ceiling_prefill = burst
        if cfg.tpm:
            rate = cfg.tpm / 60.0 * scale
            self._tokens = TokenBucket(rate, capacity=rate * 5.0, now=now, start_full=True)

    @property
    def current_rate(self) -> float | None:
        """The pacer's current rate in requests/second (None when there is no RPM limit); the account's shared
        rate while it comes from Redis."""
        if self._shared is not None and self._shared.available and self._shared.rate is not None:
            return self._shared.rate
        return self._pacer.rate if self._pacer else None

    @property
    def window_size(self) -> int:
        return self.window.size

    async def acquire(self, tokens: int) -> Permit:
        loop = asyncio.get_running_loop()
        if not self._started:
            self._start(loop.time())
            if self._ceiling is not None:
                await self._ceiling.acquire(self._ceiling_prefill)
        await self._wait_pause(loop)
        await self._take_slot(loop)
        try:
            if self._shared is not None:
                delay = await self._shared.reserve(tokens)
                if delay is not None:
                    if delay > 0:
                        await asyncio.sleep(delay)
                    return Permit(tokens=tokens, shared=True)
            await self._pace(loop, tokens)
        except BaseException:
            self._free_slot()
            raise
        return Permit(tokens=tokens)

    async def _pace(self, loop: asyncio.AbstractEventLoop, tokens: int) -> None:
        """The local limits: the adaptive pacer, the RPM ceiling, the TPM bucket."""
        if self._pacer is not None:
            delay = self._pacer.reserve(loop.time())
            if delay > 0:
                await asyncio.sleep(delay)
            await self._wait_pause(loop)
            await self._ceiling.acquire(1)  # type: ignore[union-attr]
        if self._tokens is not None:
            while True:
                wait = self._tokens.wait_time(tokens, loop.time())
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
            self._tokens.take(tokens, loop.time())

    def release(self, permit: Permit, *, ok: bool, throttled: bool = False, used_tokens: int | None = None,
                retry_after: float | None = None, rate_limits: object = None) -> None:
        """Hand a permit back with what happened. Safe to call twice (the second call does nothing)."""
        if permit.released:
            return
        permit.released = True
        self._free_slot()
        now = asyncio.get_running_loop().time()
        if permit.shared:
            if used_tokens is not None:
                self._shared.correct_tokens(used_tokens - permit.tokens)
            elif not ok:
                self._shared.correct_tokens(-permit.tokens)
            if throttled and self.config.adaptive:
                self._shared.throttled(retry_after)
        elif self._tokens is not None:
            if used_tokens is not None:
                self._tokens.adjust(used_tokens - permit.tokens, now)
            elif not ok:
                self._tokens.adjust(-permit.tokens, now)  # the server did not spend them
        if ok:
            self.window.on_success()
            if self._pacer is not None:
                self._pacer.on_success(now)
        if throttled and self.config.adaptive:
            cut = self.window.on_throttled(now)
            if self._pacer is not None:
                cut = self._pacer.on_throttled(now) or cut
            if cut:
                self.throttled_events += 1
                if retry_after:
                    self.pause(retry_after)
            self._wake()
        if rate_limits is not None:
            self._apply_headers(rate_limits, now)

    def pause(self, seconds: float) -> None:
        """Hold every new send for ``seconds`` (extends, never shortens, a pause in force)."""
        now = asyncio.get_running_loop().time()
        self._pause_until = max(self._pause_until, now + min(seconds, 120.0))

    def _apply_headers(self, info: object, now: float) -> None:
        remaining = getattr(info, "remaining_requests", None)
        reset = getattr(info, "reset_requests_s", None)
        if remaining is not None and remaining <= 0 and reset:
            self.pause(reset)
            if self._shared is not None:
                self._shared.pause(reset)
        remaining_t = getattr(info, "remaining_tokens", None)
        reset_t = getattr(info, "reset_tokens_s", None)
        if remaining_t is not None and reset_t and remaining_t < self.estimator.estimate(0, 16):
            self.pause(reset_t)

    # -- pause / window plumbing ------------------------------------------------------
    async def _wait_pause(self, loop: asyncio.AbstractEventLoop) -> None:
        while True:
            wait = self._pause_until - loop.time()
            if wait <= 0:
                return
            await asyncio.sleep(wait)

    async def _take_slot(self, loop: asyncio.AbstractEventLoop) -> None:
        while self.in_flight >= self.window.size:
            fut = loop.create_future()
            self._waiters.append(fut)
            try:
                await fut
            except BaseException:
                # A cancelled waiter that had been woken passes its wake-up on.
                if fut.done() and not fut.cancelled():
                    self._wake()
                raise
        self.in_flight += 1

    def _free_slot(self) -> None:
        self.in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        free = self.window.size - self.in_flight
        while free > 0 and self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                free -= 1
