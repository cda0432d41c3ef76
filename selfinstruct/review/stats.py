"""Review statistics: pass rates with Wilson intervals, the all-valid share, Cohen's and Fleiss' kappa.

Definitions (the README's "Review statistics" section says the same):
- An answer passes when it is yes, or 4 or 5 on the 1-5 scale.
- Each item gets one verdict per criterion: the majority of its raters' pass/fail
  answers (the single rater's, when one). A tie is not a majority, so a tied item
  does not pass: a pass needs more raters saying pass than fail.
- ``pass_rate`` of a criterion is passing items / rated items, with the 95% Wilson
  score interval (z = 1.959964); ``all_valid_rate`` is the share of rated items
  whose verdict passes on every criterion.
- Cohen's kappa, per pair of raters and criterion, over the items both rated,
  compares their raw answers as nominal categories (yes/no, or 1..5 unweighted):
  kappa = (p_o - p_e) / (1 - p_e) with p_e from each rater's own category shares.
- Fleiss' kappa, per criterion, over the items every rater rated, when there are
  three raters or more: kappa = (P - P_e) / (1 - P_e) with P the mean per-item
  agreement and P_e the sum of squared category shares (Fleiss 1971).
- A kappa whose chance agreement is already 1 (every answer in one category) is
  undefined and reported as null.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from selfinstruct.review.templates import Criterion, passes

__all__ = ["Rating", "wilson", "cohen_kappa", "fleiss_kappa", "majority", "summarize", "Z95"]

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile


@dataclass(frozen=True, slots=True, kw_only=True)
class Rating:
    rater: str
    item: str
    answers: Mapping[str, bool | int]
    note: str = ""


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval for k successes in n trials; None when n is 0."""
    if n <= 0:
        return None
    p = k / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def cohen_kappa(pairs: Sequence[tuple[Hashable, Hashable]]) -> float | None:
    """Cohen's kappa of two raters' answers on the same items; None when undefined (no items, p_e = 1)."""
    n = len(pairs)
    if n == 0:
        return None
    observed = sum(a == b for a, b in pairs) / n
    first, second = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    expected = sum(first[c] * second[c] for c in first) / (n * n)
    if math.isclose(expected, 1.0):
        return None
    return (observed - expected) / (1 - expected)


def fleiss_kappa(table: Sequence[Sequence[int]]) -> float | None:
    """Fleiss' kappa of a subjects x categories count table (the same number of ratings in every row)."""
    rows = [list(r) for r in table if sum(r)]
    if not rows:
        return None
    m = sum(rows[0])
    if m < 2 or any(sum(r) != m for r in rows):
        raise ValueError("Fleiss' kappa needs the same number (at least 2) of ratings for every subject")
    n = len(rows)
    agreement = sum((sum(c * c for c in r) - m) / (m * (m - 1)) for r in rows) / n
    shares = [sum(r[j] for r in rows) / (n * m) for j in range(len(rows[0]))]
    expected = sum(s * s for s in shares)
    if math.isclose(expected, 1.0):
        return None
    return (agreement - expected) / (1 - expected)


def majority(verdicts: Iterable[bool]) -> bool:
    """True when more answers pass than fail; a tie does not pass."""
    counts = Counter(verdicts)
    return counts[True] > counts[False]


def _rate(k: int, n: int) -> dict[str, Any]:
    ci = wilson(k, n)
    return {"pass_rate": k / n if n else None, "ci": list(ci) if ci else None, "n": n, "passed": k}


def summarize(criteria: Sequence[Criterion], ratings: Iterable[Rating]) -> dict[str, Any]:
    """The review summary: per-criterion pass rates, the all-valid share, raters, Cohen's and Fleiss' kappa."""
    by_item: dict[str, dict[str, Rating]] = {}
    for r in ratings:
        by_item.setdefault(r.item, {})[r.rater] = r  # a later rating by the same rater replaces the earlier
    raters = sorted({rater for per in by_item.values() for rater in per})
    items = sorted(by_item)
    verdict = {(item, c.name): majority(passes(c.scale, r.answers[c.name]) for r in by_item[item].values())
               for item in items for c in criteria}
    summary: dict[str, Any] = {"criteria": {}, "raters": raters, "items_rated": len(items),
                               "ratings": sum(len(per) for per in by_item.values())}
    for c in criteria:
        summary["criteria"][c.name] = _rate(sum(verdict[item, c.name] for item in items), len(items))
    all_valid = sum(all(verdict[item, c.name] for c in criteria) for item in items)
    overall = _rate(all_valid, len(items))
    summary["all_valid_rate"] = overall["pass_rate"]
    summary["all_valid_ci"] = overall["ci"]
    summary["cohen_kappa"], summary["cohen_n"] = {}, {}
    for a, b in itertools.combinations(raters, 2):
        both = [item for item in items if a in by_item[item] and b in by_item[item]]
        if both:
            summary["cohen_kappa"][f"{a}|{b}"] = {
                c.name: cohen_kappa([(by_item[i][a].answers[c.name], by_item[i][b].answers[c.name]) for i in both])
                for c in criteria}
            summary["cohen_n"][f"{a}|{b}"] = len(both)
    if len(raters) >= 3:
        common = [item for item in items if len(by_item[item]) == len(raters)]
        if common:
            summary["fleiss_kappa"] = {c.name: fleiss_kappa(_count_table(c, [by_item[i] for i in common]))
                                       for c in criteria}
            summary["fleiss_n"] = len(common)
    return summary


def _count_table(criterion: Criterion, per_item: Sequence[Mapping[str, Rating]]) -> list[list[int]]:
    categories: list[bool | int] = [True, False] if criterion.scale == "yes_no" else [1, 2, 3, 4, 5]
    table = []
    for per in per_item:
        counts = Counter(r.answers[criterion.name] for r in per.values())
        table.append([counts[c] for c in categories])
    return table
