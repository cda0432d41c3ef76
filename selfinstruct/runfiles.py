"""The file names of a generate run directory, in one place: every module that writes or reads a run uses these.

A run directory (``selfinstruct generate --out DIR``, the step commands, a
service job) holds::

    machine_generated_instructions.jsonl   INSTRUCTIONS    accepted instructions
    is_clf_or_not.jsonl                    CLASSIFICATION  classification labels
    machine_generated_instances.jsonl      INSTANCES       raw and parsed instances
    rejects.jsonl                          REJECTS         every rejected item with its reason
    stats.json                             STATS           run statistics
    finetuning/                            FINETUNING      training exports:
        all_generated_instances.jsonl      ALL_GENERATED     instruction/input/output rows
        alpaca.json                        ALPACA            the same, as one JSON list
        messages.jsonl                     MESSAGES          chat messages
        gpt3_finetuning_data_<N>.jsonl     gpt3_finetuning(N)  prompt/completion rows, N of them
    state.sqlite3                          STATE           the engine's checkpoint (locked via STATE.lock)
    seed_tasks.jsonl                       SEEDS           a service job's inline seed tasks

The names are the original Self-Instruct repository's, so its scripts read our runs.
Standard library only: stages, pipeline, commands, service, train and analyze all import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["INSTRUCTIONS", "CLASSIFICATION", "INSTANCES", "REJECTS", "STATS", "FINETUNING", "ALL_GENERATED",
           "ALPACA", "MESSAGES", "GPT3_FINETUNING_GLOB", "gpt3_finetuning", "STATE", "SEEDS", "RUN_FILES", "RunDir"]

INSTRUCTIONS = "machine_generated_instructions.jsonl"
CLASSIFICATION = "is_clf_or_not.jsonl"
INSTANCES = "machine_generated_instances.jsonl"
REJECTS = "rejects.jsonl"
STATS = "stats.json"
FINETUNING = "finetuning"
ALL_GENERATED = "all_generated_instances.jsonl"
ALPACA = "alpaca.json"
MESSAGES = "messages.jsonl"
GPT3_FINETUNING_GLOB = "gpt3_finetuning_data_*.jsonl"
STATE = "state.sqlite3"
SEEDS = "seed_tasks.jsonl"

# What an export writes at the top of a run directory, by role.
RUN_FILES = {
    "instructions": INSTRUCTIONS,
    "classification": CLASSIFICATION,
    "instances": INSTANCES,
    "rejects": REJECTS,
    "stats": STATS,
    "finetuning": FINETUNING,
}


def gpt3_finetuning(n_rows: int) -> str:
    """The original names its GPT-3 fine-tuning file by its row count."""
    return f"gpt3_finetuning_data_{n_rows}.jsonl"


@dataclass(frozen=True, slots=True)
class RunDir:
    """The paths of one run directory's files (nothing is read or created)."""

    root: Path

    @property
    def instructions(self) -> Path:
        return self.root / INSTRUCTIONS

    @property
    def classification(self) -> Path:
        return self.root / CLASSIFICATION

    @property
    def instances(self) -> Path:
        return self.root / INSTANCES

    @property
    def rejects(self) -> Path:
        return self.root / REJECTS

    @property
    def stats(self) -> Path:
        return self.root / STATS

    @property
    def finetuning(self) -> Path:
        return self.root / FINETUNING

    @property
    def all_generated(self) -> Path:
        return self.finetuning / ALL_GENERATED

    @property
    def messages(self) -> Path:
        return self.finetuning / MESSAGES
