"""The LSH bucket stores: a compact in-memory one, and datasketch's MinHashLSH on Redis.

Both answer "which indexed items share at least one band with this signature",
i.e. datasketch MinHashLSH.query semantics.

Why not datasketch's in-memory storage at 1M items: it keeps, per band, a dict
from band bytes to a Python ``set`` of keys (a singleton set alone is 216
bytes), plus a list of every item's band keys.  With 200 bands it measured
47.7 KB per item even with the ``hashfunc`` option hashing bucket keys to ints
(benchmarks/dedup_bench.py): about 44 GB at 1M items.  ``prepickle`` only
changes how keys are stored, and keys here are small ints already.
``PackedBandIndex`` keeps the same buckets as sorted ``uint64`` arrays of
(band key << 32 | item id): 8 bytes per (item, band), 1.6 GB at 1M items.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from typing import Any

import numpy as np

from selfinstruct.errors import StorageError

__all__ = ["PackedBandIndex", "RedisBandIndex"]

_LOW32 = np.uint64(0xFFFFFFFF)
_HIGH32 = np.uint64(0xFFFFFFFF00000000)
_SHIFT = np.uint64(32)
_ONE_KEY = np.uint64(1 << 32)
_SENTINEL = np.array([0xFFFFFFFFFFFFFFFF], dtype=np.uint64)
_NO_IDS = np.zeros(0, dtype=np.int64)
_NO_DIR = np.zeros(0, dtype=np.int64)
_DIR_MIN_ENTRIES = 1 << 14
_DIR_BITS_OF = {(1 << b) + 1: b for b in range(8, 33)}


class PackedBandIndex:
    """Buckets as a log-structured set of sorted uint64 runs plus a small dict of recent inserts.

    A query must see the item inserted just before it (greedy filtering), so the
    newest ``buffer_items`` items live in a dict; when it fills up they become a
    sorted run, and runs of similar size are merged (numpy's stable sort merges
    two sorted halves in linear time), so there are O(log n) runs at any size and
    each entry is re-sorted O(log n) times in all.  Every run ends with a
    sentinel (all ones) so a search position is always a valid index; band keys
    never take the all-ones value (see lsh.band_keys).
    """

    def __init__(self, *, bands: int, buffer_items: int = 4096) -> None:
        self.bands = bands
        self.buffer_items = buffer_items
        self._runs: list[np.ndarray] = []
        self._dirs: list[np.ndarray] = []  # per run: first position of each top-bits prefix of the key
        self._buffer: dict[int, int] = {}  # band key -> first buffered item id
        self._overflow: dict[int, list[int]] = {}  # band key -> further buffered ids (rare)
        self._pending_ids: list[int] = []
        self._pending_keys: list[np.ndarray] = []

    @property
    def nbytes(self) -> int:
        return sum(r.nbytes for r in self._runs) + sum(d.nbytes for d in self._dirs)

    def __len__(self) -> int:
        return sum(r.size - 1 for r in self._runs) // self.bands + len(self._pending_ids)

    def insert(self, item_id: int, keys: np.ndarray) -> None:
        """Index one item under its ``bands`` keys (uint32)."""
        new = dict.fromkeys(keys.tolist(), item_id)
        clash = self._buffer.keys() & new.keys()
        for k in clash:  # only keys already used by a recent item need a chain
            self._overflow.setdefault(k, []).append(item_id)
            del new[k]
        self._buffer.update(new)
        self._pending_ids.append(item_id)
        self._pending_keys.append(keys)
        if len(self._pending_ids) >= self.buffer_items:
            self.flush()

    def insert_many(self, item_ids: np.ndarray, keys: np.ndarray) -> None:
        """Index many items at once (one sorted run, no dict): the bulk path for seeds and resumes."""
        if len(item_ids) == 0:
            return
        self.flush()
        self._push(_pack(np.asarray(item_ids), keys))

    def flush(self) -> None:
        if self._pending_ids:
            run = _pack(np.array(self._pending_ids), np.stack(self._pending_keys))
            self._pending_ids.clear()
            self._pending_keys.clear()
            self._buffer.clear()
            self._overflow.clear()
            self._push(run)

    def _push(self, run: np.ndarray) -> None:
        self._runs.append(run)
        self._dirs.append(_NO_DIR)
        while len(self._runs) > 1 and self._runs[-2].size <= 4 * self._runs[-1].size:
            last = self._runs.pop()
            prev = self._runs.pop()
            del self._dirs[-2:]
            merged = np.concatenate([prev[:-1], last[:-1], _SENTINEL])
            merged[:-1].sort(kind="stable")  # two sorted halves: a linear-time merge
            self._runs.append(merged)
            self._dirs.append(_NO_DIR)
        self._dirs[-1] = _directory(self._runs[-1])

    def query(self, keys: np.ndarray, min_hits: int = 1) -> np.ndarray:
        """Sorted unique ids (int64) of the items sharing at least ``min_hits`` keys with ``keys``."""
        found: list[np.ndarray] = []
        wanted = np.sort(keys.astype(np.uint64)) << _SHIFT
        # Key K's entries lie in [K << 32, (K + 1) << 32): one search finds both ends.
        bounds = np.concatenate([wanted, wanted + _ONE_KEY])
        half = wanted.size
        for run, directory in zip(self._runs, self._dirs):
            if directory.size:
                # Keys are uniform 32-bit hashes, so a directory on their top bits
                # narrows each lookup to a few entries: one cache miss, not a binary search.
                prefix = (wanted >> np.uint64(64 - _DIR_BITS_OF[directory.size])).astype(np.intp)
                lo, hi = directory[prefix].astype(np.intp), directory[prefix + 1].astype(np.intp)
            else:
                pos = run.searchsorted(bounds)
                lo, hi = pos[:half], pos[half:]
            lengths = hi - lo
            total = int(lengths.sum())
            if total:
                # Every [lo, hi) range in one fancy-indexing operation.
                entries = run[np.repeat(lo - (np.cumsum(lengths) - lengths), lengths) + np.arange(total)]
                if directory.size:
                    entries = entries[(entries & _HIGH32) == np.repeat(wanted, lengths)]
                found.append(entries)
        if self._buffer:
            hits = self._buffer.keys() & keys.tolist()
            if hits:
                extra = [self._buffer[k] for k in hits]
                if self._overflow:
                    for k in hits:
                        extra.extend(self._overflow.get(k, ()))
                found.append(np.array(extra, dtype=np.uint64))
        if not found:
            return _NO_IDS
        ids = np.sort(np.concatenate(found) & _LOW32).astype(np.int64)
        if ids.size > 1:
            first = np.flatnonzero(np.concatenate(([True], ids[1:] != ids[:-1])))
            if min_hits > 1:
                # An item found under k keys appears k times: keep runs of length >= min_hits.
                hits = np.diff(np.append(first, ids.size))
                first = first[hits >= min_hits]
            return ids[first]
        return ids if min_hits <= 1 else _NO_IDS


def _directory(run: np.ndarray) -> np.ndarray:
    """For a large run, the first position of every ``d``-bit key prefix (about 4 entries per prefix)."""
    entries = run.size - 1
    if entries < _DIR_MIN_ENTRIES:
        return _NO_DIR
    bits = min(32, max(8, (entries // 4).bit_length()))
    counts = np.bincount((run[:-1] >> np.uint64(64 - bits)).astype(np.intp), minlength=1 << bits)
    directory = np.zeros((1 << bits) + 1, dtype=np.uint32 if entries < 1 << 32 else np.int64)
    np.cumsum(counts, out=directory[1:])
    return directory


def _pack(ids: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Sorted (key << 32 | id) entries of ``ids`` (n,) under ``keys`` (n, bands), sentinel last."""
    packed = (keys.astype(np.uint64) << _SHIFT) | ids.astype(np.uint64)[:, None]
    return np.concatenate([np.sort(packed, axis=None), _SENTINEL])


