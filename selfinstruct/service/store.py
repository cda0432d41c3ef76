"""The service's tables in ``DIR/service.sqlite3``: jobs (spec, never a key; state, error, last stats,
timestamps) and the manual reviews of their data with the raters' ratings.

Writes happen a handful of times per job (submit, start, pause, end), so they
run directly on the event loop, each in its own transaction with
``synchronous=FULL``: once an HTTP answer says a job was accepted or paused, that
survives a power cut. The per-job request checkpoints live elsewhere, in each
job's own ``state.sqlite3``, written by the engine.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from selfinstruct.errors import StorageError

__all__ = ["JobRecord", "JobStore", "ReviewRecord", "ReviewStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    id       TEXT NOT NULL UNIQUE,
    kind     TEXT NOT NULL,
    spec     TEXT NOT NULL,
    state    TEXT NOT NULL,
    error    TEXT,
    stats    TEXT,
    runs     INTEGER NOT NULL DEFAULT 0,
    created  REAL NOT NULL,
    updated  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
CREATE TABLE IF NOT EXISTS reviews (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    id       TEXT NOT NULL UNIQUE,
    job      TEXT NOT NULL,
    template TEXT NOT NULL,
    criteria TEXT NOT NULL,
    size     INTEGER NOT NULL,
    seed     INTEGER NOT NULL,
    items    TEXT NOT NULL,
    created  REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS ratings (
    review   TEXT NOT NULL,
    rater    TEXT NOT NULL,
    item     TEXT NOT NULL,
    answers  TEXT NOT NULL,
    note     TEXT NOT NULL DEFAULT '',
    updated  REAL NOT NULL,
    PRIMARY KEY (review, rater, item)
);
"""
_COLUMNS = "id, kind, spec, state, error, stats, runs, created, updated"


@dataclass(frozen=True, kw_only=True)
class JobRecord:
    id: str
    kind: str
    spec: dict[str, Any]
    state: str
    error: str | None
    stats: dict[str, Any] | None     # the last finished run's stats snapshot
    runs: int                        # how many times a run was started
    created: float
    updated: float

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> "JobRecord":
        jid, kind, spec, state, error, stats, runs, created, updated = row
        return cls(id=jid, kind=kind, spec=orjson.loads(spec), state=state, error=error,
                   stats=orjson.loads(stats) if stats else None, runs=runs, created=created, updated=updated)


class JobStore:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None

    def open(self) -> "JobStore":
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise StorageError(f"{self.path}: cannot open the job store: {exc}") from exc
        self._conn = conn
        return self

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self._conn is None:
            raise StorageError(f"{self.path}: the job store is closed")
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"{self.path}: {exc}") from exc

    def add(self, spec: dict[str, Any], *, state: str = "queued") -> JobRecord:
        now = time.time()
        jid = secrets.token_hex(6)
        self._execute("INSERT INTO jobs (id, kind, spec, state, created, updated) VALUES (?, ?, ?, ?, ?, ?)",
                      (jid, spec.get("kind", "generate"), orjson.dumps(spec).decode(), state, now, now))
        return self.get(jid)  # type: ignore[return-value]

    def get(self, job_id: str) -> JobRecord | None:
        rows = self._execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        return JobRecord.from_row(rows[0]) if rows else None

    def all(self, *, states: tuple[str, ...] | None = None) -> list[JobRecord]:
        if states:
            marks = ", ".join("?" for _ in states)
            rows = self._execute(f"SELECT {_COLUMNS} FROM jobs WHERE state IN ({marks}) ORDER BY seq", states)
        else:
            rows = self._execute(f"SELECT {_COLUMNS} FROM jobs ORDER BY seq")
        return [JobRecord.from_row(r) for r in rows]

    def count_by_state(self) -> dict[str, int]:
        return {state: n for state, n in self._execute("SELECT state, COUNT(*) FROM jobs GROUP BY state")}

    def set_state(self, job_id: str, state: str, *, error: str | None = None,
                  stats: dict[str, Any] | None = None, started: bool = False) -> None:
        """Record a transition; ``error`` replaces the old one, ``stats`` only when given."""
        sets = ["state = ?", "error = ?", "updated = ?"]
        params: list[Any] = [state, error, time.time()]
        if stats is not None:
            sets.append("stats = ?")
            params.append(orjson.dumps(stats, option=orjson.OPT_NON_STR_KEYS).decode())
        if started:
            sets.append("runs = runs + 1")
        self._execute(f"UPDATE jobs SET {', '.join(sets)} WHERE id = ?", (*params, job_id))


