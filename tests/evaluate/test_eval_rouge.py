"""The fast ROUGE-L equals rouge_score's, pair by pair and as a max over references."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import REPO_ROOT
from rouge_score import rouge_scorer

from selfinstruct.rouge import max_rouge_l, rouge_l_pairs

CASES = [
    ("", "anything"),
    ("anything", ""),
    ("!!!", "..."),
    ("The running dogs ran quickly.", "A dog runs quick!"),
    ("Running, runners; RUN.", "run run run"),
    ("1. First 2. Second", "first second third"),
    ("naïve café", "naive cafe"),
]


@pytest.mark.parametrize("stem", [True, False])
@pytest.mark.parametrize(("target", "prediction"), CASES)
def test_pairs_equal_rouge_score(stem, target, prediction):
    expected = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=stem).score(target, prediction)["rougeL"].fmeasure
    assert rouge_l_pairs([target], [prediction], use_stemmer=stem)[0] == expected


def test_max_against_seed_tasks_equals_brute_force():
    seeds = [json.loads(line)["instruction"] for line in (REPO_ROOT / "data" / "seed_tasks.jsonl").read_text().splitlines()]
    candidates = [s.replace("the", "a").upper() for s in seeds[:12]] + ["Completely unrelated words here", "", "?"]
    best, which = max_rouge_l(candidates, seeds, use_stemmer=False)
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    for i, cand in enumerate(candidates):
        brute = [scorer.score(s, cand)["rougeL"].fmeasure for s in seeds]
        assert best[i] == pytest.approx(max(brute), abs=1e-12)
        if max(brute) > 0:
            assert brute[which[i]] == pytest.approx(max(brute), abs=1e-12)


def test_max_with_no_references():
    best, which = max_rouge_l(["a b"], [])
    assert best.tolist() == [0.0] and which.tolist() == [-1]
    assert max_rouge_l([], ["x"])[0].shape == (0,)


def test_many_distinct_tokens_map_past_the_surrogate_block():
    # more than 0xD800 distinct tokens exercise the code-point mapping's surrogate skip
    words = [f"w{i}" for i in range(0xD800 + 50)]
    cand = " ".join(words[-40:])
    ref = " ".join(words[:10] + words[-40:-20])
    best, _ = max_rouge_l([cand], [ref, " ".join(words[:30000])])
    expected = rouge_scorer.RougeScorer(["rougeL"]).score(ref, cand)["rougeL"].fmeasure
    assert best[0] == pytest.approx(expected) and expected > 0
    assert np.isfinite(best).all()
