"""Which LSH banding a threshold gets, or whether it must fall back to the exact filter (pure, standard library).

The filter promises the exact filter's decisions.  LSH keeps that promise only
if every pool text above the threshold is a candidate, and the chance of
missing one is bounded per pair by its Jaccard similarity: a pair with ROUGE-L
F > t has a multiset Jaccard of at least t / (2 - t) (see
selfinstruct.dedup.lsh), so the worst case is a pair sitting on that floor.
The default banding (200 bands x 4 rows, 2 shared bands) misses such a pair
with probability 4.6e-7 at t = 0.7, but the floor falls with t (0.33 at 0.5,
0.18 at 0.3, 0 at t = 0), and the same banding misses 98 % of worst-case pairs
at t = 0.3.

``plan_banding`` therefore decides per threshold:

1. the configured banding, if its worst-case miss is at most ``MISS_BOUND``;
2. otherwise the cheapest banding that meets ``MISS_BOUND`` within
   ``MAX_BANDS`` bands and ``MAX_PERM`` permutations (cost below);
3. otherwise, or if even that banding would cost more than ``EXACT_COST`` of
   the exact filter's work per pool text, the exact filter (every pool text scored).

Cost of a banding, per pool text and in units of one exact ROUGE-L score:

    share of the pool made a candidate (each is scored exactly)
    + HIT_COST x raw band hits (bucket entries read and counted)
    + PERM_COST x permutations (sketching, a per-query cost)

Both expectations are taken over ``BACKGROUND``: the Jaccard distribution of all
90,951 pairs of the 427 vendored seed and evaluation instructions (mean 0.072;
1 % of pairs above 0.23), in bins of 0.05.  HIT_COST = 0.7 is measured: on
10,000 synthetic instructions (instruction_stream of benchmarks/synthetic.py,
seed 7, 175 seeds; CPU us per item, one core) an exact score cost about 0.17 us
per pool text and a raw hit 0.12 us, and an LSH query pays ~390 us whatever the
pool, so LSH must cut the per-pool-text work well below the exact filter's:

    t     banding (bands x rows, shared)   relative cost   LSH us/item   exact us/item
    0.5   170 x 2, 3 (meets the bound)     1.19            1118          724
    0.55  311 x 3, 2                       0.34             657          597
    0.6   214 x 3, 2                       0.23             428          672
    0.65  316 x 4, 2                       0.07             444          708
    0.7   200 x 4, 2 (the default)         0.04             319          728

Below 0.55 no banding within the limits costs under EXACT_COST (at 0.5 the best,
385 x 3 with one shared band, is estimated at 0.56), so those thresholds are exact.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Literal

__all__ = ["MISS_BOUND", "Banding", "plan_banding", "jaccard_floor", "band_miss_probability", "background_share",
           "relative_cost"]

MISS_BOUND = 5e-7  # per worst-case pair; the default banding's 4.6e-7 at t = 0.7 sits under it
MAX_BANDS = 400  # 8 bytes per item and band in the packed index: 3.2 KB per item at most
MAX_PERM = 1600
MAX_ROWS = 8
MAX_MIN_HITS = 3
EXACT_COST = 0.5
HIT_COST = 0.7
PERM_COST = 1e-6
# Share of pairs per Jaccard bin [0, 0.05), [0.05, 0.1), ... [0.95, 1.0]; measured as described above.
BACKGROUND = (0.364141, 0.365428, 0.196314, 0.05094, 0.01636, 0.004805, 0.001308, 0.000341, 0.000176, 5.5e-05,
              3.3e-05, 4.4e-05, 1.1e-05, 1.1e-05, 0.0, 0.0, 0.0, 0.0, 0.0, 3.3e-05)


def jaccard_floor(threshold: float) -> float:
    """Lowest occurrence-numbered token Jaccard a pair with ROUGE-L F > threshold can have.

    LCS <= M (the multiset overlap), so F = 2L/(m+n) > t gives 2M/(m+n) > t, i.e. a
    Dice coefficient above t, and Jaccard = Dice / (2 - Dice) > t / (2 - t).
    """
    return threshold / (2.0 - threshold)


def band_miss_probability(jaccard: float, bands: int, rows: int, min_hits: int = 1) -> float:
    """Probability that a pair with this Jaccard shares fewer than ``min_hits`` of ``bands`` bands of ``rows``.

    Each band collides independently with probability J^rows, so the number of
    shared bands is Binomial(bands, J^rows); this is its lower tail.
    """
    p = jaccard**rows
    return sum(math.comb(bands, k) * p**k * (1.0 - p) ** (bands - k) for k in range(min_hits))


def background_share(bands: int, rows: int, min_hits: int) -> float:
    """Expected share of an ordinary pool (``BACKGROUND``) that this banding makes a candidate."""
    width = 1.0 / len(BACKGROUND)
    return sum(w * (1.0 - band_miss_probability((i + 0.5) * width, bands, rows, min_hits))
               for i, w in enumerate(BACKGROUND) if w)


def relative_cost(bands: int, rows: int, min_hits: int) -> float:
    """Work per pool text of an LSH query with this banding, as a share of the exact filter's (see above)."""
    width = 1.0 / len(BACKGROUND)
    raw_hits = bands * sum(w * ((i + 0.5) * width) ** rows for i, w in enumerate(BACKGROUND))
    return background_share(bands, rows, min_hits) + HIT_COST * raw_hits + PERM_COST * bands * rows


