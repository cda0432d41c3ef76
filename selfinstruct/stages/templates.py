"""The prompt texts of the four Self-Instruct stages: exact header strings, and loaders for the data files.

The headers are Python constants because other parts of the system (the
simulated LM in particular) recognise a prompt by them, so they must never
drift.  The long few-shot bodies live in ``selfinstruct/templates/`` as plain
text/JSON, our own wording in the structure of the paper's Tables 5-8
(arXiv 2212.10560, appendix A.4).  Files are read once through
importlib.resources, so they work from any working directory and from a
non-editable install.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

__all__ = [
    "INSTRUCTION_HEADER",
    "CLF_INSTRUCTION_HEADER",
    "CLASSIFICATION_HEADER",
    "CLASSIFICATION_QUESTION",
    "INPUT_FIRST_HEADER",
    "OUTPUT_FIRST_HEADER",
    "template_text",
    "classification_examples",
    "input_first_demos",
    "output_first_demos",
    "finetuning_templates",
    "chat_instruction",
]

# Table 5: instruction generation (plain and classification-only).
INSTRUCTION_HEADER = "Come up with a series of tasks:\n"
CLF_INSTRUCTION_HEADER = (
    "Come up with a series of classification tasks. "
    "Try to specify the possible output labels when possible.\n"
)
# Table 6: is the task a classification task?
CLASSIFICATION_HEADER = "Can the following task be regarded as a classification task with finite output labels?\n\n"
CLASSIFICATION_QUESTION = "Is it classification?"
# Table 7: input-first instance generation.
INPUT_FIRST_HEADER = (
    "Come up with examples for the following tasks. Try to generate multiple examples when possible. "
    "If the task doesn't require additional input, you can generate the output directly.\n\n"
)
# Table 8: output-first instance generation (classification tasks).
OUTPUT_FIRST_HEADER = (
    "Given the classification task definition and the class labels, generate an input that corresponds "
    "to each of the class labels. If the task doesn't require input, just generate possible class labels.\n\n"
)


@functools.cache
def template_text(name: str) -> str:
    """The text of ``selfinstruct/templates/<name>`` (read once per process)."""
    return resources.files("selfinstruct").joinpath("templates", name).read_text(encoding="utf-8")


@functools.cache
def _json(name: str) -> Any:
    return json.loads(template_text(name))


@functools.cache
def classification_examples() -> tuple[tuple[str, bool], ...]:
    """The 31 (instruction, is_classification) few-shot examples of the Table 6 prompt."""
    rows = []
    for line in template_text("clf_examples.jsonl").splitlines():
        if line.strip():
            obj = json.loads(line)
            rows.append((obj["instruction"], bool(obj["is_classification"])))
    return tuple(rows)


def input_first_demos() -> str:
    """The Table 7 demonstrations, tasks separated by a blank line, no trailing newline."""
    return template_text("input_first_demos.txt").strip("\n")


def output_first_demos() -> str:
    """The Table 8 demonstrations, tasks separated by a blank line, no trailing newline."""
    return template_text("output_first_demos.txt").strip("\n")


@functools.cache
def finetuning_templates() -> dict[str, tuple[tuple[str, str], ...]]:
    """The original's (prompt, completion) encodings: keys ``with_input`` and ``without_input``."""
    raw = _json("finetuning_templates.json")
    return {key: tuple((p, c) for p, c in raw[key]) for key in ("with_input", "without_input")}


def chat_instruction(stage: str) -> str:
    """The system message that tells a chat model to continue a stage's prompt in its format.

    ``stage`` is one of instruction_generation, classification, input_first, output_first.
    """
    return _json("chat_instructions.json")[stage]
