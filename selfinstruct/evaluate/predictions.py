"""Read prediction files and join each answer to its evaluation task (for the app and, if needed, the target).

A prediction file is JSONL with at least ``response``; ``target`` and
``instruction`` are expected too. Our own files carry ``id``; the vendored
baselines do not, but they list the tasks in the task file's order, so a record
is matched by ``id`` first, then by position (when the instruction agrees), then
by a unique instruction text.  Two records that resolve to the same task are an
error (a file holding every prediction twice would otherwise count each task twice).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from selfinstruct.errors import InputError
from selfinstruct.evaluate.tasks import UNKNOWN_APP, EvalTask
from selfinstruct.io import iter_jsonl

__all__ = ["ScoredPair", "ModelPredictions", "model_name_from_path", "load_predictions"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class ScoredPair:
    """One (response, target) pair to score, both stripped of surrounding whitespace."""

    id: str
    motivation_app: str
    instruction: str
    response: str
    target: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelPredictions:
    name: str
    path: str
    pairs: tuple[ScoredPair, ...]


def model_name_from_path(path: str | os.PathLike[str]) -> str:
    """`foo_predictions.jsonl` -> `foo`; any other stem is used as is."""
    stem = Path(path).name
    for suffix in (".jsonl", ".json"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    return stem[: -len("_predictions")] if stem.endswith("_predictions") and stem != "_predictions" else stem


def _norm(text: str) -> str:
    return " ".join(text.split())


def _text(rec: dict, key: str, *, path: str, line: int, required: bool) -> str | None:
    value = rec.get(key)
    if value is None:
        if required:
            raise InputError(f"missing field {key!r}", path=path, line=line)
        return None
    if not isinstance(value, str):
        raise InputError(f"field {key!r} must be a string, got {type(value).__name__}", path=path, line=line)
    return value


def load_predictions(path: str | os.PathLike[str], tasks: list[EvalTask]) -> ModelPredictions:
    """Read one prediction file and join it to ``tasks``; a record with no target anywhere is an error."""
    p = str(path)
    by_id = {t.id: t for t in tasks}
    by_text: dict[str, list[EvalTask]] = {}
    for t in tasks:
        by_text.setdefault(_norm(t.instruction), []).append(t)

    pairs: list[ScoredPair] = []
    first_line: dict[str, int] = {}
    unmatched = 0
    for position, (line, rec) in enumerate(iter_jsonl(path)):
        response = _text(rec, "response", path=p, line=line, required=True)
        target = _text(rec, "target", path=p, line=line, required=False)
        instruction = _text(rec, "instruction", path=p, line=line, required=False) or ""
        rec_id = rec.get("id")

        task: EvalTask | None = None
        if isinstance(rec_id, str) and rec_id in by_id:
            task = by_id[rec_id]
        elif position < len(tasks) and _norm(tasks[position].instruction) == _norm(instruction):
            task = tasks[position]
        elif len(by_text.get(_norm(instruction), ())) == 1:
            task = by_text[_norm(instruction)][0]

        if target is None:
            if task is None:
                raise InputError("no 'target' and no matching task to take it from", path=p, line=line)
            target = task.target
        app = rec.get("motivation_app")
        if not isinstance(app, str) or not app.strip():
            app = task.motivation_app if task is not None else UNKNOWN_APP
        if task is None:
            unmatched += 1
        pair_id = rec_id if isinstance(rec_id, str) else (task.id if task is not None else f"line_{line}")
        if pair_id in first_line:
            raise InputError(f"duplicate prediction for task {pair_id!r} (first at line {first_line[pair_id]}); "
                             "each task may be predicted once", path=p, line=line)
        first_line[pair_id] = line
        pairs.append(ScoredPair(
            id=pair_id,
            motivation_app=app.strip(),
            instruction=(instruction or (task.instruction if task else "")).strip(),
            response=response.strip(),
            target=target.strip(),
        ))
    if not pairs:
        raise InputError("no predictions in file", path=p)
    if unmatched:
        log.warning("%s: %d of %d predictions matched no task; their app is %r", p, unmatched, len(pairs), UNKNOWN_APP)
    return ModelPredictions(name=model_name_from_path(path), path=p, pairs=tuple(pairs))
