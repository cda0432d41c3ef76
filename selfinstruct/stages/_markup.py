"""Recognisers for the chatter chat models wrap around an answer: preambles, sign-offs, code fences, bold.

Shared by the instruction and instance parsers.  They are deliberately
narrow (a line must *start* like a preamble or sign-off) so that real content
is not thrown away.
"""

from __future__ import annotations

import re

__all__ = ["PREAMBLE", "SIGN_OFF", "REFUSAL", "is_preamble", "is_sign_off", "is_refusal", "drop_code_fences",
           "normalize_newlines"]

# "Sure! Here are 7 more tasks:", "Certainly.", "Below is the continuation:" ...
PREAMBLE = re.compile(
    r"^(?:sure|certainly|of course|okay|ok|absolutely|great|alright|here(?:'s|\s+is|\s+are)"
    r"|below\s+(?:is|are)|continuing|continued|the\s+following|these\s+are\s+(?:some|more))\b",
    re.IGNORECASE,
)
# "I hope these help!", "Let me know if ...", "Feel free to ..."
SIGN_OFF = re.compile(
    r"^(?:i\s+hope|hope\s+(?:this|these|that)|let\s+me\s+know|feel\s+free|please\s+let\s+me"
    r"|is\s+there\s+anything|would\s+you\s+like|if\s+you\s+(?:need|want|would)|enjoy[!.]"
    r"|good\s+luck|these\s+tasks\s+(?:cover|should|are|span)|i\s+(?:have|'ve)\s+(?:tried|included|made))",
    re.IGNORECASE,
)
# "I'm sorry, but I can't ..." must never become an instruction.
REFUSAL = re.compile(
    r"^(?:i'?m\s+sorry|i\s+am\s+sorry|sorry,|as\s+an\s+ai|i\s+(?:cannot|can't|can\s*not|won't)|unfortunately)",
    re.IGNORECASE,
)
_FENCE = re.compile(r"^\s*```[\w-]*\s*$")


def _bare(line: str) -> str:
    return line.strip().strip("*_#> ").strip()


_ABOUT_THE_ANSWER = re.compile(r"\b(?:tasks?|instructions?|examples?|continu\w*)\b", re.IGNORECASE)


def is_preamble(line: str) -> bool:
    """A preamble opens like one *and* is about the answer: it ends with a colon, is a bare
    "Sure!", or talks about tasks/examples.  "Here is a poem; summarize it." stays a task."""
    bare = _bare(line)
    if not PREAMBLE.match(bare):
        return False
    return bare.endswith(":") or len(bare.split()) <= 3 or bool(_ABOUT_THE_ANSWER.search(bare))


def is_sign_off(line: str) -> bool:
    return bool(SIGN_OFF.match(_bare(line)))


def is_refusal(line: str) -> bool:
    return bool(REFUSAL.match(_bare(line).replace("\u2019", "'")))


def normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def drop_code_fences(text: str) -> str:
    """Remove lines that only open or close a markdown code block (chat models wrap lists in them)."""
    return "\n".join(line for line in text.split("\n") if not _FENCE.match(line))
