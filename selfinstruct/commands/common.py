"""Flags shared by the commands that talk to an endpoint, the value types of every numeric flag,
and the one place an API key is read.

Every numeric flag of every command parses with ``int_flag`` or ``float_flag``: a
value that is not a number, NaN, infinity or out of range stops argparse with exit
2 and a message naming the flag and the value, before any work starts. The
bounds are the ones the configs check (selfinstruct.config), so a flag and its TOML
key accept the same values.

Only the standard library (and our stdlib-only config module) is imported here, so every command starts fast.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from typing import Any

from selfinstruct.config import (
    INT64_MAX,
    MAX_ATTEMPTS,
    MAX_CONCURRENCY,
    MAX_COUNT,
    MAX_INTERVAL,
    MAX_RPM,
    MAX_SEED,
    MAX_SECONDS,
    MAX_TPM,
    describe_range,
)

__all__ = ["add_endpoint_arguments", "add_limit_arguments", "endpoint_overrides", "limit_overrides",
           "retry_overrides", "read_api_key", "int_flag", "float_flag",
           "RPM", "TPM", "CONCURRENCY", "TIMEOUT", "ATTEMPTS", "SECONDS", "INTERVAL", "COUNT", "SEED"]


def _shown(text: str) -> str:
    return repr(text) if len(text) <= 60 else repr(text[:40]) + f"... ({len(text)} characters)"


def int_flag(lo: int | None = None, hi: int | None = INT64_MAX, *,
             also: tuple[int, ...] = ()) -> Callable[[str], int]:
    """An argparse ``type=`` for a whole number in ``[lo, hi]`` (or one of ``also``, e.g. -1 for 'all')."""
    extra = "".join(f" or {a}" for a in also)
    want = f"a whole number {describe_range(lo, hi)}{extra}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:  # also int()'s own limit on digit count
            raise argparse.ArgumentTypeError(f"must be {want}, got {_shown(text)}") from None
        if value in also or ((lo is None or value >= lo) and (hi is None or value <= hi)):
            return value
        raise argparse.ArgumentTypeError(f"must be {want}, got {_shown(text)}")

    parse.__name__ = "whole number"  # what argparse calls the type if it ever names it
    parse.bounds = (lo, hi, False, also)  # type: ignore[attr-defined]  # read by the bad-value sweep test
    parse.integer = True  # type: ignore[attr-defined]
    return parse


def float_flag(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False) -> Callable[[str], float]:
    """An argparse ``type=`` for a finite number in ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``); never NaN or inf."""
    want = f"a finite number {describe_range(lo, hi, lo_open)}" if lo is not None or hi is not None \
        else "a finite number"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {want}, got {_shown(text)}") from None
        ok = math.isfinite(value)
        if ok and lo is not None:
            ok = value > lo if lo_open else value >= lo
        if ok and hi is not None:
            ok = value <= hi
        if not ok:
            raise argparse.ArgumentTypeError(f"must be {want}, got {_shown(text)}")
        return value

    parse.__name__ = "number"
    parse.bounds = (lo, hi, lo_open, ())  # type: ignore[attr-defined]
    parse.integer = False  # type: ignore[attr-defined]
    return parse


# The flags that mirror config keys; same bounds as LimitsConfig and RetryConfig.
RPM = float_flag(0, MAX_RPM, lo_open=True)
TPM = float_flag(0, MAX_TPM, lo_open=True)
CONCURRENCY = int_flag(1, MAX_CONCURRENCY)
TIMEOUT = float_flag(0, MAX_SECONDS, lo_open=True)
ATTEMPTS = int_flag(1, MAX_ATTEMPTS)
SECONDS = float_flag(0, MAX_SECONDS)  # drains and graces: 0 allowed
INTERVAL = float_flag(0, MAX_INTERVAL, lo_open=True)
COUNT = int_flag(1, MAX_COUNT)
SEED = int_flag(0, MAX_SEED)


def add_endpoint_arguments(parser: argparse.ArgumentParser, *, required: bool = True,
                           default_endpoint: str | None = None) -> None:
    g = parser.add_argument_group("endpoint")
    g.add_argument("--api-base", required=required, default=None,
                   help="OpenAI-compatible base URL ending in /v1 (e.g. https://api.openai.com/v1, http://127.0.0.1:8000/v1)")
    g.add_argument("--model", required=required, default=None, help="model name sent with every request")
    g.add_argument("--endpoint", choices=["chat", "completions"], default=default_endpoint,
                   help="API flavour: /v1/chat/completions or /v1/completions")
    g.add_argument("--api-key-env", default=None, metavar="VAR",
                   help="environment variable holding the API key (default OPENAI_API_KEY); optional for loopback")


def add_limit_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("limits and retries")
    g.add_argument("--rpm", type=RPM, default=None, help="requests per minute allowed by the endpoint")
    g.add_argument("--tpm", type=TPM, default=None, help="tokens per minute allowed by the endpoint")
    g.add_argument("--max-concurrency", type=CONCURRENCY, default=None, help="cap on requests in flight (default 64)")
    g.add_argument("--timeout", type=TIMEOUT, default=None, help="per-request timeout in seconds (default 60)")
    g.add_argument("--max-attempts", type=ATTEMPTS, default=None, help="attempts per request (default 8)")
    g.add_argument("--max-outage", type=TIMEOUT, default=None, metavar="SECONDS",
                   help="stop (exit 3, resumable) once the endpoint has been down this long (default 600)")


def endpoint_overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {"api_base": args.api_base, "model": args.model, "endpoint": args.endpoint,
            "api_key_env": args.api_key_env}


def limit_overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {"rpm": args.rpm, "tpm": args.tpm, "max_concurrency": args.max_concurrency}


def retry_overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {"timeout": args.timeout, "max_attempts": args.max_attempts, "max_outage": args.max_outage}


def read_api_key(env_name: str, api_base: str) -> str | None:
    """The key from ``env_name`` in this process's environment (the rule: ``selfinstruct.net.resolve_api_key``)."""
    from selfinstruct.net import resolve_api_key

    return resolve_api_key(env_name, api_base, os.environ)
