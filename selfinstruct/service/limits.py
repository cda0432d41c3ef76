"""One ``Throttle`` per backend, shared by every running job on it.

Rate limits belong to an account, not to a job: two jobs that each respect
600 RPM would together send 1200 to the same key. A backend is one endpoint
with one key, configured by the operator with its limits, so all jobs on a
backend share one throttle -- one RPM/TPM bucket, one concurrency window, one
429 back-off -- keyed by the backend's name. When the last job on a backend
ends, its throttle is dropped, so the next job starts from the configured
limits rather than a window shrunk by old 429s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from selfinstruct.engine.throttle import LimitsConfig, Throttle

__all__ = ["SharedLimits"]


@dataclass
class _Entry:
    endpoint: str
    group: int          # a stable number per backend for metrics labels
    throttle: Throttle
    jobs: set[str] = field(default_factory=set)


class SharedLimits:
    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._groups = 0

    def acquire(self, job_id: str, backend: str, api_base: str, limits: LimitsConfig) -> Throttle:
        entry = self._entries.get(backend)
        if entry is None:
            self._groups += 1
            entry = self._entries[backend] = _Entry(endpoint=api_base.rstrip("/"), group=self._groups,
                                                    throttle=Throttle(limits))
        entry.jobs.add(job_id)
        return entry.throttle

    def release(self, job_id: str) -> None:
        for key, entry in list(self._entries.items()):
            entry.jobs.discard(job_id)
            if not entry.jobs:
                del self._entries[key]

    def snapshot(self) -> list[dict[str, Any]]:
        """Live numbers per backend, for metrics: in flight, window, pacing rate, jobs sharing it."""
        return [{"backend": name, "endpoint": e.endpoint, "group": e.group, "in_flight": e.throttle.in_flight,
                 "window": e.throttle.window_size, "rate": e.throttle.current_rate,
                 "throttled_events": e.throttle.throttled_events, "jobs": sorted(e.jobs)}
                for name, e in self._entries.items()]
