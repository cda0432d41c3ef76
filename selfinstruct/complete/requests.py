"""The requests of `complete`: one per input line, checked whole against the state before anything is sent.

``scan_input`` reads the file once (lazily; it keeps only each id's line number)
and finds, against the state:
- duplicate ids (an error naming the first few with line numbers, unless the
  caller keeps each id's first line);
- ids whose request changed since it was answered (they are asked again);
- ids in the state that are no longer in the input (they leave the output).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfinstruct.engine.fingerprint import request_digest
from selfinstruct.errors import InputError
from selfinstruct.io import iter_jsonl
from workers.base import Request

__all__ = ["parse_request_line", "InputScan", "scan_input", "changed_ids", "DUPLICATE_POLICIES"]

DUPLICATE_POLICIES = ("error", "first")
_SHOWN = 5


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


@dataclass
class InputScan:
    line_of: dict[str, int] = field(default_factory=dict)   # id -> the line that counts (its first)
    duplicates: int = 0                                     # later lines of an id already seen
    shown: list[tuple[str, int, int]] = field(default_factory=list)  # (id, line, first line), the first few
    changed: list[str] = field(default_factory=list)        # answered, but the request is different now
    removed: list[str] = field(default_factory=list)        # in the state, not in the input any more

    @property
    def total(self) -> int:
        return len(self.line_of)

    def counts(self, rid: str, line: int) -> bool:
        """Is this line the one that counts for its id (not a later duplicate)?"""
        return self.line_of.get(rid) == line


def scan_input(path: Path, endpoint: str | None, store: Any, *, duplicate_ids: str = "error") -> InputScan:
    """Validate every line and compare it with the state (see the module docstring). Blocking: run in a thread."""
    if duplicate_ids not in DUPLICATE_POLICIES:
        raise ValueError(f"duplicate_ids must be one of {DUPLICATE_POLICIES}")
    scan = InputScan()
    name = str(path)
    chunk: list[tuple[str, str | None]] = []

    def compare() -> None:
        scan.changed.extend(_changed(store, chunk))
        chunk.clear()

    for lineno, obj in iter_jsonl(path):
        req = parse_request_line(obj, name, lineno, endpoint)
        first = scan.line_of.get(req.id)
        if first is not None:
            scan.duplicates += 1
            if len(scan.shown) < _SHOWN:
                scan.shown.append((req.id, lineno, first))
            continue
        scan.line_of[req.id] = lineno
        chunk.append((req.id, request_digest(req.to_json())))
        if len(chunk) >= 500:
            compare()
    compare()
    if scan.duplicates and duplicate_ids == "error":
        listed = ", ".join(f"{rid!r} on line {line} (first on line {first})" for rid, line, first in scan.shown)
        more = f" and {scan.duplicates - len(scan.shown)} more" if scan.duplicates > len(scan.shown) else ""
        raise InputError(f"{scan.duplicates} duplicate id(s): {listed}{more}; each id must appear once "
                         f"(--duplicate-ids first keeps each id's first line)", path=name)
    scan.removed = [rid for rid in store.iter_result_ids() if rid not in scan.line_of]
    return scan


def changed_ids(store: Any, requests: Iterable[Request]) -> list[str]:
    """The ids the state answered for another request than the one given now (they must be asked again)."""
    pairs = [(r.id, request_digest(r.to_json())) for r in requests]
    return [rid for i in range(0, len(pairs), 500) for rid in _changed(store, pairs[i:i + 500])]


def _changed(store: Any, pairs: list[tuple[str, str | None]]) -> list[str]:
    recorded = store.request_hashes(rid for rid, _ in pairs)
    return [rid for rid, digest in pairs if rid in recorded and recorded[rid] != digest]
