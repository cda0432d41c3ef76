"""The checkpoint store's Batch API records: which requests went in which batch, and each batch's progress.

A batch row goes through ``recorded`` (its custom_ids and exact input lines,
committed *before* the file is uploaded) -> ``uploaded`` (its file id) ->
``created`` (its batch id, committed right after the server answered) ->
``closed`` (its results committed). Closing is one operation: the answers of the
output file, each with what its caller derived from it, the outcome of every
item (done / error / unfinished) and the batch's final status commit together,
so a crash keeps all of them or none, and a restart finds the batch still open
and fetches its files again. A request id is in at most one open batch.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from selfinstruct.engine.fingerprint import request_digest

__all__ = ["StoreBatches", "BatchRow", "ClosedItem"]

RECORDED, UPLOADED, CREATED, CLOSED = "recorded", "uploaded", "created", "closed"


@dataclass(frozen=True, slots=True)
class BatchRow:
    key: str                     # our name for it: batch-000001
    endpoint: str                # /v1/completions or /v1/chat/completions
    file_id: str | None
    batch_id: str | None
    state: str                   # recorded | uploaded | created | closed
    remote: str | None           # the server's last status (in_progress, completed, expired, ...)
    counts: dict[str, int]       # the server's request_counts, as last seen
    items: int

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "batch_id": self.batch_id, "file_id": self.file_id, "state": self.state,
                "status": self.remote, "items": self.items, "request_counts": self.counts}


@dataclass(frozen=True, slots=True)
class ClosedItem:
    """How one item of a closing batch came out."""

    id: str
    outcome: str                                  # done | error | unfinished
    response: dict[str, Any] | None = None        # done: the answer, as Response.to_json()
    attempts: int = 1
    then: Callable[[sqlite3.Connection], Any] | None = None   # done: the caller's derived records
    failed: str | None = None                     # error with no attempt left: the error to record


class StoreBatches:
    """Batch records of an open ``CheckpointStore`` (it supplies ``submit``, ``_read`` and the row inserts)."""

    submit: Callable[..., asyncio.Future[Any]]
    row_model: str | None
    _insert_done: Callable[..., bool]      # the result rows, written as put_result/put_failed write them
    _insert_failed: Callable[..., None]

    def _read(self, sql: str, params: Iterable[Any]) -> list[tuple[Any, ...]]:
        raise NotImplementedError  # CheckpointStore provides it

    # -- writes ----------------------------------------------------------------------------
    def record_batch(self, endpoint: str, items: list[tuple[dict[str, Any], bytes]]) -> asyncio.Future[str]:
        """Record a new batch of (request JSON, input line) before its file is uploaded; resolves to its key."""
        rows = [(req["id"], orjson.dumps(req), line) for req, line in items]

        def op(conn: sqlite3.Connection) -> str:
            seq = conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM batches").fetchone()[0]
            key = f"batch-{seq:06d}"
            for i in range(0, len(rows), 500):  # the rule that makes resubmission impossible, checked where it lives
                chunk = [rid for rid, _, _ in rows[i:i + 500]]
                hit = conn.execute(
                    f"SELECT custom_id FROM batch_items JOIN batches ON batches.key=batch_key WHERE state != ? "
                    f"AND custom_id IN ({','.join('?' * len(chunk))}) LIMIT 1", (CLOSED, *chunk)).fetchone()
                if hit is not None:
                    raise ValueError(f"request {hit[0]!r} is already in an open batch")
            conn.execute("INSERT INTO batches(key, seq, endpoint, state, recorded) VALUES(?,?,?,?,?)",
                         (key, seq, endpoint, RECORDED, time.time()))
            conn.executemany("INSERT INTO batch_items(custom_id, batch_key, request, line) VALUES(?,?,?,?)",
                             [(rid, key, req, line) for rid, req, line in rows])
            return key

        return self.submit(op)

    def batch_uploaded(self, key: str, file_id: str) -> asyncio.Future[None]:
        return self.submit(lambda conn: conn.execute("UPDATE batches SET file_id=?, state=? WHERE key=?",
                                                     (file_id, UPLOADED, key)) and None)

    def batch_created(self, key: str, batch: dict[str, Any]) -> asyncio.Future[None]:
        return self.submit(lambda conn: conn.execute(
            "UPDATE batches SET batch_id=?, state=?, remote=?, counts=? WHERE key=?",
            (batch["id"], CREATED, batch.get("status"), orjson.dumps(batch.get("request_counts") or {}), key))
            and None)

    def batch_polled(self, key: str, batch: dict[str, Any]) -> asyncio.Future[None]:
        return self.submit(lambda conn: conn.execute(
            "UPDATE batches SET remote=?, counts=? WHERE key=?",
            (batch.get("status"), orjson.dumps(batch.get("request_counts") or {}), key)) and None)

    def close_batch(self, key: str, batch: dict[str, Any], items: list[ClosedItem]) -> asyncio.Future[int]:
        """Commit a finished batch in one operation (see the module docstring); resolves to the answers recorded."""
        model = self.row_model
        requests = dict(self._read("SELECT custom_id, request FROM batch_items WHERE batch_key=?", (key,)))

        def op(conn: sqlite3.Connection) -> int:
            recorded = 0
            for item in items:
                req_blob = requests[item.id]
                req_hash = request_digest(orjson.loads(req_blob))
                if item.outcome == "done":
                    recorded += self._insert_done(conn, item.id, req_blob, orjson.dumps(item.response),
                                                  item.attempts, model, req_hash)
                    if item.then is not None:
                        item.then(conn)
                elif item.failed is not None:
                    self._insert_failed(conn, item.id, req_blob, item.failed, item.attempts, model, req_hash)
                conn.execute("UPDATE batch_items SET outcome=? WHERE custom_id=? AND batch_key=?",
                             (item.outcome, item.id, key))
            conn.execute("UPDATE batches SET state=?, remote=?, counts=?, closed=? WHERE key=?",
                         (CLOSED, batch.get("status"), orjson.dumps(batch.get("request_counts") or {}),
                          time.time(), key))
            return recorded

        return self.submit(op)

    # -- reads -------------------------------------------------------------------------------
    def batches(self, *, open_only: bool = False) -> list[BatchRow]:
        """Every batch (or the open ones) in the order they were recorded."""
        where = "WHERE state != ?" if open_only else "WHERE ? IS NOT NULL"
        rows = self._read(
            f"SELECT key, endpoint, file_id, batch_id, state, remote, counts, "
            f"(SELECT COUNT(*) FROM batch_items WHERE batch_key=key) FROM batches {where} ORDER BY seq", (CLOSED,))
        return [BatchRow(k, e, f, b, s, r, orjson.loads(c) if c else {}, n) for k, e, f, b, s, r, c, n in rows]

    def batch_items(self, key: str) -> list[tuple[dict[str, Any], bytes]]:
        """(request JSON, input line) of a batch's items, in the order they were recorded."""
        rows = self._read("SELECT request, line FROM batch_items WHERE batch_key=? ORDER BY rowid", (key,))
        return [(orjson.loads(req), line) for req, line in rows]

    def batch_errors(self, ids: Iterable[str]) -> dict[str, int]:
        """request id -> how many of its batch items ended in the error file (its failed attempts so far)."""
        ids = list(ids)
        out: dict[str, int] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            out.update(self._read(f"SELECT custom_id, COUNT(*) FROM batch_items WHERE outcome='error' AND "
                                  f"custom_id IN ({','.join('?' * len(chunk))}) GROUP BY custom_id", chunk))
        return out

    def open_batch_ids(self, prefix: str = "") -> list[str]:
        """The request ids in open batches that start with ``prefix``."""
        return [r[0] for r in self._read(
            "SELECT custom_id FROM batch_items JOIN batches ON batches.key=batch_key WHERE state != ? "
            "AND substr(custom_id, 1, ?)=?", (CLOSED, len(prefix), prefix))]