@dataclass(frozen=True, kw_only=True, slots=True)
class Banding:
    """What the filter does at one threshold. ``method="exact"`` scores the whole pool (bands etc. are 0)."""

    method: Literal["lsh", "exact"]
    source: Literal["configured", "derived", "fallback"]
    threshold: float
    jaccard_floor: float
    bands: int = 0
    rows: int = 0
    min_band_hits: int = 0
    num_perm: int = 0
    worst_case_miss: float = 0.0  # 0 for exact: nothing can be missed
    background_share: float = 1.0  # expected share of an ordinary pool scored exactly
    relative_cost: float = 1.0  # expected work per pool text, exact filter = 1
    reason: str = ""

    def as_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def _cheapest(threshold: float, floor: float) -> Banding | None:
    best: tuple[float, Banding] | None = None
    for rows in range(1, MAX_ROWS + 1):
        for min_hits in range(1, MAX_MIN_HITS + 1):
            top = min(MAX_BANDS, MAX_PERM // rows)
            if min_hits > top or band_miss_probability(floor, top, rows, min_hits) > MISS_BOUND:
                continue
            lo, hi = min_hits, top  # the miss falls as bands grow: bisect for the fewest that meet the bound
            while lo < hi:
                mid = (lo + hi) // 2
                if band_miss_probability(floor, mid, rows, min_hits) <= MISS_BOUND:
                    hi = mid
                else:
                    lo = mid + 1
            cost = relative_cost(lo, rows, min_hits)
            if best is None or cost < best[0]:
                best = (cost, Banding(
                    method="lsh", source="derived", threshold=threshold, jaccard_floor=floor, bands=lo, rows=rows,
                    min_band_hits=min_hits, num_perm=lo * rows,
                    worst_case_miss=band_miss_probability(floor, lo, rows, min_hits),
                    background_share=background_share(lo, rows, min_hits), relative_cost=cost))
    return None if best is None else best[1]


def plan_banding(threshold: float, *, bands: int, rows: int, min_band_hits: int, num_perm: int) -> Banding:
    """The banding (or exact fallback) for ``threshold``, given the configured banding; see the module docstring."""
    floor = jaccard_floor(threshold)
    miss = band_miss_probability(floor, bands, rows, min_band_hits)
    if miss <= MISS_BOUND:
        return Banding(method="lsh", source="configured", threshold=threshold, jaccard_floor=floor, bands=bands,
                       rows=rows, min_band_hits=min_band_hits, num_perm=num_perm, worst_case_miss=miss,
                       background_share=background_share(bands, rows, min_band_hits),
                       relative_cost=relative_cost(bands, rows, min_band_hits))
    why = (f"the configured banding ({bands} bands x {rows} rows, {min_band_hits} shared) would miss a pair at "
           f"the Jaccard floor {floor:.3f} of threshold {threshold:g} with probability {miss:.2g} "
           f"(bound {MISS_BOUND:g})")
    derived = _cheapest(threshold, floor)
    if derived is None:
        return Banding(method="exact", source="fallback", threshold=threshold, jaccard_floor=floor,
                       reason=f"{why}, and no banding within {MAX_BANDS} bands / {MAX_PERM} permutations meets "
                              "the bound; scoring the whole pool exactly")
    if derived.relative_cost > EXACT_COST:
        return Banding(method="exact", source="fallback", threshold=threshold, jaccard_floor=floor,
                       reason=f"{why}, and the cheapest banding that meets it ({derived.bands} x {derived.rows}, "
                              f"{derived.min_band_hits} shared) would cost {derived.relative_cost:.2f} of the exact "
                              "filter's work per pool text; scoring the whole pool exactly")
    return Banding(**{**derived.as_dict(), "reason": f"{why}; using {derived.bands} bands x {derived.rows} rows, "
                                                     f"{derived.min_band_hits} shared (miss "
                                                     f"{derived.worst_case_miss:.2g})"})
