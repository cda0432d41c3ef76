"""The greedy near-duplicate filters: a pool of kept texts, and a verdict for each new text.

Semantics are the original Self-Instruct's: the pool starts with the seeds, each
candidate is scored with ROUGE-L F (rouge_score rougeL, no stemming, the new
text as target) against the pool, it is rejected when the maximum exceeds the
threshold, and inserted when kept.  ``ExactRougeFilter`` scores the whole pool
(brute force, but with rapidfuzz's LCS); ``NearDuplicateFilter`` scores only the
MinHash-LSH candidates, which by construction include every pool text above the
threshold (see selfinstruct.dedup.lsh), so both make the same decisions.  At
thresholds where no affordable banding can promise that, it scores the whole
pool as well (selfinstruct.dedup.banding decides, and ``plan`` says which).

A text with no [a-z0-9] token scores 0 against everything, so no score can
reject it: both filters mark its Decision ``untokenizable`` and keep or reject
it by ``DedupConfig.untokenizable``, never by a score, so they agree on it too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from operator import itemgetter

import numpy as np

from selfinstruct.dedup.config import Decision, DedupConfig
from selfinstruct.dedup.index import PackedBandIndex, RedisBandIndex
from selfinstruct.dedup.lsh import MinHasher, band_keys
from selfinstruct.rouge import Vocabulary, f_measure_many, lcs_many
from selfinstruct.errors import ConfigError

__all__ = ["NearDuplicateFilter", "ExactRougeFilter", "pair_recall"]

log = logging.getLogger(__name__)

_TOP = 10
_BATCH = 8192  # texts sketched per numpy batch in the bulk paths (bounds the signature matrix)


class _Pool:
    """The kept texts, their token strings (rapidfuzz input) and token counts, addressed by position."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.seqs: list[str] = []
        self._lens = np.zeros(1024, dtype=np.float64)  # token counts, as the floats F is computed from

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def lens(self) -> np.ndarray:
        return self._lens[: len(self.texts)]

    def extend(self, texts: Sequence[str], seqs: Sequence[str]) -> int:
        """Append; return the position of the first new item."""
        first = len(self.texts)
        need = first + len(texts)
        if need > self._lens.size:
            grown = np.zeros(max(need, 2 * self._lens.size), dtype=np.float64)
            grown[:first] = self._lens[:first]
            self._lens = grown
        self._lens[first:need] = [len(s) for s in seqs]
        self.texts.extend(texts)
        self.seqs.extend(seqs)
        return first

    def scores(self, seq: str, ids: np.ndarray) -> np.ndarray:
        """Exact ROUGE-L F of ``seq`` (target) against the pool items ``ids`` (predictions)."""
        if ids.size == 0:
            return np.zeros(0, dtype=np.float64)
        picked = itemgetter(*ids.tolist())(self.seqs)
        choices = [picked] if ids.size == 1 else picked
        return f_measure_many(lcs_many(seq, choices), len(seq), self.lens[ids])


def _decision(threshold: float, scores: np.ndarray, labels: Sequence[str], avg: float) -> Decision:
    """Build the verdict from exact scores listed in pool order (ties in the top ten go to the earlier)."""
    if scores.size == 0:
        return Decision(keep=True, max_score=0.0, most_similar={}, avg_similarity_estimate=avg)
    best = float(scores.max())
    most_similar: dict[str, float] = {}
    if best > 0.0:
        pos = None
        if scores.size > 4 * _TOP:
            tenth = np.partition(scores, scores.size - _TOP)[scores.size - _TOP]
            pos = np.flatnonzero(scores >= max(tenth, np.nextafter(0.0, 1.0)))
            order = pos[np.argsort(-scores[pos], kind="stable")[:_TOP]]
        else:
            order = np.argsort(-scores, kind="stable")[:_TOP]
        for i, score in zip(order.tolist(), scores[order].tolist()):
            if score > 0.0:
                most_similar.setdefault(labels[i], score)
    # The original rejects on max > threshold, so a score equal to it is kept.
    return Decision(keep=not best > threshold, max_score=best, most_similar=most_similar,
                    avg_similarity_estimate=avg)


def _untokenizable(config: DedupConfig) -> Decision:
    return Decision(keep=config.untokenizable == "keep", max_score=0.0, most_similar={},
                    avg_similarity_estimate=0.0, untokenizable=True)


_NO_POOL = Decision(keep=True, max_score=0.0, most_similar={}, avg_similarity_estimate=0.0)


def _exact_check(config: DedupConfig, pool: _Pool, seq: str) -> Decision:
    """Score ``seq`` against the whole pool."""
    if not seq:
        return _untokenizable(config)
    if not len(pool):
        return _NO_POOL
    scores = f_measure_many(lcs_many(seq, pool.seqs), len(seq), pool.lens)
    # Here the "estimate" is the exact mean: every pool item was scored anyway.
    return _decision(config.threshold, scores, pool.texts, float(scores.mean()))


