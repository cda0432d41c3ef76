"""BLEU and ROUGE-L arithmetic, per-app breakdowns and seeded bootstrap confidence intervals (no I/O).

Corpus BLEU is sacrebleu's, with default settings: it sums per-sentence
sufficient statistics (hypothesis/reference lengths, matched and total n-gram
counts) and computes one score from the sums. We extract those statistics once
per sentence, so a bootstrap resample costs a weighted sum of a (n x 10) matrix
plus one call of sacrebleu's own ``compute_bleu`` - the resampled score is
exactly what sacrebleu would report for the resampled corpus.

Every metric is bootstrapped over the *same* resamples of the task set (paired),
so intervals of different metrics of one model describe the same uncertainty.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "BootstrapConfig",
    "Interval",
    "TaskScores",
    "bleu_statistics",
    "corpus_bleu_from_stats",
    "rouge_l_scores",
    "resample_weights",
    "score_tasks",
    "summarize",
    "per_app_breakdown",
]

_N_ORDER = 4  # sacrebleu's default max n-gram order


@dataclass(frozen=True, kw_only=True, slots=True)
class BootstrapConfig:
    resamples: int = field(default=1000, metadata={"help": "bootstrap resamples"})
    seed: int = field(default=0, metadata={"help": "bootstrap seed"})
    confidence: float = field(default=0.95, metadata={"help": "confidence level of the intervals"})


@dataclass(frozen=True, kw_only=True, slots=True)
class Interval:
    value: float
    low: float
    high: float


@dataclass(frozen=True, kw_only=True, slots=True)
class TaskScores:
    """Per-task scores of one model, aligned with its pairs."""

    bleu_stats: np.ndarray              # (n, 2 + 2*4): sys_len, ref_len, correct[4], total[4]
    sentence_bleu: np.ndarray           # (n,) 0-100
    rouge_l: np.ndarray                 # (n,) 0-1
    bertscore_f1: np.ndarray | None = None
    bertscore_f1_rescaled: np.ndarray | None = None

    @property
    def n(self) -> int:
        return int(self.sentence_bleu.shape[0])


def bleu_statistics(responses: Sequence[str], targets: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per-sentence sacrebleu sufficient statistics and sentence BLEU (effective order, as sacrebleu.sentence_bleu)."""
    from sacrebleu.metrics import BLEU

    # effective_order only changes the sentence-level score, not the counts we sum for corpus BLEU.
    sentence = BLEU(effective_order=True)
    stats = np.zeros((len(responses), 2 + 2 * _N_ORDER), dtype=np.int64)
    scores = np.zeros(len(responses), dtype=np.float64)
    for i, (hyp, ref) in enumerate(zip(responses, targets, strict=True)):
        s = sentence.sentence_score(hyp, [ref])
        stats[i, 0], stats[i, 1] = s.sys_len, s.ref_len
        stats[i, 2:2 + _N_ORDER] = s.counts
        stats[i, 2 + _N_ORDER:] = s.totals
        scores[i] = s.score
    return stats, scores


def corpus_bleu_from_stats(summed: np.ndarray) -> float:
    """sacrebleu's corpus BLEU (default: 'exp' smoothing, no effective order) from summed statistics."""
    from sacrebleu.metrics import BLEU

    return float(BLEU.compute_bleu(
        correct=[int(x) for x in summed[2:2 + _N_ORDER]],
        total=[int(x) for x in summed[2 + _N_ORDER:]],
        sys_len=int(summed[0]),
        ref_len=int(summed[1]),
        smooth_method="exp",
    ).score)


def rouge_l_scores(responses: Sequence[str], targets: Sequence[str]) -> np.ndarray:
    """ROUGE-L F-measure per pair, Porter-stemmed as in the SuperNI evaluation (rouge_score's numbers, faster)."""
    from selfinstruct.rouge import rouge_l_pairs

    return rouge_l_pairs(targets, responses, use_stemmer=True)


def score_tasks(responses: Sequence[str], targets: Sequence[str]) -> TaskScores:
    stats, sentence = bleu_statistics(responses, targets)
    return TaskScores(bleu_stats=stats, sentence_bleu=sentence, rouge_l=rouge_l_scores(responses, targets))


def resample_weights(n: int, cfg: BootstrapConfig) -> np.ndarray:
    """(resamples, n) matrix: how often each task is drawn in each bootstrap resample."""
    rng = np.random.default_rng(cfg.seed)
    idx = rng.integers(0, n, size=(cfg.resamples, n))
    flat = (idx + n * np.arange(cfg.resamples)[:, None]).ravel()
    return np.bincount(flat, minlength=cfg.resamples * n).reshape(cfg.resamples, n).astype(np.float64)


def _interval(value: float, samples: np.ndarray, confidence: float) -> Interval:
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(samples, [alpha, 1.0 - alpha])
    return Interval(value=float(value), low=float(low), high=float(high))


def summarize(scores: TaskScores, cfg: BootstrapConfig) -> dict[str, Interval]:
    """Point estimates and bootstrap intervals for every metric available in ``scores``."""
    n = scores.n
    weights = resample_weights(n, cfg)
    out: dict[str, Interval] = {}

    summed = weights @ scores.bleu_stats.astype(np.float64)  # (resamples, 10), exact integers in float64
    boot_bleu = np.array([corpus_bleu_from_stats(row) for row in summed])
    out["bleu"] = _interval(corpus_bleu_from_stats(scores.bleu_stats.sum(axis=0)), boot_bleu, cfg.confidence)

    def mean_metric(values: np.ndarray) -> Interval:
        return _interval(values.mean(), weights @ values / n, cfg.confidence)

    out["sentence_bleu"] = mean_metric(scores.sentence_bleu)
    out["rouge_l"] = mean_metric(scores.rouge_l)
    if scores.bertscore_f1 is not None:
        out["bertscore_f1"] = mean_metric(scores.bertscore_f1)
    if scores.bertscore_f1_rescaled is not None:
        out["bertscore_f1_rescaled"] = mean_metric(scores.bertscore_f1_rescaled)
    return out


def per_app_breakdown(apps: Sequence[str], scores: TaskScores) -> dict[str, dict[str, float | int | None]]:
    """Per-app n, corpus BLEU, mean sentence BLEU, mean ROUGE-L and mean BERTScore-F1 (None when not computed)."""
    groups: dict[str, list[int]] = {}
    for i, app in enumerate(apps):
        groups.setdefault(app, []).append(i)
    out: dict[str, dict[str, float | int | None]] = {}
    for app in sorted(groups):
        idx = np.array(groups[app])
        out[app] = {
            "n": int(idx.size),
            "bleu": corpus_bleu_from_stats(scores.bleu_stats[idx].sum(axis=0)),
            "sentence_bleu": float(scores.sentence_bleu[idx].mean()),
            "rouge_l": float(scores.rouge_l[idx].mean()),
            "bertscore_f1": None if scores.bertscore_f1 is None else float(scores.bertscore_f1[idx].mean()),
        }
    return out
