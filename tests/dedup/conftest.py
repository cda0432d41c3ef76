"""Test corpora for the dedup tests, built from the vendored seed and evaluation tasks.

Each corpus is a (seeds, stream) pair: the seeds pre-load the pool, the stream
is filtered greedily.  They are chosen to stress the places where a fast filter
could disagree with the exact one: heavy near-duplicate families (mutations,
template fill-ins, code instructions), texts at the 0.7 boundary, very short,
empty, punctuation-only, repeated-word and non-ASCII texts.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from benchmarks.synthetic import instruction_stream, mutate

ROOT = Path(__file__).resolve().parents[2]


def _instructions(path: Path) -> list[str]:
    return [json.loads(line)["instruction"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="session")
def seed_texts() -> list[str]:
    return _instructions(ROOT / "data" / "seed_tasks.jsonl")


@pytest.fixture(scope="session")
def eval_texts() -> list[str]:
    return _instructions(ROOT / "data" / "human_eval" / "user_oriented_instructions.jsonl")


EDGE_TEXTS = [
    "", "   ", "!!!", "?!.,;:", "—", "…", "\n\t", "😀😀😀", "日本語の文を翻訳してください。", "Écris un poème sur la mer.",
    "naïve café résumé", "naive cafe resume", "\u212aelvin scale", "kelvin scale", "İstanbul trip plan", "istanbul trip plan",
    "a", "A", "a.", "hi", "Hi!", "Sort it.", "sort it", "Sort.", "the the the the", "the the the", "the the the the the the",
    "very very very good", "very very good", "a a a b", "a b a b a b", "b a b a b a", "1 2 3 4 5", "1 2 3 4 6",
    "x_y z-w", "x y z w", "C++ vs C#", "c c", "HTML <b>bold</b> tags", "html b bold b tags",
    "Write a poem about love.", "Write a short poem about love.", "Write a poem about love and hate.",
    "Translate 'bonjour' into English.", "Translate “bonjour” into English!",
]

LANGS = ["Python", "JavaScript", "Rust", "Go", "C++", "Java", "Haskell", "Ruby"]
TASKS = [
    "reverses a string", "checks whether a number is prime", "sorts a list of numbers",
    "counts the vowels in a sentence", "merges two sorted arrays", "finds the median of an array",
    "removes duplicates from a list", "computes the factorial of n", "parses a CSV file",
    "validates an email address",
]
TEMPLATES = [
    "Write a function in {lang} that {task}.",
    "Write a {lang} function that {task}.",
    "Implement a {lang} program which {task}.",
    "Can you write {lang} code that {task}?",
    "Write a function in {lang} that {task} and explain it.",
]


def _boundary_texts() -> list[str]:
    # Pairs whose ROUGE-L F is 0.7 in exact arithmetic: (m, n, L) with 2L/(m+n) = 0.7.
    out = []
    for m, n, lcs in [(9, 11, 7), (10, 10, 7), (7, 13, 7), (8, 12, 7), (20, 20, 14), (15, 25, 14), (6, 14, 7 - 1)]:
        common = [f"w{i}" for i in range(lcs)]
        out.append(" ".join(common + [f"t{i}" for i in range(m - lcs)]))
        out.append(" ".join(common + [f"p{i}" for i in range(n - lcs)]))
    return out


@pytest.fixture(scope="session")
def corpora(seed_texts: list[str], eval_texts: list[str]) -> dict[str, tuple[list[str], list[str]]]:
    rng = random.Random(1234)
    real = seed_texts + eval_texts
    mutated = [mutate(t, rng, edits=rng.choice((1, 1, 2, 3, 4))) for t in real for _ in range(3)]
    rng.shuffle(mutated)
    templated = [tpl.format(lang=lang, task=task) for tpl in TEMPLATES for lang in LANGS for task in TASKS]
    rng.shuffle(templated)
    templated += [mutate(t, rng) for t in templated[:200]]
    edges = EDGE_TEXTS + [mutate(t, rng) for t in EDGE_TEXTS for _ in range(2)] + _boundary_texts()
    synthetic = list(instruction_stream(real, 2500, seed=7, dup_rate=0.25, template_rate=0.15))
    return {
        "eval-vs-seeds": (seed_texts, eval_texts),
        "mutations": (seed_texts, mutated),
        "templates": (seed_texts, templated),
        "edge-cases": (seed_texts[:20], edges),
        "synthetic": (seed_texts, synthetic),
        "no-seeds": ([], edges + templated[:150] + mutated[:300]),
    }


NON_LATIN = [
    "请把这句话翻译成英文。", "写一首关于大海的诗。", "请把这句话翻译成英文。", "日本語の文を翻訳してください。",
    "اكتب قصيدة عن البحر.", "Напиши стихотворение о море.", "바다에 관한 시를 써 주세요.", "😀😀😀", "—…—",
]


def _responses(path: Path, words: int) -> list[str]:
    """First ``words`` words of each answer in a vendored prediction file: prose unlike the instructions."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            text = " ".join(str(json.loads(line).get("response", "")).split()[:words])
            if text:
                out.append(text)
    return out


