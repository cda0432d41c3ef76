"""The exact greedy filter on a Ray cluster: Ray Data computes the edge list, the driver decides in input order.

Stages (each one parallel over the cluster; Ray is imported inside, so this module is cheap to import):

1. Ray Data reads the input shards (``read_binary_files``, one row per file) and splits them into
   records (file, record number, text).  The driver numbers them in input order: seeds first,
   then file after file, record after record.
2. Feature frequencies: every block counts its occurrence-numbered features; the driver adds the
   counts up into the global rarest-first order (selfinstruct.dedup.prefix), shared through the
   object store.  Tokens are identified by a 43-bit hash here, because workers do not share a
   vocabulary: two tokens hashing alike only merge into one feature, which can only add
   candidates (the overlap over hashed tokens is at least the true overlap).
3. Prefix keys per text (pair and single keys, with the positional filter's data), computed in
   parallel, one row per (key, text).
4. Candidate pairs by grouping on the key: a sort-based shuffle on ``key % partitions`` brings
   every key's texts together; each group yields its candidate pairs and scores them exactly
   (the texts come from a table in the object store, tokenized with one vocabulary per task).
   What leaves the cluster is only the edge list: pairs with ROUGE-L F above the threshold.
5. The driver makes the greedy decisions from the edges, in input order, linear in the edges
   (selfinstruct.dedup.greedy.greedy_from_edges): a text is kept iff no earlier *kept* text
   links to it, exactly the sequential filter's decisions.

Unlike the single-node filter, every text (not only kept ones) takes part in the join, and a pair
sharing keys in several partitions is scored in each (at most ``partitions`` times), so the cluster
scores more pairs than the sequential filter; the decisions are the same.  The driver
holds the text table (about the corpus's UTF-8 size) and the edge list, never an index.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from selfinstruct.dedup.config import DedupConfig
from selfinstruct.dedup.greedy import GreedyResult, f_measure_pairs, greedy_from_edges
from selfinstruct.errors import ConfigError, InputError

__all__ = ["RayOptions", "ray_dedup"]

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True, kw_only=True)
class RayOptions:
    """Where and how wide the Ray job runs."""

    address: str | None = None  # None: start a local cluster
    num_cpus: int | None = None  # local cluster only
    object_store_bytes: int = 500 * 2**20  # local cluster only
    partitions: int = 8  # shuffle partitions (and blocks) for the key grouping
    blocks: int = 8  # blocks for the per-text stages


def _records(path: str, data: bytes, field: str) -> list[str]:
    """The texts of one input file, in record order (the same records read_json_records yields)."""
    import orjson

    if data.lstrip()[:1] == b"[":
        records = orjson.loads(data)
    else:
        records = [orjson.loads(raw) for raw in data.split(b"\n") if raw.strip()]
    out = []
    for i, rec in enumerate(records, start=1):
        value = rec.get(field) if isinstance(rec, dict) else None
        if not isinstance(value, str):
            raise InputError(f"record {i} has no string {field!r} field", path=path)
        out.append(value)
    return out


def _codes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Hashed token identities (< 2^43) of every text, text after text, and the token counts."""
    import xxhash

    tokens = [_NON_ALNUM.sub(" ", t.lower()).split() for t in texts]
    lens = np.fromiter((len(t) for t in tokens), dtype=np.int64, count=len(tokens))
    codes = np.fromiter((xxhash.xxh64_intdigest(w.encode("ascii")) >> 21 for ws in tokens for w in ws), dtype=np.int64,
                        count=int(lens.sum()))
    return codes, lens


