"""Value types of the near-duplicate filter: its frozen configuration and the per-text Decision.

Standard library only, so that ``selfinstruct dedup --help`` and the pipeline's
config loading never pay for numpy, rapidfuzz or datasketch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from selfinstruct.dedup.banding import Banding, band_miss_probability, jaccard_floor, plan_banding
from selfinstruct.errors import ConfigError

__all__ = ["DedupConfig", "Decision", "jaccard_floor", "band_miss_probability"]  # the last two: banding.py


@dataclass(frozen=True, kw_only=True)
class DedupConfig:
    """How the filter decides and how its LSH index is shaped (see selfinstruct.dedup.lsh for the why)."""

    threshold: float = field(default=0.7, metadata={"help": "reject when ROUGE-L F > threshold (original: 0.7)"})
    num_perm: int = field(default=800, metadata={"help": "MinHash permutations (>= bands * rows)"})
    bands: int = field(default=200, metadata={"help": "LSH bands"})
    rows: int = field(default=4, metadata={"help": "MinHash values per band"})
    min_band_hits: int = field(default=2, metadata={"help": "bands a pool text must share to be a candidate"})
    seed: int = field(default=1, metadata={"help": "seed of the shared MinHash permutations"})
    avg_sample: int = field(default=32, metadata={"help": "pool items sampled for the average-similarity estimate"})
    buffer_items: int = field(default=4096, metadata={"help": "recent inserts kept in a dict before being packed"})
    storage: Literal["memory", "redis"] = field(default="memory", metadata={"help": "where the LSH buckets live"})
    redis_url: str | None = field(default=None, metadata={"help": "redis://host:port/db for storage='redis'"})
    redis_prefix: str = field(default="selfinstruct-dedup", metadata={"help": "key prefix of the shared index"})
    untokenizable: Literal["keep", "reject"] = field(default="keep", metadata={
        "help": "texts with no [a-z0-9] token (ROUGE-L cannot compare them): keep or reject; both are counted"})

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"dedup.threshold must be in [0, 1], got {self.threshold!r}")
        for name in ("num_perm", "bands", "rows", "min_band_hits", "avg_sample", "buffer_items"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < (0 if name == "avg_sample" else 1):
                raise ConfigError(f"dedup.{name} must be a positive integer, got {value!r}")
        if self.bands * self.rows > self.num_perm:
            raise ConfigError(
                f"dedup.bands * dedup.rows = {self.bands * self.rows} exceeds dedup.num_perm = {self.num_perm}"
            )
        if self.storage not in ("memory", "redis"):
            raise ConfigError(f"dedup.storage must be 'memory' or 'redis', got {self.storage!r}")
        if self.storage == "redis" and not self.redis_url:
            raise ConfigError("dedup.storage = 'redis' needs dedup.redis_url (e.g. redis://127.0.0.1:6379/0)")
        if not self.redis_prefix:
            raise ConfigError("dedup.redis_prefix must not be empty")
        if self.untokenizable not in ("keep", "reject"):
            raise ConfigError(f"dedup.untokenizable must be 'keep' or 'reject', got {self.untokenizable!r}")

    @property
    def jaccard_floor(self) -> float:
        return jaccard_floor(self.threshold)

    @property
    def worst_case_miss(self) -> float:
        """LSH miss probability of the *configured* banding for a pair exactly on the Jaccard floor."""
        return band_miss_probability(self.jaccard_floor, self.bands, self.rows, self.min_band_hits)

    @property
    def banding(self) -> Banding:
        """What NearDuplicateFilter really uses at this threshold (selfinstruct.dedup.banding)."""
        return plan_banding(self.threshold, bands=self.bands, rows=self.rows, min_band_hits=self.min_band_hits,
                            num_perm=self.num_perm)


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict on one text. Scores are exact ROUGE-L F (rouge_score's rougeL, no stemming)."""

    keep: bool
    max_score: float  # exact ROUGE-L F of the closest pool text found (0.0 if none)
    most_similar: dict[str, float]  # up to 10 pool texts -> exact score, best first (scores of 0 left out)
    avg_similarity_estimate: float  # ESTIMATE of the mean ROUGE-L F against the pool (random sample)
    # The text has no [a-z0-9] token (e.g. only CJK, Arabic, emoji or punctuation), so ROUGE-L scores it 0
    # against everything; ``keep`` then follows DedupConfig.untokenizable instead of a score.
    untokenizable: bool = False
