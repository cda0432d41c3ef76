"""JobManager: runs queued jobs as asyncio tasks, applies pause/resume/cancel, and records how each run ended.

The job table is the truth; tasks only exist while a run goes. Capacity (at
most ``max_jobs`` runs) is checked *before* a task is created, and a
done-callback frees it, records the end state and starts the next queued job,
so a run that raises can never leave a job "running" behind. An operator's
pause or cancel is written to the table at once (a crash during the drain keeps
the intent); the run's end then only confirms it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfinstruct.engine.shutdown import Shutdown
from selfinstruct.engine.stats import EngineStats
from selfinstruct.errors import EXIT_OK, ConfigError, SelfInstructError
from selfinstruct.pipeline.config import GenerationConfig
from selfinstruct.service.backends import BackendConfig, backend_key
from selfinstruct.service.limits import SharedLimits
from selfinstruct.service.spec import config_for_job, seed_path_for_job
from selfinstruct.service.states import RunEnd, Stop, action_target, end_state
from selfinstruct.service.store import JobRecord, JobStore

__all__ = ["JobManager", "Conflict", "UnknownJob"]

log = logging.getLogger("selfinstruct.service")

_DEFAULT_TARGET = GenerationConfig().num_instructions


class Conflict(SelfInstructError):
    """The action does not apply to the job's current state (HTTP 409)."""


class UnknownJob(SelfInstructError):
    """No job has this id (HTTP 404)."""


@dataclass
class LiveJob:
    """A job whose run is going on in this process."""

    id: str
    task: asyncio.Task[Any]
    shutdown: Shutdown
    stats: EngineStats
    prices: Any
    stop: str | None = None
    started: float = field(default_factory=time.monotonic)

    def request_stop(self, why: str, *, hard: bool = False) -> None:
        self.stop = why
        self.shutdown.signalled = True  # makes the run report itself as interrupted, hence resumable
        self.shutdown.stop.set()
        if hard:
            self.shutdown.hard.set()