@dataclass(frozen=True, kw_only=True)
class ReviewRecord:
    id: str
    job: str
    template: str
    criteria: list[dict[str, str]]   # the template's criteria when the review was made (a config edit keeps them)
    size: int
    seed: int
    items: list[dict[str, str]]      # the sampled items themselves: the review outlives changes to the run
    created: float

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "job": self.job, "template": self.template, "size": self.size, "seed": self.seed,
                "criteria": self.criteria, "items": self.items, "created": self.created}


class ReviewStore:
    """Reviews and ratings, in the job store's database; each write is its own durable transaction."""

    _COLUMNS = "id, job, template, criteria, size, seed, items, created"

    def __init__(self, jobs: JobStore):
        self._jobs = jobs

    def add(self, *, job: str, template: str, criteria: list[dict[str, str]], size: int, seed: int,
            items: list[dict[str, str]]) -> ReviewRecord:
        rid = secrets.token_hex(6)
        self._jobs._execute(
            f"INSERT INTO reviews ({self._COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (rid, job, template, orjson.dumps(criteria).decode(), size, seed, orjson.dumps(items).decode(),
             time.time()))
        return self.get(rid)  # type: ignore[return-value]

    @staticmethod
    def _record(row: tuple[Any, ...]) -> ReviewRecord:
        rid, job, template, criteria, size, seed, items, created = row
        return ReviewRecord(id=rid, job=job, template=template, criteria=orjson.loads(criteria), size=size,
                            seed=seed, items=orjson.loads(items), created=created)

    def get(self, review_id: str) -> ReviewRecord | None:
        rows = self._jobs._execute(f"SELECT {self._COLUMNS} FROM reviews WHERE id = ?", (review_id,))
        return self._record(rows[0]) if rows else None

    def all(self, *, job: str | None = None) -> list[ReviewRecord]:
        if job is None:
            rows = self._jobs._execute(f"SELECT {self._COLUMNS} FROM reviews ORDER BY seq")
        else:
            rows = self._jobs._execute(f"SELECT {self._COLUMNS} FROM reviews WHERE job = ? ORDER BY seq", (job,))
        return [self._record(r) for r in rows]

    def rate(self, review_id: str, *, rater: str, item: str, answers: dict[str, Any], note: str) -> None:
        """Store one rating; the same rater rating the same item again replaces the earlier answer."""
        self._jobs._execute(
            "INSERT INTO ratings (review, rater, item, answers, note, updated) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (review, rater, item) DO UPDATE SET answers = excluded.answers, note = excluded.note, "
            "updated = excluded.updated",
            (review_id, rater, item, orjson.dumps(answers).decode(), note, time.time()))

    def ratings(self, review_id: str, *, rater: str | None = None) -> list[dict[str, Any]]:
        """The review's ratings, oldest first: ``{"rater", "item", "answers", "note", "updated"}``."""
        sql = "SELECT rater, item, answers, note, updated FROM ratings WHERE review = ?"
        params: tuple[Any, ...] = (review_id,)
        if rater is not None:
            sql, params = sql + " AND rater = ?", (review_id, rater)
        rows = self._jobs._execute(sql + " ORDER BY updated, rater, item", params)
        return [{"rater": r, "item": i, "answers": orjson.loads(a), "note": n, "updated": u}
                for r, i, a, n, u in rows]

    def count(self, review_id: str) -> int:
        return self._jobs._execute("SELECT COUNT(*) FROM ratings WHERE review = ?", (review_id,))[0][0]
