"""MinHash sketches and LSH band keys, built in bulk with numpy over shared permutations.

Why these features, and why the index finds every near-duplicate
----------------------------------------------------------------
A text is rejected when its ROUGE-L F against some pool text exceeds t = 0.7.
With m, n tokens and an LCS of L, F = 2L/(m+n) (rouge_score's float arithmetic
can land one ulp above that, so the bound below is reached, never passed).  The
LCS never exceeds the multiset overlap M = sum_w min(count_a(w), count_b(w)),
so F > t forces a Dice coefficient 2M/(m+n) >= t, i.e. a multiset Jaccard
J = M/(m+n-M) >= t/(2-t) = 7/13 ~ 0.538.  Hashing *occurrence-numbered* tokens
("the#1", "the#2", ...) makes that multiset Jaccard an ordinary set Jaccard,
which MinHash estimates.  Features are single tokens: shingles longer than one
word lose short texts ("write a poem about love" / "write a short poem about
love" have ROUGE-L F 0.91 but share only 3 of 6 distinct bigrams, J = 0.5, and
a swapped word costs a short text most of its bigrams), and the bound above
only holds for unigrams.

Banding: b bands of r rows; a pool text is a candidate when it shares at least
k bands with the query.  The number of shared bands is Binomial(b, J^r), so a
pair at the worst case J = 7/13 is missed with probability P[Bin(b, J^r) < k].
Candidates are then scored with the exact ROUGE-L, so extra candidates cost
time, never correctness.  Measured on all 90,951 pairs of the 427 seed and
evaluation instructions (mean J 0.07, but function words give a long tail:
1 % of pairs have J > 0.23):

    r  b    perms  k  miss at J=7/13  share of pool checked exactly
    3  85   255    1  5.4e-7          7.4 %
    4  150  600    1  1.9e-6          2.3 %
    4  200  800    1  2.4e-8          3.0 %
    4  200  800    2  4.6e-7          0.49 %   <- default
    5  300  1500   1  9.2e-7          0.94 %

Plain union banding (k = 1, datasketch's MinHashLSH.query) checks a fixed
share of the pool for every query, so its cost grows linearly with the pool;
asking for two shared bands cuts the exactly-checked share six-fold for the
same worst-case recall (4.6e-7; 2.7e-11 at J = 0.6, where ordinary
near-duplicates sit), and the raw band lookups that remain are cheap numpy.
Measured recall against the brute-force filter, and timings, are in
benchmarks/results/dedup.md.

All of the above is for t = 0.7.  The floor t/(2-t) falls with the threshold,
and this banding stops meeting its bound below 0.7: selfinstruct.dedup.banding
derives a banding per threshold, or falls back to scoring the whole pool.

The sketch follows datasketch's "affine32" scheme exactly (a 32-bit hash of the
feature, the MurmurHash3 finaliser, then ``a*h + b mod 2^32`` with datasketch's
own permutation parameters for the seed), so a row of ``sketch_many`` equals
``datasketch.MinHash(num_perm, seed, hashfunc=feature_hash).update_batch(...)``
and can be handed to datasketch's MinHashLSH (the Redis path).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xxhash

from selfinstruct.rouge import Vocabulary

__all__ = ["feature_hash", "features", "MinHasher", "band_keys"]

_U32 = np.uint32
_MAX32 = np.uint32(0xFFFFFFFF)
_GOLDEN64 = np.uint64(0x9E3779B97F4A7C15)
_MIX64 = np.uint64(0xBF58476D1CE4E5B9)


def feature_hash(feature: bytes) -> int:
    """The 32-bit hash of one feature (the ``hashfunc`` a datasketch MinHash would be given)."""
    return xxhash.xxh32_intdigest(feature)


def features(token_string: str, vocab: Vocabulary) -> list[bytes]:
    """Occurrence-numbered features of a token string: b"the#1", b"cat#1", b"the#2", ..."""
    seen: dict[str, int] = {}
    out = []
    for code in token_string:
        k = seen.get(code, 0) + 1
        seen[code] = k
        out.append(f"{vocab.tokens[Vocabulary.token_id(code)]}#{k}".encode())
    return out


def _datasketch_affine32_permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    # Same draws as datasketch.MinHash(num_perm, seed, scheme="affine32")._init_permutations,
    # so sketches interoperate with datasketch (pinned by a test against datasketch itself).
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * _U32(2) + _U32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


class MinHasher:
    """Bulk MinHash of token strings over one shared set of permutations.

    Keeps a cache of pre-mixed feature hashes keyed by (occurrence, token id), so
    each distinct feature is hashed once per process.
    """

    def __init__(self, vocab: Vocabulary, *, num_perm: int, seed: int, chunk_cells: int = 1 << 22) -> None:
        self.vocab = vocab
        self.num_perm = num_perm
        self.seed = seed
        self._a, self._b = _datasketch_affine32_permutations(num_perm, seed)
        self._mixed: dict[int, int] = {}
        self._chunk_features = max(1, chunk_cells // num_perm)

    def _feature_hashes(self, token_string: str) -> list[int]:
        seen: dict[str, int] = {}
        mixed = self._mixed
        out = []
        for code in token_string:
            k = seen.get(code, 0) + 1
            seen[code] = k
            key = (k << 21) | ord(code)  # code points are < 2^21
            h = mixed.get(key)
            if h is None:
                tok = self.vocab.tokens[Vocabulary.token_id(code)]
                h = mixed[key] = _fmix32_int(feature_hash(f"{tok}#{k}".encode()))
            out.append(h)
        return out

    def sketch_many(self, token_strings: Sequence[str]) -> np.ndarray:
        """(len(token_strings), num_perm) uint32 signatures. An empty text gets all-ones (never indexed)."""
        n = len(token_strings)
        sig = np.full((n, self.num_perm), _MAX32, dtype=_U32)
        hashes = [self._feature_hashes(s) for s in token_strings]
        # Texts of similar length are sketched together as one (texts, features,
        # permutations) block, short rows padded with their own first feature
        # (a repeated feature leaves the minimum unchanged): a plain min over an
        # axis is several times faster than a ragged np.minimum.reduceat.
        order = sorted((i for i in range(n) if hashes[i]), key=lambda i: len(hashes[i]))
        start = 0
        while start < len(order):
            width = len(hashes[order[start]])
            stop = start
            while stop < len(order):
                width = max(width, len(hashes[order[stop]]))
                if (stop - start + 1) * width > self._chunk_features and stop > start:
                    break
                stop += 1
            group = order[start:stop]
            width = len(hashes[group[-1]])
            block = np.array([h + [h[0]] * (width - len(h)) for h in (hashes[i] for i in group)], dtype=_U32)
            permuted = block[:, :, None] * self._a  # wraps mod 2^32 on purpose
            permuted += self._b
            sig[group] = permuted.min(axis=1)
            start = stop
        return sig


def _fmix32_int(h: int) -> int:
    """MurmurHash3's 32-bit finaliser (datasketch's _fmix for affine32), on a Python int."""
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & 0xFFFFFFFF
    return h ^ (h >> 16)


def band_keys(sig: np.ndarray, *, bands: int, rows: int, seed: int) -> np.ndarray:
    """(n, bands) uint32 bucket keys: each band's ``rows`` values and the band number, hashed together.

    Two texts share a key exactly when they share that band, except for 32-bit
    collisions, which only add candidates (checked exactly, so harmless).
    """
    n = sig.shape[0]
    cells = sig[:, : bands * rows].reshape(n, bands, rows).astype(np.uint64)
    salt = (np.arange(bands, dtype=np.uint64) + np.uint64(seed)) * _GOLDEN64
    h = np.broadcast_to(salt, (n, bands)).copy()
    for j in range(rows):
        h ^= cells[:, :, j]
        h *= _MIX64
        h ^= h >> np.uint64(31)
        h *= _GOLDEN64
        h ^= h >> np.uint64(29)
    # All-ones is PackedBandIndex's end-of-run sentinel; folding it onto its
    # neighbour only adds (exactly checked) candidates.
    return np.minimum(h >> np.uint64(32), np.uint64(0xFFFFFFFE)).astype(_U32)
