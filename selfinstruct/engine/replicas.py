"""Replicas: several backends serving the same model, each with its own throttle, circuit breaker and counters.

A run with one ``api_base`` has one replica, and behaves as it always did. With
several (``--api-base`` given more than once, ``[[endpoint.replicas]]`` in TOML,
or a service backend's ``replicas``) the engine sends each attempt to the
replica ``choose`` picks:

- a replica that is down (its breaker is open) and due for a probe gets the
  attempt as its probe: that is how a failed replica is taken back;
- otherwise the healthy replica with the fewest outstanding requests relative to
  its current pacing rate (its AIMD window when it has no RPM limit), so a
  replica slowed by 429s gets proportionally less;
- a request whose last attempt failed on a replica avoids that replica when
  another healthy one exists, so the retry of a request caught by a dying
  replica lands on a survivor.

``ReplicaConfig`` is the configuration of one replica: its own ``api_base``, the
name of the variable holding its key (read by the CLI, sent only to that
``api_base``), and limits that override the run's ``[limits]``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from selfinstruct.engine.breaker import CircuitBreaker
from selfinstruct.engine.throttle import LimitsConfig, Throttle
from selfinstruct.errors import ConfigError

__all__ = ["ReplicaConfig", "Replica", "ReplicaStats", "choose", "replica_labels", "parse_replicas"]


@dataclass(frozen=True, kw_only=True)
class ReplicaConfig:
    api_base: str = field(metadata={"help": "this replica's base URL ending in /v1; its key is sent nowhere else"})
    api_key_env: str | None = field(default=None, metadata={
        "help": "variable holding this replica's key (none: the endpoint's api_key_env)"})
    rpm: float | None = field(default=None, metadata={"help": "this replica's requests per minute (none: [limits])"})
    tpm: float | None = field(default=None, metadata={"help": "this replica's tokens per minute (none: [limits])"})
    max_concurrency: int | None = field(default=None, metadata={
        "help": "this replica's requests in flight (none: [limits])"})

    def __post_init__(self) -> None:
        if not isinstance(self.api_base, str) or not self.api_base.startswith(("http://", "https://")) \
                or not urlparse(self.api_base).hostname:
            raise ConfigError(f"endpoint.replicas: api_base must be an http:// or https:// URL, got {self.api_base!r}")
        if self.api_key_env is not None and (not self.api_key_env
                                             or not self.api_key_env.replace("_", "").isalnum()):
            raise ConfigError(f"endpoint.replicas: api_key_env must be an environment variable name, "
                              f"got {self.api_key_env!r}")

    def limits(self, base: LimitsConfig) -> LimitsConfig:
        """The run's limits with this replica's own values over them."""
        own = {k: getattr(self, k) for k in ("rpm", "tpm", "max_concurrency") if getattr(self, k) is not None}
        return dataclasses.replace(base, **own) if own else base


def parse_replicas(value: Any) -> tuple[ReplicaConfig, ...]:
    """``[[endpoint.replicas]]`` tables (or ReplicaConfig values) -> ReplicaConfig values, each checked strictly."""
    from selfinstruct.config import build

    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise ConfigError(f"endpoint.replicas must be a list of tables ([[endpoint.replicas]]), got {value!r}")
    out = []
    for i, item in enumerate(value):
        if isinstance(item, ReplicaConfig):
            out.append(item)
        elif isinstance(item, dict):
            out.append(build(ReplicaConfig, item, source=f"endpoint.replicas[{i}]"))
        else:
            raise ConfigError(f"endpoint.replicas[{i}] must be a table with api_base, got {item!r}")
    return tuple(out)


def replica_labels(api_bases: Sequence[str]) -> list[str]:
    """One label per replica for stats and metrics: scheme://host:port/path, without credentials; a base listed
    twice (two keys on one host) gets ``#2``, ``#3``."""
    labels = []
    seen: dict[str, int] = {}
    for base in api_bases:
        u = urlparse(base)
        host = u.hostname or ""
        label = f"{u.scheme}://{host}" + (f":{u.port}" if u.port else "") + u.path.rstrip("/")
        seen[label] = seen.get(label, 0) + 1
        labels.append(label if seen[label] == 1 else f"{label}#{seen[label]}")
    return labels


@dataclass
class ReplicaStats:
    """One replica's counters; the engine updates them in one ``finally`` per attempt."""

    calls: int = 0
    answered: int = 0          # 200s
    rate_limited: int = 0      # 429s
    errors: int = 0            # everything else that failed
    retired: bool = False      # gave up (never answered, or down longer than max_outage)


class Replica:
    """One backend of the run: its worker, throttle, breaker, counters and outstanding requests."""

    def __init__(self, label: str, worker: Any, throttle: Throttle, breaker: CircuitBreaker):
        self.label = label
        self.worker = worker
        self.throttle = throttle
        self.breaker = breaker
        self.stats = ReplicaStats()
        self.outstanding = 0       # attempts routed here and not finished (waiting for a permit or on the wire)
        self.down_since: float | None = None    # epoch seconds while its breaker is open
        self.last_outage: BaseException | None = None
        self.give_up: BaseException | None = None   # set when it is retired

    @property
    def url(self) -> str:
        return self.worker.endpoint_url

    def load(self) -> float:
        """Outstanding requests (counting the next one) per request/second it can take now."""
        rate = self.throttle.current_rate
        capacity = rate if rate else float(self.throttle.window_size)
        return (self.outstanding + 1) / max(capacity, 1e-9)

    def snapshot(self) -> dict[str, Any]:
        s = self.stats
        rate = self.throttle.current_rate
        return {"calls": s.calls, "answered": s.answered, "rate_limited_429": s.rate_limited, "errors": s.errors,
                "in_flight": self.throttle.in_flight, "concurrency_window": self.throttle.window_size,
                "pacing_rate_rps": round(rate, 2) if rate else None,
                "up": not self.breaker.open and self.give_up is None, "retired": s.retired}


def choose(replicas: Sequence[Replica], avoid: Replica | None = None) -> Replica | None:
    """The healthy replica with the least load (see the module docstring); None when none is healthy."""
    healthy = [r for r in replicas if r.give_up is None and not r.breaker.open]
    if avoid is not None and len(healthy) > 1 and avoid in healthy:
        healthy.remove(avoid)
    if not healthy:
        return None
    best = healthy[0]
    best_load = best.load()
    for r in healthy[1:]:
        load = r.load()
        if load < best_load or (math.isclose(load, best_load) and r.outstanding < best.outstanding):
            best, best_load = r, load
    return best
