"""Network edges: which hosts only this machine can reach, and the one rule for an endpoint's API key.

The key is resolved once, at the edge (the CLI, or the service for a backend),
from an environment mapping the caller passes in; the library below only ever
sees the key's value. A loopback endpoint may go without a key; any other needs
one. ``split_key_source`` takes ``api_key_env`` off an ``[endpoint]`` table, so
the name of the variable never travels into ``EndpointConfig``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from selfinstruct.errors import ConfigError

__all__ = ["DEFAULT_KEY_ENV", "KeySource", "is_loopback_host", "is_loopback_url", "split_key_source", "resolve_api_key"]

DEFAULT_KEY_ENV = "OPENAI_API_KEY"


@dataclass(frozen=True, kw_only=True)
class KeySource:
    """Where the CLI reads an endpoint's key: ``[endpoint] api_key_env`` / ``--api-key-env``."""

    api_key_env: str = field(default=DEFAULT_KEY_ENV, metadata={
        "help": "name of the environment variable holding the API key (read by the CLI, never stored)"})


def is_loopback_host(host: str) -> bool:
    """True for names and addresses only reachable from this machine (127.0.0.0/8, ::1, localhost)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # any other name may resolve to a public address


def is_loopback_url(url: str) -> bool:
    return is_loopback_host(urlparse(url).hostname or "")


def split_key_source(endpoint_table: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``[endpoint]`` with ``api_key_env`` -> (the variable's name, the table ``EndpointConfig`` takes)."""
    table = dict(endpoint_table)
    name = table.pop("api_key_env", None)
    return (DEFAULT_KEY_ENV if name is None else name), table


def resolve_api_key(env_name: Any, api_base: str, environ: Mapping[str, str]) -> str | None:
    """The key in ``environ[env_name]``; required unless ``api_base`` is on loopback. Never echoes the key."""
    if not isinstance(env_name, str) or not env_name or not env_name.replace("_", "").isalnum():
        raise ConfigError(f"--api-key-env must be an environment variable name, got {env_name!r}")
    key = environ.get(env_name)
    if key:
        return key
    if is_loopback_url(api_base):
        return None
    raise ConfigError(f"environment variable {env_name} is not set; it must hold the API key for {api_base}")
