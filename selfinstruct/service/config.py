"""Settings of the generation service, and the rule that an exposed service must have a bearer token."""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass, field
from pathlib import Path

from selfinstruct.errors import ConfigError

__all__ = ["ServiceConfig", "is_loopback_host"]


def is_loopback_host(host: str) -> bool:
    """True for names and addresses only reachable from this machine (127.0.0.0/8, ::1, localhost)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # any other name may resolve to a public address


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

    def __post_init__(self) -> None:
        if not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise ConfigError(f"--port must be between 0 and 65535, got {self.port!r}")
        if self.max_jobs < 1:
            raise ConfigError(f"--max-jobs must be at least 1, got {self.max_jobs}")
        for name in ("grace", "log_interval"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be a positive number of seconds, got {value!r}")
        if self.token is not None and len(self.token) < 16:
            raise ConfigError("the bearer token must be at least 16 characters long")
        if self.token is None and not is_loopback_host(self.host):
            raise ConfigError(
                f"refusing to bind {self.host}: outside loopback the service needs a bearer token; "
                f"put one in an environment variable and pass --token-env VAR")
