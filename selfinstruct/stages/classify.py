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
from selfinstruct.stages.protocol import Answer, Ask, Outcome, Record, Reject, RunState, instruction_key
from selfinstruct.stages.templates import (
    CLASSIFICATION_HEADER,
    CLASSIFICATION_QUESTION,
    chat_instruction,
    classification_examples,
)

__all__ = ["CLASSIFICATION_PARAMS", "classification_params", "build_classification_prompt",
           "parse_classification", "ClassifyStage"]

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


class ClassifyStage:
    """Stage 2 as a ``Stage``: the item is an instruction. ``assume_classification`` (classification-only
    mode) labels every instruction a classification task without asking."""

    name = "classify"
    progress = "classified"

    def __init__(self, state: RunState, *, endpoint: str, assume_classification: bool = False) -> None:
        self.state = state
        self.endpoint = check_endpoint(endpoint)
        self.assume_classification = assume_classification

    def ask(self, instruction: str) -> Ask | None:
        if self.assume_classification:
            return None
        return Ask(f"clf-{instruction_key(instruction)}",
                   build_classification_prompt(instruction, endpoint=self.endpoint), {"stage": "classify"})

    def answer(self, instruction: str, answer: Answer | None) -> Outcome:
        out = Outcome(advances=[instruction])
        if answer is None:
            label, raw = True, None
        else:
            raw = answer.text
            label = parse_classification(raw, answer.finish_reason)
            if label is None:
                # The original treats anything but "yes" as No; we do the same and record it.
                out.rejects.append(Reject("classify", "unparseable_answer", instruction, {"answer": raw[:200]}))
                out.reject_key = f"{answer.id}-answer"
                label = False
        self.state.labels[instruction] = label
        if label:
            self.state.pool_clf.append(instruction)
        out.records.append(self.imported(instruction, label, raw))
        return out

    def failed(self, instruction: str, ask: Ask, error: str) -> Outcome:
        return Outcome(rejects=[Reject("classify", "request_failed", instruction, {"error": error})],
                       reject_key=ask.id)

    def done(self, instruction: str) -> bool:
        return instruction in self.state.labels

    def count(self) -> int:
        return len(self.state.labels)

    @staticmethod
    def imported(instruction: str, label: bool, raw: str | None = None) -> Record:
        """The label record (``raw`` is the model's answer; None when the label came from elsewhere)."""
        return Record("clf", instruction_key(instruction),
                      {"instruction": instruction, "is_classification": label, "raw_answer": raw})
