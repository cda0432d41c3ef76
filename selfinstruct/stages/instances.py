"""Stage 3: build the instance-generation prompt (input-first, Table 7; output-first, Table 8),
parse the answer into input/output pairs, and apply the original's instance filters.

Parsing follows the original ``prepare_for_finetuning.py``:

* input-first: split on ``Example\\s?\\d*\\.?``; in each piece the text before
  ``Output\\s*\\d*\\s*:`` is the input (a leading ``Input:`` is stripped, but a
  generic field label such as ``Sentence:`` is *kept*, as in the original, whose
  GPT-3 export later strips a single field label half of the time), and the text
  after it is the output (cut at a following ``Input\\s*\\d*\\s*:``).  A piece
  with no ``Output:`` is all output.  No ``Example`` but an ``Output:`` gives one
  instance; neither gives none.
* output-first: split on ``Class label:``; in each piece the first line is the
  label (the output) and the rest is the input (field labels kept, as above).

A ``length`` finish drops the last instance.  Chat answers are tidied first:
code fences, bold format labels, an echoed ``Task:`` line, a preamble and a
trailing sign-off are removed.

Instance filter reason codes: ``input_equals_output``, ``empty_output``,
``ends_with_colon`` (per instance), ``duplicate`` (an identical pair seen
before), ``conflicting_outputs`` (one input with different outputs: the whole
task is dropped), ``no_instances`` (nothing usable left for the task).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from selfinstruct.stages import _markup
from selfinstruct.stages.base import Instance, Prompt, chat_messages, check_endpoint
from selfinstruct.stages.protocol import Answer, Ask, Outcome, Record, Reject, RunState, instruction_key
from selfinstruct.stages.templates import (
    INPUT_FIRST_HEADER,
    OUTPUT_FIRST_HEADER,
    chat_instruction,
    input_first_demos,
    output_first_demos,
)

__all__ = [
    "instance_params",
    "build_instance_prompt",
    "parse_input_first",
    "parse_output_first",
    "parse_instances",
    "check_instance",
    "InstanceFilterResult",
    "filter_instances",
    "process_instances",
    "InstancesStage",
]

def instance_params(endpoint: str, *, is_classification: bool, max_instances: int = 5) -> dict:
    """The original generate_instances.py request (fresh dict): greedy, presence penalty 1.5,
    350 tokens (300 for the longer classification prompt), stop before example max+1 or a new task.

    Chat drops the "Task:" stop: a chat model that echoes the task line first
    would be stopped before writing anything; the parser removes the echo instead.
    """
    params: dict = {
        "max_tokens": 300 if is_classification else 350,
        "temperature": 0,
        "top_p": 0,
        "presence_penalty": 1.5,
        "frequency_penalty": 0,
        "stop": [f"Example {max_instances + 1}", "Task:"],
        "n": 1,
    }
    if check_endpoint(endpoint) == "chat":
        params["stop"] = [f"Example {max_instances + 1}"]
    return params


def build_instance_prompt(instruction: str, *, is_classification: bool, endpoint: str = "completions",
                          max_instances: int = 5) -> Prompt:
    """Output-first (Table 8) for classification tasks, input-first (Table 7) otherwise."""
    check_endpoint(endpoint)
    if is_classification:
        header, demos, stage = OUTPUT_FIRST_HEADER, output_first_demos(), "output_first"
    else:
        header, demos, stage = INPUT_FIRST_HEADER, input_first_demos(), "input_first"
    text = f"{header}{demos}\n\nTask: {instruction.strip()}\n"
    messages = chat_messages(chat_instruction(stage), text) if endpoint == "chat" else None
    return Prompt(text=text, messages=messages,
                  params=instance_params(endpoint, is_classification=is_classification,
                                         max_instances=max_instances))


# ---------------------------------------------------------------- parsing

_EXAMPLE = re.compile(r"Example\s?\d*\.?")
_OUTPUT = re.compile(r"Output\s*\d*\s*:")
_INPUT = re.compile(r"Input\s*\d*\s*:")
_INPUT_PREFIX = re.compile(r"^Input\s*\d*\s*:")
_CLASS_LABEL = re.compile(r"Class\s?label\s*:", re.IGNORECASE)
# "**Output:**", "**Example 2**", "**Class label**:" -> the bare label.
_BOLD_LABEL = re.compile(r"(?:\*\*|__)(Example\s?\d*\.?|Output\s*\d*\s*:?|Input\s*\d*\s*:?|Class\s?label\s*:?)"
                         r"\s*(?:\*\*|__)", re.IGNORECASE)


def _tidy(text: str | None) -> str:
    """Remove chat wrapping around an answer in the demonstrated format."""
    if not isinstance(text, str):
        return ""
    text = _markup.drop_code_fences(_markup.normalize_newlines(text))
    text = _BOLD_LABEL.sub(lambda m: m.group(1), text)
    lines = text.split("\n")
    while lines and (not lines[0].strip() or lines[0].lstrip().startswith("Task:") or _markup.is_preamble(lines[0])):
        lines.pop(0)
    # A later "Task:" line starts an invented next task (completions would have stopped there).
    for i, line in enumerate(lines):
        if line.lstrip().startswith("Task:"):
            lines = lines[:i]
            break
    # A trailing paragraph that opens with a sign-off is commentary.
    for i in range(1, len(lines)):
        if not lines[i - 1].strip() and _markup.is_sign_off(lines[i]):
            lines = lines[: i - 1]
            break
    return "\n".join(lines).strip()


def _input_output(piece: str) -> Instance:
    if _OUTPUT.search(piece):
        parts = _OUTPUT.split(piece)
        inst_input, inst_output = parts[0].strip(), parts[1].strip()
    else:
        inst_input, inst_output = "", piece.strip()
    # Several pairs run together: keep the first output only.
    inst_output = _INPUT.split(inst_output)[0].strip()
    inst_input = _INPUT_PREFIX.sub("", inst_input).strip()
    return Instance(inst_input, inst_output)


def _drop_last_if_cut(instances: list[Instance], finish_reason: str | None) -> list[Instance]:
    return instances[:-1] if finish_reason == "length" else instances


def parse_input_first(text: str | None, finish_reason: str | None = None) -> list[Instance]:
    """Instances from a Table 7 answer (see the module docstring for the exact rules)."""
    raw = _tidy(text)
    if _EXAMPLE.search(raw):
        pieces = [p.strip() for p in _EXAMPLE.split(raw) if p.strip()]
        instances = [_input_output(p) for p in pieces]
    elif _OUTPUT.search(raw):
        instances = [_input_output(raw)]
    else:
        return []
    return _drop_last_if_cut(instances, finish_reason)


def parse_output_first(text: str | None, finish_reason: str | None = None) -> list[Instance]:
    """Instances from a Table 8 answer: ``Class label: <label>`` then the input on the next lines."""
    raw = _tidy(text)
    pieces = _CLASS_LABEL.split(raw)
    if len(pieces) < 2:
        return []
    instances = []
    for piece in pieces[1:]:
        label, _, rest = piece.strip().partition("\n")
        instances.append(Instance(rest.strip(), label.strip()))
    return _drop_last_if_cut(instances, finish_reason)


def parse_instances(text: str | None, finish_reason: str | None = None, *,
                    is_classification: bool) -> list[Instance]:
    """The parser that matches the prompt format the task was given."""
    if is_classification:
        return parse_output_first(text, finish_reason)
    return parse_input_first(text, finish_reason)


# ---------------------------------------------------------------- filters

def check_instance(instance: Instance) -> str | None:
    """The original's per-instance rules; the reason code, or None when the instance is fine."""
    if instance.input == instance.output:
        return "input_equals_output"
    if not instance.output.strip():
        return "empty_output"
    # A trailing colon is almost always a generation cut short before the content.
    if instance.input.strip().endswith(":") or instance.output.strip().endswith(":"):
        return "ends_with_colon"
    return None


