"""Stage 4: turn filtered tasks into fine-tuning records in four formats (pure: rows in, rows out).

Rows (the pipeline writes them to the run directory):

* ``all_generated_instances.jsonl``: ``{"instruction", "input", "output"}``, generated tasks only,
  at most ``max_instances_per_task`` (5) instances per instruction, seeded random sample;
* ``gpt3_finetuning_data_<N>.jsonl``: ``{"prompt", "completion"}`` in the original's randomly
  chosen encodings (``templates/finetuning_templates.json``), de-duplicated and shuffled;
  ``N`` is the row count;
* ``alpaca.json``: a JSON list of ``{"instruction", "input", "output"}``;
* ``messages.jsonl``: ``{"messages": [user, assistant]}`` via ``selfinstruct.formats.to_messages``.

With ``include_seed_tasks`` the seed tasks' instances are added to the three
training formats (not to all_generated_instances.jsonl), as the original does.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from selfinstruct.errors import ConfigError
from selfinstruct.formats import to_messages
from selfinstruct.runfiles import ALL_GENERATED, ALPACA, MESSAGES, gpt3_finetuning
from selfinstruct.stages.base import Instance
from selfinstruct.stages.instances import check_instance
from selfinstruct.stages.seeds import SeedTask
from selfinstruct.stages.templates import finetuning_templates

__all__ = [
    "TrainingExample",
    "PrepareConfig",
    "FinetuneExports",
    "sample_task_instances",
    "generated_examples",
    "seed_examples",
    "all_generated_rows",
    "gpt3_finetuning_rows",
    "alpaca_records",
    "messages_rows",
    "is_valid_training_row",
    "prepare_finetuning",
]


@dataclass(frozen=True, slots=True)
class TrainingExample:
    instruction: str
    input: str
    output: str

    def as_row(self) -> dict[str, str]:
        return {"instruction": self.instruction, "input": self.input, "output": self.output}


@dataclass(frozen=True, kw_only=True)
class PrepareConfig:
    max_instances_per_task: int = field(default=5, metadata={"help": "instances kept per instruction"})
    include_seed_tasks: bool = field(default=False, metadata={"help": "add the seed tasks' instances"})
    strip_field_label_prob: float = field(
        default=0.5, metadata={"help": "GPT-3 format: chance of dropping a lone 'Field:' label from the input"})

    def __post_init__(self) -> None:
        if self.max_instances_per_task < 1:
            raise ConfigError(f"prepare: max_instances_per_task must be >= 1, got {self.max_instances_per_task}")
        if not 0.0 <= self.strip_field_label_prob <= 1.0:
            raise ConfigError(f"prepare: strip_field_label_prob must be in [0, 1], got {self.strip_field_label_prob}")


def sample_task_instances(instances: Sequence[Instance], rng: random.Random, k: int = 5) -> list[Instance]:
    """At most ``k`` instances, a seeded random sample (the original's cap of 5 per task)."""
    return rng.sample(list(instances), min(len(instances), k))


def generated_examples(tasks: Iterable[tuple[str, Sequence[Instance]]], *, rng: random.Random,
                       max_instances_per_task: int = 5) -> list[TrainingExample]:
    """(instruction, filtered instances) pairs -> examples, capped per task; tasks with none are skipped."""
    out: list[TrainingExample] = []
    for instruction, instances in tasks:
        for inst in sample_task_instances(instances, rng, max_instances_per_task):
            out.append(TrainingExample(instruction.strip(), inst.input.strip(), inst.output.strip()))
    return out


def seed_examples(seeds: Iterable[SeedTask]) -> list[TrainingExample]:
    """Every instance of every seed task (seeds are human-written, so no cap and no filter)."""
    return [TrainingExample(s.instruction.strip(), i.input.strip(), i.output.strip())
            for s in seeds for i in s.instances]


def all_generated_rows(examples: Iterable[TrainingExample]) -> list[dict[str, str]]:
    return [e.as_row() for e in examples]


_FIELD_LABEL = re.compile(r"(\w+):")


def _gpt3_input(text: str, rng: random.Random, strip_prob: float) -> str:
    # The original, half of the time: when the input has exactly one distinct "Word:" label
    # (e.g. "Sentence: ..."), drop everything up to the first colon, and squeeze blank lines,
    # so the model also sees bare inputs.
    if rng.random() < strip_prob:
        if len(set(_FIELD_LABEL.findall(text))) == 1:
            text = text.split(":", 1)[1]
        text = text.strip().replace("\n\n", "\n")
    return text


def gpt3_finetuning_rows(examples: Iterable[TrainingExample], *, rng: random.Random,
                         strip_field_label_prob: float = 0.5) -> list[dict[str, str]]:
    """``{"prompt", "completion"}`` rows in a random original encoding each; exact duplicates removed,
    then shuffled."""
    templates = finetuning_templates()
    rows: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for ex in examples:
        inst_input = _gpt3_input(ex.input, rng, strip_field_label_prob)
        if inst_input.strip():
            prompt_t, completion_t = rng.choice(templates["with_input"])
            prompt = prompt_t.format(instruction=ex.instruction.strip(), input=inst_input.strip())
        else:
            prompt_t, completion_t = rng.choice(templates["without_input"])
            prompt = prompt_t.format(instruction=ex.instruction.strip())
        completion = completion_t.format(output=ex.output.strip())
        if (prompt, completion) not in seen:
            seen.add((prompt, completion))
            rows.append({"prompt": prompt, "completion": completion})
    rng.shuffle(rows)
    return rows


def alpaca_records(examples: Iterable[TrainingExample]) -> list[dict[str, str]]:
    return [e.as_row() for e in examples]


def messages_rows(examples: Iterable[TrainingExample]) -> list[dict[str, Any]]:
    return [{"messages": to_messages(e.instruction, e.input, e.output)} for e in examples]


def is_valid_training_row(row: Any) -> bool:
    """True for an ``{"instruction", "input", "output"}`` row (or a ``{"messages"}`` row) fit for training:
    non-empty instruction and output, strings only, and passing the instance filters."""
    if not isinstance(row, Mapping):
        return False
    if "messages" in row:
        msgs = row["messages"]
        if not (isinstance(msgs, list) and len(msgs) == 2 and all(isinstance(m, Mapping) for m in msgs)):
            return False
        user, assistant = msgs
        return (user.get("role") == "user" and assistant.get("role") == "assistant"
                and isinstance(user.get("content"), str) and isinstance(assistant.get("content"), str)
                and bool(user["content"].strip()) and bool(assistant["content"].strip())
                and not assistant["content"].strip().endswith(":"))
    instruction, inp, out = row.get("instruction"), row.get("input", ""), row.get("output")
    if not all(isinstance(v, str) for v in (instruction, inp, out)):
        return False
    if not instruction.strip() or not out.strip():
        return False
    return check_instance(Instance(inp.strip(), out.strip())) is None


@dataclass(frozen=True, slots=True)
class FinetuneExports:
    """Everything the pipeline writes at the end of a run: file name -> rows."""

    all_generated: list[dict[str, str]]
    gpt3: list[dict[str, str]]
    alpaca: list[dict[str, str]]
    messages: list[dict[str, Any]]

    @property
    def gpt3_filename(self) -> str:
        return gpt3_finetuning(len(self.gpt3))

    def files(self) -> dict[str, list]:
        """Run-dir file name -> rows (alpaca.json is one JSON list, the others are JSONL)."""
        return {
            ALL_GENERATED: self.all_generated,
            self.gpt3_filename: self.gpt3,
            ALPACA: self.alpaca,
            MESSAGES: self.messages,
        }


def prepare_finetuning(tasks: Iterable[tuple[str, Sequence[Instance]]], *, rng: random.Random,
                       config: PrepareConfig | None = None,
                       seeds: Sequence[SeedTask] = ()) -> FinetuneExports:
    """All four exports from (instruction, filtered instances) pairs, with one injected RNG.

    ``seeds`` are used only when ``config.include_seed_tasks`` is set.
    """
    config = config or PrepareConfig()
    generated = generated_examples(tasks, rng=rng, max_instances_per_task=config.max_instances_per_task)
    training = generated + (seed_examples(seeds) if config.include_seed_tasks else [])
    return FinetuneExports(
        all_generated=all_generated_rows(generated),
        gpt3=gpt3_finetuning_rows(training, rng=rng, strip_field_label_prob=config.strip_field_label_prob),
        alpaca=alpaca_records(training),
        messages=messages_rows(training),
    )
