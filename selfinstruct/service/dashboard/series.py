"""A small in-memory time series per job (accepted, rejected, requests, 429s), sampled while its run goes.

The one-job page draws throughput and acceptance over time from it, and the
jobs page takes its ETA from it: the rate of accepted instructions over the
last minute, measured while this process watches (a resumed run starts high).
Nothing is persisted; a restarted daemon starts new series. When a series is
full, every other point is dropped, so it always spans the whole run at a
coarser step.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Sample", "JobSeries", "SeriesBook"]


@dataclass(frozen=True, slots=True)
class Sample:
    t: float              # seconds on the monotonic clock
    accepted: int
    rejected: int
    requests: int         # answered requests (done)
    rate_limited: int     # 429s so far


@dataclass
class JobSeries:
    max_points: int
    samples: list[Sample] = field(default_factory=list)
    eta_window: float = 60.0
    eta_s: float | None = None

    def add(self, sample: Sample, target: int | None) -> None:
        self.samples.append(sample)
        if len(self.samples) > self.max_points:
            self.samples = self.samples[::2] if len(self.samples) % 2 else [*self.samples[::2], sample]
        self.eta_s = self._eta(target)

    def _eta(self, target: int | None) -> float | None:
        """Seconds to ``target`` accepted at the rate of the last ``eta_window`` seconds; None while unknown."""
        if not target or not self.samples:
            return None
        last = self.samples[-1]
        if last.accepted >= target:
            return 0.0
        recent = [s for s in self.samples[:-1] if last.t - s.t <= self.eta_window] or self.samples[-2:-1]
        if not recent or last.accepted <= recent[0].accepted or last.t <= recent[0].t:
            return None
        return (target - last.accepted) * (last.t - recent[0].t) / (last.accepted - recent[0].accepted)

    def rates(self, *, over: float = 10.0) -> dict[str, list[tuple[float, float]]]:
        """Requests/s and accepted/s at each sample, each over the last ``over`` seconds (instructions are
        accepted a batch per answer, so the rate between two samples alone is mostly 0 with spikes)."""
        out: dict[str, list[tuple[float, float]]] = {"requests/s": [], "accepted/s": []}
        start = 0
        for b in self.samples[1:]:
            while start + 1 < len(self.samples) and b.t - self.samples[start + 1].t >= over:
                start += 1
            a = self.samples[start]
            dt = b.t - a.t
            if dt > 0:
                out["requests/s"].append((b.t, max(0, b.requests - a.requests) / dt))
                out["accepted/s"].append((b.t, max(0, b.accepted - a.accepted) / dt))
        return out

    def acceptance(self) -> dict[str, list[tuple[float, float]]]:
        """The cumulative share of produced instructions that were accepted, in percent."""
        pts = [(s.t, 100.0 * s.accepted / (s.accepted + s.rejected)) for s in self.samples
               if s.accepted + s.rejected]
        return {"accepted %": pts}


class SeriesBook:
    """Samples every live job of a manager every ``interval`` seconds."""

    def __init__(self, manager: Any, *, interval: float = 2.0, max_points: int = 600,
                 clock: Callable[[], float] = time.monotonic):
        self.manager = manager
        self.interval = interval
        self.max_points = max_points
        self.clock = clock
        self.jobs: dict[str, JobSeries] = {}

    def sample(self) -> None:
        now = self.clock()
        for job_id, live in list(self.manager.live.items()):
            s = live.stats
            extra = s.extra
            rejected = sum((extra.get("rejects_by_reason") or {}).values())
            series = self.jobs.setdefault(job_id, JobSeries(self.max_points))
            series.add(Sample(now, int(extra.get("accepted_instructions") or 0), int(rejected), int(s.done),
                              int(s.rate_limited)), extra.get("target_instructions"))

    async def run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.interval)

    def eta(self, job_id: str) -> float | None:
        series = self.jobs.get(job_id)
        return series.eta_s if series is not None and job_id in self.manager.live else None
