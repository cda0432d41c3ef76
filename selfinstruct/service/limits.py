"""One ``Throttle`` per backend (per replica of a backend), shared by every running job on it.

Rate limits belong to an account, not to a job: two jobs that each respect
600 RPM would together send 1200 to the same key. A backend is one endpoint
with one key, configured by the operator with its limits, so all jobs on a
backend share one throttle -- one RPM/TPM bucket, one concurrency window, one
429 back-off -- keyed by the backend's name. A backend with replicas has one
throttle per replica, each with the replica's own limits. When the last job on
a backend ends, its throttles are dropped, so the next job starts from the
configured limits rather than a window shrunk by old 429s.

With ``[limits] redis_url`` in the service config, every throttle also takes
its account's budget from Redis (``engine.redis_limits``), so daemons on
several hosts, and ``complete``/``generate`` runs beside them, share it too.
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
    backend: str = ""
    replica: str | None = None   # the replica's label, for a backend with replicas
    jobs: set[str] = field(default_factory=set)


class SharedLimits:
    def __init__(self, *, redis_url: str | None = None, fallback_fraction: float = 0.5) -> None:
        self._entries: dict[str, _Entry] = {}
        self._groups = 0
        self._redis: Any = None
        if redis_url:
            from selfinstruct.engine.redis_limits import RedisLimits

            self._redis = RedisLimits(redis_url, fallback_fraction=fallback_fraction)

    def acquire(self, job_id: str, backend: str, api_base: str, limits: LimitsConfig, *,
                api_key: str | None = None, replica: str | None = None) -> Throttle:
        name = backend if replica is None else f"{backend} {replica}"
        entry = self._entries.get(name)
        if entry is None:
            self._groups += 1
            throttle = Throttle(limits)
            if self._redis is not None:
                throttle.share(self._redis.account(api_base, api_key, rpm=limits.rpm, tpm=limits.tpm))
            entry = self._entries[name] = _Entry(endpoint=api_base.rstrip("/"), group=self._groups,
                                                 throttle=throttle, backend=backend, replica=replica)
        entry.jobs.add(job_id)
        return entry.throttle

    def acquire_backend(self, job_id: str, backend: Any, api_key: Any = None) -> Throttle | list[Throttle]:
        """The backend's throttle, or one per replica (in order) for a backend with replicas.
        ``api_key``: ``service.backends.backend_key``'s answer (one key per replica with replicas)."""
        from selfinstruct.engine.replicas import replica_labels
        from selfinstruct.service.backends import replica_limits

        if not backend.replicas:
            return self.acquire(job_id, backend.name, backend.api_base, backend.limits, api_key=api_key)
        labels = replica_labels([r.api_base for r in backend.replicas])
        keys = api_key if isinstance(api_key, tuple) else (api_key,) * len(labels)
        return [self.acquire(job_id, backend.name, r.api_base, limits, api_key=keys[i], replica=labels[i])
                for i, (r, limits) in enumerate(zip(backend.replicas, replica_limits(backend)))]

    def release(self, job_id: str) -> None:
        for key, entry in list(self._entries.items()):
            entry.jobs.discard(job_id)
            if not entry.jobs:
                del self._entries[key]

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()

    def snapshot(self) -> list[dict[str, Any]]:
        """Live numbers per backend (per replica), for metrics: in flight, window, pacing rate, jobs sharing it."""
        return [{"backend": e.backend, "replica": e.replica, "endpoint": e.endpoint, "group": e.group,
                 "in_flight": e.throttle.in_flight, "window": e.throttle.window_size, "rate": e.throttle.current_rate,
                 "throttled_events": e.throttle.throttled_events, "jobs": sorted(e.jobs)}
                for e in self._entries.values()]
