"""Machine-generated-like instruction streams: benchmark data for dedup_bench.py and the dedup tests (pure, seeded).

Real generated pools look like the seed tasks: the same function words and
sentence shapes ("Write a ... about ...", "Given a ..., classify ..."), varied
content words, and a steady share of near-duplicates (a word dropped, swapped or
added; the same template filled twice).  ``instruction_stream`` reproduces that
from a list of real instructions: it keeps their function words, replaces most
content words from a large Zipf-distributed pseudo-vocabulary, splices the
start of one instruction to the end of another (so sentence shapes do not
repeat a few hundred skeletons over and over), fills code and
writing templates, and re-emits mutated copies of earlier items.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

__all__ = ["FUNCTION_WORDS", "TEMPLATES", "mutate", "fill_template", "instruction_stream"]

FUNCTION_WORDS = frozenset(
    "a an the of to in on for with and or but is are be was were it this that these those as at by from "
    "you your i me my we our they their he she his her what which who how why when where if then than so "
    "not no do does can could should would will give write find given following list make create explain "
    "describe generate identify classify".split()
)

TEMPLATES = (
    "Write a function in {lang} that {task}.",
    "Write a {lang} program to {task}.",
    "Implement {task} in {lang} without using any library.",
    "Write a {form} about {topic}.",
    "Write a short {form} about {topic} for {audience}.",
    "Give me {k} tips on how to {task}.",
    "Explain to {audience} what {topic} is, in {k} sentences.",
    "Classify the following {thing} as {label} or not {label}.",
    "Given a {thing}, {task}.",
)
_SLOTS = {
    "lang": "Python JavaScript Rust Go C++ Java Haskell Kotlin Swift Ruby SQL Bash".split(),
    "form": "poem story essay haiku letter speech review summary joke limerick".split(),
    "audience": "a child;a beginner;my grandmother;a software engineer;a doctor;students".split(";"),
    "label": "positive spam toxic sarcastic formal urgent".split(),
    "thing": "sentence tweet email review news headline product description paragraph".split(),
    "k": "two three five seven ten".split(),
}
_SYLLABLES = "ka lo mi re su ta vin dor pel mar qui zen bro fa lu ne tor sa pi gam hex cor".split()


def _pseudo_word(rank: int) -> str:
    out = []
    rank += 1
    while rank:
        rank, d = divmod(rank, len(_SYLLABLES))
        out.append(_SYLLABLES[d])
    return "".join(out)


class _Words:
    """A Zipf-distributed content vocabulary of pseudo-words (rank r drawn with weight 1/r)."""

    def __init__(self, rng: random.Random, size: int) -> None:
        self._rng = rng
        self._size = size

    def draw(self) -> str:
        # Inverse-CDF sampling of a continuous 1/x law on [1, size]: cheap and Zipf-like.
        return _pseudo_word(int(self._size ** self._rng.random()) - 1)


def mutate(text: str, rng: random.Random, *, edits: int = 1, filler: Sequence[str] = ("very", "new", "the")) -> str:
    """Apply ``edits`` random word-level edits: drop, swap neighbours, insert, repeat or replace a word."""
    words = text.split()
    for _ in range(edits):
        if not words:
            words = [rng.choice(filler)]
            continue
        op = rng.randrange(5)
        i = rng.randrange(len(words))
        if op == 0 and len(words) > 1:
            del words[i]
        elif op == 1 and len(words) > 1:
            j = min(i + 1, len(words) - 1) if i + 1 < len(words) else i - 1
            words[i], words[j] = words[j], words[i]
        elif op == 2:
            words.insert(i, rng.choice(filler))
        elif op == 3:
            words.insert(i, words[i])
        else:
            words[i] = rng.choice(filler)
    return " ".join(words)


def fill_template(rng: random.Random, tasks: Sequence[str], topics: Sequence[str]) -> str:
    template = rng.choice(TEMPLATES)
    values = {name: rng.choice(choices) for name, choices in _SLOTS.items()}
    values["task"] = rng.choice(tasks)
    values["topic"] = rng.choice(topics)
    return template.format(**values)


def _respell(text: str, rng: random.Random, words: _Words, keep: float) -> str:
    out = []
    for w in text.split():
        core = w.strip(".,:;!?\"'()").lower()
        out.append(w if core in FUNCTION_WORDS or rng.random() < keep else words.draw())
    return " ".join(out)


def _splice(a: str, b: str, rng: random.Random) -> str:
    """The start of one real instruction joined to the end of another: new sentence shapes, real function words."""
    wa, wb = a.split(), b.split()
    i = rng.randint(min(2, len(wa)), len(wa))
    j = rng.randint(0, max(0, len(wb) - 2))
    return " ".join(wa[:i] + wb[j:])


def instruction_stream(base: Sequence[str], n: int, *, seed: int = 0, dup_rate: float = 0.10,
                       template_rate: float = 0.05, vocab_size: int = 200_000) -> Iterator[str]:
    """Yield ``n`` synthetic instructions built from the real instructions in ``base``."""
    rng = random.Random(seed)
    words = _Words(rng, vocab_size)
    tasks = [
        "sort a list of numbers", "reverse a string", "check whether a number is prime",
        "count the vowels in a sentence", "merge two sorted arrays", "find the longest common prefix",
        "parse a CSV file", "compute the factorial of n", "remove duplicates from a list",
        "validate an email address", "convert Celsius to Fahrenheit", "find the median of an array",
    ]
    recent: list[str] = []
    for _ in range(n):
        roll = rng.random()
        if recent and roll < dup_rate:
            text = mutate(rng.choice(recent), rng, edits=rng.choice((1, 1, 2, 3)))
        elif roll < dup_rate + template_rate:
            topic = " ".join(words.draw() for _ in range(rng.choice((1, 2))))
            task = rng.choice(tasks) if rng.random() < 0.2 else _respell(rng.choice(tasks), rng, words, 0.3)
            text = fill_template(rng, [task], [topic])
        else:
            text = _respell(_splice(rng.choice(base), rng.choice(base), rng), rng, words, keep=0.3)
        recent.append(text)
        if len(recent) > 2000:
            recent = recent[-1000:]
        yield text
