"""File I/O shared by every area: JSON/JSONL reading with file:line errors, atomic and durable writes.

Reading is lazy (a generator) so a million-line input costs one line of memory.
Writing is either atomic (temp file + fsync + rename: a reader sees the old
file or the new one, never half) or append + fsync for logs. ``storage_error`` turns an OSError or a
SQLite error (disk full, permission) into the one StorageError that names the path.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import orjson

from selfinstruct.errors import InputError, StorageError

if TYPE_CHECKING:  # sqlite3 itself is not imported: the pure stages read files through this module
    import sqlite3

__all__ = [
    "iter_jsonl",
    "read_json_records",
    "dumps_line",
    "write_jsonl_atomic",
    "atomic_file",
    "write_json_atomic",
    "write_text_atomic",
    "append_lines_durable",
    "fsync_dir",
    "storage_error",
]


def iter_jsonl(path: str | os.PathLike[str], *, require_object: bool = True) -> Iterator[tuple[int, Any]]:
    """Yield (line_number, value) for each non-blank line; malformed JSON raises InputError(file:line)."""
    p = Path(path)
    try:
        fh = p.open("rb")
    except FileNotFoundError as exc:
        raise InputError("file not found", path=str(p)) from exc
    except OSError as exc:
        raise InputError(f"cannot open: {exc.strerror}", path=str(p)) from exc
    with fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                value = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise InputError(f"invalid JSON: {exc}", path=str(p), line=lineno) from exc
            if require_object and not isinstance(value, dict):
                raise InputError(f"expected a JSON object, got {type(value).__name__}", path=str(p), line=lineno)
            yield lineno, value


def read_json_records(path: str | os.PathLike[str]) -> list[tuple[int, dict[str, Any]]]:
    """Read a JSON array of objects or a JSONL file; return (line_or_index, record) pairs.

    For a JSON array the first number is the 1-based position in the array.
    """
    p = Path(path)
    try:
        head = p.open("rb").read(4096).lstrip()
    except FileNotFoundError as exc:
        raise InputError("file not found", path=str(p)) from exc
    if head.startswith(b"["):
        try:
            data = orjson.loads(p.read_bytes())
        except orjson.JSONDecodeError as exc:
            raise InputError(f"invalid JSON array: {exc}", path=str(p)) from exc
        out = []
        for i, rec in enumerate(data, start=1):
            if not isinstance(rec, dict):
                raise InputError(f"array item {i} is {type(rec).__name__}, expected an object", path=str(p))
            out.append((i, rec))
        return out
    return list(iter_jsonl(p))


def dumps_line(obj: Any) -> bytes:
    """One JSONL line (with the newline). Non-ASCII kept as UTF-8."""
    return orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE | orjson.OPT_SERIALIZE_NUMPY)


_SQLITE_FULL = 13  # sqlite3.SQLITE_FULL


def storage_error(path: str | os.PathLike[str], exc: OSError | sqlite3.Error) -> StorageError:
    """The StorageError for an OSError or SQLite error on ``path``: names the file, and says "no space left on
    device" for ENOSPC or SQLITE_FULL. Decided by errno and SQLite's result code, never by the message text."""
    if not isinstance(exc, OSError):  # a sqlite3.Error
        # Errors sqlite3 raises itself (a closed connection) carry no result code.
        if getattr(exc, "sqlite_errorcode", None) == _SQLITE_FULL:
            return StorageError(f"{path}: no space left on device ({exc})")
        return StorageError(f"{path}: {exc}")
    if exc.errno == errno.ENOSPC:
        return StorageError(f"{path}: no space left on device (ENOSPC)")
    code = errno.errorcode.get(exc.errno or 0)
    return StorageError(f"{path}: {exc.strerror or exc}" + (f" ({code})" if code else ""))


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """fsync a directory so a rename inside it survives a crash."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Write a file atomically: the body writes a temp file beside ``path``; on a clean exit it is fsynced
    and renamed over ``path``, so a reader sees the old file or the new one, never a torn one. An OSError
    becomes a StorageError naming ``path``; on any failure the temp file is removed."""
    p = Path(path)
    tmp = p.with_name(f".{p.name}.tmp-{os.getpid()}")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise storage_error(p, exc) from exc
        raise
    fsync_dir(p.parent)


def write_text_atomic(path: str | os.PathLike[str], data: bytes | str) -> None:
    """Write the whole file atomically (see ``atomic_file``)."""
    with atomic_file(path) as fh:
        fh.write(data.encode() if isinstance(data, str) else data)


def write_jsonl_atomic(path: str | os.PathLike[str], records: Iterable[Any]) -> int:
    """Write records as JSONL atomically; return how many were written."""
    chunks = [dumps_line(r) for r in records]
    write_text_atomic(path, b"".join(chunks))
    return len(chunks)


def write_json_atomic(path: str | os.PathLike[str], obj: Any, *, indent: bool = True) -> None:
    opt = orjson.OPT_INDENT_2 if indent else 0
    write_text_atomic(path, orjson.dumps(obj, option=opt | orjson.OPT_SERIALIZE_NUMPY) + b"\n")


def append_lines_durable(path: str | os.PathLike[str], lines: Iterable[bytes]) -> int:
    """Append already-encoded lines and fsync; return the file size afterwards."""
    p = Path(path)
    try:
        with open(p, "ab") as fh:
            for line in lines:
                fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
            return fh.tell()
    except OSError as exc:
        raise storage_error(p, exc) from exc
