"""Candidate keys that provably find every pair above a ROUGE-L threshold: length + token-prefix filtering (numpy).

The proof
---------
Let a text have m tokens and another n, with LCS L and multiset overlap
O = sum_w min(count_a(w), count_b(w)).  ROUGE-L F = 2L/(m+n) (rouge_score's
float arithmetic is within a few ulps of that, hence the 1e-9 slack below).

1. Length filter.  L <= min(m, n), so F > t needs 2 min(m, n)/(m + n) >= t.
2. Overlap bound.  L <= O (a common subsequence is a common sub-multiset), so
   F > t needs O >= alpha(m, n) = ceil(t (m + n)/2).  With the length filter,
   n >= m t/(2 - t), hence alpha(m, n) >= alpha_lb(m) = max(1, ceil(t m/(2 - t))),
   and the same for n: a pair's overlap is at least each side's own alpha_lb.
3. Multisets as sets.  Number occurrences ("the#1", "the#2", ...): the
   multiset overlap O is exactly the size of the intersection of the two
   *feature* sets.
4. Prefix filtering with l shared features.  Sort every text's features by
   one global order (rarest first, so prefixes hold rare features).  Let the
   common features be c_1 < ... < c_O in that order.  At least O - l common
   features follow c_l in each text, so c_l sits at position (1-based)
   <= m - O + l <= m - alpha_lb(m) + l.  Hence c_1..c_l all lie in the first
   p_l(m) = min(m, m - alpha_lb(m) + l) features of BOTH texts, if O >= l.

Keys: a text of m tokens emits
* "pair keys" {u, v} for every 2-subset of its first p_2(m) features, when
  2 <= m <= PAIR_MAX_TOKENS;
* "single keys" {u} for each of its first p_1(m) features, when alpha_lb(m) = 1
  or m >= SINGLE_MIN_TOKENS (= floor(PAIR_MAX_TOKENS t/(2 - t))).

Every pair with F > t shares a key: if both texts have <= PAIR_MAX_TOKENS
tokens and O >= 2, {c_1, c_2} is a pair key of both (step 4, l = 2).  If O = 1
then alpha = 1, so alpha_lb = 1 for both and {c_1} is a single key of both
(l = 1).  If one text has more than PAIR_MAX_TOKENS tokens, the length filter
puts the other above SINGLE_MIN_TOKENS, so both emit single keys, and {c_1} is
one of both (l = 1).  Keys are hashed to 32 bits: a collision only adds a
candidate, and every candidate is scored exactly, so nothing is missed and
nothing extra is rejected.  Unlike MinHash-LSH there is no miss probability:
the filter's decisions equal the brute-force filter's by construction.

Pair keys rather than single keys because single-feature prefixes of short
texts still hold common words ("make", "given"), whose posting lists grow with
the pool; two rare features together are rare.  PAIR_MAX_TOKENS caps the
quadratic number of pair keys of a long text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from selfinstruct.errors import InputError

__all__ = ["PAIR_MAX_TOKENS", "REST_UNKNOWN", "alpha_lb", "length_ok", "positional_ok", "length_window", "occurrence_features",
           "frequency_order", "Features", "text_keys",
           "unique_pairs", "SKETCH_BUCKETS", "overlap_sketch", "overlap_ok", "rest_floor"]

PAIR_MAX_TOKENS = 48
REST_UNKNOWN = 1 << 40  # a "features after the key" count that was not kept (always passes)
_SLACK = 1e-9
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_SINGLE_TAG = np.uint64(0xFFFFFFFF)  # the "second feature" of a single key (ranks are < 2^32 - 1)


def _ratio(threshold: float) -> float:
    t = max(0.0, threshold - _SLACK)
    return t / (2.0 - t)


def alpha_lb(lens: np.ndarray, threshold: float) -> np.ndarray:
    """Smallest overlap a text of each length can have with any text it scores above ``threshold`` against."""
    return np.maximum(1, np.ceil(lens * _ratio(threshold) - _SLACK)).astype(np.int64)


def length_ok(m: np.ndarray, n: np.ndarray, threshold: float) -> np.ndarray:
    """Step 1 of the proof: could texts of m and n tokens score above ``threshold`` at all?"""
    return 2.0 * np.minimum(m, n) >= (threshold - _SLACK) * (m + n)


def single_min_tokens(threshold: float) -> int:
    return math.floor(PAIR_MAX_TOKENS * _ratio(threshold))


_OCC_BITS = 20


def occurrence_features(codes: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """Occurrence-numbered features ``identity << 20 | k`` (k-th occurrence of that token in its text), per token.

    ``codes`` holds every text's token identities (< 2^43), text after text; the features come back
    grouped by text in the same order, but not in token order within a text (order there is irrelevant).
    """
    item = np.repeat(np.arange(lens.size, dtype=np.int64), lens)
    order = np.lexsort((codes, item))
    codes = codes[order]
    new = np.ones(codes.size, dtype=bool)
    new[1:] = (codes[1:] != codes[:-1]) | (item[1:] != item[:-1])
    idx = np.arange(codes.size)
    occ = idx - np.maximum.accumulate(np.where(new, idx, 0))
    if occ.size and int(occ.max()) >= 1 << _OCC_BITS:
        raise InputError(f"a text repeats one token more than {(1 << _OCC_BITS) - 1:,} times")
    return (codes << _OCC_BITS) | occ


def frequency_order(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct features, their rank): rarest first, ties by feature value."""
    uniq, counts = np.unique(features, return_counts=True)
    rank = np.empty(uniq.size, dtype=np.int64)
    rank[np.lexsort((uniq, counts))] = np.arange(uniq.size)
    return uniq, rank


