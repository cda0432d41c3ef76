"""selfinstruct.io.storage_error: one translation of OSError and SQLite errors, decided by code, not by message."""

from __future__ import annotations

import errno
import sqlite3

import pytest

from selfinstruct.errors import StorageError
from selfinstruct.io import storage_error


def _sqlite_error(code: int | None, text: str) -> sqlite3.Error:
    exc = sqlite3.OperationalError(text)
    if code is not None:
        exc.sqlite_errorcode = code
    return exc


@pytest.mark.parametrize("exc, expected", [
    (OSError(errno.ENOSPC, "No space left on device"), "state: no space left on device (ENOSPC)"),
    (OSError(errno.EACCES, "Permission denied"), "state: Permission denied (EACCES)"),
    (_sqlite_error(sqlite3.SQLITE_FULL, "database or disk is full"),
     "state: no space left on device (database or disk is full)"),
    # The word "full" in a message decides nothing; SQLite's result code does.
    (_sqlite_error(sqlite3.SQLITE_CORRUPT, "table full of garbage"), "state: table full of garbage"),
    (_sqlite_error(None, "Cannot operate on a closed database."), "state: Cannot operate on a closed database."),
])
def test_storage_error_names_the_path_and_decides_by_code(exc, expected):
    err = storage_error("state", exc)
    assert isinstance(err, StorageError) and str(err) == expected


def test_a_real_sqlite_error_from_a_closed_connection():
    conn = sqlite3.connect(":memory:")
    conn.close()
    with pytest.raises(sqlite3.ProgrammingError) as info:
        conn.execute("SELECT 1")
    assert str(storage_error("state", info.value)).startswith("state: ")
