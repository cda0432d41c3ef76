"""Settings of the generation service: flags, the ``--config`` TOML file, and the rule that an exposed service
must have a bearer token.

The TOML file holds the backend registry (``[backends.NAME]``, see ``backends``),
custom review templates (``[review_templates.NAME]``, see ``review.templates``)
and the service-level settings ``seeds_dir``, ``allowed_origins``,
``allowed_hosts``, ``max_body_bytes`` and ``[limits]`` (``redis_url``,
``redis_fallback_fraction``: limits shared through Redis). Command-line flags set the rest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfinstruct.errors import ConfigError
from selfinstruct.net import is_loopback_host, is_loopback_url

__all__ = ["ServiceConfig", "is_loopback_host", "is_loopback_url", "load_service_file", "DEFAULT_MAX_BODY"]

DEFAULT_MAX_BODY = 10 * 1024 * 1024
_FILE_KEYS = ("backends", "seeds_dir", "allowed_origins", "allowed_hosts", "max_body_bytes", "review_templates",
              "limits")


@dataclass(frozen=True, kw_only=True)
class ServiceConfig:
    state_dir: Path = field(metadata={"help": "where jobs, their run directories and service.sqlite3 live"})
    host: str = field(default="127.0.0.1", metadata={"help": "address to bind (loopback unless a token is set)"})
    port: int = field(default=8700, metadata={"help": "TCP port (0: any free port, logged at start)"})
    token: str | None = field(default=None, repr=False, metadata={
        "help": "bearer token required on every route but /healthz (the CLI reads it from --token-env)"})
    max_jobs: int = field(default=4, metadata={"help": "jobs running at once; the rest wait in the queue"})
    grace: float = field(default=30.0, metadata={"help": "seconds running jobs get to drain on SIGTERM"})
    log_interval: float = field(default=10.0, metadata={"help": "seconds between progress log lines per job"})
    backends: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "the operator's backends by name (BackendConfig); jobs can only name one of them"})
    seeds_dir: Path | None = field(default=None, metadata={
        "help": "directory whose seed files jobs may name (\"seed_tasks\": \"NAME.jsonl\"); none: inline seeds only"})
    allowed_origins: tuple[str, ...] = field(default=(), metadata={
        "help": "browser Origins allowed to call the API (default none: any request with an Origin gets 403)"})
    allowed_hosts: tuple[str, ...] = field(default=(), metadata={
        "help": "Host names accepted besides the bound address and loopback ('name' any port, 'name:port' one)"})
    max_body_bytes: int = field(default=DEFAULT_MAX_BODY, metadata={"help": "larger request bodies get 413"})
    review_templates: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "custom review templates by name ([review_templates.NAME] criteria = [{name, question, scale}])"})
    limits: Any = field(default=None, metadata={
        "help": "[limits] redis_url and redis_fallback_fraction: every backend's account budget shared through "
                "Redis with other daemons and runs (engine.throttle.LimitsConfig; none: this process only)"})

    def __post_init__(self) -> None:
        if not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise ConfigError(f"--port must be between 0 and 65535, got {self.port!r}")
        if self.max_jobs < 1:
            raise ConfigError(f"--max-jobs must be at least 1, got {self.max_jobs}")
        for name in ("grace", "log_interval"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be a positive number of seconds, got {value!r}")
        if isinstance(self.max_body_bytes, bool) or not isinstance(self.max_body_bytes, int) \
                or self.max_body_bytes < 1024:
            raise ConfigError(f"max_body_bytes must be an integer of at least 1024, got {self.max_body_bytes!r}")
        if self.token is not None and len(self.token) < 16:
            raise ConfigError("the bearer token must be at least 16 characters long")
        if self.token is None and not is_loopback_host(self.host):
            raise ConfigError(
                f"refusing to bind {self.host}: outside loopback the service needs a bearer token; "
                f"put one in an environment variable and pass --token-env VAR")


def _strings(value: Any, key: str, source: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{source}: {key} must be a list of non-empty strings, got {value!r}")
    return tuple(value)


def load_service_file(path: Path) -> dict[str, Any]:
    """The ``ServiceConfig`` fields set by a ``--config`` TOML file; unknown keys name the key and the file."""
    from selfinstruct.config import check_keys, load_toml
    from selfinstruct.service.backends import parse_backends

    table = load_toml(path)
    source = str(path)
    check_keys(table, set(_FILE_KEYS), source=source)
    out: dict[str, Any] = {"backends": parse_backends(table.get("backends", {}), source=source)}
    if "seeds_dir" in table:
        if not isinstance(table["seeds_dir"], str) or not table["seeds_dir"]:
            raise ConfigError(f"{source}: seeds_dir must be a directory path")
        seeds_dir = (Path(path).parent / Path(table["seeds_dir"]).expanduser()).resolve()
        if not seeds_dir.is_dir():
            raise ConfigError(f"{source}: seeds_dir {seeds_dir} is not a directory")
        out["seeds_dir"] = seeds_dir
    for key in ("allowed_origins", "allowed_hosts"):
        if key in table:
            out[key] = _strings(table[key], key, source)
    from selfinstruct.service.hygiene import split_host

    for host in out.get("allowed_hosts", ()):
        if split_host(host) is None:
            raise ConfigError(f"{source}: allowed_hosts entries are 'name' or 'name:port', got {host!r}")
    for origin in out.get("allowed_origins", ()):
        if not origin.startswith(("http://", "https://")) or origin.rstrip("/").count("/") > 2:
            raise ConfigError(f"{source}: allowed_origins entries are scheme://host[:port], got {origin!r}")
    if "max_body_bytes" in table:
        value = table["max_body_bytes"]
        if isinstance(value, bool) or not isinstance(value, int) or not 1024 <= value <= 2**40:
            raise ConfigError(f"{source}: max_body_bytes must be a whole number of bytes from 1024 to 2**40, "
                              f"got {value!r}")
        out["max_body_bytes"] = value
    if "review_templates" in table:
        from selfinstruct.review.templates import parse_templates

        out["review_templates"] = parse_templates(table["review_templates"], source=source)
    if "limits" in table:
        from selfinstruct.config import build, check_keys, table_of
        from selfinstruct.engine.throttle import LimitsConfig

        shared = table_of(table, "limits", source=source)
        check_keys(shared, {"redis_url", "redis_fallback_fraction"}, source=source, section="limits")
        out["limits"] = build(LimitsConfig, shared, source=source, section="limits")
    return out
