"""Our BLEU / ROUGE-L equal sacrebleu and rouge_score computed directly; bootstrap and per-app arithmetic."""

from __future__ import annotations

import json

import numpy as np
import pytest
import sacrebleu
from conftest import BASELINES_DIR
from rouge_score import rouge_scorer

from selfinstruct.evaluate.metrics import (
    BootstrapConfig,
    corpus_bleu_from_stats,
    per_app_breakdown,
    resample_weights,
    score_tasks,
    summarize,
)


def _pairs(model: str) -> tuple[list[str], list[str]]:
    rows = [json.loads(line) for line in (BASELINES_DIR / f"{model}_predictions.jsonl").read_text().splitlines()]
    return [r["response"].strip() for r in rows], [r["target"].strip() for r in rows]


@pytest.mark.parametrize("model", ["text-davinci-003", "davinci-self-instruct", "davinci-t0-ft"])
def test_bleu_and_rouge_match_reference_libraries(model):
    responses, targets = _pairs(model)
    scores = score_tasks(responses, targets)
    summary = summarize(scores, BootstrapConfig(resamples=50))

    expected_bleu = sacrebleu.corpus_bleu(responses, [targets]).score
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    expected_rouge = [scorer.score(t, r)["rougeL"].fmeasure for r, t in zip(responses, targets)]
    expected_sentence = [sacrebleu.sentence_bleu(r, [t]).score for r, t in zip(responses, targets)]

    assert round(summary["bleu"].value, 2) == round(expected_bleu, 2)
    assert summary["bleu"].value == pytest.approx(expected_bleu, abs=1e-9)
    assert round(summary["rouge_l"].value, 2) == round(float(np.mean(expected_rouge)), 2)
    np.testing.assert_allclose(scores.rouge_l, expected_rouge, rtol=0, atol=1e-12)
    np.testing.assert_allclose(scores.sentence_bleu, expected_sentence, rtol=0, atol=1e-9)


def test_corpus_bleu_from_resampled_stats_matches_sacrebleu():
    responses, targets = _pairs("text-davinci-001")
    scores = score_tasks(responses, targets)
    rng = np.random.default_rng(7)
    for _ in range(5):
        idx = rng.integers(0, len(responses), size=len(responses))  # with repeats, like a bootstrap resample
        direct = sacrebleu.corpus_bleu([responses[i] for i in idx], [[targets[i] for i in idx]]).score
        assert corpus_bleu_from_stats(scores.bleu_stats[idx].sum(axis=0)) == pytest.approx(direct, abs=1e-9)


def test_resample_weights_are_counts_of_draws():
    w = resample_weights(30, BootstrapConfig(resamples=40, seed=3))
    assert w.shape == (40, 30)
    assert (w.sum(axis=1) == 30).all()
    assert not np.array_equal(w[0], w[1])
    np.testing.assert_array_equal(w, resample_weights(30, BootstrapConfig(resamples=40, seed=3)))


def test_intervals_bracket_the_estimate_and_are_seeded():
    responses, targets = _pairs("text-davinci-002")
    scores = score_tasks(responses[:80], targets[:80])
    a = summarize(scores, BootstrapConfig(resamples=300, seed=1))
    b = summarize(scores, BootstrapConfig(resamples=300, seed=1))
    c = summarize(scores, BootstrapConfig(resamples=300, seed=2))
    assert a == b
    assert a["rouge_l"] != c["rouge_l"]
    for iv in a.values():
        assert iv.low <= iv.value <= iv.high
        assert iv.low < iv.high


def test_identical_answers_score_perfectly_and_empty_ones_zero():
    targets = ["The cat sat on the mat today.", "Paris is the capital of France."]
    perfect = score_tasks(targets, targets)
    assert corpus_bleu_from_stats(perfect.bleu_stats.sum(axis=0)) == pytest.approx(100.0)
    assert perfect.rouge_l.tolist() == [1.0, 1.0]
    empty = score_tasks(["", ""], targets)
    assert empty.rouge_l.tolist() == [0.0, 0.0]
    assert corpus_bleu_from_stats(empty.bleu_stats.sum(axis=0)) == 0.0


def test_per_app_breakdown():
    responses = ["a b c d", "x y z", "a b c d", "q"]
    targets = ["a b c d", "x y w", "e f g h", "q"]
    apps = ["A", "B", "A", "B"]
    scores = score_tasks(responses, targets)
    out = per_app_breakdown(apps, scores)
    assert list(out) == ["A", "B"]
    assert out["A"]["n"] == 2 and out["B"]["n"] == 2
    assert out["A"]["rouge_l"] == pytest.approx((1.0 + 0.0) / 2)
    assert out["A"]["bleu"] == pytest.approx(sacrebleu.corpus_bleu(["a b c d", "a b c d"], [["a b c d", "e f g h"]]).score)
    assert out["A"]["bertscore_f1"] is None
