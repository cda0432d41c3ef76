"""Batch completion of a JSONL file through the engine: the library behind `selfinstruct complete`.

Exactly-once output, across kills: results are committed to the store first;
an exporter then appends committed results to OUTPUT in commit order, fsyncs,
and records (last exported sequence, file size) in the store in the same
transaction. On restart OUTPUT is truncated back to the recorded size, which
removes any torn or unrecorded tail, and export resumes after the recorded
sequence. So each id appears exactly once, and no line is ever half written.

Before anything is sent the whole input is checked once (``batch_input``):
duplicate ids are an error, an id whose request changed is asked again, and
an id no longer in the input leaves the state. When that removed any exported
line, OUTPUT is rebuilt atomically from the store (temp file, fsync, rename)
and the append protocol continues from there: OUTPUT always holds exactly one
line per current input id, each naming the model that answered it.

One run per state: the state's lock file (``STATE.lock``) is held for the whole
run, and the state's fingerprint (model, endpoint kind, default parameters) must
match unless ``allow_changes`` is set (see ``fingerprint``).

Input is read lazily, and at most ``max_concurrency`` tasks exist at a time;
what grows with the input is one dict of ids to line numbers.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfinstruct.engine import fingerprint
from selfinstruct.engine.batch_input import DUPLICATE_POLICIES, parse_request_line, scan_input
from selfinstruct.engine.batch_output import OutputExporter
from selfinstruct.engine.engine import Engine, TaskPool
from selfinstruct.engine.outputs import refuse_overlaps, require_file_path
from selfinstruct.engine.retry import RetryConfig
from selfinstruct.engine.runlock import lock_file, state_lock_path
from selfinstruct.engine.shutdown import Shutdown, drain
from selfinstruct.engine.stats import EngineStats, PriceTable, Reporter
from selfinstruct.engine.store import CheckpointStore
from selfinstruct.engine.throttle import LimitsConfig, Throttle
from selfinstruct.errors import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_SOME_FAILED,
    ConfigError,
    RequestFailed,
    StorageError,
)
from selfinstruct.io import iter_jsonl, storage_error, write_json_atomic, write_jsonl_atomic
from workers.base import Request

__all__ = ["CompleteConfig", "CompleteResult", "run_complete", "complete_async", "sibling_path", "parse_request_line",
           "infer_endpoint", "build_complete_config"]

log = logging.getLogger(__name__)


def sibling_path(output: Path, suffix: str) -> Path:
    """``runs/out.jsonl`` + ``.failed.jsonl`` -> ``runs/out.failed.jsonl``."""
    stem = output.name[: -len(".jsonl")] if output.name.endswith(".jsonl") else output.name
    return output.with_name(stem + suffix)


@dataclass(frozen=True, kw_only=True)
class CompleteConfig:
    input_path: Path
    output_path: Path
    endpoint: Any  # workers.openai.EndpointConfig
    state_path: Path | None = None
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    retry: RetryConfig = field(default_factory=RetryConfig)
    drain_timeout: float = 30.0
    progress_interval: float = 5.0
    live_progress: bool | None = None
    synchronous: str = "NORMAL"
    prices: PriceTable = field(default_factory=PriceTable)
    handle_signals: bool = True
    allow_changes: bool = False      # resume even though the fingerprint differs; the change is recorded
    duplicate_ids: str = "error"     # or "first": keep each id's first line

    def __post_init__(self) -> None:
        if self.duplicate_ids not in DUPLICATE_POLICIES:
            raise ConfigError(f"duplicate_ids must be one of {', '.join(DUPLICATE_POLICIES)}, got {self.duplicate_ids!r}")

    def fingerprint(self) -> dict[str, Any]:
        """What defines the answers (see ``fingerprint``); each id's request hash is kept per result."""
        return {"model": self.endpoint.model, "endpoint": self.endpoint.endpoint,
                "defaults": dict(self.endpoint.defaults)}

    def check_paths(self) -> None:
        """Refuse outputs that are the input (or each other) before anything is opened."""
        outputs = {"output": self.output_path, "state file": self.state, "failed file": self.failed_path,
                   "stats file": self.stats_path, "lock file": state_lock_path(self.state)}
        for name in ("output", "state file"):
            require_file_path(outputs[name], name)
        refuse_overlaps(outputs, {"input": self.input_path})

    @property
    def state(self) -> Path:
        return self.state_path or sibling_path(self.output_path, ".state.sqlite3")

    @property
    def failed_path(self) -> Path:
        return sibling_path(self.output_path, ".failed.jsonl")

    @property
    def stats_path(self) -> Path:
        return sibling_path(self.output_path, ".stats.json")


