"""Render a conversation with the model's own chat template and tokenize it, marking which tokens are the answer.

The answer starts where the rendered prompt (with the generation prompt, i.e.
``<|im_start|>assistant\\n`` for ChatML) ends. Prompt and answer text are
tokenized separately and concatenated, so no token straddles the boundary and
the labels mask exactly the prompt (-100) and keep exactly the answer,
including the template's end-of-turn token, which teaches the model to stop.

A tokenizer without a chat template gets the stated ChatML fallback below
(with a warning), or an error if the fallback is switched off.
"""

from __future__ import annotations

import logging
from typing import Any

from selfinstruct.errors import ConfigError

__all__ = ["CHATML_FALLBACK", "ensure_chat_template", "tokenize_conversation", "TokenizedExample"]

log = logging.getLogger(__name__)

# Plain ChatML (as in Qwen2.5), without a default system turn.
CHATML_FALLBACK = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

TokenizedExample = dict[str, list[int]]


def ensure_chat_template(tokenizer: Any, *, allow_fallback: bool, model_name: str) -> str:
    """Make sure ``tokenizer`` can render chats. Returns "model" or "chatml-fallback" (what was used)."""
    if getattr(tokenizer, "chat_template", None):
        return "model"
    if not allow_fallback:
        raise ConfigError(
            f"model {model_name!r} has no chat template; set model.fallback_chat_template = true to train with "
            "the ChatML fallback (<|im_start|>role\\n...<|im_end|>)"
        )
    log.warning(
        "model %r has no chat template: using the ChatML fallback (<|im_start|>role\\ncontent<|im_end|>); "
        "it is saved with the adapter's tokenizer so inference renders the same way", model_name,
    )
    tokenizer.chat_template = CHATML_FALLBACK
    return "chatml-fallback"


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def tokenize_conversation(
    tokenizer: Any, prompt: list[dict[str, str]], completion: dict[str, str], *, max_length: int | None = None
) -> TokenizedExample | None:
    """``input_ids`` plus ``completion_mask`` (1 on answer tokens); None if truncation leaves no answer token."""
    prompt_text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    full_text = tokenizer.apply_chat_template([*prompt, completion], tokenize=False)
    prompt_ids = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    if full_text.startswith(prompt_text):
        answer_ids = tokenizer(full_text[len(prompt_text):], add_special_tokens=False)["input_ids"]
        input_ids = prompt_ids + answer_ids
        n_prompt = len(prompt_ids)
    else:
        # Some templates render the last turn differently once it is followed by an
        # answer; then the answer starts where the two token sequences diverge.
        input_ids = tokenizer(full_text, add_special_tokens=False)["input_ids"]
        n_prompt = _common_prefix(prompt_ids, input_ids)
    if max_length is not None:
        input_ids = input_ids[:max_length]
    n_prompt = min(n_prompt, len(input_ids))
    if n_prompt == len(input_ids):
        return None
    return {"input_ids": input_ids, "completion_mask": [0] * n_prompt + [1] * (len(input_ids) - n_prompt)}
