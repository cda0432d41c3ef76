"""Flags shared by the commands that talk to an endpoint, the value types of every numeric flag,
and the one place keys, tokens and other environment variables are read.

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

from selfinstruct.cli import sections
from selfinstruct.cli.flags import ConfigFlag, add_config_flags
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
from selfinstruct.errors import ConfigError

__all__ = ["add_endpoint_arguments", "add_limit_arguments", "add_batch_arguments", "BATCH_FLAGS", "endpoint_flags",
           "LIMIT_FLAGS", "read_api_key", "read_api_keys", "replica_overrides",
           "read_secret", "hub_offline", "int_flag", "float_flag",
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


def endpoint_flags(*, required: bool = False, endpoint_note: str = "") -> list[ConfigFlag]:
    return [
        ConfigFlag("--api-base", "endpoint.api_base", sections.endpoint, required=required, repeat=True,
                   note="e.g. https://api.openai.com/v1, http://127.0.0.1:8000/v1; repeat it for replicas of "
                        "one model (each gets --rpm, --tpm and --max-concurrency of its own)"),
        ConfigFlag("--model", "endpoint.model", sections.endpoint, required=required),
        ConfigFlag("--endpoint", "endpoint.endpoint", sections.endpoint, choices=("chat", "completions"),
                   note=endpoint_note, show_default=not endpoint_note),
        ConfigFlag("--api-key-env", "endpoint.api_key_env", sections.key_source, metavar="VAR",
                   note="optional for a loopback endpoint"),
    ]


LIMIT_FLAGS = [
    ConfigFlag("--rpm", "limits.rpm", sections.limits, type=RPM),
    ConfigFlag("--tpm", "limits.tpm", sections.limits, type=TPM),
    ConfigFlag("--max-concurrency", "limits.max_concurrency", sections.limits, type=CONCURRENCY),
    ConfigFlag("--timeout", "retry.timeout", sections.retry, type=TIMEOUT),
    ConfigFlag("--max-attempts", "retry.max_attempts", sections.retry, type=ATTEMPTS),
    ConfigFlag("--max-outage", "retry.max_outage", sections.retry, type=TIMEOUT, metavar="SECONDS"),
    ConfigFlag("--limits-redis", "limits.redis_url", sections.limits, metavar="redis://HOST:PORT/DB"),
]


# Batch mode (selfinstruct.batch): the same flags for every command that can run through the Batch API.
BATCH_FLAGS = [
    ConfigFlag("--mode", "endpoint.mode", sections.batch, choices=("online", "batch", "auto")),
    ConfigFlag("--batch-poll-interval", "batch.poll_interval", sections.batch, type=INTERVAL, metavar="SECONDS"),
    ConfigFlag("--batch-window", "batch.window", sections.batch, metavar="24h"),
    ConfigFlag("--batch-max-requests", "batch.max_file_requests", sections.batch, type=int_flag(1, 50_000),
               metavar="N"),
]


def add_batch_arguments(parser: argparse.ArgumentParser) -> list[ConfigFlag]:
    add_config_flags(parser.add_argument_group("batch mode"), BATCH_FLAGS)
    return BATCH_FLAGS


def replica_overrides(dotted: dict) -> dict:
    """``--api-base`` given once sets ``endpoint.api_base``; given several times, the first names the run's
    endpoint and all of them become ``endpoint.replicas`` (each with the run's limits)."""
    bases = dotted.get("endpoint.api_base")
    if not isinstance(bases, list):
        return dotted
    out = dict(dotted, **{"endpoint.api_base": bases[0]})
    if len(bases) > 1:
        out["endpoint.replicas"] = [{"api_base": base} for base in bases]
    return out


def read_api_keys(env_name: str, endpoint) -> str | None | tuple[str | None, ...]:
    """The endpoint's key, or with replicas one key per replica, each from its own ``api_key_env`` (else
    ``env_name``) and checked against its own ``api_base`` (``read_api_key``)."""
    if not endpoint.replicas:
        return read_api_key(env_name, endpoint.api_base)
    return tuple(read_api_key(r.api_key_env or env_name, r.api_base) for r in endpoint.replicas)


def add_endpoint_arguments(parser: argparse.ArgumentParser, *, required: bool = False,
                           endpoint_note: str = "") -> list[ConfigFlag]:
    flags = endpoint_flags(required=required, endpoint_note=endpoint_note)
    add_config_flags(parser.add_argument_group("endpoint"), flags)
    return flags


def add_limit_arguments(parser: argparse.ArgumentParser) -> list[ConfigFlag]:
    add_config_flags(parser.add_argument_group("limits and retries"), LIMIT_FLAGS)
    return LIMIT_FLAGS


def read_api_key(env_name: str, api_base: str) -> str | None:
    """The key from ``env_name`` in this process's environment (the rule: ``selfinstruct.net.resolve_api_key``)."""
    from selfinstruct.net import resolve_api_key

    return resolve_api_key(env_name, api_base, os.environ)


def read_secret(env_name: str | None, flag: str) -> str | None:
    """A token or key named by ``flag`` (``--token-env``): None when the flag is not given, else it must be set."""
    if env_name is None:
        return None
    if not env_name.replace("_", "").isalnum():
        raise ConfigError(f"{flag} must be an environment variable name, got {env_name!r}")
    value = os.environ.get(env_name, "")
    if not value:
        raise ConfigError(f"environment variable {env_name} (named by {flag}) is not set or empty")
    return value


def hub_offline() -> bool:
    """Whether the Hugging Face hub is switched off (HF_HUB_OFFLINE), so models load from local files only."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}