@dataclass(frozen=True, slots=True)
class InstanceFilterResult:
    """``kept`` in first-seen order; ``rejected`` as (instance, reason); ``task_reason`` is set when
    the task ends with nothing usable (``conflicting_outputs`` or ``no_instances``)."""

    kept: list[Instance]
    rejected: list[tuple[Instance, str]] = field(default_factory=list)
    task_reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.task_reason is None


def filter_instances(instances: Iterable[Instance]) -> InstanceFilterResult:
    """Per-instance rules, then the task-level conflict rule, then exact de-duplication."""
    valid: list[Instance] = []
    rejected: list[tuple[Instance, str]] = []
    for inst in instances:
        reason = check_instance(inst)
        if reason is None:
            valid.append(inst)
        else:
            rejected.append((inst, reason))
    # One input with two different outputs means the model is unsure what the task
    # asks, so none of its instances can be trusted (empty inputs are exempt).
    outputs: dict[str, str] = {}
    for inst in valid:
        if inst.input and outputs.setdefault(inst.input, inst.output) != inst.output:
            rejected.extend((i, "conflicting_outputs") for i in valid)
            return InstanceFilterResult([], rejected, "conflicting_outputs")
    kept: list[Instance] = []
    seen: set[Instance] = set()
    for inst in valid:
        if inst in seen:
            rejected.append((inst, "duplicate"))
        else:
            seen.add(inst)
            kept.append(inst)
    return InstanceFilterResult(kept, rejected, None if kept else "no_instances")


