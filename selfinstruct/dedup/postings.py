"""Posting lists of prefix keys, sorted by text length, so a lookup reads only the lengths a match could have.

Entries are ``key << 32 | length << 16 | rest`` (uint64: 4-byte keys, where a
collision only adds a candidate; length and rest saturate at 65535, which only
loosens the filters) beside the text ids (uint32), in sorted runs merged
log-structurally (O(log n) runs, each entry moved O(log n) times).

Inside one key the entries are sorted by length, and a lookup reads only the
window ``prefix.length_window`` allows: the length filter bounds a partner's
length, and so does the positional filter from the query's side alone
(2 + rest_b >= t (m_a + m_b)/2).  Frequent keys sit late in prefixes, where that
window is nearly empty: this is what keeps long posting lists from being read,
both in the single-node index and in ``pairs_within`` (one bucket of the Ray join).
"""

from __future__ import annotations

import numpy as np

from selfinstruct.dedup.prefix import REST_UNKNOWN, length_window, positional_ok, rest_floor, unique_pairs

__all__ = ["KeyIndex", "pairs_within"]

_SHIFT = np.uint64(32)
_LEN_SHIFT = np.uint64(16)
_CAP = 0xFFFF
_CAP64 = np.uint64(_CAP)
_NONE = np.zeros(0, dtype=np.int64)
_SLICE = 1 << 20  # posting entries read at once


def _pack(keys: np.ndarray, lens: np.ndarray, rest: np.ndarray) -> np.ndarray:
    return ((keys.astype(np.uint64) << _SHIFT) | (np.minimum(lens, _CAP).astype(np.uint64) << _LEN_SHIFT)
            | np.minimum(rest, _CAP).astype(np.uint64))


def _merge(c1: np.ndarray, i1: np.ndarray, c2: np.ndarray, i2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge two sorted runs by scattering the newer one into place (no full sort, no n-sized index array)."""
    dest = np.searchsorted(c1, c2, side="right") + np.arange(c2.size)  # older entries first on equal keys
    older = np.ones(c1.size + c2.size, dtype=bool)
    older[dest] = False
    comp = np.empty(older.size, dtype=np.uint64)
    ids = np.empty(older.size, dtype=np.uint32)
    comp[dest], ids[dest] = c2, i2
    comp[older], ids[older] = c1, i1
    return comp, ids


class KeyIndex:
    """Texts by prefix key; ``lookup`` returns the (indexed, querying) pairs that pass the filters."""

    def __init__(self) -> None:
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []

    @property
    def nbytes(self) -> int:
        return sum(c.nbytes + i.nbytes for c, i in self._runs)

    def insert(self, keys: np.ndarray, items: np.ndarray, rest: np.ndarray, lens: np.ndarray) -> None:
        """Add entries: per entry its key, text id, rest and the text's token count."""
        if keys.size == 0:
            return
        comp = _pack(keys, lens, rest)
        order = np.argsort(comp, kind="stable")
        self._runs.append((comp[order], items[order].astype(np.uint32)))
        while len(self._runs) > 1 and self._runs[-2][0].size <= 2 * self._runs[-1][0].size:
            (c2, i2), (c1, i1) = self._runs.pop(), self._runs.pop()
            self._runs.append(_merge(c1, i1, c2, i2))

    def lookup(self, keys: np.ndarray, items: np.ndarray, rest: np.ndarray, lens: np.ndarray,
               threshold: float) -> tuple[np.ndarray, np.ndarray]:
        """Unique (indexed text, querying text) pairs sharing a key and passing ``prefix.positional_ok``."""
        if not self._runs or keys.size == 0:
            return _NONE, _NONE
        low, high = length_window(lens, rest, threshold)
        live = low <= high  # the frequent keys, late in a prefix, mostly have an empty window
        keys, items, rest, lens, low, high = keys[live], items[live], rest[live], lens[live], low[live], high[live]
        base = keys.astype(np.uint64) << _SHIFT
        low = np.minimum(low, _CAP)
        start = base | (low.astype(np.uint64) << _LEN_SHIFT)
        order = np.argsort(start)  # sorted needles: searchsorted walks each run once, cache-friendly
        start, items, rest, lens = start[order], items[order], rest[order], lens[order]
        # Stored rests saturate at _CAP, so a floor above it is lowered to _CAP (saturated entries pass).
        floor = np.minimum(rest_floor(lens, low[order], threshold), _CAP).astype(np.uint64)
        # + not |: a window reaching the length cap ends exactly where the next key begins.
        stop = base[order] + ((np.minimum(high[order], _CAP).astype(np.uint64) + np.uint64(1)) << _LEN_SHIFT)
        found_a, found_b = [], []
        for comp, ids in self._runs:
            lo_all = comp.searchsorted(start)
            len_all = comp.searchsorted(stop) - lo_all
            # Read the posting entries in slices of about _SLICE, so the raw matches of a big lookup
            # never sit in memory all at once (most fail the positional filter).
            ends = np.cumsum(len_all)
            cuts = np.searchsorted(ends, np.arange(_SLICE, int(ends[-1]) if ends.size else 0, _SLICE))
            for q in np.split(np.arange(len_all.size), np.unique(cuts)):
                lo, lengths = lo_all[q], len_all[q]
                total = int(lengths.sum())
                if not total:
                    continue
                at = np.repeat(lo - (np.cumsum(lengths) - lengths), lengths) + np.arange(total)
                entry = comp[at]
                owner = np.repeat(q, lengths)
                near = (entry & _CAP64) >= floor[owner]  # most entries fail here, cheaply
                at, entry, owner = at[near], entry[near], owner[near]
                rest_a = (entry & _CAP64).astype(np.int64)
                rest_a[rest_a >= _CAP] = REST_UNKNOWN
                len_a = ((entry >> _LEN_SHIFT) & _CAP64).astype(np.int64)
                ok = positional_ok(rest_a, rest[owner], len_a, lens[owner], threshold)
                found_a.append(ids[at][ok])  # 4 bytes an id while a late chunk's matches pile up
                found_b.append(items[owner[ok]].astype(np.uint32))
        if not found_a:
            return _NONE, _NONE
        a = np.concatenate(found_a).astype(np.int64)
        found_a.clear()
        b = np.concatenate(found_b).astype(np.int64)
        found_b.clear()
        return unique_pairs(a, b)


def pairs_within(keys: np.ndarray, items: np.ndarray, rest: np.ndarray, lens: np.ndarray,
                 threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Unique (earlier, later) text pairs among these entries that share a key and pass the filters.

    One entry per (key, text), with per-entry ``rest`` and ``lens``.  Every entry looks up all of them:
    a pair that passes from both sides is found from the later text's side.
    """
    index = KeyIndex()
    index.insert(keys, items, rest, lens)
    a, b = index.lookup(keys, items, rest, lens, threshold)
    earlier = a < b
    return a[earlier], b[earlier]
