"""One writer per state: an exclusive OS lock (flock) on a lock file that holds the owner's pid.

Every run takes its state's lock here, through the run harness (`harness`); `serve` takes its own.
The kernel drops a flock when its process dies, even by SIGKILL, so a crash
never leaves a stale lock behind; the pid in the file is only there to tell the
second run who holds it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from selfinstruct.errors import ConfigError, StorageError

__all__ = ["lock_file", "state_lock_path"]


def state_lock_path(state: Path) -> Path:
    """``runs/out.state.sqlite3`` -> ``runs/out.state.sqlite3.lock``."""
    return state.with_name(state.name + ".lock")


def lock_file(path: Path, *, in_use: str, hint: str = "") -> IO[bytes]:
    """Take an exclusive, non-blocking lock on ``path`` (created if missing) and write our pid into it.

    Returns the open file: the lock lasts until it is closed (or the process ends).
    When another process holds it, raises ConfigError ``"<in_use> (pid N); <hint>"`` at once.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = path.open("a+b")
    except OSError as exc:
        raise StorageError(f"{path}: cannot create the lock file: {exc.strerror or exc}") from exc
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        try:
            fh.seek(0)
            pid = fh.read(32).decode("ascii", "replace").strip() or "unknown"
        finally:
            fh.close()
        raise ConfigError(f"{in_use} (pid {pid})" + (f"; {hint}" if hint else "")) from exc
    try:
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n".encode())
        fh.flush()
    except OSError as exc:
        fh.close()
        raise StorageError(f"{path}: cannot write the lock file: {exc.strerror or exc}") from exc
    return fh
