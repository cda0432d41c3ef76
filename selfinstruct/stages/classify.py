"""Stage 2: ask whether an instruction is a classification task (Table 6) and read the Yes/No answer.

The prompt is the header, 31 few-shot ``Task: ...\\nIs it classification? Yes|No``
blocks, and the new task ending in ``Is it classification?``.  The answer
decides which instance-generation format the task gets (output-first for
classification).  An answer that is neither Yes nor No parses to None: the
pipeline records a reject rather than guessing.
"""

from __future__ import annotations

import re

from selfinstruct.stages.base import Prompt, chat_messages, check_endpoint
from selfinstruct.stages.templates import (
    CLASSIFICATION_HEADER,
    CLASSIFICATION_QUESTION,
    chat_instruction,
    classification_examples,
)

__all__ = ["CLASSIFICATION_PARAMS", "classification_params", "build_classification_prompt",
           "parse_classification"]

# Greedy and three tokens long: the answer is one word.  "Task" stops a model
# that would go on to invent the next few-shot block.
CLASSIFICATION_PARAMS = {
    "max_tokens": 3,
    "temperature": 0,
    "top_p": 0,
    "presence_penalty": 0,
    "frequency_penalty": 0,
    "stop": ["\n", "Task"],
    "n": 1,
}


def classification_params(endpoint: str) -> dict:
    """Request params (fresh dict).  Chat models may open with markdown or "Yes, ...", so they get
    a little more room and only the newline stop."""
    params = {k: (list(v) if isinstance(v, list) else v) for k, v in CLASSIFICATION_PARAMS.items()}
    if check_endpoint(endpoint) == "chat":
        params["max_tokens"] = 8
        params["stop"] = ["\n"]
    return params


def _few_shot() -> str:
    return "".join(
        f"Task: {instruction}\n{CLASSIFICATION_QUESTION} {'Yes' if is_clf else 'No'}\n\n"
        for instruction, is_clf in classification_examples()
    )


def build_classification_prompt(instruction: str, *, endpoint: str = "completions") -> Prompt:
    """The Table 6 prompt for one instruction."""
    check_endpoint(endpoint)
    text = f"{CLASSIFICATION_HEADER}{_few_shot()}Task: {instruction.strip()}\n{CLASSIFICATION_QUESTION}"
    messages = chat_messages(chat_instruction("classification"), text) if endpoint == "chat" else None
    return Prompt(text=text, messages=messages, params=classification_params(endpoint))


# After dropping markdown/quotes/an echoed question: "Yes", "yes.", "Yes, it is", "NO".
_ANSWER = re.compile(r"^(yes|no)\b", re.IGNORECASE)
_ECHO = re.compile(r"^(?:answer\s*:|is\s+it\s+classification\s*\??\s*:?)\s*", re.IGNORECASE)


def parse_classification(text: str | None, finish_reason: str | None = None) -> bool | None:
    """True for Yes, False for No, None when the answer is neither.

    ``finish_reason`` is accepted for a uniform parser signature; a 3-token cut
    is normal here, so it does not matter.
    """
    if not isinstance(text, str):
        return None
    answer = text.strip().lstrip("*_`\"'> ").strip()
    answer = _ECHO.sub("", answer).lstrip("*_`\"' ")
    m = _ANSWER.match(answer)
    if not m:
        return None
    return m.group(1).lower() == "yes"
