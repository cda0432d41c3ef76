"""Which failures are retried, and how long to wait before the next attempt.

Decided by exception type (see ``selfinstruct.errors``), never by message text:
retryable errors and context-length errors (after max_tokens shrinks) are tried
again; everything else is final. The wait is exponential backoff with *full
jitter* (uniform in [0, min(cap, base * 2**(n-1))]), floored by the server's
Retry-After when it sent one. A context-length retry waits nothing: the next
attempt is a different request (smaller max_tokens), not a repeat.

An outage (see ``breaker.py``) is not the request's fault: attempts that fail
while the circuit breaker is open are not counted, and ``max_outage`` bounds
how long a run waits for the endpoint to come back.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_never

from selfinstruct.errors import ConfigError, ContextLengthExceeded, RequestError, RetryableError

__all__ = ["RetryConfig", "backoff_delay", "is_retryable", "make_retrying"]


@dataclass(frozen=True, kw_only=True)
class RetryConfig:
    max_attempts: int = field(default=8, metadata={"help": "attempts per request before it is written to OUT.failed.jsonl"})
    backoff_base: float = field(default=0.5, metadata={"help": "first backoff window in seconds"})
    backoff_max: float = field(default=30.0, metadata={"help": "largest backoff window in seconds"})
    timeout: float = field(default=60.0, metadata={"help": "per-request timeout in seconds (connect + answer)"})
    shrink_factor: float = field(default=0.8, metadata={"help": "max_tokens multiplier after a context-length error"})
    min_max_tokens: int = field(default=16, metadata={"help": "give up shrinking max_tokens below this"})
    max_outage: float = field(default=600.0, metadata={
        "help": "seconds the endpoint may stay down (circuit breaker open) before the run stops, resumable (exit 3)"})

    def __post_init__(self) -> None:
        from selfinstruct.config import MAX_ATTEMPTS, MAX_SECONDS, check_range

        check_range("retry.max_attempts", self.max_attempts, lo=1, hi=MAX_ATTEMPTS)
        check_range("retry.timeout", self.timeout, lo=0, hi=MAX_SECONDS, lo_open=True)
        check_range("retry.backoff_base", self.backoff_base, lo=0, hi=MAX_SECONDS)
        check_range("retry.backoff_max", self.backoff_max, lo=0, hi=MAX_SECONDS)
        check_range("retry.min_max_tokens", self.min_max_tokens, lo=1, hi=10**9)
        if not 0 < self.shrink_factor < 1:
            raise ConfigError(f"retry.shrink_factor must be in (0, 1), got {self.shrink_factor}")
        check_range("retry.max_outage", self.max_outage, lo=0, hi=MAX_SECONDS, lo_open=True)


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, ContextLengthExceeded):
        return exc.retryable
    return isinstance(exc, RetryableError)


def backoff_delay(attempt: int, exc: BaseException | None, config: RetryConfig, rng: random.Random) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
    if isinstance(exc, ContextLengthExceeded):
        return 0.0
    window = min(config.backoff_max, config.backoff_base * (2 ** (attempt - 1)))
    delay = rng.uniform(0.0, window)
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None and retry_after > delay:
        delay = float(retry_after)
    return delay


def make_retrying(config: RetryConfig, rng: random.Random, state: dict[str, int], *,
                  sleep: Callable[[float], Awaitable[Any]], on_retry: Callable[[], None]) -> AsyncRetrying:
    """The tenacity controller for a request's attempts after its first failure.

    ``state`` is the request's bookkeeping shared with the engine: ``attempts``
    counts the failures that count against ``max_attempts``, and ``excused`` is
    set when the last failure was the outage's (the circuit breaker was open), so
    it neither counts nor earns a backoff: the breaker paces those. Anything but a
    ``RequestError`` (a stop, a cancellation) is re-raised at once.
    """

    def go_on(exc: BaseException) -> bool:
        if not isinstance(exc, RequestError):
            return False
        if not state["excused"]:
            state["attempts"] += 1
        return is_retryable(exc) and state["attempts"] < config.max_attempts

    def wait(retry_state: RetryCallState) -> float:
        if state["excused"]:
            return 0.0
        exc = retry_state.outcome.exception() if retry_state.outcome is not None else None
        return backoff_delay(state["attempts"], exc, config, rng)

    return AsyncRetrying(retry=retry_if_exception(go_on), stop=stop_never, wait=wait, sleep=sleep,
                         before_sleep=lambda _state: on_retry(), reraise=True)
