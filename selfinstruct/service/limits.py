"""One ``Throttle`` per (endpoint, API key), shared by every running job that targets it.

Rate limits belong to an account, not to a job: two jobs that each respect
600 RPM would together send 1200 to the same key. So jobs with the same
``api_base`` and the same key value (not merely the same variable name) get one
throttle -- one RPM/TPM bucket, one concurrency window, one 429 back-off. The
key is identified by a digest held in memory only.

The first job to arrive sets the limits; a later job with different numbers
shares them anyway (and a warning says so), since the account cannot have two
limits. When the last job using a throttle ends, it is dropped, so the next job
starts from its own configured limits.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

from selfinstruct.engine.throttle import LimitsConfig, Throttle

__all__ = ["SharedLimits", "endpoint_key"]

log = logging.getLogger(__name__)


def endpoint_key(api_base: str, api_key: str | None) -> tuple[str, str]:
    digest = hashlib.sha256(api_key.encode()).hexdigest() if api_key else ""
    return api_base.rstrip("/"), digest


@dataclass
class _Entry:
    endpoint: str
    group: int          # tells apart two accounts on one endpoint in metrics, without naming the key
    throttle: Throttle
    jobs: set[str] = field(default_factory=set)


class SharedLimits:
    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._groups = 0

    def acquire(self, job_id: str, api_base: str, api_key: str | None, limits: LimitsConfig) -> Throttle:
        key = endpoint_key(api_base, api_key)
        entry = self._entries.get(key)
        if entry is None:
            self._groups += 1
            entry = self._entries[key] = _Entry(endpoint=key[0], group=self._groups, throttle=Throttle(limits))
        elif entry.throttle.config != limits:
            have = entry.throttle.config
            log.warning("job %s shares the limits already in force for %s (rpm=%s tpm=%s max_concurrency=%s); "
                        "its own (rpm=%s tpm=%s max_concurrency=%s) are not used", job_id, key[0], have.rpm,
                        have.tpm, have.max_concurrency, limits.rpm, limits.tpm, limits.max_concurrency)
        entry.jobs.add(job_id)
        return entry.throttle

    def release(self, job_id: str) -> None:
        for key, entry in list(self._entries.items()):
            entry.jobs.discard(job_id)
            if not entry.jobs:
                del self._entries[key]

    def snapshot(self) -> list[dict[str, Any]]:
        """Live numbers per endpoint, for metrics: in flight, window, pacing rate, jobs sharing it."""
        return [{"endpoint": e.endpoint, "group": e.group, "in_flight": e.throttle.in_flight, "window": e.throttle.window_size,
                 "rate": e.throttle.current_rate, "throttled_events": e.throttle.throttled_events,
                 "jobs": sorted(e.jobs)} for e in self._entries.values()]
