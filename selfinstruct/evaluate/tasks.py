"""The evaluation tasks: load and validate them, and build the prediction record both prediction paths write.

A task file holds one JSON object per line, shaped like the paper's
user-oriented tasks: ``id``, ``motivation_app``, ``instruction`` and
``instances`` (a list of ``{input, output}``). Each instance becomes one
``EvalTask``; the human-written ``output`` is the target the answer is scored
against (never another model's answer).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfinstruct.errors import InputError
from selfinstruct.formats import user_content
from selfinstruct.io import iter_jsonl

__all__ = [
    "EvalTask",
    "REPO_ROOT",
    "DEFAULT_TASKS_PATH",
    "BASELINE_PREDICTIONS_DIR",
    "load_tasks",
    "prediction_record",
    "baseline_prediction_files",
]

# The repository root is the parent of the `selfinstruct` package directory, so
# the vendored data is found from any working directory.
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TASKS_PATH = REPO_ROOT / "data" / "human_eval" / "user_oriented_instructions.jsonl"
BASELINE_PREDICTIONS_DIR = REPO_ROOT / "data" / "human_eval" / "predictions"

UNKNOWN_APP = "unknown"


@dataclass(frozen=True, kw_only=True, slots=True)
class EvalTask:
    """One (instruction, input) to answer, with its human-written target."""

    id: str
    motivation_app: str
    instruction: str
    input: str
    target: str

    @property
    def user_turn(self) -> str:
        """The user message the model sees (same layout as training)."""
        return user_content(self.instruction, self.input)


def _require_str(rec: dict[str, Any], key: str, *, path: str, line: int, allow_empty: bool = False) -> str:
    value = rec.get(key)
    if not isinstance(value, str):
        raise InputError(f"field {key!r} must be a string, got {type(value).__name__}", path=path, line=line)
    if not allow_empty and not value.strip():
        raise InputError(f"field {key!r} is empty", path=path, line=line)
    return value


def load_tasks(path: str | os.PathLike[str] = DEFAULT_TASKS_PATH) -> list[EvalTask]:
    """Read and validate a task file; errors name file:line. A task with k>1 instances yields k tasks."""
    p = str(path)
    tasks: list[EvalTask] = []
    seen: dict[str, int] = {}
    for line, rec in iter_jsonl(path):
        task_id = _require_str(rec, "id", path=p, line=line)
        if task_id in seen:
            raise InputError(f"duplicate id {task_id!r} (first on line {seen[task_id]})", path=p, line=line)
        seen[task_id] = line
        instruction = _require_str(rec, "instruction", path=p, line=line)
        app = rec.get("motivation_app", UNKNOWN_APP)
        if not isinstance(app, str) or not app.strip():
            raise InputError("field 'motivation_app' must be a non-empty string", path=p, line=line)
        instances = rec.get("instances")
        if not isinstance(instances, list) or not instances:
            raise InputError("field 'instances' must be a non-empty list", path=p, line=line)
        for k, inst in enumerate(instances):
            if not isinstance(inst, dict):
                raise InputError(f"instances[{k}] must be an object", path=p, line=line)
            inp = inst.get("input", "")
            out = inst.get("output")
            if not isinstance(inp, str):
                raise InputError(f"instances[{k}].input must be a string", path=p, line=line)
            if not isinstance(out, str) or not out.strip():
                raise InputError(f"instances[{k}].output must be a non-empty string", path=p, line=line)
            tasks.append(EvalTask(
                id=task_id if len(instances) == 1 else f"{task_id}#{k}",
                motivation_app=app.strip(),
                instruction=instruction.strip(),
                input=inp.strip(),
                target=out.strip(),
            ))
    if not tasks:
        raise InputError("no tasks in file", path=p)
    return tasks


def prediction_record(task: EvalTask, response_text: str) -> dict[str, Any]:
    """The JSONL record for one answer, with the same fields as the vendored baseline files plus id/app.

    ``prompt`` is the user turn (the chat template is model-specific and not part of the record).
    """
    return {
        "id": task.id,
        "motivation_app": task.motivation_app,
        "prompt": task.user_turn,
        "instruction": task.instruction,
        "input": task.input,
        "response": response_text.strip(),
        "target": task.target,
    }


def baseline_prediction_files() -> list[Path]:
    """The vendored Davinci-family prediction files, sorted by name."""
    files = sorted(BASELINE_PREDICTIONS_DIR.glob("*_predictions.jsonl"))
    if not files:
        raise InputError("no *_predictions.jsonl files found", path=str(BASELINE_PREDICTIONS_DIR))
    return files