class _FilterBase:
    def __init__(self, config: DedupConfig) -> None:
        self.config = config
        self._vocab = Vocabulary()
        self._pool = _Pool()

    def __len__(self) -> int:
        return len(self._pool)

    def add(self, text: str) -> None:
        """Insert without checking (seeds)."""
        self.add_many([text])

    def check(self, text: str) -> Decision:
        """Score against the pool; never inserts."""
        return self._check_seq(text, self._vocab.encode(text), None)

    def check_and_add(self, text: str) -> Decision:
        """Score, and insert when kept."""
        return self.check_and_add_many([text])[0]

    def add_many(self, texts: Iterable[str]) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _add_many_exact(self, texts: Iterable[str]) -> None:
        texts = list(texts)
        self._pool.extend(texts, [self._vocab.encode(t) for t in texts])

    def _check_and_add_many_exact(self, texts: Iterable[str]) -> list[Decision]:
        out = []
        for text in texts:
            seq = self._vocab.encode(text)
            decision = _exact_check(self.config, self._pool, seq)
            if decision.keep:
                self._pool.extend([text], [seq])
            out.append(decision)
        return out

    def check_and_add_many(self, texts: Iterable[str]) -> list[Decision]:  # pragma: no cover
        raise NotImplementedError

    def _check_seq(self, text: str, seq: str, sig: np.ndarray | None) -> Decision:  # pragma: no cover
        raise NotImplementedError


class ExactRougeFilter(_FilterBase):
    """Brute force: every check scores the whole pool. The reference the LSH filter is tested against."""

    def __init__(self, config: DedupConfig = DedupConfig()) -> None:
        super().__init__(config)

    def add_many(self, texts: Iterable[str]) -> None:
        self._add_many_exact(texts)

    def _check_seq(self, text: str, seq: str, sig: np.ndarray | None) -> Decision:
        return _exact_check(self.config, self._pool, seq)

    def check_and_add_many(self, texts: Iterable[str]) -> list[Decision]:
        return self._check_and_add_many_exact(texts)


