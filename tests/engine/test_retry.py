"""Which errors retry, and the backoff: full jitter with Retry-After as a floor."""

import random

import pytest

from selfinstruct.engine.retry import RetryConfig, backoff_delay, is_retryable
from selfinstruct.errors import (
    AuthError,
    ConfigError,
    ContextLengthExceeded,
    FatalEndpointError,
    MalformedResponse,
    RateLimited,
    ServerError,
    TransientNetworkError,
)


@pytest.mark.parametrize(
    "exc,retry",
    [
        (RateLimited("429"), True),
        (ServerError("500", status=500), True),
        (ServerError("408", status=408), True),
        (TransientNetworkError("reset"), True),
        (MalformedResponse("bad json"), True),
        (ContextLengthExceeded("too long"), True),
        (ContextLengthExceeded("too long", retryable=False), False),
        (AuthError("401", status=401), False),
        (FatalEndpointError("404", status=404), False),
        (ValueError("bug"), False),
    ],
)
def test_is_retryable(exc, retry):
    assert is_retryable(exc) is retry


def test_full_jitter_bounds():
    cfg = RetryConfig(backoff_base=0.5, backoff_max=4.0)
    rng = random.Random(1)
    for attempt, cap in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (9, 4.0)]:
        samples = [backoff_delay(attempt, ServerError("x"), cfg, rng) for _ in range(300)]
        assert min(samples) >= 0.0
        assert max(samples) <= cap
        assert max(samples) > cap * 0.8      # full jitter uses the whole window
        assert min(samples) < cap * 0.2


def test_retry_after_is_a_floor():
    cfg = RetryConfig(backoff_base=0.1, backoff_max=0.2)
    rng = random.Random(0)
    assert all(backoff_delay(1, RateLimited("x", retry_after=3.0), cfg, rng) == 3.0 for _ in range(50))


def test_context_length_retries_without_waiting():
    assert backoff_delay(3, ContextLengthExceeded("x"), RetryConfig(), random.Random(0)) == 0.0


@pytest.mark.parametrize("kwargs", [{"max_attempts": 0}, {"timeout": 0}, {"shrink_factor": 1.5}])
def test_bad_retry_config(kwargs):
    with pytest.raises(ConfigError):
        RetryConfig(**kwargs)