@dataclass
class CompleteResult:
    exit_code: int
    stats: dict[str, Any]
    failed: int
    interrupted: bool = False


async def complete_async(config: CompleteConfig, *, api_key: str | None = None, worker: Any = None,
                         throttle: Throttle | None = None) -> CompleteResult:
    config.check_paths()
    lock = lock_file(state_lock_path(config.state),
                     in_use=f"{config.state}: in use by another selfinstruct run",
                     hint="wait for it to finish, or choose another --out")
    try:
        return await _complete_locked(config, api_key=api_key, worker=worker, throttle=throttle)
    finally:
        lock.close()


async def _complete_locked(config: CompleteConfig, *, api_key: str | None, worker: Any,
                           throttle: Throttle | None) -> CompleteResult:
    from workers.openai import OpenAIWorker

    stats = EngineStats(model=config.endpoint.model)
    store = await CheckpointStore(config.state, synchronous=config.synchronous).open()
    store.row_model = config.endpoint.model
    exporter = OutputExporter(store, config.output_path)
    try:
        await fingerprint.reconcile(store, config.fingerprint(), allow_changes=config.allow_changes)
        scan = await asyncio.to_thread(scan_input, config.input_path, config.endpoint.endpoint, store,
                                       duplicate_ids=config.duplicate_ids)
        if scan.changed or scan.removed:
            log.info("input changed since the last run: %d request(s) changed (asked again), %d id(s) removed",
                     len(scan.changed), len(scan.removed))
        await exporter.forget(scan.changed + scan.removed)
        exporter.prepare()
    except BaseException:
        await store.close()
        raise
    own_worker = worker is None
    if worker is None:
        worker = OpenAIWorker(config.endpoint, api_key, max_connections=config.limits.max_concurrency)
    throttle = throttle or Throttle(config.limits)
    shutdown = Shutdown()
    engine = Engine(worker, throttle=throttle, store=store, retry=config.retry, stats=stats,
                    defaults=config.endpoint.defaults, stop=shutdown.stop)
    loop = asyncio.get_running_loop()
    if config.handle_signals:
        shutdown.install()
    stop = shutdown.stop
    unfinished = 0
    input_exhausted = False

    # A task lives from spawn to commit, so at most max_concurrency requests are ever
    # uncommitted: that bounds what a crash can cost (re-asked on restart).
    pool = TaskPool(config.limits.max_concurrency, on_error=lambda exc: stop.set()
                    if not isinstance(exc, RequestFailed) else None)
    reporter = Reporter(stats, interval=config.progress_interval, live=config.live_progress, label="complete")
    export_failure: list[BaseException] = []

    async def periodic_export() -> None:
        while True:
            await asyncio.sleep(0.5)
            try:
                await exporter.export()
            except StorageError as exc:
                # The output cannot be written (disk full): stop intake; every answer is in the state.
                if store.failure is None:
                    export_failure.append(exc)
                stop.set()
                return

    exporter_task = None
    interrupted = False
    try:
        stats.total = scan.total
        reporter.start()
        exporter_task = loop.create_task(periodic_export())
        path = str(config.input_path)
        chunk: list[Request] = []

        async def flush_chunk() -> None:
            done = store.done_ids(r.id for r in chunk)
            for req in chunk:
                if stop.is_set():
                    return
                if req.id in done:
                    stats.done += 1
                    stats.cached += 1
                    continue
                await pool.spawn(lambda req=req: engine.call(req))
            chunk.clear()

        for lineno, obj in iter_jsonl(config.input_path):
            if stop.is_set():
                break
            req = parse_request_line(obj, path, lineno, config.endpoint.endpoint)
            if not scan.counts(req.id, lineno):
                continue
            chunk.append(req)
            if len(chunk) >= 256:
                await flush_chunk()
        else:
            await flush_chunk()
        input_exhausted = not stop.is_set()

        # Intake is over (input exhausted, a signal, or a fatal error). Drain.
        if pool.fatal is None:
            await drain(pool, shutdown, config.drain_timeout)
        unfinished = len(pool)
        interrupted = shutdown.signalled and (unfinished > 0 or not input_exhausted or engine.not_started > 0)
    finally:
        await pool.cancel_all()
        if exporter_task is not None:
            exporter_task.cancel()
        await reporter.stop()
        shutdown.uninstall()
        try:
            if store.failure is None and not export_failure:
                try:
                    await asyncio.shield(exporter.export())
                except StorageError as exc:
                    if store.failure is None:
                        export_failure.append(exc)
        finally:
            failed_rows = store.failed_rows() if store.failure is None else []
            models = store.models() if store.failure is None else {}
            changes = fingerprint.history(store) if store.failure is None else []
            await store.close()
            if own_worker:
                await worker.aclose()
    if pool.fatal is not None:
        raise pool.fatal
    if store.failure is not None:
        raise store.failure
    if export_failure:
        raise StorageError(f"{export_failure[0]}; every answer so far is kept in {config.state}: "
                           f"free some space and rerun the same command to resume") from export_failure[0]

    write_jsonl_atomic(config.failed_path, (
        {"id": r["id"], "error": r["error"], "attempts": r["attempts"], **({"request": r["request"]} if r["request"] else {})}
        for r in failed_rows))
    snapshot = stats.snapshot(config.prices)
    snapshot["duplicate_ids_skipped"] = scan.duplicates
    snapshot["changed_requests"] = len(scan.changed)
    snapshot["removed_ids"] = len(scan.removed)
    snapshot["models"] = models
    if changes:
        snapshot["settings_changes"] = changes
    snapshot["failed_total"] = len(failed_rows)
    snapshot["interrupted"] = interrupted
    write_json_atomic(config.stats_path, snapshot)
    if interrupted:
        code = EXIT_INTERRUPTED
    elif failed_rows:
        code = EXIT_SOME_FAILED
    else:
        code = EXIT_OK
    return CompleteResult(exit_code=code, stats=snapshot, failed=len(failed_rows), interrupted=interrupted)


