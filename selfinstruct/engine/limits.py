"""Rate-limit arithmetic: token bucket, pacer, AIMD window and token estimates. Pure: no asyncio, no I/O.

Every class takes the current time as an argument instead of reading a clock, so
the behaviour is a function of its inputs and is tested with parameter tables.

Why several controllers:
- ``Pacer`` spaces requests evenly at a rate that adapts (multiplicative decrease on
  a 429, additive increase while answers succeed), bounded above by the
  configured RPM. Even spacing means a run never starts with a burst.
- ``TokenBucket`` enforces tokens-per-minute. It is charged an *estimate* before a
  request and corrected with the ``usage`` the server returns (the bucket may go
  into debt, so the next requests wait for the overrun).
- ``AIMDWindow`` is the concurrency window: in-flight requests never exceed it.
  It halves on a 429 and grows by one per window of successes, up to the cap.
- ``TokenEstimator`` learns how many completion tokens answers really use, so
  ``max_tokens=1024`` does not reserve 1024 tokens per call forever.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["TokenBucket", "Pacer", "AIMDWindow", "TokenEstimator", "estimate_prompt_tokens"]


class TokenBucket:
    """A bucket of ``capacity`` tokens refilled at ``rate`` per second, allowed to go into debt."""

    def __init__(self, rate: float, capacity: float, *, now: float, start_full: bool = False):
        if rate <= 0 or capacity <= 0:
            raise ValueError("rate and capacity must be positive")
        self.rate = rate
        self.capacity = capacity
        self.level = capacity if start_full else 0.0
        self._last = now

    def _refill(self, now: float) -> None:
        if now > self._last:
            self.level = min(self.capacity, self.level + (now - self._last) * self.rate)
            self._last = now

    def wait_time(self, amount: float, now: float) -> float:
        """Seconds until ``amount`` tokens are available (0 if they are now). Amounts over capacity are clamped."""
        self._refill(now)
        need = min(amount, self.capacity)
        if self.level >= need:
            return 0.0
        return (need - self.level) / self.rate

    def take(self, amount: float, now: float) -> None:
        """Take tokens; may leave the bucket in debt (negative), which later callers wait out."""
        self._refill(now)
        self.level -= min(amount, self.capacity)

    def adjust(self, delta: float, now: float) -> None:
        """Correct a previous charge: positive ``delta`` takes more, negative refunds (never above capacity)."""
        self._refill(now)
        self.level = min(self.capacity, self.level - delta)


class Pacer:
    """Evenly spaced send slots at an adaptive rate (virtual scheduling, like GCRA).

    ``reserve(now)`` returns the delay before the caller may send. The rate starts
    at ``ceiling`` and never exceeds it; ``on_throttled`` cuts it by ``decrease``
    (at most once per ``cooldown`` seconds, so one burst of 429s counts once) and
    ``on_success`` adds ``increase_per_s`` req/s for each second since the last cut.
    """

    def __init__(self, ceiling: float, *, now: float, floor_fraction: float = 1 / 64,
                 decrease: float = 0.7, recovery_s: float = 20.0, cooldown: float = 0.5):
        if ceiling <= 0:
            raise ValueError("ceiling must be positive")
        self.ceiling = ceiling
        self.floor = max(ceiling * floor_fraction, 0.05)
        self.rate = ceiling
        self.decrease = decrease
        # Additive increase: from floor back to ceiling in about ``recovery_s`` seconds of success.
        self.increase_per_s = ceiling / recovery_s
        self.cooldown = cooldown
        self._next = now
        self._last_cut = -math.inf
        self._last_update = now

    def reserve(self, now: float) -> float:
        slot = max(self._next, now)
        self._next = slot + 1.0 / self.rate
        return slot - now

    def on_success(self, now: float) -> None:
        if self.rate < self.ceiling:
            dt = max(0.0, now - self._last_update)
            self.rate = min(self.ceiling, self.rate + self.increase_per_s * dt)
        self._last_update = now

    def on_throttled(self, now: float) -> bool:
        """A 429 arrived. Returns True if the rate was cut (False if within the cooldown of the last cut)."""
        self._last_update = now
        if now - self._last_cut < self.cooldown:
            return False
        self._last_cut = now
        self.rate = max(self.floor, self.rate * self.decrease)
        return True


class AIMDWindow:
    """Concurrency window: additive increase (+1 per window of successes), multiplicative decrease on 429."""

    def __init__(self, cap: int, *, initial: int | None = None, decrease: float = 0.5,
                 cooldown: float = 0.5, minimum: int = 1):
        if cap < 1:
            raise ValueError("max concurrency must be at least 1")
        self.cap = cap
        self.minimum = max(1, min(minimum, cap))
        self.value = float(initial if initial is not None else cap)
        self.decrease = decrease
        self.cooldown = cooldown
        self._last_cut = -math.inf

    @property
    def size(self) -> int:
        return max(self.minimum, min(self.cap, int(self.value)))

    def on_success(self) -> None:
        if self.value < self.cap:
            self.value = min(float(self.cap), self.value + 1.0 / max(self.value, 1.0))

    def on_throttled(self, now: float) -> bool:
        if now - self._last_cut < self.cooldown:
            return False
        self._last_cut = now
        self.value = max(float(self.minimum), self.value * self.decrease)
        return True


def estimate_prompt_tokens(text_chars: int) -> int:
    """About four characters per token for English under common BPE vocabularies, rounded up."""
    return text_chars // 4 + 1


@dataclass
class TokenEstimator:
    """Estimates a request's token cost before it is sent, and learns from ``usage``.

    The completion part is ``max_tokens * ratio``, where ``ratio`` is an
    exponential moving average of (completion tokens used / max_tokens asked),
    starting at 1.0 (the safe assumption) and never below ``min_ratio``.
    """

    ratio: float = 1.0
    alpha: float = 0.1
    min_ratio: float = 0.05

    def estimate(self, prompt_chars: int, max_tokens: int, n: int = 1) -> int:
        return estimate_prompt_tokens(prompt_chars) + int(math.ceil(max_tokens * n * self.ratio))

    def observe(self, completion_tokens: int, max_tokens: int, n: int = 1) -> None:
        if max_tokens <= 0 or n <= 0:
            return
        seen = min(1.0, completion_tokens / (max_tokens * n))
        self.ratio = max(self.min_ratio, (1 - self.alpha) * self.ratio + self.alpha * seen)
