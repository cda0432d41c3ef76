"""Table tests for the pure header/body parsing at the HTTP boundary."""

from __future__ import annotations

import email.utils

import pytest

from workers.base import RateLimitInfo
from workers.headers import (
    format_duration,
    is_context_length_error,
    parse_duration,
    parse_rate_limit_headers,
    parse_retry_after,
)


@pytest.mark.parametrize("text, seconds", [
    ("1s", 1.0), ("6m0s", 360.0), ("20ms", 0.02), ("0.5s", 0.5), ("2", 2.0), ("2.5", 2.5),
    ("1h2m3s", 3723.0), ("1m30.5s", 90.5), ("500us", 0.0005), ("  3s ", 3.0), ("0ms", 0.0),
    ("", None), ("soon", None), ("5x", None), ("-1", None), ("1s2", None), (None, None), ("nan", None),
])
def test_parse_duration(text, seconds):
    got = parse_duration(text)
    assert got == pytest.approx(seconds) if seconds is not None else got is None


@pytest.mark.parametrize("seconds", [0.0, 0.02, 0.5, 0.999, 1.0, 1.5, 59.0, 61.0, 360.0, 3723.5])
def test_format_duration_round_trips(seconds):
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds, abs=1e-3)


NOW = 1_700_000_000.0


@pytest.mark.parametrize("headers, expected", [
    ({"retry-after": "3"}, 3.0),
    ({"retry-after": "0.25"}, 0.25),
    ({"retry-after-ms": "120"}, 0.12),
    ({"retry-after-ms": "120", "retry-after": "9"}, 0.12),  # the precise one wins
    ({"retry-after-ms": "bogus", "retry-after": "9"}, 9.0),
    ({"retry-after": email.utils.formatdate(NOW + 30, usegmt=True)}, 30.0),
    ({"retry-after": email.utils.formatdate(NOW - 30, usegmt=True)}, 0.0),
    ({"retry-after": "tomorrow-ish"}, None),
    ({"retry-after": "-5"}, None),
    ({}, None),
])
def test_parse_retry_after(headers, expected):
    got = parse_retry_after(headers, now=NOW)
    assert got == pytest.approx(expected) if expected is not None else got is None


def test_parse_rate_limit_headers():
    info = parse_rate_limit_headers({
        "x-ratelimit-limit-requests": "3500", "x-ratelimit-remaining-requests": "3499",
        "x-ratelimit-reset-requests": "17ms", "x-ratelimit-limit-tokens": "90000",
        "x-ratelimit-remaining-tokens": "89000", "x-ratelimit-reset-tokens": "6m0s",
    })
    assert info == RateLimitInfo(3500, 3499, pytest.approx(0.017), 90000, 89000, pytest.approx(360.0))
    partial = parse_rate_limit_headers({"x-ratelimit-limit-tokens": "100", "x-ratelimit-reset-tokens": "junk"})
    assert partial == RateLimitInfo(limit_tokens=100)
    assert parse_rate_limit_headers({"content-type": "application/json"}) is None


CONTEXT_BODIES = [
    # OpenAI
    ({"error": {"message": "This model's maximum context length is 4097 tokens. However, your messages "
                           "resulted in 5000 tokens.", "type": "invalid_request_error", "param": "messages",
                "code": "context_length_exceeded"}}, True),
    ({"error": {"message": "too long", "type": "invalid_request_error", "code": "context_length_exceeded"}}, True),
    # vLLM
    ({"object": "error", "message": "This model's maximum context length is 2048 tokens. However, you requested "
      "2100 tokens (100 in the messages, 2000 in the completion). Please reduce the length of the messages or "
      "completion.", "type": "BadRequestError", "param": None, "code": 400}, True),
    # TGI
    ({"error": "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 2048. Given: 2000 "
      "`inputs` tokens and 100 `max_new_tokens`", "error_type": "validation"}, True),
    # llama.cpp server
    ({"error": {"code": 400, "message": "the request exceeds the available context size, try increasing it",
                "type": "exceed_context_size_error"}}, True),
    # Ollama-style
    ({"error": "prompt exceeds the model's context length"}, True),
    ({"error": "input length exceeds maximum context length"}, True),
    # Not context errors
    ({"error": {"message": "Invalid value for 'temperature'", "type": "invalid_request_error",
                "code": "invalid_value"}}, False),
    ({"error": "model 'llama9' not found"}, False),
    ({"detail": "Not Found"}, False),
    ("<html>Bad Request</html>", False),
    (None, False),
]


@pytest.mark.parametrize("body, expected", CONTEXT_BODIES)
def test_is_context_length_error(body, expected):
    assert is_context_length_error(body) is expected
