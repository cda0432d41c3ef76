"""Durable run state in SQLite: one writer thread, WAL, group commit, idempotent upserts keyed by request id.

Why this shape:
- WAL lets the event loop read (is this id done?) while the writer commits.
- All writes go through one writer in submission order, so an operation that
  must be atomic with a result (a pipeline records what it derived from an
  answer) is simply one operation; nothing interleaves inside it.
- Group commit: every operation submitted during one event-loop iteration is
  committed in one transaction, then their futures resolve. A result counts as
  done only once its future resolves, i.e. after COMMIT.
- Where the writer runs: with ``synchronous=NORMAL`` (the default) a WAL commit
  does not fsync, so the writer runs on the event loop itself, once per loop
  iteration; a thread would cost more in GIL hand-offs than the commit does.
  With ``synchronous=FULL`` every commit fsyncs, so the writer is a thread that
  takes whatever queued up while it was busy.
- ``synchronous=NORMAL`` in WAL mode survives a killed process (SIGKILL) at any
  moment; ``FULL`` also survives power loss, at an fsync per commit.

The tables are in ``store_schema``; the typed reads (``StoreReads``, and
``read_snapshot`` for a private read-only connection) in ``store_reads``; the
Batch API's records (``StoreBatches``) in ``store_batches``. Callers
use these methods: no SQL lives outside the store.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from selfinstruct.engine.fingerprint import request_digest
from selfinstruct.engine.store_batches import StoreBatches
from selfinstruct.engine.store_reads import StoreReads
from selfinstruct.engine.store_schema import ADDED_COLUMNS, DONE, FAILED, SCHEMA
from selfinstruct.errors import SelfInstructError, StorageError
from selfinstruct.io import storage_error

__all__ = ["CheckpointStore", "DoneRow", "DONE", "FAILED"]

log = logging.getLogger(__name__)

_STOP = object()


@dataclass(frozen=True, slots=True)
class DoneRow:
    """A done result as the output protocol reads it."""

    id: str
    response: dict[str, Any]
    model: str | None
    done_seq: int


class CheckpointStore(StoreReads, StoreBatches):
    """The state of one run. Open with ``await store.open()``; close with ``await store.close()``."""

    def __init__(self, path: str | Path, *, synchronous: str = "NORMAL", max_batch: int = 1024):
        self.path = Path(path)
        self.synchronous = synchronous.upper()
        if self.synchronous not in ("OFF", "NORMAL", "FULL"):
            raise StorageError(f"{self.path}: synchronous must be OFF, NORMAL or FULL")
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._pending: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]] = []
        self._thread: threading.Thread | None = None
        self._inline: sqlite3.Connection | None = None
        self._open = False
        self._reader: sqlite3.Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._next_done_seq = 0
        self._record_seq = 0
        self.commits = 0
        self.failure: StorageError | None = None
        # The model answering this run; recorded with every result so rows can say who made them.
        self.row_model: str | None = None

    # -- lifecycle -------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
            conn.execute("PRAGMA busy_timeout=30000")
        except sqlite3.Error as exc:
            raise storage_error(self.path, exc) from exc
        return conn

    async def open(self) -> "CheckpointStore":
        self._loop = asyncio.get_running_loop()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"{self.path.parent}: cannot create folder: {exc.strerror}") from exc
        writer = self._connect()
        try:
            writer.executescript(SCHEMA)
            for table, columns in ADDED_COLUMNS.items():
                have = {row[1] for row in writer.execute(f"PRAGMA table_info({table})")}
                for name, kind in columns:
                    if name not in have:
                        writer.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
            self._next_done_seq = writer.execute("SELECT COALESCE(MAX(done_seq), 0) FROM results").fetchone()[0]
            self._record_seq = writer.execute("SELECT COALESCE(MAX(seq), 0) FROM records").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            writer.close()
            raise storage_error(self.path, exc) from exc
        self._reader = self._connect()
        if self.synchronous == "FULL":
            self._thread = threading.Thread(target=self._writer_loop, args=(writer,), name="checkpoint-writer",
                                            daemon=True)
            self._thread.start()
        else:
            self._inline = writer
        self._open = True
        return self

    async def close(self) -> None:
        """Flush everything queued, checkpoint the WAL, and stop the writer. Shielded from cancellation."""
        if not self._open:
            return
        self._open = False
        if self._inline is not None:
            self._flush_pending()
            conn, self._inline = self._inline, None
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                pass
            conn.close()
            if self._reader is not None:
                self._reader.close()
                self._reader = None
            return
        fut = self._loop.create_future()  # type: ignore[union-attr]
        self._flush_pending()
        self._queue.put([(_STOP, fut)])
        thread = self._thread
        self._thread = None
        try:
            await asyncio.shield(fut)
        finally:
            await asyncio.to_thread(thread.join)
            if self._reader is not None:
                self._reader.close()
                self._reader = None

    async def __aenter__(self) -> "CheckpointStore":
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- the writer thread -------------------------------------------------------------
    def _writer_loop(self, conn: sqlite3.Connection) -> None:
        stop_fut = None
        while stop_fut is None:
            batch = list(self._queue.get())
            while len(batch) < self.max_batch:
                try:
                    batch.extend(self._queue.get_nowait())
                except queue.Empty:
                    break
            ops = []
            for fn, fut in batch:
                if fn is _STOP:
                    stop_fut = fut
                else:
                    ops.append((fn, fut))
            results: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
            if ops:
                results = self._run_batch(conn, ops)
            if results:
                self._loop.call_soon_threadsafe(_resolve_all, results)  # type: ignore[union-attr]
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            pass
        conn.close()
        self._loop.call_soon_threadsafe(_resolve_all, [(stop_fut, None, None)])  # type: ignore[union-attr]

    def _run_batch(self, conn: sqlite3.Connection, ops: list[tuple[Callable, asyncio.Future]]):
        if self.failure is not None:
            return [(fut, None, self.failure) for _, fut in ops]
        values: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        seq_before = (self._next_done_seq, self._record_seq)
        try:
            conn.execute("BEGIN IMMEDIATE")
            for fn, fut in ops:
                conn.execute("SAVEPOINT op")
                try:
                    values.append((fut, fn(conn), None))
                    conn.execute("RELEASE op")
                except (sqlite3.IntegrityError, ValueError, KeyError, TypeError, OSError, SelfInstructError) as exc:
                    # A bad operation fails alone; the rest of the group still commits. That includes
                    # an operation whose own file I/O failed (an export hitting a full disk): the
                    # state itself is fine, and the caller names the file.
                    conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                    values.append((fut, None, exc))
            conn.execute("COMMIT")
            self.commits += 1
        except (sqlite3.Error, OSError) as exc:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            self._next_done_seq, self._record_seq = seq_before
            self.failure = storage_error(self.path, exc)
            log.error("checkpoint store failed: %s", self.failure)
            return [(fut, None, self.failure) for _, fut in ops]
        return values

    def submit(self, fn: Callable[[sqlite3.Connection], Any]) -> asyncio.Future[Any]:
        """Queue ``fn(conn)`` to run inside the next group transaction; the future resolves after COMMIT."""
        if not self._open:
            raise StorageError(f"{self.path}: store is not open")
        if self.failure is not None:
            raise self.failure
        fut = self._loop.create_future()  # type: ignore[union-attr]
        # Hand operations to the writer once per event-loop iteration, not one by one:
        # every queue put can wake the writer thread and cost a GIL hand-off.
        self._pending.append((fn, fut))
        if len(self._pending) == 1:
            self._loop.call_soon(self._flush_pending)  # type: ignore[union-attr]
        return fut

    def _flush_pending(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        if self._inline is not None:
            _resolve_all(self._run_batch(self._inline, batch))
        else:
            self._queue.put(batch)

    # -- results ---------------------------------------------------------------------------
    def _take_done_seq(self) -> int:
        self._next_done_seq += 1
        return self._next_done_seq

    def put_result(self, request_id: str, request: dict[str, Any] | None, response: dict[str, Any],
                   attempts: int, then: Callable[[sqlite3.Connection], Any] | None = None) -> asyncio.Future[Any]:
        """Record a successful answer (idempotent: a second put for the same id keeps the first).

        ``then(conn)``, when given, runs in the same operation, so what a caller derived from the
        answer commits with it or not at all (a failing ``then`` rolls the answer back too)."""
        req_blob = orjson.dumps(request) if request is not None else None
        resp_blob = orjson.dumps(response)
        req_hash = request_digest(request)
        model = self.row_model

        def op(conn: sqlite3.Connection) -> Any:
            self._insert_done(conn, request_id, req_blob, resp_blob, attempts, model, req_hash)
            return then(conn) if then is not None else None

        return self.submit(op)

    def _insert_done(self, conn: sqlite3.Connection, request_id: str, req_blob: bytes | None, resp_blob: bytes,
                     attempts: int, model: str | None, req_hash: str | None) -> bool:
        """Inside an operation: record a done answer unless one is there; True when this one was recorded."""
        row = conn.execute("SELECT status FROM results WHERE id=?", (request_id,)).fetchone()
        if row is not None and row[0] == DONE:
            return False
        conn.execute(
            "INSERT INTO results(id, status, request, response, error, attempts, done_seq, model, req_hash)"
            " VALUES(?,?,?,?,NULL,?,?,?,?) ON CONFLICT(id) DO UPDATE SET status=excluded.status,"
            " request=excluded.request, response=excluded.response, error=NULL,"
            " attempts=excluded.attempts, done_seq=excluded.done_seq, model=excluded.model,"
            " req_hash=excluded.req_hash",
            (request_id, DONE, req_blob, resp_blob, attempts, self._take_done_seq(), model, req_hash),
        )
        return True

    def put_failed(self, request_id: str, request: dict[str, Any] | None, error: str, attempts: int) -> asyncio.Future[Any]:
        """Record a request that used up its attempts (never overwrites a done result)."""
        req_blob = orjson.dumps(request) if request is not None else None
        req_hash = request_digest(request)
        model = self.row_model

        def op(conn: sqlite3.Connection) -> None:
            self._insert_failed(conn, request_id, req_blob, error, attempts, model, req_hash)

        return self.submit(op)

    @staticmethod
    def _insert_failed(conn: sqlite3.Connection, request_id: str, req_blob: bytes | None, error: str, attempts: int,
                       model: str | None, req_hash: str | None) -> None:
        conn.execute(
            "INSERT INTO results(id, status, request, response, error, attempts, done_seq, model, req_hash)"
            " VALUES(?,?,?,NULL,?,?,NULL,?,?)"
            " ON CONFLICT(id) DO UPDATE SET status=excluded.status, request=excluded.request,"
            " error=excluded.error, attempts=excluded.attempts, model=excluded.model, req_hash=excluded.req_hash"
            " WHERE results.status != ?",
            (request_id, FAILED, req_blob, error, attempts, model, req_hash, DONE),
        )

    # -- free-form records (pipelines) ------------------------------------------------
    def next_record_seq(self) -> int:
        """Only call from inside a submitted operation (the writer thread)."""
        self._record_seq += 1
        return self._record_seq

    def write_record(self, conn: sqlite3.Connection, kind: str, key: str, data: Any) -> None:
        """Upsert a record inside a submitted operation; a new key gets the next sequence number."""
        blob = orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY)
        cur = conn.execute("UPDATE records SET data=? WHERE kind=? AND key=?", (blob, kind, key))
        if cur.rowcount == 0:
            conn.execute("INSERT INTO records(kind, key, seq, data) VALUES(?,?,?,?)",
                         (kind, key, self.next_record_seq(), blob))

    # -- meta -------------------------------------------------------------------------
    @staticmethod
    def set_meta(conn: sqlite3.Connection, key: str, value: Any) -> None:
        """Set a meta value inside a submitted operation."""
        conn.execute("INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                     (key, str(value)))

    @staticmethod
    def read_meta(conn: sqlite3.Connection, key: str, default: str | None = None) -> str | None:
        """A meta value as seen inside a submitted operation (its own transaction's view)."""
        row = conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    # -- the output protocol of `complete`, inside submitted operations ---------------------
    @staticmethod
    def iter_done_since(conn: sqlite3.Connection, seq: int) -> Iterator[DoneRow]:
        """The done results committed after ``seq`` (their ``done_seq``), in commit order."""
        cursor = conn.execute("SELECT id, response, model, done_seq FROM results WHERE status=? AND done_seq>?"
                              " ORDER BY done_seq", (DONE, seq))
        for rid, response, model, done_seq in cursor:
            yield DoneRow(rid, orjson.loads(response), model, done_seq)

    @staticmethod
    def forget_ids(conn: sqlite3.Connection, ids: list[str], *, exported_through: int) -> bool:
        """Delete the results of ``ids``; True when one of them was done at or before ``exported_through``."""
        hit = False
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            marks = ",".join("?" * len(chunk))
            hit = hit or conn.execute(f"SELECT 1 FROM results WHERE status=? AND done_seq<=? AND id IN ({marks})"
                                      " LIMIT 1", (DONE, exported_through, *chunk)).fetchone() is not None
            conn.execute(f"DELETE FROM results WHERE id IN ({marks})", chunk)
        return hit

    def _read(self, sql: str, params: Iterable[Any]) -> list[tuple[Any, ...]]:
        if self._reader is None:
            raise StorageError(f"{self.path}: store is not open")
        try:
            return self._reader.execute(sql, tuple(params)).fetchall()
        except sqlite3.Error as exc:
            raise storage_error(self.path, exc) from exc


def _resolve_all(results: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for fut, value, exc in results:
        if fut.done():
            continue
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(value)