class JobManager:
    def __init__(self, store: JobStore, jobs_dir: Path, *, environ: Mapping[str, str],
                 backends: Mapping[str, BackendConfig] | None = None, seeds_dir: Path | None = None,
                 max_jobs: int = 4, log_interval: float = 10.0, shared_limits: Any = None):
        self.store = store
        self.jobs_dir = Path(jobs_dir)
        self.environ = environ       # read only for a backend's own api_key_env, when one of its jobs starts
        self.backends: Mapping[str, BackendConfig] = dict(backends or {})
        self.seeds_dir = seeds_dir
        self.max_jobs = max_jobs
        self.log_interval = log_interval
        # shared_limits: the service's [limits] (redis_url, redis_fallback_fraction), or None: this process only
        self.limits = SharedLimits(redis_url=getattr(shared_limits, "redis_url", None),
                                   fallback_fraction=getattr(shared_limits, "redis_fallback_fraction", 0.5))
        self.live: dict[str, LiveJob] = {}
        self.stats: dict[str, EngineStats] = {}   # every job run in this process, for metrics
        self._closing = False
        self._logger: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ life cycle
    def start(self) -> None:
        """Take up where the last process stopped: a job left 'running' by a crash is queued again."""
        for rec in self.store.all(states=("running",)):
            self.store.set_state(rec.id, "queued", error=rec.error)
            log.info("job left running by the last process; resuming it",
                     extra={"event": "job_recovered", "job": rec.id})
        self._logger = asyncio.get_running_loop().create_task(self._log_progress())
        self.fill()

    async def close(self, grace: float) -> None:
        """Stop intake, let runs drain for ``grace`` seconds, stop the rest hard; they go back to 'queued'."""
        self._closing = True
        if self._logger is not None:
            self._logger.cancel()
        for job in self.live.values():
            job.request_stop(job.stop or Stop.REQUEUE)
        tasks = [job.task for job in self.live.values()]
        if tasks:
            log.info("draining running jobs", extra={"event": "drain", "jobs": len(tasks), "grace_s": grace})
            _, pending = await asyncio.wait(tasks, timeout=grace)
            if pending:
                for job in self.live.values():
                    job.shutdown.hard.set()
                _, pending = await asyncio.wait(pending, timeout=max(5.0, grace / 2))
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        await asyncio.sleep(0)  # let the last done-callbacks record their states
        await self.limits.aclose()

    def fill(self) -> None:
        """Start queued jobs, oldest first, while there is capacity."""
        if self._closing:
            return
        for rec in self.store.all(states=("queued",)):
            if len(self.live) >= self.max_jobs:
                return
            if rec.id not in self.live:
                self._start(rec)

    # ------------------------------------------------------------------ one run
    def _start(self, rec: JobRecord) -> None:
        from selfinstruct.pipeline.generate import generate_async

        try:
            backend = self._backend(rec)
            run_dir = self.jobs_dir / rec.id
            config = config_for_job(rec.spec, run_dir, backend=backend,
                                    seed_path=seed_path_for_job(rec.spec, run_dir, self.seeds_dir))
            api_key = backend_key(backend, self.environ)
        except SelfInstructError as exc:
            self.store.set_state(rec.id, "failed", error=str(exc))
            log.warning("job cannot start: %s", exc, extra={"event": "job_failed", "job": rec.id})
            return
        # The backend's limits, shared by every job on it; its key goes only to its own api_base (config_for_job).
        throttle = self.limits.acquire_backend(rec.id, backend, api_key)
        stats = self.stats.setdefault(rec.id, EngineStats(model=config.endpoint.model))
        shutdown = Shutdown()
        self.store.set_state(rec.id, "running", started=True)
        task = asyncio.get_running_loop().create_task(
            generate_async(config, api_key=api_key, throttle=throttle, shutdown=shutdown, stats=stats),
            name=f"job-{rec.id}")
        self.live[rec.id] = LiveJob(id=rec.id, task=task, shutdown=shutdown, stats=stats, prices=config.prices)
        task.add_done_callback(lambda t, jid=rec.id: self._on_done(jid, t))
        log.info("job started", extra={"event": "job_start", "job": rec.id, "run": rec.runs + 1,
                                       "backend": backend.name, "api_base": config.endpoint.api_base,
                                       "model": config.endpoint.model,
                                       "target": config.generation.num_instructions})

    def _backend(self, rec: JobRecord) -> BackendConfig:
        name = rec.spec.get("backend")
        backend = self.backends.get(name) if isinstance(name, str) else None
        if backend is None:
            known = ", ".join(sorted(self.backends)) or "none"
            raise ConfigError(f"job {rec.id}: backend {name!r} is not configured in this service "
                              f"(configured: {known})")
        return backend

    def _on_done(self, job_id: str, task: asyncio.Task[Any]) -> None:
        job = self.live.pop(job_id)
        self.limits.release(job_id)
        end = _run_end(job_id, task, job.stop)
        state, error = end_state(end, job.stop)
        snapshot = job.stats.snapshot(job.prices)
        try:
            self.store.set_state(job_id, state, error=error, stats=snapshot)
        except SelfInstructError:
            log.exception("could not record the end of a job", extra={"event": "store_error", "job": job_id})
        log.info("job run ended: %s", state, extra={
            "event": "job_end", "job": job_id, "state": state, "error": error,
            "accepted": snapshot.get("accepted_instructions"), "calls": snapshot["calls"],
            "elapsed_s": round(time.monotonic() - job.started, 3)})
        self.fill()

    # ------------------------------------------------------------------ operator actions
    def submit(self, spec: dict[str, Any]) -> JobRecord:
        rec = self.store.add(spec)
        log.info("job submitted", extra={"event": "job_submit", "job": rec.id})
        self.fill()
        return self.get(rec.id)

    def get(self, job_id: str) -> JobRecord:
        rec = self.store.get(job_id)
        if rec is None:
            raise UnknownJob(f"no job {job_id!r}")
        return rec

    def act(self, job_id: str, action: str) -> JobRecord:
        rec = self.get(job_id)
        target = action_target(action, rec.state)
        if target is None:
            raise Conflict(f"cannot {action} job {job_id}: it is {rec.state}")
        self.store.set_state(job_id, target, error=None if action == "resume" else rec.error)
        job = self.live.get(job_id)
        if job is not None:
            if action == "pause":
                job.request_stop(Stop.PAUSE)
            elif action == "cancel":
                job.request_stop(Stop.CANCEL, hard=True)
            else:  # resumed while the pause still drains: run again once it has stopped
                job.stop = Stop.REQUEUE
        log.info("job %s", action, extra={"event": f"job_{action}", "job": job_id, "state": target})
        self.fill()
        return self.get(job_id)

    def view(self, rec: JobRecord) -> dict[str, Any]:
        """The JSON an API answer shows for one job: live numbers while it runs, else the last run's."""
        job = self.live.get(rec.id)
        stats = job.stats.snapshot(job.prices) if job is not None else (rec.stats or {})
        target = stats.get("target_instructions") or rec.spec.get("num_instructions", _DEFAULT_TARGET)
        accepted = stats.get("accepted_instructions", 0)
        progress = {
            "accepted_instructions": accepted,
            "target_instructions": target,
            "fraction": round(min(1.0, accepted / target), 4) if target else None,
            "classified": stats.get("classified", 0),
            "instructions_with_instances": stats.get("instructions_with_instances_done", 0),
            "rejected": sum((stats.get("rejects_by_reason") or {}).values()),
        }
        return {"id": rec.id, "kind": rec.kind, "state": rec.state, "active": job is not None,
                "progress": progress, "stats": stats, "error": rec.error, "spec": rec.spec, "runs": rec.runs,
                "created": rec.created, "updated": rec.updated,
                # Set while the job's endpoint is down (its circuit breaker is open); the job stays running.
                "endpoint_down_since": stats.get("endpoint_down_since") if job is not None else None,
                # Batch mode: the job's batches still in flight, with their ids and request counts.
                "batches_in_flight": stats.get("batches_in_flight", []) if job is not None else []}

    def run_dir(self, job_id: str) -> Path:
        return self.jobs_dir / self.get(job_id).id

    async def _log_progress(self) -> None:
        while True:
            await asyncio.sleep(self.log_interval)
            for job in list(self.live.values()):
                s = job.stats
                log.info("progress", extra={
                    "event": "progress", "job": job.id, "accepted": s.extra.get("accepted_instructions"),
                    "target": s.extra.get("target_instructions"), "done": s.done, "calls": s.calls,
                    "retries": s.retries, "rate_limited": s.rate_limited, "in_flight": s.in_flight,
                    "window": s.window})


def _run_end(job_id: str, task: asyncio.Task[Any], stop: str | None) -> RunEnd:
    if task.cancelled():
        return RunEnd(finished=False, error=None if stop else "the run was cancelled")
    exc = task.exception()
    if isinstance(exc, SelfInstructError):
        return RunEnd(finished=False, error=str(exc))
    if exc is not None:
        log.error("job run crashed", exc_info=exc, extra={"event": "job_crash", "job": job_id})
        return RunEnd(finished=False, error=f"internal error: {type(exc).__name__}: {exc}")
    result = task.result()
    stats = result.stats
    return RunEnd(finished=result.exit_code == EXIT_OK, stalled=result.stalled,
                  accepted=int(stats.get("accepted_instructions") or 0),
                  target=int(stats.get("target_instructions") or 0),
                  failed_requests=bool(stats.get("failed")))