def infer_endpoint(path: Path) -> str:
    """'chat' when the first request has ``messages``, else 'completions'."""
    for _, obj in iter_jsonl(path):
        return "chat" if "messages" in obj else "completions"
    return "completions"


def run_complete(config: CompleteConfig, *, api_key: str | None = None) -> CompleteResult:
    """Synchronous entry point (used by the CLI)."""
    try:
        return asyncio.run(complete_async(config, api_key=api_key))
    except OSError as exc:
        raise storage_error(exc.filename or config.output_path, exc) from exc


def build_complete_config(table: dict[str, Any], *, input_path: Path, output_path: Path, source: str = "<flags>",
                          **settings: Any) -> CompleteConfig:
    """A ``CompleteConfig`` from a TOML-shaped table ([endpoint], [limits], [retry], [prices]; flags already
    merged in as dotted overrides) plus the run's own ``settings`` (state_path, drain_timeout, ...).

    The endpoint kind, when neither file nor flag names it, follows the input: chat for ``messages`` requests.
    """
    from selfinstruct.config import build, check_keys, table_of
    from workers.openai import EndpointConfig

    check_keys(table, {"endpoint", "limits", "retry", "prices"}, source=source)
    tables = {name: table_of(table, name, source=source) for name in ("endpoint", "limits", "retry", "prices")}
    endpoint = dict(tables["endpoint"])
    if endpoint.get("endpoint") is None:
        endpoint["endpoint"] = infer_endpoint(input_path)
    return CompleteConfig(
        input_path=input_path, output_path=output_path,
        endpoint=build(EndpointConfig, endpoint, source=source, section="endpoint"),
        limits=build(LimitsConfig, tables["limits"], source=source, section="limits"),
        retry=build(RetryConfig, tables["retry"], source=source, section="retry"),
        prices=PriceTable.from_table(tables["prices"], source=source),
        **settings)