class NearDuplicateFilter(_FilterBase):
    """MinHash-LSH candidates, then the exact ROUGE-L on them only (see lsh.py for why none are missed).

    ``plan`` (a selfinstruct.dedup.banding.Banding) is the banding used at this
    threshold; where it is ``method="exact"`` this filter scores the whole pool,
    exactly as ExactRougeFilter does.
    """

    def __init__(self, config: DedupConfig = DedupConfig()) -> None:
        super().__init__(config)
        self.plan = plan = config.banding
        if plan.source != "configured":
            log.warning("dedup at threshold %g: %s", config.threshold, plan.reason)
        self._exact = plan.method == "exact"
        self._rng = np.random.default_rng(config.seed)
        self._index: PackedBandIndex | None = None
        self._redis: RedisBandIndex | None = None
        self._redis_seqs: dict[str, str] = {}
        if self._exact:
            if config.storage == "redis":
                raise ConfigError(f"dedup.threshold = {config.threshold:g} needs the exact filter ({plan.reason}), "
                                  "which keeps no index to share: use storage = 'memory' or a higher threshold")
            return
        self._hasher = MinHasher(self._vocab, num_perm=plan.num_perm, seed=config.seed)
        if config.storage == "redis":
            assert config.redis_url is not None  # DedupConfig guarantees it
            # datasketch's query is a union over bands (one shared band suffices): a superset of
            # the min_band_hits rule, so the plan's miss bound holds there too.
            self._redis = RedisBandIndex(url=config.redis_url, prefix=config.redis_prefix,
                                         num_perm=plan.num_perm, bands=plan.bands, rows=plan.rows,
                                         seed=config.seed)
        else:
            self._index = PackedBandIndex(bands=plan.bands, buffer_items=config.buffer_items)

    def _keys(self, sig: np.ndarray) -> np.ndarray:
        return band_keys(sig, bands=self.plan.bands, rows=self.plan.rows, seed=self.config.seed)

    def _batches(self, texts: Iterable[str]) -> Iterable[tuple[list[str], list[str], np.ndarray]]:
        batch: list[str] = []
        for text in texts:
            batch.append(text)
            if len(batch) == _BATCH:
                yield self._prepare(batch)
                batch = []
        if batch:
            yield self._prepare(batch)

    def _prepare(self, texts: list[str]) -> tuple[list[str], list[str], np.ndarray]:
        seqs = [self._vocab.encode(t) for t in texts]
        return texts, seqs, self._hasher.sketch_many(seqs)

    def add_many(self, texts: Iterable[str]) -> None:
        """Bulk insert without checks (seeds, or rebuilding the pool on resume)."""
        if self._exact:
            return self._add_many_exact(texts)
        for batch, seqs, sig in self._batches(texts):
            first = self._pool.extend(batch, seqs)
            live = np.array([bool(s) for s in seqs])  # a text without tokens can never score above 0
            if self._index is not None:
                ids = np.arange(first, first + len(batch))[live]
                self._index.insert_many(ids, self._keys(sig[live]))
            else:
                assert self._redis is not None
                self._redis.insert_many([t for t, ok in zip(batch, live) if ok], sig[live])

    def check_and_add_many(self, texts: Iterable[str]) -> list[Decision]:
        """Greedy, in order: each text is checked against the seeds and every text kept before it."""
        if self._exact:
            return self._check_and_add_many_exact(texts)
        out = []
        for batch, seqs, sig in self._batches(texts):
            keys = self._keys(sig) if self._index is not None else None
            for i, (text, seq) in enumerate(zip(batch, seqs)):
                decision = self._check_seq(text, seq, sig[i], None if keys is None else keys[i])
                if decision.keep:
                    item = self._pool.extend([text], [seq])
                    if seq:
                        if self._index is not None:
                            assert keys is not None
                            self._index.insert(item, keys[i])
                        else:
                            assert self._redis is not None
                            self._redis.insert_many([text], sig[i: i + 1])
                out.append(decision)
        return out

    def check(self, text: str) -> Decision:
        if self._exact:
            return _exact_check(self.config, self._pool, self._vocab.encode(text))
        _, seqs, sig = self._prepare([text])
        return self._check_seq(text, seqs[0], sig[0])

    def _check_seq(self, text: str, seq: str, sig: np.ndarray | None,  # type: ignore[override]
                   keys: np.ndarray | None = None) -> Decision:
        n = len(self._pool)
        if not seq:
            return _untokenizable(self.config)
        # A shared (Redis) index may hold texts although this process's pool is empty.
        if not n and self._redis is None:
            return _NO_POOL
        assert sig is not None
        # The average is an ESTIMATE: the mean exact score over avg_sample pool
        # items drawn uniformly (with replacement), scored in the same call as the candidates.
        sample = self._rng.integers(0, n, size=self.config.avg_sample if n else 0)
        if self._index is not None:
            ids = self._index.query(self._keys(sig[None, :])[0] if keys is None else keys,
                                    self.plan.min_band_hits)
            scores = self._pool.scores(seq, np.concatenate([ids, sample]))
            avg = float(scores[ids.size:].mean()) if sample.size else 0.0
            return _decision(self.config.threshold, scores[: ids.size], _Labels(self._pool.texts, ids), avg)
        assert self._redis is not None
        avg = float(self._pool.scores(seq, sample).mean()) if sample.size else 0.0
        found = sorted(set(self._redis.query(sig)))
        cand = [self._redis_seqs.get(t) or self._redis_seqs.setdefault(t, self._vocab.encode(t)) for t in found]
        lens = np.fromiter((len(s) for s in cand), dtype=np.float64, count=len(cand))
        scores = f_measure_many(lcs_many(seq, cand), len(seq), lens)
        return _decision(self.config.threshold, scores, found, avg)


class _Labels:
    """Pool texts seen through a candidate-id array (avoids copying texts that are not in the top ten)."""

    __slots__ = ("_texts", "_ids")

    def __init__(self, texts: list[str], ids: np.ndarray) -> None:
        self._texts, self._ids = texts, ids

    def __getitem__(self, i: int) -> str:
        return self._texts[int(self._ids[i])]


def pair_recall(fast: NearDuplicateFilter, exact: ExactRougeFilter, text: str) -> tuple[int, int]:
    """(pool texts whose exact ROUGE-L F with ``text`` is above the threshold, how many of them the LSH index
    proposes as candidates), before ``text`` is added to either filter.

    For the tests and benchmarks that check the banding's miss bound pair by pair, not just decision by
    decision. Both filters must have been given the same texts in the same order (their pool ids agree),
    and ``fast`` must use LSH. Neither pool is changed.
    """
    seq = exact._vocab.encode(text)
    pool = exact._pool
    if not seq or not len(pool):
        return 0, 0
    scores = f_measure_many(lcs_many(seq, pool.seqs), len(seq), pool.lens)
    above = set(np.flatnonzero(scores > fast.config.threshold).tolist())
    if not above:
        return 0, 0
    _, _, sig = fast._prepare([text])
    candidates = set(fast._index.query(fast._keys(sig)[0], fast.plan.min_band_hits).tolist())
    return len(above), len(above & candidates)
