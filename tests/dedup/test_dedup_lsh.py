"""MinHash sketches match datasketch's; the packed band index answers like a plain dict and like MinHashLSH."""

from __future__ import annotations

import random

import numpy as np
import pytest
from datasketch import LeanMinHash, MinHash, MinHashLSH

from selfinstruct.dedup import DedupConfig
from selfinstruct.dedup.config import band_miss_probability, jaccard_floor
from selfinstruct.dedup.index import PackedBandIndex
from selfinstruct.dedup.lsh import MinHasher, band_keys, feature_hash, features
from selfinstruct.rouge import Vocabulary


def test_features_are_occurrence_numbered():
    vocab = Vocabulary()
    assert features(vocab.encode("The cat and the hat, THE end"), vocab) == [
        b"the#1", b"cat#1", b"and#1", b"the#2", b"hat#1", b"the#3", b"end#1"]


def test_sketch_equals_datasketch_minhash(seed_texts):
    vocab = Vocabulary()
    hasher = MinHasher(vocab, num_perm=96, seed=7, chunk_cells=5000)  # small chunks: several groups
    seqs = [vocab.encode(t) for t in seed_texts[:80]] + [vocab.encode("")]
    sig = hasher.sketch_many(seqs)
    for seq, row in zip(seqs[:-1], sig):
        m = MinHash(num_perm=96, seed=7, hashfunc=feature_hash)
        m.update_batch(features(seq, vocab))
        assert m.scheme == "affine32"
        assert np.array_equal(m.hashvalues, row)
    assert (sig[-1] == 0xFFFFFFFF).all()


def test_default_parameters_bound_the_miss_probability():
    c = DedupConfig()
    assert jaccard_floor(0.7) == pytest.approx(7 / 13)
    assert c.worst_case_miss < 1e-6
    assert band_miss_probability(0.6, c.bands, c.rows, c.min_band_hits) < 1e-10
    # The binomial tail with one hit needed is the classic (1 - J^r)^b.
    assert band_miss_probability(0.5, 20, 3, 1) == pytest.approx((1 - 0.5**3) ** 20)


def _brute(store: dict[int, list[int]], keys, min_hits):
    hits: dict[int, int] = {}
    for k in set(keys.tolist()):
        for i in store.get(k, ()):
            hits[i] = hits.get(i, 0) + 1
    return sorted(i for i, n in hits.items() if n >= min_hits)


@pytest.mark.parametrize("buffer_items", [1, 5, 64])
def test_packed_index_equals_a_dict(buffer_items):
    rng = np.random.default_rng(buffer_items)
    bands = 64
    # Keys are per band (as band_keys salts them). Odd bands draw from 40 values, so
    # buckets are shared a lot; 700 items x 64 bands also builds directories.
    all_keys = rng.integers(0, 2**32 - 1, size=(700, bands), dtype=np.uint32)
    all_keys[:, 1::2] = rng.integers(0, 40, size=(700, bands // 2), dtype=np.uint32) + (
        np.arange(1, bands, 2, dtype=np.uint32) * 1000)
    index = PackedBandIndex(bands=bands, buffer_items=buffer_items)
    store: dict[int, list[int]] = {}
    index.insert_many(np.arange(300), all_keys[:300])
    for i in range(300, 700):
        index.insert(i, all_keys[i]) if i % 3 else index.insert_many(np.array([i]), all_keys[i: i + 1])
    for i in range(700):
        for k in set(all_keys[i].tolist()):
            store.setdefault(k, []).append(i)
    assert len(index) == 700
    for q in list(all_keys[::37]) + [all_keys[5] ^ np.uint32(1)]:
        for min_hits in (1, 2, 3):
            assert index.query(q, min_hits).tolist() == _brute(store, q, min_hits)


def test_packed_index_finds_what_datasketch_minhashlsh_finds(seed_texts, eval_texts):
    vocab = Vocabulary()
    bands, rows, num_perm, seed = 32, 3, 96, 1
    hasher = MinHasher(vocab, num_perm=num_perm, seed=seed)
    rng = random.Random(5)
    texts = seed_texts + [" ".join(rng.sample(t.split(), max(1, len(t.split()) - 1))) for t in eval_texts]
    sig = hasher.sketch_many([vocab.encode(t) for t in texts])
    lsh = MinHashLSH(num_perm=num_perm, params=(bands, rows))
    index = PackedBandIndex(bands=bands, buffer_items=50)
    keys = band_keys(sig, bands=bands, rows=rows, seed=seed)
    for i in range(len(texts)):
        lsh.insert(i, LeanMinHash(seed=seed, hashvalues=sig[i], scheme="affine32"))
        index.insert(i, keys[i])
    extra = 0
    for i in range(0, len(texts), 3):
        want = set(lsh.query(LeanMinHash(seed=seed, hashvalues=sig[i], scheme="affine32")))
        got = set(index.query(keys[i]).tolist())
        assert want <= got  # 32-bit bucket keys may only add candidates
        extra += len(got - want)
    assert extra <= 3