class RedisBandIndex:
    """datasketch's MinHashLSH with its Redis storage, so several generators can share one index.

    Keys are the texts themselves (datasketch pickles them), because another
    process's items are only useful if their text can be checked exactly here.
    """

    def __init__(self, *, url: str, prefix: str, num_perm: int, bands: int, rows: int, seed: int) -> None:
        try:
            import redis
            from datasketch import MinHashLSH
            from redis.connection import parse_url
            from redis.exceptions import RedisError
        except ImportError as exc:  # pragma: no cover - both are installed with selfinstruct[redis]
            raise StorageError(f"storage='redis' needs the redis and datasketch packages: {exc}") from exc
        self._errors = RedisError
        try:
            params: dict[str, Any] = parse_url(url)
        except ValueError as exc:
            raise StorageError(f"bad redis URL {url!r}: {exc}") from exc
        storage = {"type": "redis", "basename": prefix.encode(), "redis": params}
        try:
            self._lsh = MinHashLSH(num_perm=num_perm, params=(bands, rows), storage_config=storage)
            self._lsh.keys.size()  # connect now, so a wrong URL fails here and not mid-run
            self._client = redis.Redis(**params)
        except (RedisError, OSError) as exc:
            raise StorageError(f"cannot use redis at {url}: {exc}") from exc

    def insert_many(self, texts: Sequence[str], sigs: np.ndarray) -> None:
        """Insert as MinHashLSH.insert would (same keys, same Redis layout), in one pipelined round trip.

        datasketch's insertion session flushes one buffer per band table (200
        round trips per flush); its storages' ``_insert`` accepts any pipeline,
        so all writes go through one here.
        """
        lsh = self._lsh
        try:
            pipe = self._client.pipeline(transaction=False)
            for text, row in zip(texts, sigs):
                key = pickle.dumps(text)
                hs = [lsh._H(row[start:end]) for start, end in lsh.hashranges]
                lsh.keys._insert(pipe, key, *hs)
                for h, table in zip(hs, lsh.hashtables):
                    table._insert(pipe, h, key)
            pipe.execute()
        except (self._errors, OSError) as exc:
            raise StorageError(f"redis insert failed: {exc}") from exc

    def query(self, sig: np.ndarray) -> list[str]:
        """Texts sharing at least one band (MinHashLSH.query semantics) in one pipelined round trip.

        MinHashLSH.query asks Redis once per band (200 round trips); the same
        bucket keys are read here through one pipeline.  The equivalence is
        pinned by tests/dedup/test_dedup_redis.py.
        """
        lsh = self._lsh
        try:
            pipe = self._client.pipeline(transaction=False)
            for (start, end), table in zip(lsh.hashranges, lsh.hashtables):
                pipe.smembers(table.redis_key(lsh._H(sig[start:end])))
            found = set().union(*pipe.execute())
        except (self._errors, OSError) as exc:
            raise StorageError(f"redis query failed: {exc}") from exc
        return [pickle.loads(key) for key in found]
