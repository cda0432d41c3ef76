"""Near-duplicate filtering of instructions: Self-Instruct's ROUGE-L rule, exact, at flat cost per item.

Public surface (pinned by tests/dedup/test_dedup_api.py)::

    DedupConfig            frozen, keyword-only configuration
    Decision               keep / max_score / most_similar / avg_similarity_estimate / untokenizable
    NearDuplicateFilter    MinHash-LSH candidates + exact ROUGE-L check (the fast one); ``.plan`` says
                           which banding serves the threshold, or that it scores the whole pool
                           (selfinstruct.dedup.banding)
    ExactRougeFilter       the same interface, brute force over the whole pool (the reference)
    rouge_l_f(a, b)        exact rouge_score rougeL fmeasure (a = target, b = prediction)
    greedy_dedup(texts, seeds=, config=)   a whole corpus at once: the exact greedy decisions from
                           candidates that provably include every pair above the threshold
                           (length + prefix filtering, selfinstruct.dedup.prefix; no miss
                           probability); what ``selfinstruct dedup`` runs.  Its Ray twin is
                           selfinstruct.dedup.distributed.ray_dedup (``--ray``).

The streaming filters (NearDuplicateFilter, check_and_add one text at a time, as the
pipeline uses them) keep MinHash-LSH with its published miss bound (selfinstruct.dedup.banding).

``DedupConfig`` and ``Decision`` are standard-library only; the rest (numpy,
rapidfuzz, xxhash) is imported on first use, so importing this package, or the
``selfinstruct dedup`` command module, stays cheap.  datasketch itself is only
imported for storage="redis".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from selfinstruct.dedup.config import Decision, DedupConfig

if TYPE_CHECKING:  # pragma: no cover
    from selfinstruct.dedup.filters import ExactRougeFilter, NearDuplicateFilter
    from selfinstruct.dedup.greedy import greedy_dedup
    from selfinstruct.rouge import rouge_l_f

__all__ = ["DedupConfig", "Decision", "NearDuplicateFilter", "ExactRougeFilter", "rouge_l_f", "greedy_dedup"]

_LAZY = {
    "NearDuplicateFilter": "selfinstruct.dedup.filters",
    "ExactRougeFilter": "selfinstruct.dedup.filters",
    "rouge_l_f": "selfinstruct.rouge",
    "greedy_dedup": "selfinstruct.dedup.greedy",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