def process_instances(text: str | None, finish_reason: str | None = None, *,
                      is_classification: bool) -> InstanceFilterResult:
    """Parse an answer and filter its instances in one call."""
    return filter_instances(parse_instances(text, finish_reason, is_classification=is_classification))


# ---------------------------------------------------------------- the stage

class InstancesStage:
    """Stage 3 as a ``Stage``: the item is a labelled instruction; its label picks the prompt format."""

    name = "instances"
    progress = "instances"

    def __init__(self, state: RunState, *, endpoint: str, max_instances: int = 5) -> None:
        self.state = state
        self.endpoint = check_endpoint(endpoint)
        self.max_instances = max_instances

    def ask(self, instruction: str) -> Ask:
        prompt = build_instance_prompt(instruction, is_classification=self.state.labels.get(instruction, False),
                                       endpoint=self.endpoint, max_instances=self.max_instances)
        return Ask(f"inst-{instruction_key(instruction)}", prompt, {"stage": "instances"})

    def answer(self, instruction: str, answer: Answer | None) -> Outcome:
        assert answer is not None  # this stage always asks
        is_clf = self.state.labels.get(instruction, False)
        result = process_instances(answer.text, answer.finish_reason, is_classification=is_clf)
        record = {
            "instruction": instruction,
            "is_classification": is_clf,
            "raw_instances": answer.text,
            "instance_metadata": {"request_id": answer.id, "finish_reason": answer.finish_reason,
                                  "usage": answer.usage},
            "instances": [{"input": i.input, "output": i.output} for i in result.kept],
        }
        rejects = [Reject("instance", reason, f"{inst.input}\n=> {inst.output}"[:2000], {"instruction": instruction})
                   for inst, reason in result.rejected]
        if result.task_reason:
            rejects.append(Reject("instances", result.task_reason, instruction))
        self.state.with_instances.add(instruction)
        return Outcome(records=[Record("instances", instruction_key(instruction), record)], rejects=rejects,
                       reject_key=answer.id, advances=[instruction])

    def failed(self, instruction: str, ask: Ask, error: str) -> Outcome:
        return Outcome(rejects=[Reject("instances", "request_failed", instruction, {"error": error})],
                       reject_key=ask.id)

    def done(self, instruction: str) -> bool:
        return instruction in self.state.with_instances

    def count(self) -> int:
        return len(self.state.with_instances)
