"""Batch completion of a JSONL file through the engine: the library behind `selfinstruct complete`.

Exactly-once output, across kills: results are committed to the store first;
an exporter then appends committed results to OUTPUT in commit order, fsyncs,
and records (last exported sequence, file size) in the store in the same
transaction. On restart OUTPUT is truncated back to the recorded size, which
removes any torn or unrecorded tail, and export resumes after the recorded
sequence. So each id appears exactly once, and no line is ever half written.

Input is read lazily and checked against the store in chunks, and at most
``max_pending`` tasks exist at a time, so memory stays flat for any input size.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from selfinstruct.engine.engine import Engine, TaskPool
from selfinstruct.engine.retry import RetryConfig
from selfinstruct.engine.shutdown import Shutdown, drain
from selfinstruct.engine.stats import EngineStats, PriceTable, Reporter
from selfinstruct.engine.store import DONE, CheckpointStore
from selfinstruct.engine.throttle import LimitsConfig, Throttle
from selfinstruct.errors import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_SOME_FAILED,
    InputError,
    RequestFailed,
    StorageError,
)
from selfinstruct.io import append_lines_durable, dumps_line, iter_jsonl, write_json_atomic, write_jsonl_atomic
from workers.base import Request

__all__ = ["CompleteConfig", "CompleteResult", "run_complete", "complete_async", "sibling_path", "parse_request_line",
           "infer_endpoint"]

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


def parse_request_line(obj: dict[str, Any], path: str, line: int, endpoint: str | None = None) -> Request:
    """Validate one input line: ``{"id", "prompt"}`` or ``{"id", "messages"}``, optional ``params``.

    A chat endpoint also takes ``prompt`` lines (sent as one user message); a completions
    endpoint cannot take ``messages``.
    """
    rid = obj.get("id")
    if not isinstance(rid, str) or not rid:
        raise InputError('"id" must be a non-empty string', path=path, line=line)
    prompt, messages = obj.get("prompt"), obj.get("messages")
    if (prompt is None) == (messages is None):
        raise InputError('exactly one of "prompt" or "messages" is required', path=path, line=line)
    if prompt is not None and not isinstance(prompt, str):
        raise InputError('"prompt" must be a string', path=path, line=line)
    if messages is not None:
        if not isinstance(messages, list) or not messages or not all(
                isinstance(m, dict) and isinstance(m.get("role"), str) and "content" in m for m in messages):
            raise InputError('"messages" must be a non-empty list of {"role", "content"} objects', path=path, line=line)
    if messages is not None and endpoint == "completions":
        raise InputError('"messages" needs --endpoint chat (this run uses completions)', path=path, line=line)
    params = obj.get("params") or {}
    if not isinstance(params, dict):
        raise InputError('"params" must be an object', path=path, line=line)
    return Request(id=rid, prompt=prompt, messages=messages, params=params)


class _OutputExporter:
    """Appends committed results to OUTPUT in commit order; see the module docstring for the protocol."""

    def __init__(self, store: CheckpointStore, output: Path):
        self.store = store
        self.output = output

    def prepare(self) -> None:
        """Cut OUTPUT back to what the store says was exported (drops a torn or unrecorded tail)."""
        self.output.parent.mkdir(parents=True, exist_ok=True)
        size = int(self.store.get_meta("export.size", "0") or 0)
        current = self.output.stat().st_size if self.output.exists() else 0
        if current < size:
            log.warning("%s is shorter than recorded (%d < %d bytes); rewriting it from the state",
                        self.output, current, size)
            size = -1
        with open(self.output, "ab") as fh:
            fh.truncate(max(size, 0))
            fh.flush()
            os.fsync(fh.fileno())
        if size < 0:
            self.store.submit(lambda conn: (CheckpointStore.set_meta(conn, "export.seq", 0),
                                            CheckpointStore.set_meta(conn, "export.size", 0)))

    def export(self) -> asyncio.Future[Any]:
        output = self.output

        def op(conn: sqlite3.Connection) -> int:
            row = conn.execute("SELECT value FROM meta WHERE key='export.seq'").fetchone()
            last = int(row[0]) if row else 0
            rows = conn.execute("SELECT id, response, done_seq FROM results WHERE status=? AND done_seq>?"
                                " ORDER BY done_seq", (DONE, last)).fetchall()
            if not rows:
                return 0
            lines = [dumps_line({"id": rid, **orjson.loads(resp)}) for rid, resp, _ in rows]
            size = append_lines_durable(output, lines)
            CheckpointStore.set_meta(conn, "export.seq", rows[-1][2])
            CheckpointStore.set_meta(conn, "export.size", size)
            return len(rows)

        return self.store.submit(op)


async def complete_async(config: CompleteConfig, *, api_key: str | None = None, worker: Any = None,
                         throttle: Throttle | None = None) -> CompleteResult:
    from workers.openai import OpenAIWorker

    stats = EngineStats(model=config.endpoint.model)
    store = await CheckpointStore(config.state, synchronous=config.synchronous).open()
    own_worker = worker is None
    if worker is None:
        worker = OpenAIWorker(config.endpoint, api_key, max_connections=config.limits.max_concurrency)
    throttle = throttle or Throttle(config.limits)
    shutdown = Shutdown()
    engine = Engine(worker, throttle=throttle, store=store, retry=config.retry, stats=stats,
                    defaults=config.endpoint.defaults, stop=shutdown.stop)
    exporter = _OutputExporter(store, config.output_path)
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
    in_flight_ids: set[str] = set()
    duplicates = 0

    async def run_one(req: Request) -> None:
        try:
            await engine.call(req)
        finally:
            in_flight_ids.discard(req.id)

    async def periodic_export() -> None:
        while True:
            await asyncio.sleep(0.5)
            await exporter.export()

    exporter_task = None
    interrupted = False
    try:
        exporter.prepare()
        stats.total = await asyncio.to_thread(_count_lines, config.input_path)
        reporter.start()
        exporter_task = loop.create_task(periodic_export())
        path = str(config.input_path)
        chunk: list[Request] = []

        async def flush_chunk() -> None:
            nonlocal duplicates
            done = store.done_ids(r.id for r in chunk)
            for req in chunk:
                if stop.is_set():
                    return
                if req.id in done:
                    stats.done += 1
                    stats.cached += 1
                    continue
                if req.id in in_flight_ids:
                    duplicates += 1
                    continue
                in_flight_ids.add(req.id)
                await pool.spawn(lambda req=req: run_one(req))
            chunk.clear()

        for lineno, obj in iter_jsonl(config.input_path):
            if stop.is_set():
                break
            chunk.append(parse_request_line(obj, path, lineno, config.endpoint.endpoint))
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
            if store.failure is None:
                await asyncio.shield(exporter.export())
        finally:
            failed_rows = store.failed_rows() if store.failure is None else []
            await store.close()
            if own_worker:
                await worker.aclose()
    if pool.fatal is not None:
        raise pool.fatal
    if store.failure is not None:
        raise store.failure

    write_jsonl_atomic(config.failed_path, (
        {"id": r["id"], "error": r["error"], "attempts": r["attempts"], **({"request": r["request"]} if r["request"] else {})}
        for r in failed_rows))
    snapshot = stats.snapshot(config.prices)
    snapshot["duplicate_ids_skipped"] = duplicates
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


def _count_lines(path: Path) -> int:
    """Count non-blank lines for progress/ETA (a fast byte scan; no JSON parsing)."""
    n = 0
    try:
        with open(path, "rb") as fh:
            for raw in fh:
                if raw.strip():
                    n += 1
    except FileNotFoundError as exc:
        raise InputError("file not found", path=str(path)) from exc
    return n


def run_complete(config: CompleteConfig, *, api_key: str | None = None) -> CompleteResult:
    """Synchronous entry point (used by the CLI)."""
    try:
        return asyncio.run(complete_async(config, api_key=api_key))
    except OSError as exc:
        raise StorageError(f"{exc.filename or config.output_path}: {exc.strerror or exc}") from exc
