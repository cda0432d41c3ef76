"""Flags shared by the commands that talk to an endpoint, and the one place an API key is read.

Only the standard library is imported here, so every command starts fast.
"""

from __future__ import annotations

import argparse
import os
from typing import Any
from urllib.parse import urlparse

from selfinstruct.errors import ConfigError

__all__ = ["add_endpoint_arguments", "add_limit_arguments", "endpoint_overrides", "limit_overrides",
           "retry_overrides", "read_api_key", "is_loopback"]


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
    g.add_argument("--rpm", type=float, default=None, help="requests per minute allowed by the endpoint")
    g.add_argument("--tpm", type=float, default=None, help="tokens per minute allowed by the endpoint")
    g.add_argument("--max-concurrency", type=int, default=None, help="cap on requests in flight (default 64)")
    g.add_argument("--timeout", type=float, default=None, help="per-request timeout in seconds (default 60)")
    g.add_argument("--max-attempts", type=int, default=None, help="attempts per request (default 8)")
    g.add_argument("--max-outage", type=float, default=None, metavar="SECONDS",
                   help="stop (exit 3, resumable) once the endpoint has been down this long (default 600)")


def endpoint_overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {"api_base": args.api_base, "model": args.model, "endpoint": args.endpoint,
            "api_key_env": args.api_key_env}


def limit_overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {"rpm": args.rpm, "tpm": args.tpm, "max_concurrency": args.max_concurrency}


def retry_overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {"timeout": args.timeout, "max_attempts": args.max_attempts, "max_outage": args.max_outage}


def is_loopback(url: str) -> bool:
    host = (urlparse(url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")


def read_api_key(env_name: str, api_base: str) -> str | None:
    """The key from ``env_name``; required unless the endpoint is on loopback. The key is never echoed."""
    if not env_name or not env_name.replace("_", "").isalnum():
        raise ConfigError(f"--api-key-env must be an environment variable name, got {env_name!r}")
    key = os.environ.get(env_name)
    if key:
        return key
    if is_loopback(api_base):
        return None
    raise ConfigError(f"environment variable {env_name} is not set; it must hold the API key for {api_base}")
