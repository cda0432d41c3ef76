"""The Stage protocol: how a stage asks for one item, and what it makes of the answer.

A stage is pure (no asyncio, no I/O): ``ask(item)`` says what to send, with a
deterministic request id (a resumed run finds a done id's answer in the store
and never asks again); ``answer(item, answer)`` turns the answer into an
``Outcome``, the records to keep and the rejects to log; ``failed`` says what
a request that used up its attempts leaves behind. The scheduler
(``selfinstruct.pipeline.runner``) sends the requests and commits each answer
with its outcome in one transaction.

Stages share one ``RunState``, the in-memory view of the run's records; each
stage writes its own part of it while it makes an outcome, so a decision (a
dedup check, a label) is seen by the next decision at once.

    Stage             item          request id       records            advances
    InstructionStage  request index gen-000042       instruction,       the accepted instructions
                                                     processed
    ClassifyStage     instruction   clf-<key>        clf                the instruction
    InstancesStage    instruction   inst-<key>       instances          the instruction
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from selfinstruct.stages.base import Prompt

__all__ = ["Ask", "Answer", "Record", "Reject", "Outcome", "RunState", "Stage", "DownstreamStage",
           "instruction_key"]

ItemT = TypeVar("ItemT", contravariant=True)


def instruction_key(instruction: str) -> str:
    """The key of an instruction's records and of the requests about it."""
    return hashlib.sha1(instruction.encode()).hexdigest()[:20]


@dataclass(frozen=True, slots=True)
class Ask:
    """One request a stage wants sent: its id, the prompt, and data that comes back with the answer."""

    id: str
    prompt: Prompt
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Answer:
    """What came back for an ``Ask``: the text, why it ended, the token usage and the ask's ``meta``."""

    id: str
    text: str
    finish_reason: str | None = None
    usage: Mapping[str, Any] | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Record:
    """A row the run keeps: ``kind`` (instruction, clf, instances, processed), ``key`` and JSON ``data``."""

    kind: str
    key: str
    data: Any


@dataclass(frozen=True, slots=True)
class Reject:
    """Something a stage dropped, and why; a line of rejects.jsonl."""

    stage: str
    reason: str
    text: str
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def counter(self) -> str:
        """The key of ``rejects_by_reason`` in stats.json."""
        return f"{self.stage}:{self.reason}"

    def row(self) -> dict[str, Any]:
        return {"stage": self.stage, "reason": self.reason, "text": self.text, **self.extra}


@dataclass(slots=True)
class Outcome:
    """What one answer (or one failed request) leaves behind.

    ``rejects`` are stored under ``reject_key/0``, ``reject_key/1``, ...;
    ``advances`` are the instructions whose next stage may now run.
    """

    records: list[Record] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    reject_key: str = ""
    advances: list[str] = field(default_factory=list)


@dataclass
class RunState:
    """The run's instructions as the stages see them; rebuilt from the records on resume."""

    pool: list[str] = field(default_factory=list)        # accepted, in record order
    labels: dict[str, bool] = field(default_factory=dict)
    # Labelled classification, in label order; only the classify stage adds to it.
    # Classification-only mode samples its in-context examples from these.
    pool_clf: list[str] = field(default_factory=list)
    with_instances: set[str] = field(default_factory=set)


class Stage(Protocol[ItemT]):
    """One step of the pipeline: a name (the ``--stages`` name), a request per item, an outcome per answer."""

    name: str

    def ask(self, item: ItemT) -> Ask | None:
        """The request for ``item``; None when the stage decides without asking (``answer(item, None)``)."""
        ...

    def answer(self, item: ItemT, answer: Answer | None) -> Outcome:
        """The outcome of ``item``'s answer; updates the stage's part of the ``RunState``."""
        ...

    def failed(self, item: ItemT, ask: Ask, error: str) -> Outcome:
        """The outcome of a request that used up its attempts (it is asked again on the next run)."""
        ...


class DownstreamStage(Stage[str], Protocol):
    """A stage every accepted instruction goes through once, in order: classify, then instances."""

    progress: str   # what the progress display counts ("classified", "instances")

    def done(self, instruction: str) -> bool:
        """True once the instruction has this stage's record."""
        ...

    def count(self) -> int:
        """How many instructions have this stage's record."""
        ...
