"""Exact ROUGE-L: equal to rouge_score's rougeL fmeasure (no stemming), float for float."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rouge_score import rouge_scorer
from rouge_score import tokenize as rs_tokenize

from selfinstruct.rouge import Vocabulary, f_measure, f_measure_many, lcs_many, rouge_l_f, tokenize
from benchmarks.synthetic import mutate

from .conftest import EDGE_TEXTS

SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def reference(a: str, b: str) -> float:
    return SCORER.score(a, b)["rougeL"].fmeasure


@pytest.fixture(scope="module")
def pairs(seed_texts, eval_texts) -> list[tuple[str, str]]:
    rng = random.Random(99)
    real = seed_texts + eval_texts + EDGE_TEXTS
    out = [(rng.choice(real), rng.choice(real)) for _ in range(6000)]
    for _ in range(4000):  # near-duplicates: the scores that matter, around 0.7
        t = rng.choice(real)
        out.append((t, mutate(t, rng, edits=rng.choice((1, 2, 3, 4)))))
    # Every (m, n, L) with 2L/(m+n) == 0.7 exactly, plus its neighbours L - 1 and L + 1.
    for m, n in itertools.product(range(1, 41), repeat=2):
        if (7 * (m + n)) % 20 == 0:
            lcs0 = 7 * (m + n) // 20
            for lcs in (lcs0 - 1, lcs0, lcs0 + 1):
                if 0 < lcs <= min(m, n):
                    common = [f"c{i}" for i in range(lcs)]
                    out.append((" ".join(common + [f"a{i}" for i in range(m - lcs)]),
                                " ".join([f"b{i}" for i in range(n - lcs)] + common)))
    return out


def test_equal_to_rouge_score_on_10k_pairs_including_the_boundary(pairs):
    assert len(pairs) >= 10_000
    mismatches = [(a, b) for a, b in pairs if rouge_l_f(a, b) != reference(a, b)]
    assert mismatches == []
    # The boundary really is exercised, on both sides of the 0.7 rule.
    boundary = [reference(a, b) for a, b in pairs if abs(reference(a, b) - 0.7) < 1e-9]
    assert any(s > 0.7 for s in boundary) and any(s <= 0.7 for s in boundary)


def test_shortcut_formula_would_flip_decisions_at_the_boundary():
    # 2L/(m+n) says exactly 0.7 (kept); rouge_score's arithmetic says 0.7000000000000001 (rejected).
    a = " ".join(f"c{i}" for i in range(7)) + " x1 x2"
    b = " ".join(f"c{i}" for i in range(7)) + " y1 y2 y3 y4"
    assert 2 * 7 / (9 + 11) == 0.7
    assert rouge_l_f(a, b) == reference(a, b) > 0.7


def test_symmetric(pairs):
    assert all(rouge_l_f(a, b) == rouge_l_f(b, a) for a, b in pairs[::7])


def test_vectorised_f_equals_scalar_for_every_small_case():
    for m, n in itertools.product(range(0, 30), repeat=2):
        lcs = np.arange(0, min(m, n) + 1)
        got = f_measure_many(lcs, m, np.full(lcs.size, float(n)))
        assert got.tolist() == [f_measure(int(x), m, n) for x in lcs]


def test_lcs_many_matches_rouge_tables(seed_texts):
    vocab = Vocabulary()
    seqs = [vocab.encode(t) for t in seed_texts[:60]]
    got = f_measure_many(lcs_many(seqs[0], seqs), len(seqs[0]), np.array([len(s) for s in seqs], dtype=float))
    assert got.tolist() == [reference(seed_texts[0], t) for t in seed_texts[:60]]


@pytest.mark.parametrize("text", EDGE_TEXTS + ["Don't", "e-mail", "ﬁle", "ß", "ＡＢＣ full width", "x\u0307"])
def test_tokenizer_matches_rouge_score(text):
    assert tokenize(text) == rs_tokenize.tokenize(text, None)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_tokenizer_matches_rouge_score_on_arbitrary_text(text):
    assert tokenize(text) == rs_tokenize.tokenize(text, None)
    assert len(Vocabulary().encode(text)) == len(tokenize(text))
