"""Exact rouge_score ROUGE-L, made fast: rouge_score's own tokenizer, a cached stemmer, and rapidfuzz's LCS.

rouge_score spends its time in two places: Porter-stemming every token of every
text again and again, and a pure-Python LCS table. The tokens here come from
``rouge_score.tokenize.tokenize`` itself (so tokenisation is identical), with a
memoising wrapper around its Porter stemmer; the LCS length comes from
rapidfuzz (bit-parallel, exact); precision, recall and F follow rouge_score's
formulas operation for operation, so the floats are the same.

For many-against-many comparisons (generated instructions against seed tasks)
each distinct token is mapped to one Unicode code point, turning token lists
into strings that ``rapidfuzz.process.cdist`` compares in parallel. An LCS
over tokens equals the LCS over those code points because the map is one-to-one.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

__all__ = ["RougeTokenizer", "rouge_l_f", "rouge_l_pairs", "max_rouge_l"]


class _CachedStemmer:
    """rouge_score's Porter stemmer with a cache: a corpus repeats the same few thousand words."""

    def __init__(self) -> None:
        from nltk.stem import porter  # the stemmer rouge_score's DefaultTokenizer uses

        self.stem = lru_cache(maxsize=1 << 16)(porter.PorterStemmer().stem)


class RougeTokenizer:
    """rouge_score's default tokenizer (lower-case, alphanumeric runs, optional Porter stemming)."""

    def __init__(self, *, use_stemmer: bool) -> None:
        self._stemmer = _CachedStemmer() if use_stemmer else None

    def tokenize(self, text: str) -> list[str]:
        from rouge_score import tokenize

        return tokenize.tokenize(text, self._stemmer)


def rouge_l_f(target_tokens: Sequence[str], prediction_tokens: Sequence[str]) -> float:
    """ROUGE-L F-measure exactly as rouge_score computes it (0 when either side is empty)."""
    from rapidfuzz.distance import LCSseq

    if not target_tokens or not prediction_tokens:
        return 0.0
    lcs = LCSseq.similarity(target_tokens, prediction_tokens)
    precision = lcs / len(prediction_tokens)
    recall = lcs / len(target_tokens)
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def rouge_l_pairs(targets: Sequence[str], predictions: Sequence[str], *, use_stemmer: bool) -> np.ndarray:
    """ROUGE-L F per (target, prediction) pair."""
    tok = RougeTokenizer(use_stemmer=use_stemmer)
    return np.array([rouge_l_f(tok.tokenize(t), tok.tokenize(p)) for t, p in zip(targets, predictions, strict=True)],
                    dtype=np.float64)


def _as_code_points(token_lists: list[list[str]], vocab: dict[str, int]) -> list[str]:
    def char(i: int) -> str:
        cp = 0x100 + i
        return chr(cp + 0x800 if cp >= 0xD800 else cp)  # skip the surrogate block

    return ["".join(char(vocab.setdefault(t, len(vocab))) for t in tokens) for tokens in token_lists]


def max_rouge_l(candidates: Sequence[str], references: Sequence[str], *, use_stemmer: bool = False,
                workers: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """For each candidate: the highest ROUGE-L F against any reference, and that reference's index (-1 if none)."""
    from rapidfuzz.distance import LCSseq
    from rapidfuzz.process import cdist

    n = len(candidates)
    if n == 0 or not references:
        return np.zeros(n), np.full(n, -1, dtype=np.int64)
    tok = RougeTokenizer(use_stemmer=use_stemmer)
    cand_tokens = [tok.tokenize(c) for c in candidates]
    ref_tokens = [tok.tokenize(r) for r in references]
    vocab: dict[str, int] = {}
    cand_str = _as_code_points(cand_tokens, vocab)
    ref_str = _as_code_points(ref_tokens, vocab)
    lcs = cdist(cand_str, ref_str, scorer=LCSseq.similarity, dtype=np.int32, workers=workers).astype(np.float64)
    len_c = np.array([len(t) for t in cand_tokens], dtype=np.float64)[:, None]
    len_r = np.array([len(t) for t in ref_tokens], dtype=np.float64)[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = lcs / len_c     # the candidate plays the prediction
        recall = lcs / len_r
        f = 2 * precision * recall / (precision + recall)
    f = np.where((len_c > 0) & (len_r > 0) & (lcs > 0), f, 0.0)
    best = np.argmax(f, axis=1)
    return f[np.arange(n), best], best.astype(np.int64)
