"""Stage 1: build the instruction-generation prompt (Table 5) and parse the model's list of new instructions.

Prompt: the header, 8 in-context instructions numbered ``1.`` .. ``8.`` (6 seeds
and 2 machine-generated, fewer from the pool while it is small), ending with
``9.`` so a completion model continues the list.  Chat models get the same text
as the user turn and a system turn asking for the continuation.

Parsing copes with what completion *and* chat models write: ``9.`` continued
in place, ``1.``/``1)``/``**1.**``/``Task 1:`` numbering, ``-``/``*`` bullets,
preambles ("Here are more tasks:"), sign-offs ("I hope these help!"), markdown
bold, items wrapped over several lines, and garbage (which yields nothing and
never raises).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from selfinstruct.errors import ConfigError
from selfinstruct.stages import _markup
from selfinstruct.stages.base import Prompt, chat_messages, check_endpoint, collapse_ws
from selfinstruct.stages.filters import InstructionFilter
from selfinstruct.stages.protocol import Answer, Ask, Outcome, Record, Reject, RunState, instruction_key
from selfinstruct.stages.seeds import SeedTask
from selfinstruct.stages.templates import CLF_INSTRUCTION_HEADER, INSTRUCTION_HEADER, chat_instruction

__all__ = [
    "INSTRUCTION_PARAMS",
    "instruction_params",
    "render_instruction_prompt",
    "InstructionPromptConfig",
    "InstructionPromptBuilder",
    "InstructionParse",
    "parse_instruction_list",
    "normalize_instruction",
    "InstructionStage",
]

# The original's request: creative sampling, a strong presence penalty against
# repeating the in-context tasks, and stops that end the list after item 15.
INSTRUCTION_PARAMS = {
    "max_tokens": 1024,
    "temperature": 0.7,
    "top_p": 0.5,
    "presence_penalty": 2,
    "frequency_penalty": 0,
    "stop": ["\n\n", "\n16", "16.", "16 ."],
    "n": 1,
}


def instruction_params(endpoint: str) -> dict:
    """Request params for the endpoint (a fresh dict).

    Chat gets no stop sequences: chat models put blank lines between items and
    often number from 1, so "\\n\\n" or "16." would cut a good answer short;
    max_tokens still bounds the cost.
    """
    params = {k: (list(v) if isinstance(v, list) else v) for k, v in INSTRUCTION_PARAMS.items()}
    if check_endpoint(endpoint) == "chat":
        del params["stop"]
    return params


def render_instruction_prompt(instructions: Sequence[str], *, classification: bool = False,
                              endpoint: str = "completions") -> Prompt:
    """The Table 5 prompt for these in-context instructions, in this order."""
    check_endpoint(endpoint)
    parts = [CLF_INSTRUCTION_HEADER if classification else INSTRUCTION_HEADER]
    for number, instruction in enumerate(instructions, start=1):
        parts.append(f"{number}. {collapse_ws(instruction).rstrip(':')}\n")
    parts.append(f"{len(instructions) + 1}.")
    text = "".join(parts)
    messages = chat_messages(chat_instruction("instruction_generation"), text) if endpoint == "chat" else None
    return Prompt(text=text, messages=messages, params=instruction_params(endpoint))


@dataclass(frozen=True, kw_only=True)
class InstructionPromptConfig:
    num_prompt_instructions: int = field(default=8, metadata={"help": "in-context instructions per prompt"})
    num_machine_instructions: int = field(default=2, metadata={"help": "of which from the generated pool"})
    classification_only: bool = field(default=False,
                                      metadata={"help": "generate classification tasks from classification seeds"})
    endpoint: str = field(default="completions", metadata={"help": "chat or completions"})

    def __post_init__(self) -> None:
        check_endpoint(self.endpoint)
        if not 0 <= self.num_machine_instructions <= self.num_prompt_instructions or self.num_prompt_instructions < 1:
            raise ConfigError("instruction prompt: need 1 <= num_prompt_instructions and "
                              "0 <= num_machine_instructions <= num_prompt_instructions")


class InstructionPromptBuilder:
    """Samples the in-context instructions with an injected RNG and renders the prompt."""

    def __init__(self, seeds: Sequence[SeedTask], config: InstructionPromptConfig | None = None) -> None:
        self.config = config or InstructionPromptConfig()
        chosen = [s for s in seeds if s.is_classification] if self.config.classification_only else list(seeds)
        if not chosen:
            kind = "classification seed tasks" if self.config.classification_only else "seed tasks"
            raise ConfigError(f"instruction prompt: no {kind} to sample from")
        self.seed_instructions: list[str] = [s.instruction for s in chosen]

    def sample(self, rng: random.Random, machine_pool: Sequence[str]) -> list[str]:
        """Machine instructions first, then seeds to fill up, then one shuffle (the original's order of draws).

        In classification-only mode pass a pool of classification instructions.
        """
        if not isinstance(machine_pool, Sequence):
            machine_pool = list(machine_pool)
        n_machine = min(self.config.num_machine_instructions, len(machine_pool))
        picked = rng.sample(machine_pool, n_machine) if n_machine else []
        n_seed = min(self.config.num_prompt_instructions - n_machine, len(self.seed_instructions))
        picked += rng.sample(self.seed_instructions, n_seed)
        rng.shuffle(picked)
        return picked

    def build(self, rng: random.Random, machine_pool: Sequence[str] = ()) -> Prompt:
        return render_instruction_prompt(self.sample(rng, machine_pool),
                                         classification=self.config.classification_only,
                                         endpoint=self.config.endpoint)


# ---------------------------------------------------------------- parsing

def normalize_instruction(text: str) -> str:
    """Strip, collapse whitespace, upper-case the first letter only.

    Not the original's ``str.capitalize()``, which lower-cases every other
    letter ("Explain SQL joins" would become "Explain sql joins").
    """
    text = collapse_ws(text)
    return text[:1].upper() + text[1:]


@dataclass(frozen=True, slots=True)
class InstructionParse:
    """New instructions (normalised, not yet filtered), and what was thrown away.

    ``dropped_for_length`` is True when the answer was cut by max_tokens and
    therefore dropped (the original drops the whole answer).  ``discarded``
    holds preambles, sign-offs, refusals and repeated items, for debugging.
    """

    instructions: list[str]
    dropped_for_length: bool = False
    discarded: list[str] = field(default_factory=list)


# A list marker at the start of a (stripped) line.  Numbered: "3." "3)" "3 ." "**3.**"
# "Task 3:" "**Task 3:**"; the marker must be followed by whitespace so "2.5 kg" is not one.
_NUMBERED = re.compile(
    r"^(?:\*\*|__)?\s*(?:(?:task|instruction)\s*#?\s*\d{1,3}\s*[.:)\-\u2013]|#?\d{1,3}\s?[.)])(?:\*\*|__)?(?=\s|$)",
    re.IGNORECASE,
)
_BULLET = re.compile(r"^[-*\u2022+](?=\s)")
# "**Poem:** Write ..." / "**Poem** - Write ...": a short bold title before the task itself.
_BOLD_TITLE = re.compile(r"^(?:\*\*|__)([^*_\n]{1,80}?)(?::\s*(?:\*\*|__)|(?:\*\*|__)\s*[:\-\u2013\u2014])\s*(?=\S)")
# "**Poem writing**" alone on the item's first line, the task on the next.
_BOLD_LINE = re.compile(r"^(?:\*\*|__)([^*_\n]{1,80})(?:\*\*|__)$")
_TASK_LABEL = re.compile(r"^(?:task|instruction)\s*:\s*", re.IGNORECASE)
_QUOTES = {'"': '"', "\u201c": "\u201d", "'": "'"}


def _marker(line: str, style: str | None) -> tuple[str, int] | None:
    """(style, end of marker) when ``line`` starts a list item of ``style`` (any style when None)."""
    if style in (None, "num"):
        m = _NUMBERED.match(line)
        if m:
            return "num", m.end()
    if style in (None, "bullet"):
        m = _BULLET.match(line)
        if m:
            return "bullet", m.end()
    return None


def _clean_item(parts: list[str]) -> str:
    # "1. **Poem writing**" with the task on the next line: the bold line is a title.
    title = _BOLD_LINE.match(parts[0].strip())
    if len(parts) > 1 and title and len(title.group(1).split()) <= 6 and title.group(1).strip()[-1:] not in ".?!":
        parts = parts[1:]
    text = collapse_ws(" ".join(parts))
    m = _BOLD_TITLE.match(text)
    if m and len(m.group(1).split()) <= 6:
        text = text[m.end():]
    text = _TASK_LABEL.sub("", text.replace("**", "").strip())
    if len(text) >= 2 and _QUOTES.get(text[0]) == text[-1]:
        text = text[1:-1].strip()
    return normalize_instruction(text)


def parse_instruction_list(text: str | None, *, first_number: int | None = None,
                           finish_reason: str | None = None, drop_all_on_length: bool = True) -> InstructionParse:
    """Split a model answer into new instructions.

    ``first_number`` is the number the prompt ended with (9 for 8 in-context
    tasks) when the answer is a raw continuation, as from a completions
    endpoint: text before the first marker is then item ``first_number`` and
    only numbered markers count (a bullet line continues an item).  With None
    (chat) any marker style is accepted, and text before the list is kept only
    if it sits right above it and does not look like a preamble.  Only
    None-or-not matters; the number itself is informational.

    ``finish_reason == "length"`` drops the whole answer (the original's rule);
    with ``drop_all_on_length=False`` only the last, possibly cut, item goes.
    """
    if finish_reason == "length" and drop_all_on_length:
        return InstructionParse([], dropped_for_length=True)
    text = _markup.drop_code_fences(_markup.normalize_newlines(text if isinstance(text, str) else ""))
    discarded: list[str] = []
    lead: list[str] = []            # unmarked lines before the first marker
    items: list[list[str]] = []     # each item's lines
    style = "num" if first_number is not None else None
    attach = False  # does an unmarked line continue the current item (a wrapped line)?
    for raw in text.split("\n"):
        line = raw.strip()
        if not line:
            attach = False
            if not items and first_number is None:
                # A chat paragraph set apart from the list is a preamble, not item 9.
                discarded.extend(lead)
                lead.clear()
            continue
        found = _marker(line, style)
        if found is not None:
            style = found[0]
            items.append([line[found[1]:]])
            attach = True
        elif not items:
            lead.append(line)
        elif attach and not (_markup.is_sign_off(line) or _markup.is_refusal(line)):
            items[-1].append(line)
        else:
            # Unmarked text after a gap, or a sign-off, is commentary between or after the items.
            attach = False
            discarded.append(line)

    lead_kept = []
    for line in lead:
        chatter = _markup.is_preamble(line) or _markup.is_refusal(line) or _markup.is_sign_off(line)
        if chatter or (first_number is None and line.endswith(":")):
            discarded.append(line)
        else:
            lead_kept.append(line)
    if lead_kept and (items or first_number is not None):
        items.insert(0, lead_kept)
    elif lead_kept:
        # A chat answer with no list at all is not what was asked for.
        discarded.extend(lead_kept)

    if finish_reason == "length" and items:
        discarded.append(collapse_ws(" ".join(items.pop())))
    out: list[str] = []
    seen: set[str] = set()
    for parts in items:
        item = _clean_item(parts)
        if not item:
            continue
        if item in seen:
            discarded.append(item)
            continue
        seen.add(item)
        out.append(item)
    return InstructionParse(out, dropped_for_length=False, discarded=discarded)


# ---------------------------------------------------------------- the stage

class InstructionStage:
    """Stage 1 as a ``Stage``: the item is the request's index. Its prompt samples the live pool; its
    answer's instructions are filtered and checked against the near-duplicate index in order, and the
    ones kept join the pool at once, so the next answer is checked against them too.

    ``dedup`` is a near-duplicate filter (``selfinstruct.dedup``): ``check_and_add(text)`` decides and
    remembers. Instructions beyond ``target`` are dropped unexamined (the run has what it asked for).
    """

    name = "generate"
    prefix = "gen-"   # of every request id of this stage

    def __init__(self, state: RunState, builder: InstructionPromptBuilder, instruction_filter: InstructionFilter,
                 dedup: Any, *, target: int, seed: int) -> None:
        self.state = state
        self.builder = builder
        self.filter = instruction_filter
        self.dedup = dedup
        self.target = target
        self.seed = seed

    @classmethod
    def request_id(cls, index: int) -> str:
        return f"{cls.prefix}{index:06d}"

    @classmethod
    def index(cls, request_id: str) -> int:
        return int(request_id[len(cls.prefix):])

    def ask(self, index: int) -> Ask:
        rng = random.Random(f"{self.seed}:{index}")
        state = self.state
        machine = state.pool_clf if self.builder.config.classification_only else state.pool
        prompt = self.builder.build(rng, machine)
        first_number = None
        if prompt.endpoint == "completions":
            first_number = self.builder.config.num_prompt_instructions + 1
        return Ask(self.request_id(index), prompt, {"stage": "generate", "first_number": first_number})

    def answer(self, index: int, answer: Answer | None) -> Outcome:
        assert answer is not None  # this stage always asks
        rid = answer.id
        parse = parse_instruction_list(answer.text, first_number=answer.meta.get("first_number"),
                                       finish_reason=answer.finish_reason)
        out = Outcome(reject_key=rid)
        if parse.dropped_for_length:
            out.rejects.append(Reject("generate", "finish_reason_length", answer.text[:2000], {"request_id": rid}))
        pool = self.state.pool
        for text in parse.instructions:
            if len(pool) >= self.target:
                break  # the run has what it asked for; the rest of this answer is surplus
            verdict = self.filter.check(text)
            if not verdict.ok:
                out.rejects.append(Reject("instruction", verdict.reason or "filtered", text, {"request_id": rid}))
                continue
            decision = self.dedup.check_and_add(text)
            if not decision.keep:
                out.rejects.append(Reject("instruction", "rouge_l_similar", text, {
                    "request_id": rid, "max_rouge_l": round(decision.max_score, 4),
                    "most_similar": dict(list(decision.most_similar.items())[:3])}))
                continue
            pool.append(text)
            out.advances.append(text)
            out.records.append(Record("instruction", instruction_key(text), {
                "instruction": text,
                "most_similar": decision.most_similar,
                "avg_similarity_score": decision.avg_similarity_estimate,
                "avg_similarity_is_estimate": True,
                "metadata": {"request_id": rid, "finish_reason": answer.finish_reason,
                             "max_rouge_l": round(decision.max_score, 4)},
                "request_idx": index,
            }))
        # The mark says this answer was processed: a restart re-processes only unmarked answers.
        out.records.append(Record("processed", rid, {"accepted": len(out.advances)}))
        return out

    def failed(self, index: int, ask: Ask, error: str) -> Outcome:
        return Outcome(records=[Record("processed", ask.id, {"accepted": 0})],
                       rejects=[Reject("generate", "request_failed", "", {"request_id": ask.id, "error": error})],
                       reject_key=ask.id)

    @staticmethod
    def imported(text: str) -> Record:
        """The record of an instruction produced elsewhere (``--import-run-files``), taken as accepted."""
        return Record("instruction", instruction_key(text), {
            "instruction": text, "most_similar": {}, "avg_similarity_score": None,
            "avg_similarity_is_estimate": True, "metadata": {"imported": True}, "request_idx": -1})
