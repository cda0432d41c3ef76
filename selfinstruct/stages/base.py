"""Values every stage shares: the ``Prompt`` a stage asks for, an ``Instance``, a filter decision, text helpers.

A stage never builds a ``workers.base.Request`` itself: it returns a ``Prompt``
(text, chat messages or None, request params) and the pipeline wraps it with an
id and metadata.  That keeps the stages free of execution details.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from selfinstruct.errors import ConfigError

__all__ = ["Prompt", "Instance", "FilterResult", "ENDPOINTS", "check_endpoint", "collapse_ws", "chat_messages"]

ENDPOINTS = ("chat", "completions")

@dataclass(frozen=True, slots=True, kw_only=True)
class Prompt:
    """What a stage wants asked.

    ``text`` is always the completion-style prompt; ``messages`` is set for chat
    endpoints (its user turn is ``text`` verbatim, so the header strings appear
    in it exactly).  ``params`` are OpenAI request parameters.
    """

    text: str
    messages: list[dict[str, str]] | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return "chat" if self.messages is not None else "completions"

    def request_fields(self) -> dict[str, Any]:
        """Keyword arguments for ``workers.base.Request`` (add ``id`` and ``meta``)."""
        if self.messages is not None:
            return {"messages": [dict(m) for m in self.messages], "params": dict(self.params)}
        return {"prompt": self.text, "params": dict(self.params)}


@dataclass(frozen=True, slots=True)
class Instance:
    """One input/output pair of a task; ``input`` is "" when the task needs none."""

    input: str
    output: str


@dataclass(frozen=True, slots=True)
class FilterResult:
    """A filter's decision: ``reason`` is a short code when ``ok`` is False, else None."""

    ok: bool
    reason: str | None = None

    @classmethod
    def accept(cls) -> "FilterResult":
        return cls(True, None)

    @classmethod
    def reject(cls, reason: str) -> "FilterResult":
        return cls(False, reason)


def check_endpoint(endpoint: str) -> str:
    if endpoint not in ENDPOINTS:
        raise ConfigError(f"unknown endpoint {endpoint!r}: expected one of {', '.join(ENDPOINTS)}")
    return endpoint


def collapse_ws(text: str) -> str:
    """Every whitespace run becomes one space; ends stripped (the original's ``re.sub(r"\\s+", " ", x).strip()``;
    str.split() splits on the same Unicode whitespace and is several times faster)."""
    return " ".join(text.split())


def chat_messages(system: str, text: str) -> list[dict[str, str]]:
    """A system turn with the stage's chat instruction, and the completion prompt as the user turn."""
    return [{"role": "system", "content": system}, {"role": "user", "content": text}]