@pytest.fixture(scope="session")
def varied_2000(seed_texts: list[str], eval_texts: list[str]) -> list[str]:
    """2,000 texts with near-duplicates at every similarity level, in a fixed order.

    Real seed and evaluation instructions, the starts of the vendored baseline
    answers, template fill-ins and a synthetic stream, then copies of them with
    1 to 8 word edits (each edit lowers ROUGE-L by a different amount, so pairs
    fall on both sides of every threshold), plus texts with no [a-z0-9] token.
    """
    rng = random.Random(2000)
    preds = ROOT / "data" / "human_eval" / "predictions"
    answers = (_responses(preds / "davinci_predictions.jsonl", 24)
               + _responses(preds / "text-davinci-003_predictions.jsonl", 16))
    templated = [tpl.format(lang=lang, task=task) for tpl in TEMPLATES for lang in LANGS[:4] for task in TASKS[:6]]
    synthetic = list(instruction_stream(seed_texts + eval_texts, 300, seed=11, dup_rate=0.0, template_rate=0.2))
    base = seed_texts + eval_texts + rng.sample(answers, 300) + templated + synthetic
    rng.shuffle(base)
    base = base[:1100]
    mutated = [mutate(rng.choice(base), rng, edits=rng.randint(1, 8))
               for _ in range(2000 - len(base) - len(NON_LATIN))]
    texts = base + mutated + NON_LATIN
    rng.shuffle(texts)
    assert len(texts) == 2000
    return texts


def _grow(public: list[str], size: int, seed: int) -> list[str]:
    """Every public row once, then near-duplicates of random public rows (1 to 4 word edits) up to ``size``."""
    rng = random.Random(seed)
    rows = list(public) + [mutate(rng.choice(public), rng, edits=rng.randint(1, 4)) for _ in range(size - len(public))]
    rng.shuffle(rows)
    return rows


@pytest.fixture(scope="session")
def public_corpora(seed_texts: list[str], eval_texts: list[str]) -> dict[str, list[str]]:
    """Two 10k-row corpora built from public rows (see data/selfbehave/README.md and data/README.md).

    * selfbehave: the 2,086 SelfBehave generated instructions (long Gherkin texts), plus near-duplicates;
    * self-instruct: the 427 seed and evaluation instructions and the starts of the 2,016 vendored model
      answers, plus near-duplicates.
    Real public corpora of 10k+ rows (Self-Instruct's 52k generations, dolly-15k) could not be vendored
    here; these keep their texts real and add the near-duplicate families a generated pool has.
    """
    preds = ROOT / "data" / "human_eval" / "predictions"
    answers = [a for f in sorted(preds.glob("*_predictions.jsonl")) for a in _responses(f, 40)]
    vendored = ROOT / "data" / "selfbehave"
    selfbehave = (_instructions(vendored / "high_quality_generated_instances.jsonl")
                  + _instructions(vendored / "mixed_quality_generated_instances.jsonl"))
    return {"selfbehave": _grow(selfbehave, 10_000, 1), "self-instruct": _grow(seed_texts + eval_texts + answers, 10_000, 2)}
