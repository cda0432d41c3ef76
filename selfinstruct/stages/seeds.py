"""Seed tasks: the typed record, validation of one JSON line, and loading a seed file with file:line errors.

Format (one JSON object per line, as in the original ``data/seed_tasks.jsonl``)::

    {"id": "seed_task_0", "name": "...", "instruction": "...",
     "instances": [{"input": "...", "output": "..."}], "is_classification": false}

``instruction`` is required; ``id`` defaults to ``seed_line_<N>``, ``name`` to "",
``instances`` to [] and ``is_classification`` to False.  Unknown keys are
ignored, so Alpaca-style seed files load too.  A repeated instruction (same
text up to whitespace) is kept once, with a warning naming both lines, so the
prompt pool and the ``--include-seed-tasks`` training rows hold it once.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from selfinstruct.errors import InputError
from selfinstruct.io import iter_jsonl
from selfinstruct.stages.base import Instance

__all__ = ["SeedTask", "parse_seed_record", "load_seed_tasks", "parse_seed_list", "default_seed_path"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class SeedTask:
    id: str
    name: str
    instruction: str
    instances: tuple[Instance, ...]
    is_classification: bool


def parse_seed_record(obj: Any, *, path: str, line: int) -> SeedTask:
    """Validate one decoded line; every problem raises InputError naming ``path:line`` and the key."""

    def fail(message: str) -> InputError:
        return InputError(message, path=path, line=line)

    if not isinstance(obj, dict):
        raise fail(f"expected a JSON object, got {type(obj).__name__}")
    if "instruction" not in obj:
        raise fail("missing key 'instruction'")
    instruction = obj["instruction"]
    if not isinstance(instruction, str) or not instruction.strip():
        raise fail("'instruction' must be a non-empty string")
    task_id = obj.get("id", f"seed_line_{line}")
    if isinstance(task_id, int) and not isinstance(task_id, bool):
        task_id = str(task_id)
    if not isinstance(task_id, str) or not task_id:
        raise fail("'id' must be a non-empty string")
    name = obj.get("name", "")
    if not isinstance(name, str):
        raise fail("'name' must be a string")
    is_clf = obj.get("is_classification", False)
    if not isinstance(is_clf, bool):
        raise fail(f"'is_classification' must be true or false, got {is_clf!r}")
    raw_instances = obj.get("instances", [])
    if not isinstance(raw_instances, list):
        raise fail("'instances' must be a list of {\"input\", \"output\"} objects")
    instances = []
    for i, inst in enumerate(raw_instances):
        if not isinstance(inst, dict):
            raise fail(f"instances[{i}] must be an object with string 'input' and 'output'")
        for key in ("input", "output"):
            if not isinstance(inst.get(key), str):
                raise fail(f"instances[{i}].{key} must be a string")
        instances.append(Instance(inst["input"], inst["output"]))
    return SeedTask(id=task_id, name=name, instruction=instruction, instances=tuple(instances),
                    is_classification=is_clf)


def load_seed_tasks(path: str | os.PathLike[str]) -> list[SeedTask]:
    """Read and validate a seed file; raises InputError(path=, line=) on the first bad line.

    An empty file is an error too: without seeds there is nothing to bootstrap from.
    """
    p = str(path)
    tasks: list[SeedTask] = []
    first_line: dict[str, int] = {}
    instruction_line: dict[str, int] = {}
    for lineno, obj in iter_jsonl(p, require_object=False):
        task = parse_seed_record(obj, path=p, line=lineno)
        if task.id in first_line:
            raise InputError(f"duplicate id {task.id!r} (first seen on line {first_line[task.id]})",
                             path=p, line=lineno)
        first_line[task.id] = lineno
        text = " ".join(task.instruction.split())
        if text in instruction_line:
            log.warning("%s:%d: duplicate seed instruction (same as line %d); it is used and exported once",
                        p, lineno, instruction_line[text])
            continue
        instruction_line[text] = lineno
        tasks.append(task)
    if not tasks:
        raise InputError("no seed tasks in file", path=p)
    return tasks


def parse_seed_list(records: Any, *, source: str) -> list[SeedTask]:
    """Validate seed tasks given as a list of objects (a job spec's inline seeds), with a seed file's messages.

    Item N (from 1) is reported as ``source:N``, as line N of the JSONL file the list is written to.
    """
    if not isinstance(records, list):
        raise InputError("seed tasks must be a list of objects", path=source)
    tasks: list[SeedTask] = []
    first_line: dict[str, int] = {}
    for lineno, obj in enumerate(records, start=1):
        task = parse_seed_record(obj, path=source, line=lineno)
        if task.id in first_line:
            raise InputError(f"duplicate id {task.id!r} (first seen on line {first_line[task.id]})",
                             path=source, line=lineno)
        first_line[task.id] = lineno
        tasks.append(task)
    if not tasks:
        raise InputError("no seed tasks in the list", path=source)
    return tasks


def default_seed_path() -> Path:
    """The 175 seed tasks: ``data/seed_tasks.jsonl`` next to the package in a checkout,
    else the byte-identical copy shipped inside the package (non-editable installs)."""
    package_dir = Path(__file__).resolve().parent.parent
    checkout_copy = package_dir.parent / "data" / "seed_tasks.jsonl"
    if checkout_copy.is_file():
        return checkout_copy
    return Path(str(resources.files("selfinstruct").joinpath("templates", "seed_tasks.jsonl")))
