"""Pure parsing of what an OpenAI-compatible server says besides the answer.

Rate-limit headers, Retry-After, and the many ways servers say "your prompt is
too long". No I/O and no asyncio here, so each function is table-tested
(tests/workers/test_headers.py). ``format_duration`` is the inverse used by the
simulated endpoint, so both sides agree on one format.
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Mapping
from typing import Any

from workers.base import RateLimitInfo

__all__ = [
    "parse_duration",
    "format_duration",
    "parse_retry_after",
    "parse_rate_limit_headers",
    "is_context_length_error",
    "error_message",
]

# Go-style durations as OpenAI sends them ("6m0s", "20ms", "1h2m3.5s"); "us"/"µs"
# and "ns" appear in some proxies. Longer units first so "ms" is not read as "m".
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|us|µs|ns|h|m|s)")


def parse_duration(value: str | None) -> float | None:
    """Seconds in ``"1s"``, ``"6m0s"``, ``"20ms"``, ``"0.5s"`` or plain ``"2.5"``; None if unreadable."""
    if value is None:
        return None
    text = value.strip().lower()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pos, total = 0, 0.0
        for match in _DURATION_PART.finditer(text):
            if match.start() != pos:
                return None
            total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
            pos = match.end()
        if pos != len(text) or pos == 0:
            return None
        return total
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def format_duration(seconds: float) -> str:
    """The short Go-style form OpenAI uses: ``"20ms"`` under a second, ``"1.5s"``, ``"6m0s"``."""
    if seconds < 1.0:
        return f"{max(0, math.ceil(seconds * 1000))}ms"
    if seconds < 60.0:
        return f"{round(seconds, 3):g}s"
    minutes, rest = divmod(seconds, 60.0)
    return f"{int(minutes)}m{round(rest, 3):g}s"


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` (preferred: precise) or ``Retry-After``.

    ``Retry-After`` may be seconds or an HTTP-date (RFC 9110); a date in the past
    means "now" (0.0). ``now`` is the wall clock to measure a date against.
    """
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            ms = float(raw_ms)
        except ValueError:
            ms = float("nan")
        if math.isfinite(ms) and ms >= 0:
            return ms / 1000.0
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None or when.tzinfo is None:
            return None
        return max(0.0, when.timestamp() - (time.time() if now is None else now))
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        return int(float(raw))
    except ValueError:
        return None


def parse_rate_limit_headers(headers: Mapping[str, str]) -> RateLimitInfo | None:
    """The ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` sextet; None when none is present."""
    if headers.get("x-ratelimit-limit-requests") is None and headers.get("x-ratelimit-limit-tokens") is None \
            and headers.get("x-ratelimit-remaining-requests") is None \
            and headers.get("x-ratelimit-remaining-tokens") is None:
        return None
    return RateLimitInfo(
        limit_requests=_int_header(headers, "x-ratelimit-limit-requests"),
        remaining_requests=_int_header(headers, "x-ratelimit-remaining-requests"),
        reset_requests_s=parse_duration(headers.get("x-ratelimit-reset-requests")),
        limit_tokens=_int_header(headers, "x-ratelimit-limit-tokens"),
        remaining_tokens=_int_header(headers, "x-ratelimit-remaining-tokens"),
        reset_tokens_s=parse_duration(headers.get("x-ratelimit-reset-tokens")),
    )


def error_message(body: Any) -> str:
    """The human message inside an error body, whatever the server's dialect ("" if none).

    OpenAI/vLLM/llama.cpp: ``{"error": {"message": ...}}`` or ``{"message": ...}``;
    TGI and Ollama: ``{"error": "..."}``.
    """
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            return str(err.get("message") or "")
        if isinstance(err, str):
            return err
        msg = body.get("message") or body.get("detail")
        return msg if isinstance(msg, str) else ""
    if isinstance(body, str):
        return body
    return ""


def _error_code(body: Any) -> str:
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            return f"{err.get('code') or ''} {err.get('type') or ''}"
        return f"{body.get('code') or ''} {body.get('type') or ''} {body.get('error_type') or ''}"
    return ""


# Phrases servers use when prompt + max_tokens does not fit. OpenAI sets a code;
# vLLM, TGI, llama.cpp and Ollama only say it in words.
_CONTEXT_PHRASES = re.compile(
    r"maximum context length|context length exceeded|context_length_exceeded"
    r"|please reduce the length|exceeds? (?:the )?(?:model'?s? )?(?:maximum )?context"
    r"|exceed_context_size|context (?:size|window) (?:has been |was )?exceeded"
    r"|input validation error: `inputs` tokens \+ `max_new_tokens` must be"
    r"|too many tokens in (?:the )?prompt",
    re.IGNORECASE,
)


def is_context_length_error(body: Any) -> bool:
    """True when a 400 body says the prompt plus max_tokens exceeds the model's context."""
    code = _error_code(body)
    if "context_length_exceeded" in code or "exceed_context_size" in code:
        return True
    return bool(_CONTEXT_PHRASES.search(error_message(body)))
