"""The items a review rates: content ids, reading them from a run or a JSONL file, and the seeded sample.

An item is one accepted ``instruction`` / ``input`` / ``output`` row. Its id is a
hash of those three texts, so it names the content, not a line number. The
sample sorts the distinct items by id and draws ``size`` of them with
``random.Random(seed)``: the same data, size and seed give the same items, in
the same order, however the file's lines are ordered.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfinstruct.errors import InputError
from selfinstruct.runfiles import RunDir

__all__ = ["Item", "item_id", "sample_items", "read_items", "run_items"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Item:
    id: str
    instruction: str
    input: str
    output: str

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "instruction": self.instruction, "input": self.input, "output": self.output}


def item_id(instruction: str, input: str, output: str) -> str:
    """12 hex digits of SHA-256 over the three texts as a JSON list, so no two ways of splitting text collide."""
    digest = hashlib.sha256(json.dumps([instruction, input, output], ensure_ascii=False).encode("utf-8"))
    return digest.hexdigest()[:12]


def make_item(instruction: str, input: str, output: str) -> Item:
    return Item(id=item_id(instruction, input, output), instruction=instruction, input=input, output=output)


def sample_items(items: Iterable[Item], size: int, seed: int) -> list[Item]:
    """``size`` distinct items (all of them when fewer), drawn reproducibly from the items sorted by id."""
    pool = sorted({item.id: item for item in items}.values(), key=lambda item: item.id)
    return random.Random(seed).sample(pool, min(size, len(pool)))


def _text(obj: dict[str, Any], key: str, path: str, line: int) -> str:
    value = obj.get(key, "")
    if not isinstance(value, str):
        raise InputError(f"{key!r} must be a string", path=path, line=line)
    return value


def read_items(path: str | os.PathLike[str]) -> list[Item]:
    """Items from a JSONL file of ``instruction``/``input``/``output`` rows (e.g. all_generated_instances.jsonl)."""
    from selfinstruct.io import iter_jsonl

    p = str(path)
    items = []
    for line, obj in iter_jsonl(p):
        if not isinstance(obj.get("instruction"), str) or not obj["instruction"].strip():
            raise InputError("each row needs a non-empty string 'instruction'", path=p, line=line)
        items.append(make_item(obj["instruction"], _text(obj, "input", p, line), _text(obj, "output", p, line)))
    return items


def run_items(run_dir: Path) -> list[Item]:
    """A run's accepted items: its training export when written, else the instances file (a job still running).

    The export holds the generated rows that passed the last filters; before the
    first export the raw instances file is the best view of what was accepted.
    """
    from selfinstruct.io import iter_jsonl

    run = RunDir(Path(run_dir))
    if run.all_generated.is_file():
        return read_items(run.all_generated)
    if not run.instances.is_file():
        return []
    items = []
    for line, obj in iter_jsonl(run.instances):
        instruction = obj.get("instruction")
        if not isinstance(instruction, str):
            raise InputError("each row needs a string 'instruction'", path=str(run.instances), line=line)
        for inst in obj.get("instances") or []:
            if isinstance(inst, dict):
                items.append(make_item(instruction, str(inst.get("input", "")), str(inst.get("output", ""))))
    return items
