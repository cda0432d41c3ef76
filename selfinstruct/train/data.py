"""Read any of our data outputs into conversations (a prompt and one assistant answer), and split off an eval set.

Accepted inputs (the format is decided per record, so a file may even mix them):

- a generate run directory: ``RUN_DIR/finetuning/messages.jsonl`` if present,
  else ``RUN_DIR/finetuning/all_generated_instances.jsonl``;
- ``messages`` records: ``{"messages": [{"role": ..., "content": ...}, ...]}``,
  the last turn being the assistant answer that is trained on;
- ``instruction``/``input``/``output`` records (all_generated_instances.jsonl,
  or an Alpaca JSON array), laid out by ``selfinstruct.formats.to_messages``:
  the same user turn the exporter and the evaluator use;
- ``prompt``/``completion`` records (gpt3_finetuning_data_*.jsonl); the prompt
  string becomes the user turn and the completion the assistant turn, without
  the GPT-3 end marker ``<|endoftext|>`` (the chat template closes the turn
  with its own end token); lists of messages are taken as they are.

Every record becomes ``prompt`` (the messages before the answer) and
``completion`` (the answer turn). The model's chat template renders them later;
nothing here knows about tokenizers.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfinstruct.errors import InputError
from selfinstruct.formats import to_messages
from selfinstruct.io import read_json_records
from selfinstruct.runfiles import ALL_GENERATED, FINETUNING, MESSAGES, RunDir

__all__ = ["Conversation", "record_to_conversation", "read_conversations", "resolve_data_file", "split_conversations"]

log = logging.getLogger(__name__)

_ROLES = frozenset({"system", "user", "assistant"})
GPT3_END = "<|endoftext|>"
EXPECTED = (
    "records with 'messages' (ending in an assistant turn), 'instruction'/'input'/'output', "
    "or 'prompt'/'completion'"
)


@dataclass(frozen=True, kw_only=True)
class Conversation:
    """One training example: the prompt turns and the assistant answer that the loss is taken on."""

    prompt: tuple[dict[str, str], ...]
    completion: dict[str, str]
    source: str  # file:line, for messages about this example

    @property
    def messages(self) -> list[dict[str, str]]:
        return [*self.prompt, self.completion]


def _valid_turn(turn: Any) -> bool:
    return (
        isinstance(turn, dict)
        and turn.get("role") in _ROLES
        and isinstance(turn.get("content"), str)
    )


def _from_messages(messages: Any) -> tuple[list[dict[str, str]], dict[str, str]] | None:
    if not isinstance(messages, list) or len(messages) < 2 or not all(_valid_turn(m) for m in messages):
        return None
    turns = [{"role": m["role"], "content": m["content"]} for m in messages]
    last = turns[-1]
    if last["role"] != "assistant" or not last["content"].strip():
        return None
    if not any(t["role"] == "user" for t in turns[:-1]):
        return None
    return turns[:-1], last


def record_to_conversation(record: dict[str, Any], source: str = "") -> Conversation | None:
    """Turn one record of any accepted format into a Conversation; None when it has nothing to train on."""
    parsed: tuple[list[dict[str, str]], dict[str, str]] | None = None
    if "messages" in record:
        parsed = _from_messages(record["messages"])
    elif "prompt" in record and "completion" in record:
        prompt, completion = record["prompt"], record["completion"]
        if isinstance(prompt, list) and isinstance(completion, list):
            parsed = _from_messages(prompt + completion)
        elif isinstance(prompt, str) and isinstance(completion, str):
            completion = completion.strip().removesuffix(GPT3_END).strip()
            if prompt.strip() and completion:
                parsed = ([{"role": "user", "content": prompt.strip()}], {"role": "assistant", "content": completion})
    elif "instruction" in record and "output" in record:
        instruction, input_text, output = record["instruction"], record.get("input") or "", record["output"]
        if (
            isinstance(instruction, str) and isinstance(input_text, str) and isinstance(output, str)
            and instruction.strip() and output.strip()
        ):
            *prompt, answer = to_messages(instruction, input_text, output)
            parsed = (prompt, answer)
    if parsed is None:
        return None
    prompt, completion = parsed
    return Conversation(prompt=tuple(prompt), completion=completion, source=source)


def resolve_data_file(path: str | Path) -> Path:
    """A file as given, or the fine-tuning file inside a generate run directory."""
    p = Path(path)
    if p.is_dir():
        run = RunDir(p)
        for candidate in (
            run.messages,
            run.all_generated,
            p / MESSAGES,
            p / ALL_GENERATED,
        ):
            if candidate.is_file():
                return candidate
        raise InputError(
            f"directory holds no training data: expected {FINETUNING}/{MESSAGES} or "
            f"{FINETUNING}/{ALL_GENERATED} (a generate run directory)",
            path=str(p),
        )
    if not p.exists():
        raise InputError("training data not found", path=str(p))
    return p


def read_conversations(path: str | Path) -> list[Conversation]:
    """Every usable record of the data at ``path``; InputError if there are none."""
    file = resolve_data_file(path)
    conversations: list[Conversation] = []
    skipped = 0
    for where, record in read_json_records(file):
        conv = record_to_conversation(record, source=f"{file}:{where}")
        if conv is None:
            skipped += 1
        else:
            conversations.append(conv)
    if not conversations:
        raise InputError(f"no usable rows ({skipped} skipped): expected {EXPECTED}", path=str(file))
    if skipped:
        log.warning("%s: skipped %d record(s) with nothing to train on (expected %s)", file, skipped, EXPECTED)
    return conversations


def split_conversations(
    conversations: list[Conversation], *, eval_fraction: float, eval_max_rows: int, max_rows: int, seed: int
) -> tuple[list[Conversation], list[Conversation]]:
    """Seeded shuffle, optional subsample, then (train, eval). The train split is never empty."""
    rows = list(conversations)
    random.Random(seed).shuffle(rows)
    if max_rows:
        rows = rows[:max_rows]
    n_eval = round(len(rows) * eval_fraction)
    if eval_fraction > 0 and len(rows) >= 2:
        n_eval = max(n_eval, 1)
    if eval_max_rows:
        n_eval = min(n_eval, eval_max_rows)
    n_eval = min(n_eval, len(rows) - 1)
    return rows[n_eval:], rows[:n_eval]
