"""The checkpoint store's tables and status codes, and the columns an older state file gets on open.

Tables: ``results`` (one row per request id: done or failed, with the answer or
the last error, the model that answered and a hash of the request), ``records``
(free-form rows a pipeline keeps, by kind and key, numbered in commit order by
``seq``) and ``meta`` (small key/value settings such as export offsets).
"""

from __future__ import annotations

__all__ = ["DONE", "FAILED", "SCHEMA", "ADDED_COLUMNS"]

DONE = 1
FAILED = 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    id        TEXT PRIMARY KEY,
    status    INTEGER NOT NULL,
    request   BLOB,
    response  BLOB,
    error     TEXT,
    attempts  INTEGER NOT NULL DEFAULT 0,
    done_seq  INTEGER,
    model     TEXT,
    req_hash  TEXT
);
CREATE INDEX IF NOT EXISTS results_done_seq ON results(done_seq);
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL,
    key  TEXT NOT NULL,
    seq  INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE INDEX IF NOT EXISTS records_kind_seq ON records(kind, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

# Columns added after the first release; an older state file gets them on open.
ADDED_COLUMNS = {"results": (("model", "TEXT"), ("req_hash", "TEXT"))}
