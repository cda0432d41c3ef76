"""The exact greedy filter over a whole corpus at once: prefix-filter candidates, exact scores, decisions in order.

``greedy_dedup(texts, seeds=..., config=...)`` makes exactly the decisions of
``ExactRougeFilter.check_and_add_many`` (each text is rejected iff its ROUGE-L F
against a seed or an earlier *kept* text exceeds the threshold), but scores
only the candidate pairs of selfinstruct.dedup.prefix, which provably include
every pair above the threshold (no miss probability, unlike MinHash-LSH).

Texts are processed in chunks, in input order.  A chunk's candidates are its
texts' keys looked up in an index of the kept texts so far, plus the pairs
inside the chunk; candidates whose bucketed overlap bound (prefix.overlap_ok)
cannot reach alpha are dropped (most of them; the bound is an upper bound,
so no pair above the threshold goes), the rest are scored exactly in bulk
(rapidfuzz's ``cpdist``), and the pairs above the threshold are the chunk's *edges*.
``greedy_from_edges`` then decides the chunk in order, linear in the edges:
a text is kept iff no earlier kept text links to it.  Only kept texts enter
the index, so a family of rejected near-duplicates costs nothing later.  The
Ray path (selfinstruct.dedup.distributed) computes the edges of the whole
corpus in parallel and makes the same decisions with the same function.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import itemgetter

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

from selfinstruct.dedup.config import DedupConfig
from selfinstruct.dedup.postings import KeyIndex, pairs_within
from selfinstruct.dedup.prefix import Features, overlap_ok, overlap_sketch, text_keys
from selfinstruct.rouge import Vocabulary

__all__ = ["GreedyResult", "greedy_dedup", "greedy_from_edges", "score_pairs", "f_measure_pairs"]

_TOP = 10
_SCORE_SLICE = 1 << 19  # candidate pairs scored at once


@dataclass(frozen=True, kw_only=True)
class GreedyResult:
    """Per input text (seeds excluded): kept?, the kept text it matched best (index into seeds + texts, -1 if
    none), that exact score, and up to ten (index, score) matches above the threshold, best first."""

    keep: np.ndarray
    match: np.ndarray
    score: np.ndarray
    untokenizable: np.ndarray
    matches: dict[int, list[tuple[int, float]]] = field(default_factory=dict)
    edges: int = 0
    candidates: int = 0
    scored: int = 0
    chunk_seconds: list[float] = field(default_factory=list)


def f_measure_pairs(lcs: np.ndarray, len_target: np.ndarray, len_pred: np.ndarray) -> np.ndarray:
    """rouge_score's F, element-wise, in its own IEEE operation order (see selfinstruct.rouge.f_measure)."""
    lcs = lcs.astype(np.float64)
    hit = lcs > 0
    precision = lcs / np.where(hit, len_pred, 1.0)
    recall = lcs / np.where(hit, len_target, 1.0)
    total = precision + recall
    total[total == 0.0] = 1.0
    return 2.0 * precision * recall / total


