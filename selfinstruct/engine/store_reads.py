"""Typed reads of the checkpoint store: the queries callers need, so no SQL lives outside the store.

``StoreReads`` is the read half of ``CheckpointStore`` (it reads on the store's
WAL reader connection, which sees everything committed). ``read_snapshot``
reads a state file from a private read-only connection in one read transaction,
for a thread that must not share the store's connections (the live export).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from selfinstruct.engine.fingerprint import request_digest
from selfinstruct.engine.store_schema import DONE, FAILED
from selfinstruct.errors import StorageError

__all__ = ["StoreReads", "Snapshot", "read_snapshot"]

_CHUNK = 500  # ids per IN (...) query: well under SQLite's bound-parameter limit


def _chunks(ids: Iterable[str]) -> Iterable[list[str]]:
    ids = list(ids)
    for i in range(0, len(ids), _CHUNK):
        yield ids[i:i + _CHUNK]


class StoreReads:
    """Read queries on an open store; ``_read`` runs one query on the reader connection."""

    def _read(self, sql: str, params: Iterable[Any]) -> list[tuple[Any, ...]]:
        raise NotImplementedError  # CheckpointStore provides it

    # -- results ---------------------------------------------------------------------------
    def get_response(self, request_id: str) -> dict[str, Any] | None:
        """The stored answer for a done request, else None. Reads on the caller's thread (WAL reader)."""
        row = self._read("SELECT response FROM results WHERE id=? AND status=?", (request_id, DONE))
        return orjson.loads(row[0][0]) if row else None

    def done_ids(self, ids: Iterable[str]) -> set[str]:
        out: set[str] = set()
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            rows = self._read(f"SELECT id FROM results WHERE status=? AND id IN ({marks})", (DONE, *chunk))
            out.update(r[0] for r in rows)
        return out

    def request_hashes(self, ids: Iterable[str]) -> dict[str, str | None]:
        """id -> hash of the request stored for it, for the ids that have a result (done or failed)."""
        out: dict[str, str | None] = {}
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            for rid, digest, blob in self._read(f"SELECT id, req_hash, request FROM results WHERE id IN ({marks})",
                                                chunk):
                # A state written before hashes were kept: hash the stored request instead.
                out[rid] = digest if digest is not None else request_digest(orjson.loads(blob) if blob else None)
        return out

    def iter_result_ids(self, page: int = 5000) -> Iterable[str]:
        """Every id with a result, in id order, a page at a time (memory stays flat)."""
        last = ""
        while True:
            rows = self._read("SELECT id FROM results WHERE id > ? ORDER BY id LIMIT ?", (last, page))
            if not rows:
                return
            for (rid,) in rows:
                yield rid
            last = rows[-1][0]

    def result_ids(self, prefix: str) -> list[str]:
        """The ids (done or failed) that start with ``prefix``."""
        return [r[0] for r in self._read("SELECT id FROM results WHERE substr(id, 1, ?)=?", (len(prefix), prefix))]

    def answers_without_record(self, prefix: str, kind: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(request, response) of the done results whose id starts with ``prefix`` and that have no record
        of ``kind`` keyed by their id, in commit order: answers whose derived records a crash lost."""
        rows = self._read(
            "SELECT request, response FROM results WHERE status=? AND substr(id, 1, ?)=? AND id NOT IN "
            "(SELECT key FROM records WHERE kind=?) ORDER BY done_seq", (DONE, len(prefix), prefix, kind))
        return [(orjson.loads(req), orjson.loads(resp)) for req, resp in rows]

    def has_answers(self) -> bool:
        """True once anything was answered or derived (a run that never got an answer has nothing to mix)."""
        return bool(self._read("SELECT 1 FROM results WHERE status=? LIMIT 1", (DONE,))
                    or self._read("SELECT 1 FROM records LIMIT 1", ()))

    def models(self) -> dict[str, int]:
        """How many done results each model answered (rows from before models were recorded count as "")."""
        return {m or "": n for m, n in self._read(
            "SELECT model, COUNT(*) FROM results WHERE status=? GROUP BY model ORDER BY model", (DONE,))}

    def result_models(self) -> dict[str, str]:
        """request id -> the model that answered it, for done results that recorded one."""
        return dict(self._read("SELECT id, model FROM results WHERE status=? AND model IS NOT NULL", (DONE,)))

    def counts(self) -> dict[str, int]:
        rows = self._read("SELECT status, COUNT(*) FROM results GROUP BY status", ())
        by = dict(rows)
        return {"done": by.get(DONE, 0), "failed": by.get(FAILED, 0)}

    def failed_rows(self) -> list[dict[str, Any]]:
        rows = self._read("SELECT id, request, error, attempts FROM results WHERE status=? ORDER BY id", (FAILED,))
        return [{"id": r[0], "request": orjson.loads(r[1]) if r[1] else None, "error": r[2], "attempts": r[3]}
                for r in rows]

    # -- records and meta ------------------------------------------------------------------
    def records(self, kind: str) -> list[tuple[str, Any]]:
        """(key, data) of every record of ``kind``, in commit order."""
        rows = self._read("SELECT key, data FROM records WHERE kind=? ORDER BY seq", (kind,))
        return [(k, orjson.loads(d)) for k, d in rows]

    def count_records(self, kind: str) -> int:
        return self._read("SELECT COUNT(*) FROM records WHERE kind=?", (kind,))[0][0]

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        rows = self._read("SELECT value FROM meta WHERE key=?", (key,))
        return rows[0][0] if rows else default


@dataclass(frozen=True)
class Snapshot:
    """Records by kind (each in commit order) and who answered what, as of one moment; ``newest_seq``
    is the newest record's sequence number (it grows with every record committed)."""

    records: dict[str, list[tuple[str, Any]]]
    models: dict[str, str]   # request id -> the model that answered it
    newest_seq: int


def read_snapshot(path: Path, kinds: Sequence[str], *, unless_seq: int | None = None) -> Snapshot | None:
    """The records of ``kinds`` from one read transaction on a private read-only connection.

    None when ``unless_seq`` is the newest record's seq: nothing was committed since, nothing is read.
    """
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, timeout=30)
    except sqlite3.Error as exc:
        raise StorageError(f"{path}: {exc}") from exc
    try:
        conn.execute("BEGIN")  # one snapshot for all kinds: what is read agrees with itself
        newest = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM records").fetchone()[0]
        if newest == unless_seq:
            conn.execute("COMMIT")
            return None
        models = dict(conn.execute("SELECT id, model FROM results WHERE status=? AND model IS NOT NULL",
                                   (DONE,)).fetchall())
        by_kind = {}
        for kind in kinds:
            rows = conn.execute("SELECT key, data FROM records WHERE kind=? ORDER BY seq", (kind,)).fetchall()
            by_kind[kind] = [(k, orjson.loads(d)) for k, d in rows]
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        raise StorageError(f"{path}: {exc}") from exc
    finally:
        conn.close()
    return Snapshot(by_kind, models, newest)
