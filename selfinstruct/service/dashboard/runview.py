"""Read a run directory's files for the data browser, safely while the job runs, and page through them.

The run files are replaced whole by rename (``pipeline.export``), so a reader
opens either the old file or the new one, never a torn line; a file that is not
there yet reads as empty. Parsed rows are cached by (path, mtime, size), so
paging through a large run parses each version of a file once.

A reject's nearest accepted neighbour is computed here, on the page being shown,
with ROUGE-L (``selfinstruct.rouge``) against the run's accepted instructions:
the reject records of the filters carry no neighbour, and those of the
similarity filter name their neighbours in the pool, which includes the seeds.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from selfinstruct.rouge import max_rouge_l
from selfinstruct.runfiles import RunDir

__all__ = ["RunView", "Accepted", "RejectRow", "Page", "read_jsonl"]

_cache: dict[Path, tuple[tuple[int, int], list[dict[str, Any]]]] = {}
_CACHE_FILES = 64


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The rows of a JSONL file ([] while it does not exist); a line that does not parse is skipped."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return []
    key = (st.st_mtime_ns, st.st_size)
    hit = _cache.get(path)
    if hit is not None and hit[0] == key:
        return hit[1]
    rows = []
    with open(path, "rb") as f:
        for line in f:
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError:  # only a hand-edited file has one; show the rest
                continue
            if isinstance(row, dict):
                rows.append(row)
    if len(_cache) >= _CACHE_FILES:
        _cache.pop(next(iter(_cache)))
    _cache[path] = (key, rows)
    return rows


@dataclass(frozen=True, slots=True)
class Accepted:
    instruction: str
    is_classification: bool | None
    instances: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class RejectRow:
    stage: str
    reason: str
    text: str
    neighbour: str | None   # the nearest accepted instruction by ROUGE-L
    rouge_l: float | None
    # What the similarity filter recorded when it rejected the item: its nearest text in the pool then
    # (seeds included) and that score; None for the other reasons.
    pool_neighbour: str | None = None
    pool_rouge_l: float | None = None


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Any]
    total: int      # matching rows
    page: int       # 1-based
    pages: int


def _page(rows: list[Any], page: int, size: int) -> Page:
    pages = max(1, -(-len(rows) // size))
    page = min(max(1, page), pages)
    return Page(rows[(page - 1) * size: page * size], len(rows), page, pages)


class RunView:
    """The accepted and rejected items of one run directory as it is on disk now."""

    def __init__(self, root: Path):
        self.files = RunDir(root)

    def accepted(self, *, query: str = "", page: int = 1, size: int = 25) -> Page:
        instructions = [r["instruction"] for r in read_jsonl(self.files.instructions) if "instruction" in r]
        labels = {r["instruction"]: r.get("is_classification") for r in read_jsonl(self.files.classification)
                  if "instruction" in r}
        instances = {r["instruction"]: r.get("instances") or [] for r in read_jsonl(self.files.instances)
                     if "instruction" in r}
        needle = query.strip().lower()
        rows = [Accepted(text, _label(labels.get(text)), instances.get(text, [])) for text in instructions]
        if needle:
            rows = [a for a in rows if needle in a.instruction.lower()
                    or any(needle in f"{i.get('input', '')} {i.get('output', '')}".lower() for i in a.instances)]
        return _page(rows, page, size)

    def reject_reasons(self) -> Counter[str]:
        return Counter(f"{r.get('stage')}:{r.get('reason')}" for r in read_jsonl(self.files.rejects))

    def rejected(self, *, reason: str = "", query: str = "", page: int = 1, size: int = 25) -> Page:
        rows = read_jsonl(self.files.rejects)
        if reason:
            rows = [r for r in rows if f"{r.get('stage')}:{r.get('reason')}" == reason]
        needle = query.strip().lower()
        if needle:
            rows = [r for r in rows if needle in str(r.get("text", "")).lower()]
        shown = _page(rows, page, size)
        accepted = [r["instruction"] for r in read_jsonl(self.files.instructions) if "instruction" in r]
        texts = [str(r.get("text", "")) for r in shown.items]
        scores, best = max_rouge_l(texts, accepted)
        items = [RejectRow(str(r.get("stage", "")), str(r.get("reason", "")), text,
                           accepted[int(b)] if b >= 0 and text else None,
                           float(s) if b >= 0 and text else None, *_recorded(r))
                 for r, text, s, b in zip(shown.items, texts, scores, best)]
        return Page(items, shown.total, shown.page, shown.pages)


def _recorded(row: dict[str, Any]) -> tuple[str | None, float | None]:
    similar = row.get("most_similar")
    if not isinstance(similar, dict) or not similar:
        return None, None
    text, score = max(similar.items(), key=lambda kv: kv[1] if isinstance(kv[1], (int, float)) else -1)
    return str(text), float(score) if isinstance(score, (int, float)) else None


def _label(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):  # the original's files say "Yes"/"No"
        return value.strip().lower().startswith("y")
    return None