class Features:
    """Every text's features as global ranks, sorted within each text.

    ``ranks[starts[i]: starts[i] + lens[i]]`` are text i's ranks in increasing order.
    The order must be fixed before any key is made: one order over all texts.
    """

    def __init__(self, lens: np.ndarray, ranks: np.ndarray) -> None:
        self.lens = lens
        self.starts = np.zeros(lens.size, dtype=np.int64)
        np.cumsum(lens[:-1], out=self.starts[1:])
        item = np.repeat(np.arange(lens.size, dtype=np.int64), lens)
        self.ranks = ranks[np.lexsort((ranks, item))].astype(np.uint32)

    @classmethod
    def of_token_strings(cls, seqs: Sequence[str]) -> Features:
        """From ``Vocabulary`` token strings (one code point per token), ordered by their own frequencies."""
        lens = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
        codes = np.frombuffer("".join(seqs).encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        features = occurrence_features(codes, lens)
        uniq, rank = frequency_order(features)
        return cls(lens, rank[np.searchsorted(uniq, features)])


def _hash(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    h = (a.astype(np.uint64) << np.uint64(32)) | b.astype(np.uint64)
    h ^= h >> np.uint64(30)
    h *= _MIX1
    h ^= h >> np.uint64(27)
    h *= _MIX2
    h ^= h >> np.uint64(31)
    # All ones is the index's end-of-run sentinel; folding it only adds candidates.
    return np.minimum(h >> np.uint64(32), np.uint64(0xFFFFFFFE)).astype(np.uint32)


def text_keys(feats: Features, items: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(keys uint32, text index int64, features after the key uint8) for ``items``, by the module docstring's rules.

    The last array is what the positional filter needs: how many of the text's features follow the key's
    (last) feature in the global order.
    """
    lens = feats.lens[items]
    alpha = alpha_lb(lens, threshold)
    out_keys, out_items, out_rest = [], [], []
    pair_len = np.where((lens >= 2) & (lens <= PAIR_MAX_TOKENS), np.minimum(lens, lens - alpha + 2), 0)
    single_len = np.where((alpha == 1) | (lens >= single_min_tokens(threshold)), lens - alpha + 1, 0)
    single_len[lens == 0] = 0
    for plen, pairs in ((single_len, False), (pair_len, True)):
        total = int(plen.sum())
        if not total:
            continue
        owner = np.repeat(items, plen)
        pos = np.arange(total) - np.repeat(np.cumsum(plen) - plen, plen)
        ranks = feats.ranks[np.repeat(feats.starts[items], plen) + pos]
        if not pairs:
            out_keys.append(_hash(ranks, np.full(total, _SINGLE_TAG)))
            out_items.append(owner)
            # A single key {c_1} leaves O <= 1 + rest; stored one lower, as positional_ok adds 2 for pair keys.
            out_rest.append(np.maximum(np.repeat(lens, plen) - 2 - pos, 0))
            continue
        # Every 2-subset of the prefix: entry k pairs with the entries after it in its text's prefix.
        after = np.repeat(plen, plen) - pos - 1
        n = int(after.sum())
        src = np.repeat(np.arange(total), after)
        dst = src + 1 + (np.arange(n) - np.repeat(np.cumsum(after) - after, after))
        out_keys.append(_hash(ranks[src], ranks[dst]))
        out_items.append(owner[src])
        out_rest.append(np.repeat(lens, plen)[dst] - 1 - pos[dst])
    if not out_keys:
        return np.zeros(0, dtype=np.uint32), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(out_keys), np.concatenate(out_items), np.concatenate(out_rest)


def positional_ok(rest_a: np.ndarray, rest_b: np.ndarray, len_a: np.ndarray, len_b: np.ndarray,
                  threshold: float) -> np.ndarray:
    """Length filter plus the positional filter, entry by entry (a key shared by texts a and b).

    If the key is {c_1, c_2}, every common feature but those two comes after c_2 in both texts, so
    O <= 2 + min(rest_a, rest_b); a true pair always shares that key, so an entry failing the bound can go.
    """
    need = np.ceil((threshold - _SLACK) * (len_a + len_b) / 2.0 - _SLACK)
    room = 2 + np.minimum(rest_a, rest_b)
    return length_ok(len_a, len_b, threshold) & (room >= need)


def length_window(m: np.ndarray, rest: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Token counts a partner can have, from one side's length m and its key's rest alone (both filters above).

    Length filter: t' m/(2 - t') <= n <= m (2 - t')/t'.  Positional: 2 + rest >= t'(m + n)/2.
    Rounded outwards (the slack), so the window never drops a pair ``positional_ok`` would pass.
    """
    t = max(0.0, threshold - _SLACK)
    m = m.astype(np.float64)
    low = np.ceil(m * _ratio(threshold) - 1e-6)
    if t == 0.0:
        return low.astype(np.int64), np.full(m.shape, REST_UNKNOWN, dtype=np.int64)
    high = np.floor(np.minimum(m * (2.0 - t) / t, 2.0 * (2.0 + rest) / t - m) + 1e-6)
    return low.astype(np.int64), np.minimum(high, REST_UNKNOWN).astype(np.int64)


SKETCH_BUCKETS = 64
_SKETCH_MAX = 255  # a text this long may overflow a uint8 bucket: its pairs always pass


def overlap_sketch(feats: Features, items: int = 1 << 16) -> np.ndarray:
    """Per text, how many of its features fall in each of 64 buckets (rank mod 64): uint8, (texts, 64).

    Step 2 of the proof needs O >= alpha for F > t.  Two texts' common features
    fall in the same buckets, so O <= sum over buckets of min(count_a, count_b):
    an upper bound on O from 64 bytes a text, checked for millions of candidate
    pairs at the cost of a few numpy passes instead of an exact LCS each.
    Built ``items`` texts at a time (bincount needs an int64 per bucket).
    """
    n = feats.lens.size
    out = np.zeros((n, SKETCH_BUCKETS), dtype=np.uint8)
    for lo in range(0, n, items):
        hi = min(n, lo + items)
        lens = feats.lens[lo:hi]
        begin = int(feats.starts[lo])
        ranks = feats.ranks[begin: begin + int(lens.sum())]
        cell = np.repeat(np.arange(hi - lo, dtype=np.int64) * SKETCH_BUCKETS, lens) + (ranks % SKETCH_BUCKETS)
        counts = np.bincount(cell, minlength=(hi - lo) * SKETCH_BUCKETS)
        out[lo:hi] = np.minimum(counts, _SKETCH_MAX).reshape(hi - lo, SKETCH_BUCKETS)
    return out


def overlap_ok(sketch: np.ndarray, lens: np.ndarray, a: np.ndarray, b: np.ndarray, threshold: float,
               pairs: int = 1 << 18) -> np.ndarray:
    """Per pair (a[i], b[i]): could the bucket bound on the overlap (``overlap_sketch``) reach alpha?

    Slack as in ``positional_ok``, so no pair above the threshold fails.  In slices of ``pairs``.
    """
    ok = np.ones(a.size, dtype=bool)
    for lo in range(0, a.size, pairs):
        sa, sb = a[lo: lo + pairs], b[lo: lo + pairs]
        la, lb = lens[sa], lens[sb]
        bound = np.minimum(sketch[sa], sketch[sb]).sum(axis=1, dtype=np.int64)
        need = np.ceil((threshold - _SLACK) * (la + lb) / 2.0 - _SLACK)
        ok[lo: lo + sa.size] = (bound >= need) | (la >= _SKETCH_MAX) | (lb >= _SKETCH_MAX)
    return ok


def rest_floor(m: np.ndarray, low: np.ndarray, threshold: float) -> np.ndarray:
    """The least ``rest`` a partner's entry can have to pass ``positional_ok``, given it has >= ``low`` tokens.

    ``need`` there grows with the partner's length, so its value at ``low`` bounds it from below; a partner
    needs 2 + rest >= need.  A cheap integer test that drops most posting entries before ``positional_ok``.
    """
    need = np.ceil((threshold - _SLACK) * (low + m) / 2.0 - _SLACK)
    return np.maximum(need - 2, 0)


def unique_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique (a, b) pairs, a and b < 2^32."""
    packed = (a << 32) | b
    packed.sort()
    if packed.size:
        packed = packed[np.concatenate(([True], packed[1:] != packed[:-1]))]
    return packed >> 32, packed & 0xFFFFFFFF
