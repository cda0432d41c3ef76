"""The records that cross the engine/worker boundary, and the protocol a worker speaks.

A ``Request`` is what a stage wants asked; a ``Response`` is what came back. Both
are plain values: they know nothing about HTTP, SQLite or Self-Instruct.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["Request", "Response", "Choice", "RateLimitInfo", "Worker", "ENDPOINTS", "DEFAULT_MAX_TOKENS",
           "resolve_params"]

ENDPOINTS = ("chat", "completions")
# What a request asks for when neither its own params nor the endpoint's defaults set max_tokens:
# a bound on every call's cost, and what the token budget reserves for it.
DEFAULT_MAX_TOKENS = 256


def resolve_params(defaults: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters a request is sent with: its own over the endpoint's defaults, ``max_tokens`` always set.

    The engine resolves each request once and sends it resolved; a worker used on its own resolves with
    its endpoint's defaults (resolving a resolved request again changes nothing).
    """
    return {"max_tokens": DEFAULT_MAX_TOKENS, **defaults, **params}


@dataclass(frozen=True, slots=True)
class Request:
    """One call to make. ``id`` is unique within a run and keys the durable state.

    Exactly one of ``prompt`` (completions) or ``messages`` (chat) is set. ``params``
    holds OpenAI request parameters (max_tokens, temperature, top_p, stop, n,
    presence_penalty, frequency_penalty, logprobs, ...) that override the endpoint's
    defaults for this request only (``resolve_params``).
    """

    id: str
    prompt: str | None = None
    messages: list[dict[str, Any]] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    # Free-form data a stage attaches to find its way back when the answer comes;
    # persisted with the request, never sent to the endpoint.
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return "chat" if self.messages is not None else "completions"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id}
        if self.messages is not None:
            out["messages"] = self.messages
        else:
            out["prompt"] = self.prompt
        if self.params:
            out["params"] = self.params
        if self.meta:
            out["meta"] = self.meta
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "Request":
        return cls(id=obj["id"], prompt=obj.get("prompt"), messages=obj.get("messages"),
                   params=obj.get("params") or {}, meta=obj.get("meta") or {})


@dataclass(frozen=True, slots=True)
class Choice:
    text: str
    finish_reason: str | None = None
    logprobs: Any = None


@dataclass(frozen=True, slots=True)
class RateLimitInfo:
    """What ``x-ratelimit-*`` headers said, in plain numbers (None when absent)."""

    limit_requests: int | None = None
    remaining_requests: int | None = None
    reset_requests_s: float | None = None
    limit_tokens: int | None = None
    remaining_tokens: int | None = None
    reset_tokens_s: float | None = None


@dataclass(frozen=True, slots=True)
class Response:
    """A successful answer. ``usage`` has prompt_tokens/completion_tokens/total_tokens when the server sent them."""

    choices: tuple[Choice, ...]
    usage: dict[str, int] = field(default_factory=dict)
    model: str | None = None
    rate_limits: RateLimitInfo | None = None

    @property
    def text(self) -> str:
        return self.choices[0].text if self.choices else ""

    @property
    def finish_reason(self) -> str | None:
        return self.choices[0].finish_reason if self.choices else None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"text": self.text, "finish_reason": self.finish_reason, "usage": self.usage}
        if len(self.choices) > 1:
            out["choices"] = [{"text": c.text, "finish_reason": c.finish_reason} for c in self.choices]
        if any(c.logprobs is not None for c in self.choices):
            out["logprobs"] = [c.logprobs for c in self.choices]
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "Response":
        if "choices" in obj:
            choices = tuple(Choice(c["text"], c.get("finish_reason")) for c in obj["choices"])
        else:
            choices = (Choice(obj["text"], obj.get("finish_reason")),)
        lps = obj.get("logprobs")
        if lps:
            choices = tuple(Choice(c.text, c.finish_reason, lp) for c, lp in zip(choices, lps))
        return cls(choices=choices, usage=obj.get("usage") or {})


class Worker(Protocol):
    """Something that sends one request and returns one response, or raises a RequestError.

    The engine hands over each request with its parameters already resolved
    (``resolve_params``); ``max_tokens`` overrides the request's own (the engine
    shrinks it after a context-length error); ``timeout`` bounds the whole call in seconds.
    """

    endpoint_url: str

    async def send(self, request: Request, *, max_tokens: int | None = None,
                   timeout: float | None = None) -> Response: ...

    async def aclose(self) -> None: ...
