"""Stage 1b: the original's heuristic instruction filters, each rejection named by a reason code.

Reason codes, checked in this order (the first that applies wins):

    empty                    nothing left after stripping
    too_short                word count <= 3  (config: min_words=4)
    too_long                 word count > 150 (config: max_words=150)
    blacklist:<word>         contains a blacklisted word or phrase (word boundary, any case)
    write_a_program          starts with "Write a program": the original's ``startswith`` exactly
                             (config ``write_a_program_rule = "word_boundary"``: any case, any
                             whitespace between the words, "program" as a whole word)
    starts_with_punctuation  first character is ASCII punctuation
    starts_with_non_ascii    first character is not ASCII

The ROUGE-L near-duplicate check is a separate step applied after these.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field

from selfinstruct.errors import ConfigError
from selfinstruct.stages.base import FilterResult

__all__ = [
    "DEFAULT_BLACKLIST",
    "ALPACA_EXTRA_BLACKLIST",
    "INSTRUCTION_REJECT_REASONS",
    "WRITE_A_PROGRAM_RULES",
    "InstructionFilterConfig",
    "InstructionFilter",
]

# Words that point at things a text-only model cannot see or produce (the original's list).
DEFAULT_BLACKLIST: tuple[str, ...] = (
    "image", "images", "graph", "graphs", "picture", "pictures", "file", "files",
    "map", "maps", "draw", "plot", "go to",
)
# Stanford Alpaca added these to the same idea.
ALPACA_EXTRA_BLACKLIST: tuple[str, ...] = ("video", "audio", "music", "flowchart", "diagram")

WRITE_A_PROGRAM_RULES = ("original", "word_boundary")

INSTRUCTION_REJECT_REASONS = (
    "empty", "too_short", "too_long", "blacklist:<word>", "write_a_program",
    "starts_with_punctuation", "starts_with_non_ascii",
)


@dataclass(frozen=True, kw_only=True)
class InstructionFilterConfig:
    """Thresholds and word lists for ``InstructionFilter``; defaults reproduce the original."""

    min_words: int = field(default=4, metadata={"help": "reject instructions with fewer words (original: <= 3)"})
    max_words: int = field(default=150, metadata={"help": "reject instructions with more words"})
    blacklist: tuple[str, ...] = field(default=DEFAULT_BLACKLIST,
                                       metadata={"help": "words/phrases that reject an instruction"})
    extra_blacklist: tuple[str, ...] = field(default=(), metadata={"help": "added to blacklist"})
    use_alpaca_extras: bool = field(default=False,
                                    metadata={"help": "also reject video, audio, music, flowchart, diagram"})
    reject_write_a_program: bool = field(default=True,
                                         metadata={"help": "reject instructions starting 'Write a program'"})
    write_a_program_rule: str = field(default="original", metadata={
        "help": "how 'Write a program' is matched: 'original' (the original's "
                "startswith(\"Write a program\"): case-sensitive, also 'Write a programme') or 'word_boundary' "
                "(any case and spacing, 'program' as a whole word)"})

    def __post_init__(self) -> None:
        if self.min_words < 0 or self.max_words < self.min_words:
            raise ConfigError(f"instruction filter: need 0 <= min_words <= max_words, "
                              f"got min_words={self.min_words}, max_words={self.max_words}")
        if self.write_a_program_rule not in WRITE_A_PROGRAM_RULES:
            raise ConfigError(f"instruction filter: write_a_program_rule must be one of {WRITE_A_PROGRAM_RULES}, "
                              f"got {self.write_a_program_rule!r}")
        for word in (*self.blacklist, *self.extra_blacklist):
            if not isinstance(word, str) or not word.strip():
                raise ConfigError(f"instruction filter: blacklist entries must be non-empty strings, got {word!r}")

    def all_blacklisted(self) -> tuple[str, ...]:
        words = [*self.blacklist, *self.extra_blacklist]
        if self.use_alpaca_extras:
            words += ALPACA_EXTRA_BLACKLIST
        # Keep the first spelling of each word; reasons name the word in lower case.
        return tuple(dict.fromkeys(" ".join(w.lower().split()) for w in words))


_WRITE_A_PROGRAM_WORDS = re.compile(r"write\s+a\s+program\b", re.IGNORECASE)


def _starts_write_a_program(text: str, rule: str) -> bool:
    if rule == "original":
        return text.startswith("Write a program")
    return _WRITE_A_PROGRAM_WORDS.match(text) is not None


class InstructionFilter:
    """``check(text)`` decides whether a generated instruction is kept, and why not."""

    def __init__(self, config: InstructionFilterConfig | None = None) -> None:
        self.config = config or InstructionFilterConfig()
        words = self.config.all_blacklisted()
        # One alternation, longest first; a phrase's spaces match any whitespace run.
        # Word boundaries mean "mapping" is not "map" and "good to" is not "go to".
        alternatives = sorted(words, key=len, reverse=True)
        body = "|".join(r"\s+".join(re.escape(part) for part in w.split()) for w in alternatives)
        self._blacklist = re.compile(rf"(?<!\w)(?:{body})(?!\w)", re.IGNORECASE) if words else None

    def check(self, text: str) -> FilterResult:
        text = (text or "").strip()
        if not text:
            return FilterResult.reject("empty")
        n_words = len(text.split())
        if n_words < self.config.min_words:
            return FilterResult.reject("too_short")
        if n_words > self.config.max_words:
            return FilterResult.reject("too_long")
        if self._blacklist is not None:
            hit = self._blacklist.search(text)
            if hit:
                return FilterResult.reject("blacklist:" + " ".join(hit.group(0).lower().split()))
        if self.config.reject_write_a_program and _starts_write_a_program(text, self.config.write_a_program_rule):
            return FilterResult.reject("write_a_program")
        if text[0] in string.punctuation:
            return FilterResult.reject("starts_with_punctuation")
        if not text[0].isascii():
            return FilterResult.reject("starts_with_non_ascii")
        return FilterResult.accept()

    __call__ = check
