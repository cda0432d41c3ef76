"""The simulated endpoint's knobs: latency, rate limits, fault rates, outages, auth, context size."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from selfinstruct.errors import ConfigError

__all__ = ["SimConfig", "LATENCY_DISTRIBUTIONS"]

LATENCY_DISTRIBUTIONS = ("fixed", "uniform", "lognormal")
FAULTS = ("p_500", "p_503", "p_drop", "p_hang", "p_malformed")


@dataclass(frozen=True, kw_only=True)
class SimConfig:
    """How the simulated server behaves. Every request passes, in order:
    auth -> body/context check -> rate limits -> one fault draw -> latency -> answer.
    During an outage window every completion call gets 503 before any of that.
    """

    latency_dist: str = field(default="fixed", metadata={"help": "fixed | uniform | lognormal"})
    latency_ms: float = field(default=0.0, metadata={"help": "mean latency per answer in milliseconds"})
    latency_jitter_ms: float = field(default=0.0, metadata={"help": "uniform: half-width of the range around the mean"})
    latency_sigma: float = field(default=0.5, metadata={"help": "lognormal: sigma of the underlying normal"})
    ms_per_token: float = field(default=0.0, metadata={"help": "extra latency per completion token (generation time)"})
    rpm: float | None = field(default=None, metadata={"help": "requests per minute (None: unlimited)"})
    tpm: float | None = field(default=None, metadata={"help": "tokens per minute, prompt + max_tokens (None: unlimited)"})
    burst_seconds: float = field(default=1.0, metadata={"help": "bucket depth, in seconds' worth of the rate"})
    p_500: float = field(default=0.0, metadata={"help": "probability of a 500 answer"})
    p_503: float = field(default=0.0, metadata={"help": "probability of a 503 answer"})
    p_drop: float = field(default=0.0, metadata={"help": "probability of closing the connection without answering"})
    p_hang: float = field(default=0.0, metadata={"help": "probability of waiting hang_seconds before answering"})
    p_malformed: float = field(default=0.0, metadata={"help": "probability of a 200 with a broken body"})
    hang_seconds: float = field(default=3600.0, metadata={"help": "how long a hang lasts"})
    api_key: str | None = field(default=None, repr=False, metadata={"help": "required Bearer key (None: no auth)"})
    seed: int = field(default=0, metadata={"help": "seed of the fault and latency draws"})
    max_context: int | None = field(default=None, metadata={"help": "prompt tokens + max_tokens allowed (None: no limit)"})
    default_max_tokens: int = field(default=16, metadata={"help": "max_tokens when a request gives none"})
    model_name: str = field(default="sim-davinci-001", metadata={"help": "model listed by /v1/models"})
    outage_after: float | None = field(default=None, metadata={
        "help": "seconds after start (or reset) when an outage begins: 503 to every completion call (None: never)"})
    outage_seconds: float = field(default=0.0, metadata={"help": "how long the outage lasts"})
    record_arrivals: bool = field(default=False, metadata={
        "help": "keep the arrival time (time.monotonic()) of every completion call, shown by /_sim/stats"})
    batch_seconds: float = field(default=0.0, metadata={
        "help": "Batch API: seconds a batch takes from creation to completed (its items finish evenly)"})
    batch_p_fail: float = field(default=0.0, metadata={"help": "Batch API: probability an item lands in the error file"})
    batch_expire_after: float | None = field(default=None, metadata={
        "help": "Batch API: seconds after which an unfinished batch expires, keeping its finished items (None: never)"})
    batch_expires: int | None = field(default=None, metadata={
        "help": "Batch API: how many batches (the first ones created) may expire (None: every one)"})

    def __post_init__(self) -> None:
        if self.latency_dist not in LATENCY_DISTRIBUTIONS:
            raise ConfigError(f"sim.latency_dist must be one of {LATENCY_DISTRIBUTIONS}, got {self.latency_dist!r}")
        for name in ("latency_ms", "latency_jitter_ms", "latency_sigma", "ms_per_token", "hang_seconds",
                     "outage_seconds", "batch_seconds"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ConfigError(f"sim.{name} must be a non-negative number, got {value!r}")
        if self.outage_after is not None and (not isinstance(self.outage_after, (int, float))
                                              or not math.isfinite(self.outage_after) or self.outage_after < 0):
            raise ConfigError(f"sim.outage_after must be a non-negative number or None, got {self.outage_after!r}")
        for name in ("rpm", "tpm"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, (int, float)) or not value > 0):
                raise ConfigError(f"sim.{name} must be a positive number or None, got {value!r}")
        if not self.burst_seconds > 0:
            raise ConfigError(f"sim.burst_seconds must be positive, got {self.burst_seconds!r}")
        total = 0.0
        for name in FAULTS:
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ConfigError(f"sim.{name} must be a probability in [0, 1], got {value!r}")
            total += value
        if total > 1.0 + 1e-9:
            raise ConfigError(f"sim fault probabilities add up to {total:g} > 1")
        if not 0.0 <= self.batch_p_fail <= 1.0 or (self.batch_expire_after is not None
                                                   and not 0 <= self.batch_expire_after < math.inf):
            raise ConfigError("sim.batch_p_fail must be a probability and sim.batch_expire_after >= 0 seconds")
        if self.batch_expires is not None and (isinstance(self.batch_expires, bool) or self.batch_expires < 0):
            raise ConfigError(f"sim.batch_expires must be a count >= 0 or None, got {self.batch_expires!r}")
        if self.max_context is not None and self.max_context < 1:
            raise ConfigError(f"sim.max_context must be a positive integer, got {self.max_context!r}")
        if self.default_max_tokens < 1:
            raise ConfigError(f"sim.default_max_tokens must be >= 1, got {self.default_max_tokens!r}")
