"""Token-bucket arithmetic for the simulated endpoint's RPM/TPM limits (pure: the clock is passed in)."""

from __future__ import annotations

from workers.headers import format_duration

__all__ = ["TokenBucket", "Admission", "RateLimiter"]


class TokenBucket:
    """Refills continuously at ``rate`` per second up to ``capacity``."""

    __slots__ = ("rate", "capacity", "level", "stamp")

    def __init__(self, rate: float, capacity: float, now: float):
        self.rate = rate
        self.capacity = capacity
        self.level = capacity
        self.stamp = now

    def refill(self, now: float) -> None:
        if now > self.stamp:
            self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
            self.stamp = now

    def wait_for(self, amount: float) -> float:
        """Seconds until ``amount`` fits (0.0 if it fits now). Call ``refill`` first."""
        # A request costing more than the whole bucket is served once the bucket is
        # full, rather than never.
        amount = min(amount, self.capacity)
        return 0.0 if self.level >= amount else (amount - self.level) / self.rate

    def until_full(self) -> float:
        return (self.capacity - self.level) / self.rate


class Admission:
    """The limiter's verdict on one request, with what the x-ratelimit headers should say."""

    __slots__ = ("wait", "headers")

    def __init__(self, wait: float, headers: dict[str, str]):
        self.wait = wait
        self.headers = headers


class RateLimiter:
    """A request bucket and a token bucket, checked together.

    A request is admitted only if both have room, and only then are both charged,
    so rejected requests consume nothing.
    """

    def __init__(self, rpm: float | None, tpm: float | None, burst_seconds: float, now: float):
        self.requests = TokenBucket(rpm / 60.0, max(1.0, rpm / 60.0 * burst_seconds), now) if rpm else None
        self.tokens = TokenBucket(tpm / 60.0, max(1.0, tpm / 60.0 * burst_seconds), now) if tpm else None
        self.rpm = rpm
        self.tpm = tpm

    @property
    def active(self) -> bool:
        return self.requests is not None or self.tokens is not None

    def admit(self, cost_tokens: int, now: float) -> Admission:
        wait = 0.0
        req, tok = self.requests, self.tokens
        if req is not None:
            req.refill(now)
            wait = req.wait_for(1.0)
        if tok is not None:
            tok.refill(now)
            wait = max(wait, tok.wait_for(cost_tokens))
        if wait == 0.0:
            if req is not None:
                req.level -= 1.0
            if tok is not None:
                tok.level -= min(cost_tokens, tok.capacity)
        headers: dict[str, str] = {}
        if req is not None:
            headers["x-ratelimit-limit-requests"] = str(int(self.rpm))
            headers["x-ratelimit-remaining-requests"] = str(max(0, int(req.level)))
            headers["x-ratelimit-reset-requests"] = format_duration(req.until_full())
        if tok is not None:
            headers["x-ratelimit-limit-tokens"] = str(int(self.tpm))
            headers["x-ratelimit-remaining-tokens"] = str(max(0, int(tok.level)))
            headers["x-ratelimit-reset-tokens"] = format_duration(tok.until_full())
        return Admission(wait, headers)
