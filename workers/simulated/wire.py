"""The OpenAI wire shapes the simulated endpoint reads and writes (pure: no I/O, no asyncio).

Shared by the online routes (``server``) and the Batch API routes (``batches``),
so a prompt is read, and an answer written, the same way in both.
"""

from __future__ import annotations

import time
from typing import Any

from workers.simulated.lm import count_tokens

__all__ = ["prompt_text", "choices", "completion"]


def prompt_text(body: dict[str, Any], chat: bool) -> str | None:
    """The text the LM sees: the prompt, or the chat messages' contents joined by blank lines."""
    if chat:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return None
        parts = []
        for m in messages:
            content = m.get("content") if isinstance(m, dict) else None
            if isinstance(content, list):  # content parts: keep the text ones
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
            if not isinstance(content, str):
                return None
            parts.append(content)
        return "\n\n".join(parts)
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    return prompt if isinstance(prompt, str) else None


def choices(answers: list[tuple[str, str]], chat: bool) -> tuple[list[dict[str, Any]], int]:
    """The ``choices`` list for the LM's ``(text, finish_reason)`` answers, and their completion tokens."""
    out: list[dict[str, Any]] = []
    completion_tokens = 0
    for i, (text, finish) in enumerate(answers):
        completion_tokens += count_tokens(text)
        if chat:
            out.append({"index": i, "message": {"role": "assistant", "content": text},
                        "logprobs": None, "finish_reason": finish})
        else:
            out.append({"text": text, "index": i, "logprobs": None, "finish_reason": finish})
    return out, completion_tokens


def completion(id_: str, chat: bool, model: str, choices_: list[dict[str, Any]], prompt_tokens: int,
               completion_tokens: int) -> dict[str, Any]:
    """A ``chat.completion`` or ``text_completion`` object."""
    return {"id": id_, "object": "chat.completion" if chat else "text_completion", "created": int(time.time()),
            "model": model, "choices": choices_,
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}
