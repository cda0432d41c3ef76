"""The run harness: the one lifecycle every engine run goes through (`complete`, `generate`, `predict`, service jobs).

    async with RunHarness(settings, api_key=key) as run:    # lock, store, fingerprint, worker, throttle, engine
        ...prepare (read the input, restore a pipeline) with run.store and run.engine...
        outcome, final = await run.drive(body, live=..., final=...)
    code = exit_code(interrupted=..., incomplete=...)

Entering takes the state's lock (one writer per state, ``runlock``), opens the
store, checks the run's fingerprint (``fingerprint``), and builds the worker,
the throttle, the ``Shutdown`` and the ``Engine``. A caller may hand in its
own throttle (the service shares one per backend), shutdown (the service stops
jobs itself) and stats; what the harness built it also closes. With replicas
(``endpoint.replicas``) it builds one worker and one throttle per replica, each
with the replica's own key and limits, and with ``limits.redis_url`` its
throttles take their budget from Redis (``redis_limits``).

``ask`` is the plain body: each request not answered yet, bounded by
``max_concurrency``, then the drain. ``drive`` runs the caller's body with signal handlers installed, the progress
reporter and the caller's live output going; then, whatever happened, it stops
them and makes the caller's final write, shielded from cancellation, while the
store is still healthy. Leaving closes the worker, the store and the lock, each
even when the one before failed, and surfaces a store failure the body did not
see. What a run means by done is the caller's: it says whether the run was
interrupted or incomplete, and ``exit_code`` maps that to the exit code.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar

from selfinstruct.engine import fingerprint
from selfinstruct.engine.engine import Engine, TaskPool
from selfinstruct.engine.replicas import replica_labels
from selfinstruct.engine.retry import RetryConfig
from selfinstruct.engine.runlock import lock_file, state_lock_path
from selfinstruct.engine.shutdown import Shutdown, drain
from selfinstruct.engine.stats import EngineStats, PriceTable, ProgressFn, Reporter
from selfinstruct.engine.store import CheckpointStore
from selfinstruct.engine.throttle import LimitsConfig, Throttle
from selfinstruct.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_SOME_FAILED, ConfigError, RequestFailed
from workers.base import Request, Worker

__all__ = ["RunSettings", "RunHarness", "LiveOutput", "exit_code"]

T = TypeVar("T")
F = TypeVar("F")


@dataclass(frozen=True, kw_only=True)
class RunSettings:
    """What the harness needs of a run, whatever the run does."""

    state: Path                     # the SQLite state; its lock file sits next to it
    owner: str                      # what a second run is told is in use ("runs/x: in use by another ...")
    endpoint: Any                   # workers.openai.EndpointConfig
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    retry: RetryConfig = field(default_factory=RetryConfig)
    fingerprint: dict[str, Any] = field(default_factory=dict)
    allow_changes: bool = False
    synchronous: str = "NORMAL"
    seed: int | None = None         # the engine's backoff jitter
    drain_timeout: float = 30.0
    handle_signals: bool = True     # only when the harness owns the Shutdown
    label: str = "selfinstruct"     # the progress line's name
    progress_interval: float = 5.0
    live_progress: bool | None = None
    prices: PriceTable | None = None
    lock_hint: str = "wait for it to finish, or choose another --out"
    batch: Any = None               # selfinstruct.batch.BatchConfig: mode batch/auto answers through the Batch API

    def __post_init__(self) -> None:
        # A batch lives on the server that created it: its id means nothing to another replica.
        if self.batch is not None and self.batch.batched and getattr(self.endpoint, "replicas", ()):
            raise ConfigError("endpoint.mode = 'batch'/'auto' sends to one endpoint; it cannot be combined with "
                              "endpoint.replicas (several --api-base): batches are created and polled on one server")


class LiveOutput(Protocol):
    """Output refreshed while a run goes (complete's appending exporter, generate's run directory)."""

    def start(self) -> None: ...

    async def close(self) -> None: ...


def exit_code(*, interrupted: bool, incomplete: bool) -> int:
    """A signal cut the run short: EXIT_INTERRUPTED; it ended without all it was asked (failed requests,
    a stall, a target not reached): EXIT_SOME_FAILED; else EXIT_OK. Errors are raised, never mapped here."""
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_SOME_FAILED if incomplete else EXIT_OK


class RunHarness:
    """One run's store, worker, throttle, shutdown and engine; see the module docstring for the lifecycle."""

    def __init__(self, settings: RunSettings, *, api_key: str | None | Sequence[str | None] = None,
                 worker: Worker | None = None, throttle: Throttle | Sequence[Throttle] | None = None,
                 shutdown: Shutdown | None = None, stats: EngineStats | None = None):
        self.settings = settings
        # With replicas (settings.endpoint.replicas) ``api_key`` and ``throttle`` may be one per replica, in order.
        self._api_key = api_key
        self._own_worker = worker is None
        self._own_shutdown = shutdown is None
        self.worker: Any = worker
        self._throttles = list(throttle) if isinstance(throttle, (list, tuple)) else None
        self._own_throttle = throttle is None
        self.throttle = self._throttles[0] if self._throttles else (throttle or Throttle(settings.limits))
        self.shutdown = shutdown or Shutdown()
        self.stats = stats or EngineStats(model=settings.endpoint.model)
        self.store: CheckpointStore | None = None  # type: ignore[assignment]
        self.engine: Engine | None = None  # type: ignore[assignment]
        self.batch_engine: Any = None       # selfinstruct.batch.engine.BatchEngine in batch/auto mode
        self._lock: IO[bytes] | None = None
        self._workers: list[Any] = []
        self._shared: Any = None   # the Redis client of [limits] redis_url, when set (redis_limits)

    async def __aenter__(self) -> "RunHarness":
        s = self.settings
        self._lock = lock_file(state_lock_path(s.state), in_use=f"{s.owner}: in use by another selfinstruct run",
                               hint=s.lock_hint)
        try:
            store = await CheckpointStore(s.state, synchronous=s.synchronous).open()
            try:
                store.row_model = s.endpoint.model
                await fingerprint.reconcile(store, s.fingerprint, allow_changes=s.allow_changes)
            except BaseException:
                await store.close()
                raise
        except BaseException:
            self._lock.close()
            raise
        self.store = store
        routes = self._routes()
        self.engine = Engine(self.worker, throttle=self.throttle, store=store, retry=s.retry, stats=self.stats,
                             defaults=s.endpoint.defaults, seed=s.seed, stop=self.shutdown.stop, replicas=routes)
        if s.batch is not None and s.batch.batched:  # the Batch API: same contract, the online engine for the tail
            from selfinstruct.batch.engine import BatchEngine
            from workers.batch import BatchWorker

            self.batch_engine = BatchEngine(self.engine, BatchWorker(s.endpoint, self._api_key), s.batch)
            self.engine = self.batch_engine
        elif store.batches(open_only=True):
            logging.getLogger(__name__).warning(
                "%s has batches in flight from a batch-mode run; online mode asks their requests again (paid "
                "twice). Rerun with --mode batch to collect them instead", s.state)
        return self

    def _routes(self) -> list[tuple[str, Any, Throttle]] | None:
        """The worker and throttle of each replica (None: the run has one endpoint, as before replicas)."""
        from workers.openai import OpenAIWorker

        s = self.settings
        replicas = getattr(s.endpoint, "replicas", ())
        keys = self._api_key if isinstance(self._api_key, (list, tuple)) else [self._api_key] * max(1, len(replicas))
        if s.limits.redis_url and self._own_throttle:
            from selfinstruct.engine.redis_limits import RedisLimits

            self._shared = RedisLimits(s.limits.redis_url, fallback_fraction=s.limits.redis_fallback_fraction)
        if not replicas:
            if self.worker is None:
                self.worker = OpenAIWorker(s.endpoint, keys[0], max_connections=s.limits.max_concurrency)
            if self._shared is not None:
                self.throttle.share(self._shared.account(s.endpoint.api_base, keys[0], rpm=s.limits.rpm,
                                                         tpm=s.limits.tpm))
            return None
        routes = []
        labels = replica_labels([r.api_base for r in replicas])
        for i, replica in enumerate(replicas):
            limits = replica.limits(s.limits)
            endpoint = dataclasses.replace(s.endpoint, api_base=replica.api_base, replicas=())
            worker = OpenAIWorker(endpoint, keys[i], max_connections=limits.max_concurrency)
            self._workers.append(worker)
            if self._throttles is not None:
                throttle = self._throttles[i]
            else:
                throttle = Throttle(limits)
                if self._shared is not None:
                    throttle.share(self._shared.account(replica.api_base, keys[i], rpm=limits.rpm,
                                                        tpm=limits.tpm))
            routes.append((labels[i], worker, throttle))
        self.worker = routes[0][1]
        return routes

    @property
    def max_concurrency(self) -> int:
        """Requests in flight the run allows: its limit, or the sum of its replicas' limits."""
        replicas = getattr(self.settings.endpoint, "replicas", ())
        if not replicas:
            return self.settings.limits.max_concurrency
        return sum(r.limits(self.settings.limits).max_concurrency for r in replicas)

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        store = self.store
        assert store is not None and self._lock is not None
        try:
            if self.batch_engine is not None:
                await self.batch_engine.aclose()  # its pollers and its Files/Batches session
            for worker in self._workers:   # the replicas' workers, always built here
                await worker.aclose()
            if self._own_worker and not self._workers:
                await self.worker.aclose()
            if self._shared is not None:
                await self._shared.aclose()
        finally:
            try:
                await store.close()
            finally:
                self._lock.close()
        if exc is None and store.failure is not None:
            raise store.failure

    @property
    def healthy(self) -> bool:
        """The store has not failed: its contents can still be read and written."""
        return self.store is not None and self.store.failure is None

    def interrupted(self, finished: bool) -> bool:
        """A signal (or the service, on pause) stopped a run that had not finished."""
        return self.shutdown.signalled and not finished

    async def drain(self, pool: TaskPool) -> None:
        """Intake is over: let the pool's requests finish (``drain_timeout`` once a stop came)."""
        if pool.fatal is None:
            await drain(pool, self.shutdown, self.settings.drain_timeout)

    async def ask(self, requests: Iterable[Request], *, chunk: int = 256) -> bool:
        """Ask each request not answered yet, at most ``max_concurrency`` at a time, then drain.

        Returns whether the run was interrupted (a signal came before every request was
        answered or failed). A fatal error stops intake and is raised after the drain.
        """
        engine, stats, stop = self.engine, self.stats, self.shutdown.stop
        assert engine is not None and self.store is not None
        # A task lives from spawn to commit, so at most max_concurrency requests are ever
        # uncommitted: that bounds what a crash can cost (re-asked on restart).
        # Batch mode: every request waits in a batch, so as many wait at once as a batch file holds.
        batching = self.settings.batch
        pool = TaskPool(batching.max_file_requests if batching is not None and batching.batched
                        else self.max_concurrency,
                        on_error=lambda exc: None if isinstance(exc, RequestFailed) else stop.set())
        batch: list[Request] = []

        async def flush() -> None:
            done = self.store.done_ids(r.id for r in batch)
            for req in batch:
                if stop.is_set():
                    return
                if req.id in done:
                    stats.done += 1
                    stats.cached += 1
                    continue
                await pool.spawn(lambda req=req: engine.call(req))
            batch.clear()

        try:
            for req in requests:
                if stop.is_set():
                    break
                batch.append(req)
                if len(batch) >= chunk:
                    await flush()
            else:
                await flush()
            exhausted = not stop.is_set()
            # Intake is over (input exhausted, a signal, or a fatal error). Drain.
            await self.drain(pool)
            unfinished = len(pool)
        finally:
            await pool.cancel_all()
        if pool.fatal is not None:
            raise pool.fatal
        return self.interrupted(exhausted and unfinished == 0 and engine.not_started == 0)

    async def drive(self, body: Callable[[], Awaitable[T]], *, live: LiveOutput | None = None,
                    progress: ProgressFn | None = None,
                    final: Callable[[], Awaitable[F]] | None = None) -> tuple[T, F | None]:
        """Run ``body`` with signals, the reporter and ``live`` going; then stop them and, while the store is
        healthy, await ``final()`` shielded from cancellation (also when ``body`` raised). Returns both values."""
        s = self.settings
        reporter = Reporter(self.stats, prices=s.prices, interval=s.progress_interval, live=s.live_progress,
                            label=s.label, progress=progress)
        if self._own_shutdown and s.handle_signals:
            self.shutdown.install()
        done: F | None = None
        try:
            reporter.start()
            if live is not None:
                live.start()
            value = await body()
        finally:
            try:
                await reporter.stop()
                if live is not None:
                    await live.close()  # returns once a refresh in progress has written its files
            finally:
                if self._own_shutdown:
                    self.shutdown.uninstall()
            if final is not None and self.healthy:
                done = await asyncio.shield(final())
        return value, done
