"""Near-duplicate filtering of instructions: Self-Instruct's ROUGE-L rule, exact, at flat cost per item.

Public surface (pinned by tests/dedup/test_api.py)::

    DedupConfig            frozen, keyword-only configuration
    Decision               keep / max_score / most_similar / avg_similarity_estimate / untokenizable
    NearDuplicateFilter    MinHash-LSH candidates + exact ROUGE-L check (the fast one); ``.plan`` says
                           which banding serves the threshold, or that it scores the whole pool
                           (selfinstruct.dedup.banding)
    ExactRougeFilter       the same interface, brute force over the whole pool (the reference)
    rouge_l_f(a, b)        exact rouge_score rougeL fmeasure (a = target, b = prediction)

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
    from selfinstruct.rouge import rouge_l_f

__all__ = ["DedupConfig", "Decision", "NearDuplicateFilter", "ExactRougeFilter", "rouge_l_f"]

_LAZY = {
    "NearDuplicateFilter": "selfinstruct.dedup.filters",
    "ExactRougeFilter": "selfinstruct.dedup.filters",
    "rouge_l_f": "selfinstruct.rouge",
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