def score_pairs(seqs: Sequence[str], lens: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact ROUGE-L F of text b (target) against text a (prediction), pair by pair."""
    lcs = np.zeros(a.size, dtype=np.int32)
    # In slices: the Python lists cpdist needs cost about 80 bytes a pair, and a late chunk of a
    # million texts has millions of candidates (this was the run's memory peak).
    for lo in range(0, a.size, _SCORE_SLICE):
        sa, sb = a[lo: lo + _SCORE_SLICE], b[lo: lo + _SCORE_SLICE]
        if sa.size == 1:
            lcs[lo] = LCSseq.similarity(seqs[int(sb[0])], seqs[int(sa[0])])
        else:
            lcs[lo: lo + sa.size] = process.cpdist(itemgetter(*sb.tolist())(seqs), itemgetter(*sa.tolist())(seqs),
                                                   scorer=LCSseq.similarity, dtype=np.int32, workers=1)
    return f_measure_pairs(lcs, lens[b].astype(np.float64), lens[a].astype(np.float64))


def greedy_from_edges(keep: np.ndarray, src: np.ndarray, dst: np.ndarray, score: np.ndarray,
                      match: np.ndarray, best: np.ndarray, matches: dict[int, list[tuple[int, float]]]) -> None:
    """Decide the texts that edges point to, in increasing order: rejected iff an earlier kept text links to it.

    ``keep`` holds the current verdicts (True for every text not yet rejected;
    seeds True); edges go from an earlier text ``src`` to a later ``dst`` and all
    score above the threshold.  Linear in the edges (plus their sort).  Updates
    keep/match/best/matches in place.
    """
    if dst.size == 0:
        return
    order = np.lexsort((src, dst))
    src, dst, score = src[order].tolist(), dst[order].tolist(), score[order].tolist()
    i, n = 0, len(dst)
    while i < n:
        j = dst[i]
        k = i
        linked = []
        while k < n and dst[k] == j:
            if keep[src[k]]:
                linked.append((src[k], score[k]))
            k += 1
        if linked and keep[j]:
            keep[j] = False
            linked.sort(key=lambda e: (-e[1], e[0]))  # best first; ties go to the earlier text
            match[j], best[j] = linked[0]
            matches[j] = linked[:_TOP]
        i = k


def greedy_dedup(texts: Sequence[str], *, seeds: Sequence[str] = (), config: DedupConfig = DedupConfig(),
                 chunk_items: int = 20_000) -> GreedyResult:
    """The exact greedy filter over ``texts`` with ``seeds`` pre-loaded (see the module docstring)."""
    vocab = Vocabulary()
    seqs = [vocab.encode(t) for t in seeds] + [vocab.encode(t) for t in texts]
    first = len(seeds)
    total = len(seqs)
    feats = Features.of_token_strings(seqs)
    lens = feats.lens
    sketch = overlap_sketch(feats)
    t = config.threshold
    empty = lens == 0
    keep = np.ones(total, dtype=bool)
    keep[first:] &= ~empty[first:] | (config.untokenizable == "keep")
    match = np.full(total, -1, dtype=np.int64)
    best = np.zeros(total, dtype=np.float64)
    matches: dict[int, list[tuple[int, float]]] = {}
    index = KeyIndex()
    if first:
        seed_keys, seed_items, seed_rest = text_keys(feats, np.arange(first, dtype=np.int64), t)
        index.insert(seed_keys, seed_items, seed_rest, lens[seed_items])
    n_edges = n_cand = n_scored = 0
    chunk_seconds = []
    for lo in range(first, total, chunk_items):
        t0 = time.perf_counter()
        hi = min(total, lo + chunk_items)
        keys, items, rest = text_keys(feats, np.arange(lo, hi, dtype=np.int64), t)
        pa, pb = index.lookup(keys, items, rest, lens[items], t)
        wa, wb = pairs_within(keys, items, rest, lens[items], t)
        a, b = np.concatenate([pa, wa]), np.concatenate([pb, wb])
        n_cand += a.size
        bounded = overlap_ok(sketch, lens, a, b, t)  # most candidates cannot reach alpha: no LCS for them
        a, b = a[bounded], b[bounded]
        n_scored += a.size
        scores = score_pairs(seqs, lens, a, b)
        above = scores > t  # the original rejects on max > threshold, so F == t is kept
        n_edges += int(above.sum())
        greedy_from_edges(keep, a[above], b[above], scores[above], match, best, matches)
        kept = np.flatnonzero(keep[lo:hi] & ~empty[lo:hi]) + lo
        sel = np.isin(items, kept)
        index.insert(keys[sel], items[sel], rest[sel], lens[items[sel]])
        chunk_seconds.append(time.perf_counter() - t0)
    sl = slice(first, total)
    return GreedyResult(keep=keep[sl], match=match[sl], score=best[sl], untokenizable=empty[sl],
                        matches={j - first: v for j, v in matches.items()}, edges=n_edges, candidates=n_cand,
                        scored=n_scored, chunk_seconds=chunk_seconds)