def _count_features(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    from selfinstruct.dedup.prefix import occurrence_features

    codes, lens = _codes(batch["text"].tolist())
    feature, count = np.unique(occurrence_features(codes, lens), return_counts=True)
    return {"feature": feature, "count": count.astype(np.int64)}


def _keys(batch: dict[str, np.ndarray], *, order: Any, threshold: float, partitions: int) -> dict[str, np.ndarray]:
    import ray

    from selfinstruct.dedup.prefix import Features, occurrence_features, text_keys

    uniq, rank = ray.get(order)
    codes, lens = _codes(batch["text"].tolist())
    features = occurrence_features(codes, lens)
    feats = Features(lens, rank[np.searchsorted(uniq, features)])
    keys, local, rest = text_keys(feats, np.arange(lens.size, dtype=np.int64), threshold)
    return {"bucket": (keys % partitions).astype(np.int64), "key": keys.astype(np.int64),
            "id": batch["id"][local].astype(np.int64), "rest": rest, "len": lens[local]}


def _edges(group: dict[str, np.ndarray], *, table: Any, threshold: float) -> dict[str, np.ndarray]:
    import ray
    from rapidfuzz import process
    from rapidfuzz.distance import LCSseq

    from selfinstruct.dedup.postings import pairs_within
    from selfinstruct.rouge import Vocabulary

    empty = {"src": np.zeros(0, dtype=np.int64), "dst": np.zeros(0, dtype=np.int64),
             "score": np.zeros(0, dtype=np.float64)}
    if group["key"].size < 2:
        return empty
    a, b = pairs_within(group["key"], group["id"], group["rest"], group["len"], threshold)
    if a.size == 0:
        return empty
    blob, offsets = ray.get(table)
    vocab = Vocabulary()
    cache: dict[int, str] = {}

    def seq(i: int) -> str:
        s = cache.get(i)
        if s is None:
            s = cache[i] = vocab.encode(bytes(blob[offsets[i]: offsets[i + 1]]).decode("utf-8"))
        return s

    sa, sb = [seq(i) for i in a.tolist()], [seq(i) for i in b.tolist()]
    lcs = process.cpdist(sb, sa, scorer=LCSseq.similarity, dtype=np.int32, workers=1)
    la = np.fromiter((len(s) for s in sa), dtype=np.float64, count=len(sa))
    lb = np.fromiter((len(s) for s in sb), dtype=np.float64, count=len(sb))
    score = f_measure_pairs(np.asarray(lcs), lb, la)
    above = score > threshold
    return {"src": a[above], "dst": b[above], "score": score[above]}


def _start(options: RayOptions) -> bool:
    """Connect to ``options.address`` or start a local cluster; True if this call started Ray."""
    import ray

    if ray.is_initialized():
        return False
    if options.address:
        try:
            ray.init(address=options.address, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ConfigError(f"cannot join the Ray cluster at {options.address}: {exc}") from exc
    else:
        ray.init(num_cpus=options.num_cpus, object_store_memory=options.object_store_bytes,
                 include_dashboard=False, log_to_driver=False)
    return True


def ray_dedup(paths: Sequence[str], *, field: str = "instruction", seeds: Sequence[str] = (),
              config: DedupConfig = DedupConfig(), options: RayOptions = RayOptions()) -> GreedyResult:
    """Decisions for every record of ``paths`` (in order, file after file), as greedy_dedup would make them."""
    import ray
    import ray.data
    from ray.data.context import DataContext, ShuffleStrategy

    started = _start(options)
    try:
        ctx = DataContext.get_current()
        # The default hash shuffle over 200 blocks made a 100k-row groupby take 20 s here; sort-based ~3 s.
        ctx.shuffle_strategy = ShuffleStrategy.SORT_SHUFFLE_PULL_BASED
        ctx.enable_progress_bars = False
        t0 = time.perf_counter()
        resolved = [str(Path(p).resolve()) for p in paths]
        index = {p: i for i, p in enumerate(resolved)}
        files = ray.data.read_binary_files(resolved, include_paths=True,
                                           override_num_blocks=max(1, min(len(paths), options.blocks)))

        def split(row: dict[str, Any]) -> list[dict[str, Any]]:
            f = index[str(Path(row["path"]).resolve())]
            return [{"file": f, "k": k, "text": t} for k, t in enumerate(_records(row["path"], row["bytes"], field))]

        lines = files.flat_map(split).materialize()
        per_file: dict[int, list[tuple[int, str]]] = {}
        for batch in lines.iter_batches(batch_format="numpy", batch_size=65536):
            for f, k, t in zip(batch["file"].tolist(), batch["k"].tolist(), batch["text"].tolist()):
                per_file.setdefault(f, []).append((k, t))
        texts = list(seeds)
        offsets_per_file = np.zeros(len(paths), dtype=np.int64)
        for f in range(len(paths)):
            offsets_per_file[f] = len(texts)
            texts.extend(t for _, t in sorted(per_file.pop(f, [])))
        first = len(seeds)
        encoded = [t.encode("utf-8") for t in texts]
        offsets = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum([len(e) for e in encoded], out=offsets[1:])
        table = ray.put((np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets))
        del encoded

        def number(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            return {"id": offsets_per_file[batch["file"]] + batch["k"], "text": batch["text"]}

        rows = lines.map_batches(number, batch_format="numpy", batch_size=None).repartition(options.blocks)
        if seeds:
            rows = rows.union(ray.data.from_items([{"id": i, "text": s} for i, s in enumerate(seeds)]))
        rows = rows.materialize()  # read by two stages below

        counts = [b for b in rows.map_batches(_count_features, batch_format="numpy", batch_size=None).iter_batches(
            batch_format="numpy", batch_size=None)]
        feature = np.concatenate([c["feature"] for c in counts]) if counts else np.zeros(0, dtype=np.int64)
        count = np.concatenate([c["count"] for c in counts]) if counts else np.zeros(0, dtype=np.int64)
        order = np.argsort(feature, kind="stable")
        feature, count = feature[order], count[order]
        starts = np.flatnonzero(np.concatenate(([True], feature[1:] != feature[:-1]))) if feature.size else order
        uniq, total = feature[starts], np.add.reduceat(count, starts) if feature.size else count
        rank = np.empty(uniq.size, dtype=np.int64)
        rank[np.lexsort((uniq, total))] = np.arange(uniq.size)
        order_ref = ray.put((uniq, rank))

        keys = rows.map_batches(_keys, batch_format="numpy", batch_size=None, fn_kwargs={
            "order": order_ref, "threshold": config.threshold, "partitions": options.partitions})
        edges = keys.groupby("bucket", num_partitions=options.partitions).map_groups(
            _edges, batch_format="numpy", fn_kwargs={"table": table, "threshold": config.threshold})
        src, dst, score = [], [], []
        for batch in edges.iter_batches(batch_format="numpy", batch_size=None):
            src.append(batch["src"])
            dst.append(batch["dst"])
            score.append(batch["score"])
        src_a = np.concatenate(src) if src else np.zeros(0, dtype=np.int64)
        dst_a = np.concatenate(dst) if dst else np.zeros(0, dtype=np.int64)
        score_a = np.concatenate(score) if score else np.zeros(0, dtype=np.float64)
    finally:
        if started:
            ray.shutdown()
    # Seeds are kept whatever they score against each other.
    live = dst_a >= first
    src_a, dst_a, score_a = src_a[live], dst_a[live], score_a[live]
    untokenizable = np.array([not _NON_ALNUM.sub(" ", t.lower()).split() for t in texts], dtype=bool)
    keep = np.ones(len(texts), dtype=bool)
    keep[first:] &= ~untokenizable[first:] | (config.untokenizable == "keep")
    match = np.full(len(texts), -1, dtype=np.int64)
    best = np.zeros(len(texts), dtype=np.float64)
    matches: dict[int, list[tuple[int, float]]] = {}
    greedy_from_edges(keep, src_a, dst_a, score_a, match, best, matches)
    sl = slice(first, len(texts))
    return GreedyResult(keep=keep[sl], match=match[sl], score=best[sl], untokenizable=untokenizable[sl],
                        matches={j - first: v for j, v in matches.items()}, edges=int(dst_a.size),
                        chunk_seconds=[time.perf_counter() - t0])
