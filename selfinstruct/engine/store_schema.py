"""The checkpoint store's tables and status codes, and the columns an older state file gets on open.

Tables: ``results`` (one row per request id: done or failed, with the answer or
the last error, the model that answered and a hash of the request), ``records``
(free-form rows a pipeline keeps, by kind and key, numbered in commit order by
``seq``) ``meta`` (small key/value settings such as export offsets), and the Batch API's
``batches`` (one row per batch file: recorded before upload, then its file id,
then its batch id, then closed) with ``batch_items`` (which custom_id = request id
went in which batch, the request as asked, the exact input line sent, and how
it came out: done, error, or unfinished).
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
CREATE TABLE IF NOT EXISTS batches (
    key       TEXT PRIMARY KEY,
    seq       INTEGER NOT NULL,
    endpoint  TEXT NOT NULL,
    file_id   TEXT,
    batch_id  TEXT,
    state     TEXT NOT NULL,
    remote    TEXT,
    counts    TEXT,
    recorded  REAL NOT NULL,
    closed    REAL
);
CREATE TABLE IF NOT EXISTS batch_items (
    custom_id TEXT NOT NULL,
    batch_key TEXT NOT NULL,
    request   BLOB NOT NULL,
    line      BLOB NOT NULL,
    outcome   TEXT,
    PRIMARY KEY (custom_id, batch_key)
);
CREATE INDEX IF NOT EXISTS batch_items_batch ON batch_items(batch_key);
"""

# Columns added after the first release; an older state file gets them on open.
ADDED_COLUMNS = {"results": (("model", "TEXT"), ("req_hash", "TEXT"))}
