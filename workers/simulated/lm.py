"""The deterministic synthetic language model behind the simulated endpoint (pure: no I/O, no asyncio).

It recognises the four Self-Instruct prompts by their header strings and answers
each in the shape the pipeline parses; anything else gets an echo. The random
generator is seeded from a hash of the prompt and the sampling parameters, so a
retried request gets exactly the same answer. ``max_tokens`` and ``stop`` are
honoured like a real server: the first stop sequence cuts the text
(finish_reason "stop"), and more than ``max_tokens`` tokens cut it to that many
(finish_reason "length").
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Sequence

from workers.simulated import grammar, instances

__all__ = ["answer", "count_tokens", "apply_limits", "prompt_kind", "INSTRUCTION_HEADERS",
           "CLASSIFY_HEADER", "INPUT_FIRST_HEADER", "OUTPUT_FIRST_HEADER"]

INSTRUCTION_HEADERS = ("Come up with a series of tasks:", "Come up with a series of classification tasks.")
CLASSIFY_HEADER = "Can the following task be regarded as a classification task with finite output labels?"
INPUT_FIRST_HEADER = ("Come up with examples for the following tasks. Try to generate multiple examples when "
                      "possible. If the task doesn't require additional input, you can generate the output directly.")
OUTPUT_FIRST_HEADER = ("Given the classification task definition and the class labels, generate an input that "
                       "corresponds to each of the class labels. If the task doesn't require input, just generate "
                       "possible class labels.")

_TOKEN = re.compile(r"\w+|[^\w\s]")
_LIST_ITEM = re.compile(r"^\s*(\d+)\s?\.\s*(.*\S)\s*$", re.MULTILINE)
_TRAILING_NUMBER = re.compile(r"(?:^|\n)\s*(\d+)\s?\.\s*$")
_LAST_TASK = re.compile(r"Task:\s*(.*?)\s*(?:\nIs it classification\?\s*)?$", re.DOTALL)

# Share of instruction-list items that are flawed on purpose, by the filter that should catch them.
_FLAWS = (("near_duplicate", 0.08), ("blacklist", 0.05), ("program", 0.04), ("short", 0.03),
          ("bad_start", 0.03), ("long", 0.01))
_P_RUN_OUT = 0.05  # share of instruction answers that run past max_tokens


def count_tokens(text: str) -> int:
    """A deterministic stand-in for a tokenizer: words and single punctuation marks."""
    return len(_TOKEN.findall(text))


def apply_limits(text: str, stop: Sequence[str] | None, max_tokens: int) -> tuple[str, str]:
    """Cut at the first stop sequence, then at ``max_tokens`` tokens; return (text, finish_reason)."""
    finish = "stop"
    if stop:
        cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
        if cut >= 0:
            text = text[:cut]
    if len(text) > max_tokens:  # a token has at least one character, so shorter texts fit
        matches = _TOKEN.findall(text)
        if len(matches) > max_tokens:
            end = 0
            for i, m in enumerate(_TOKEN.finditer(text)):
                if i == max_tokens:
                    break
                end = m.end()
            text, finish = text[:end], "length"
    return text, finish


def prompt_kind(text: str) -> str:
    """'instructions', 'classify', 'input_first', 'output_first' or 'echo'."""
    if CLASSIFY_HEADER in text:
        return "classify"
    if INPUT_FIRST_HEADER in text:
        return "input_first"
    if OUTPUT_FIRST_HEADER in text:
        return "output_first"
    if INSTRUCTION_HEADERS[0] in text or INSTRUCTION_HEADERS[1] in text:
        return "instructions"
    return "echo"


def _rng(prompt: str, *params: object) -> random.Random:
    digest = hashlib.blake2b(repr(params).encode() + prompt.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "little"))


def _last_task(text: str) -> str:
    i = text.rfind("Task:")
    if i < 0:
        return text.strip()
    m = _LAST_TASK.match(text, i)
    return m.group(1).strip() if m else text[i + 5:].strip()


def _instruction_list(rng: random.Random, text: str, max_tokens: int) -> str:
    seen = [m.group(2) for m in _LIST_ITEM.finditer(text)]
    numbers = [int(m.group(1)) for m in _LIST_ITEM.finditer(text)]
    tail = _TRAILING_NUMBER.search(text.rstrip())
    continuation = tail is not None
    start = int(tail.group(1)) if tail else (max(numbers) + 1 if numbers else 1)
    last = max(16, start + 6)
    p_cls = 0.7 if INSTRUCTION_HEADERS[1] in text else 0.2
    run_out_at = rng.randrange(start, last) if rng.random() < _P_RUN_OUT else -1
    parts = []
    for number in range(start, last + 1):
        r = rng.random()
        item = None
        for kind, p in _FLAWS:
            if r < p:
                item = grammar.flawed_instruction(rng, kind, seen)
                break
            r -= p
        if item is None:
            item = grammar.make_instruction(rng, p_classification=p_cls)
        if number == run_out_at:  # a run-on item that uses up the token budget
            words = []
            while len(words) < max_tokens + 8:
                words.extend(grammar.make_instruction(rng).rstrip(".?!").split() + ["and"])
            item = " ".join(words)
        prefix = " " if continuation and number == start else f"{number}. "
        parts.append(prefix + item)
    return "\n".join(parts)


def _classify(text: str) -> str:
    return " Yes" if instances.is_classification(_last_task(text)) else " No"


def _prompt_answer(kind: str, rng: random.Random, text: str, max_tokens: int) -> str:
    if kind == "instructions":
        return _instruction_list(rng, text, max_tokens)
    if kind == "classify":
        return _classify(text)
    if kind == "input_first":
        return instances.input_first(rng, _last_task(text))
    if kind == "output_first":
        return instances.output_first(rng, _last_task(text))
    return "Echo: " + text[-200:]


def answer(prompt_text: str, *, max_tokens: int = 16, stop: Sequence[str] | str | None = None, n: int = 1,
           temperature: float = 1.0, seed: int | None = None) -> list[tuple[str, str]]:
    """``n`` (text, finish_reason) pairs for the prompt; identical inputs give identical answers.

    At temperature 0 every choice is the same, as with a greedy model.
    """
    if isinstance(stop, str):
        stop = [stop]
    kind = prompt_kind(prompt_text)
    out = []
    for i in range(n):
        if kind == "echo" or kind == "classify":
            raw = _prompt_answer(kind, None, prompt_text, max_tokens)  # type: ignore[arg-type]
        else:
            rng = _rng(prompt_text, max_tokens, temperature, seed, 0 if temperature == 0 else i)
            raw = _prompt_answer(kind, rng, prompt_text, max_tokens)
        out.append(apply_limits(raw, stop, max_tokens))
    return out
