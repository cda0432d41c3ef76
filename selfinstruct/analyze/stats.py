"""The Self-Instruct paper's statistics of a generation run, computed from already-loaded records (no I/O).

Covers section 3.2 of the paper: counts (instructions, classification share,
instances, share with an empty input), word-length distributions of
instructions, non-empty inputs and outputs (Fig. 5), each instruction's highest
ROUGE-L against the seed tasks (Fig. 4), reject reasons, and the most common
leading verbs (the paper parses verb-noun pairs; the first word is a cheap
proxy that needs no parser).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["RunRecords", "word_count", "leading_word", "length_stats", "histogram", "summarize_run",
           "is_classification_label"]

_LEADING_PUNCT = re.compile(r"^[^\w]+|[^\w]+$")

# Figure 4 of the paper bins ROUGE-L in steps of 0.1 from 0 to 1.
ROUGE_BINS = np.round(np.linspace(0.0, 1.0, 11), 2)


@dataclass(frozen=True, kw_only=True, slots=True)
class RunRecords:
    """What an analysis needs from a run directory; optional files arrive as empty sequences or None."""

    instructions: Sequence[str]
    classification: Sequence[bool | None] = ()             # one per classified instruction
    instances: Sequence[tuple[str, str, str]] = ()         # (instruction, input, output)
    rejects: Sequence[tuple[str, str]] = ()                # (stage, reason)
    stats: dict[str, Any] | None = None
    seed_max_rouge: np.ndarray | None = None               # per instruction, against the seed tasks


def is_classification_label(value: Any) -> bool | None:
    """True/False for the label forms runs use (bool, "Yes"/"No", "true"/"false"); None if unreadable."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        v = value.strip().lower()
        if v in ("yes", "true", "1"):
            return True
        if v in ("no", "false", "0"):
            return False
    return None


def word_count(text: str) -> int:
    return len(text.split())


def leading_word(text: str) -> str | None:
    """The first word, lower-cased, without surrounding punctuation ("Write", -> "write")."""
    for token in text.split():
        word = _LEADING_PUNCT.sub("", token).lower()
        if word:
            return word
    return None


def length_stats(lengths: Sequence[int]) -> dict[str, float | int | None]:
    if not lengths:
        return {"n": 0, "mean": None, "median": None, "p90": None, "min": None, "max": None}
    arr = np.asarray(lengths, dtype=np.float64)
    return {"n": int(arr.size), "mean": round(float(arr.mean()), 3), "median": round(float(np.median(arr)), 3),
            "p90": round(float(np.quantile(arr, 0.9)), 3), "min": int(arr.min()), "max": int(arr.max())}


def histogram(values: Iterable[float], edges: Sequence[float]) -> dict[str, list]:
    counts, used = np.histogram(np.asarray(list(values), dtype=np.float64), bins=np.asarray(edges, dtype=np.float64))
    return {"edges": [round(float(e), 4) for e in used], "counts": [int(c) for c in counts]}


def _share(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 6)


def summarize_run(rec: RunRecords, *, top_verbs: int = 20) -> dict[str, Any]:
    """Everything `selfinstruct analyze` writes to summary.json."""
    labels = [v for v in rec.classification if v is not None]
    inputs = [inp for _, inp, _ in rec.instances]
    empty_inputs = sum(1 for i in inputs if not i.strip())
    per_instruction = Counter(instr for instr, _, _ in rec.instances)
    instr_len = [word_count(t) for t in rec.instructions]
    input_len = [word_count(i) for i in inputs if i.strip()]
    output_len = [word_count(o) for _, _, o in rec.instances]
    verbs = Counter(w for w in (leading_word(t) for t in rec.instructions) if w)
    rejects = Counter(f"{stage}:{reason}" for stage, reason in rec.rejects)

    summary: dict[str, Any] = {
        "counts": {
            "instructions": len(rec.instructions),
            "classified": len(labels),
            "classification_instructions": sum(labels),
            "classification_share": _share(sum(labels), len(labels)),
            "instructions_with_instances": len(per_instruction),
            "instances": len(rec.instances),
            "instances_per_instruction": (round(len(rec.instances) / len(per_instruction), 3)
                                          if per_instruction else None),
            "instances_with_empty_input": empty_inputs,
            "empty_input_share": _share(empty_inputs, len(inputs)),
        },
        "lengths_words": {
            "instruction": length_stats(instr_len),
            "non_empty_input": length_stats(input_len),
            "output": length_stats(output_len),
        },
        "leading_words": [{"word": w, "count": c, "share": _share(c, len(rec.instructions))}
                          for w, c in verbs.most_common(top_verbs)],
        "distinct_leading_words": len(verbs),
        "rejects": {"total": sum(rejects.values()), "by_stage_reason": dict(rejects.most_common())},
    }
    if rec.seed_max_rouge is not None and len(rec.seed_max_rouge):
        scores = np.asarray(rec.seed_max_rouge, dtype=np.float64)
        summary["seed_rouge_l"] = {
            "what": "each instruction's highest ROUGE-L F (rouge_score tokens, no stemming) against the seed tasks",
            "mean": round(float(scores.mean()), 6),
            "median": round(float(np.median(scores)), 6),
            "share_above_0.7": _share(int((scores > 0.7).sum()), int(scores.size)),
            "histogram": histogram(scores, ROUGE_BINS),
        }
    if rec.stats is not None:
        summary["run_stats"] = rec.stats
    return summary
