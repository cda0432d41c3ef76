"""The corpus-at-once filter: prefix keys find every pair above the threshold, decisions equal the brute force."""

from __future__ import annotations

import itertools
import random
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfinstruct.dedup import DedupConfig, ExactRougeFilter
from selfinstruct.dedup.greedy import greedy_dedup
from selfinstruct.dedup.postings import KeyIndex, pairs_within
from selfinstruct.dedup.prefix import PAIR_MAX_TOKENS, Features, overlap_ok, overlap_sketch, text_keys
from selfinstruct.rouge import Vocabulary, rouge_l_f

from .test_dedup_filters import CORPORA

pytestmark = pytest.mark.timeout(120)


def _candidates(texts: list[str], threshold: float) -> set[tuple[int, int]]:
    """Every (earlier, later) pair sharing a prefix key, as both the index and the in-chunk join find them."""
    vocab = Vocabulary()
    seqs = [vocab.encode(t) for t in texts]
    feats = Features.of_token_strings(seqs)
    keys, items, rest = text_keys(feats, np.arange(len(seqs), dtype=np.int64), threshold)
    a, b = pairs_within(keys, items, rest, feats.lens[items], threshold)
    within = set(zip(a.tolist(), b.tolist()))
    # The index path: texts indexed one by one, each looked up before it is added.
    index, found = KeyIndex(), set()
    for i in range(len(seqs)):
        mine = items == i
        pa, pb = index.lookup(keys[mine], items[mine], rest[mine], feats.lens[items[mine]], threshold)
        found |= set(zip(pa.tolist(), pb.tolist()))
        index.insert(keys[mine], items[mine], rest[mine], feats.lens[items[mine]])
    assert found == within
    return within


def _above(texts: list[str], threshold: float) -> set[tuple[int, int]]:
    return {(i, j) for i, j in itertools.combinations(range(len(texts)), 2) if rouge_l_f(texts[j], texts[i]) > threshold}


# Few words, many repeats and lengths on both sides of PAIR_MAX_TOKENS: overlap, order and length all matter.
_WORD = st.sampled_from(["a", "b", "c", "d", "e", "the", "x1"])
_TEXT = st.one_of(st.lists(_WORD, min_size=0, max_size=12), st.lists(_WORD, min_size=40, max_size=70)).map(" ".join)


@settings(max_examples=60, deadline=None)
@given(texts=st.lists(_TEXT, min_size=2, max_size=14), threshold=st.sampled_from([0.0, 0.3, 0.5, 0.7, 0.85, 0.95]))
def test_every_pair_above_the_threshold_shares_a_key(texts, threshold):
    assert _above(texts, threshold) <= _candidates(texts, threshold)


@settings(max_examples=60, deadline=None)
@given(texts=st.lists(_TEXT, min_size=2, max_size=14), threshold=st.sampled_from([0.0, 0.3, 0.5, 0.7, 0.85, 0.95]))
def test_overlap_bound_keeps_every_pair_above_the_threshold(texts, threshold):
    vocab = Vocabulary()
    seqs = [vocab.encode(t) for t in texts]
    feats = Features.of_token_strings(seqs)
    sketch = overlap_sketch(feats, items=3)  # several slices
    pairs = list(itertools.combinations(range(len(texts)), 2))
    a, b = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    bound = np.minimum(sketch[a], sketch[b]).sum(axis=1)
    overlap = [sum((Counter(seqs[i]) & Counter(seqs[j])).values()) for i, j in pairs]
    assert (bound >= overlap).all()
    ok = overlap_ok(sketch, feats.lens, a, b, threshold, pairs=4)
    assert {p for p, passed in zip(pairs, ok.tolist()) if not passed}.isdisjoint(_above(texts, threshold))


def test_long_and_boundary_texts_are_found(seed_texts):
    rng = random.Random(3)
    long_texts = [" ".join(rng.choice(seed_texts).split() * 6) for _ in range(30)]
    assert max(len(t.split()) for t in long_texts) > PAIR_MAX_TOKENS
    for t in long_texts[:15]:
        words = t.split()
        del words[rng.randrange(len(words))]
        long_texts.append(" ".join(words))
    above = _above(long_texts, 0.7)
    assert len(above) >= 15
    assert above <= _candidates(long_texts, 0.7)


def _check(seeds, stream, config=DedupConfig()):
    got = greedy_dedup(stream, seeds=seeds, config=config, chunk_items=257)  # many chunks: index + in-chunk
    exact = ExactRougeFilter(config)
    exact.add_many(seeds)
    want = exact.check_and_add_many(stream)
    assert got.keep.tolist() == [w.keep for w in want]
    assert got.untokenizable.tolist() == [w.untokenizable for w in want]
    everything = list(seeds) + list(stream)
    for i, w in enumerate(want):
        if not w.keep and not w.untokenizable:
            # The best kept match has the exact filter's maximum score, and is a text scoring that.
            assert got.score[i] == w.max_score
            assert rouge_l_f(stream[i], everything[got.match[i]]) == w.max_score
            assert got.matches[i][0] == (got.match[i], got.score[i])
    return want


@pytest.mark.parametrize("name", CORPORA)
def test_same_decisions_as_exact(corpora, name):
    seeds, stream = corpora[name]
    want = _check(seeds, stream)
    assert sum(not w.keep for w in want) >= {"eval-vs-seeds": 1, "edge-cases": 5}.get(name, 40)
    if name == "synthetic":  # the overlap bound spares exact scores (45% here, 96% of the 200k stream), never an edge
        got = greedy_dedup(stream, seeds=seeds)
        assert got.edges <= got.scored < 0.7 * got.candidates


@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.55, 0.69, 0.7, 0.9, 1.0])
def test_same_decisions_at_any_threshold(varied_2000, threshold):
    _check([], varied_2000, DedupConfig(threshold=threshold))


def test_untokenizable_policy():
    texts = ["Write a poem about the sea.", "写一首关于大海的诗。", "", "Write a poem about the sea!"]
    kept = greedy_dedup(texts)
    assert kept.keep.tolist() == [True, True, True, False] and kept.untokenizable.tolist() == [0, 1, 1, 0]
    dropped = greedy_dedup(texts, config=DedupConfig(untokenizable="reject"))
    assert dropped.keep.tolist() == [True, False, False, False]


def test_lookups_read_in_slices_find_the_same(corpora, monkeypatch):
    import selfinstruct.dedup.postings as postings

    seeds, stream = corpora["synthetic"]
    whole = greedy_dedup(stream, seeds=seeds, chunk_items=500)
    monkeypatch.setattr(postings, "_SLICE", 7)  # many slices per run
    sliced = greedy_dedup(stream, seeds=seeds, chunk_items=500)
    assert sliced.candidates == whole.candidates > 0
    assert sliced.keep.tolist() == whole.keep.tolist() and sliced.match.tolist() == whole.match.tolist()
