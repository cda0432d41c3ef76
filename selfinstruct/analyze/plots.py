"""PNG figures of a generation run: word-length histograms (paper Fig. 5), ROUGE-L to the seeds (Fig. 4), verbs, rejects."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from selfinstruct.analyze.stats import ROUGE_BINS
from selfinstruct.plotting import save_figure, subplots

__all__ = ["write_run_plots", "integer_bin_edges", "lengths_figure"]


def integer_bin_edges(values: Sequence[int], *, top: int, max_bins: int = 40) -> np.ndarray:
    """Histogram edges for integer data in [min(values), top]: at half-integers, each bin ``width`` integers wide.

    Edges at integers, or a width that is not a whole number (numpy's ``bins=N``
    over the data range), leave some bins holding no integer at all, which show
    as empty gaps; here every bin holds the same whole number of integers.
    """
    low = min(int(min(values)), top) if len(values) else 0
    width = max(1, math.ceil((top - low + 1) / max_bins))
    count = math.ceil((top - low + 1) / width)
    return low - 0.5 + width * np.arange(count + 1, dtype=np.float64)


def lengths_figure(series: list[tuple[str, Sequence[int]]]) -> Any:
    """One integer histogram of word counts per series, under a shared title (figure not saved)."""
    from matplotlib.ticker import MaxNLocator

    fig, axes = subplots(1, len(series), figsize=(4.5 * len(series), 3.6), squeeze=False)
    for ax, (title, values) in zip(axes[0], series, strict=True):
        if len(values):
            top = math.ceil(np.quantile(values, 0.99))  # a few very long texts would squash the rest
            edges = integer_bin_edges(values, top=top)
            ax.hist(np.clip(values, None, top), bins=edges, color="#4c72b0", edgecolor="white", linewidth=0.4)
            ax.set_xlim(edges[0], edges[-1])
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        else:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(f"{title} (n={len(values)})")
        ax.set_xlabel("length in words (clipped at p99)")
        ax.set_ylabel("count")
    fig.suptitle("Length distributions")
    return fig


def _lengths(path: Path, series: list[tuple[str, Sequence[int]]]) -> str:
    return save_figure(lengths_figure(series), path)


def _seed_rouge(path: Path, scores: np.ndarray) -> str:
    fig, ax = subplots(figsize=(6, 3.4))
    ax.hist(scores, bins=ROUGE_BINS, color="#55a868", edgecolor="white")
    ax.set_xlabel("ROUGE-L F with the most similar seed instruction")
    ax.set_ylabel("generated instructions")
    ax.set_title(f"Overlap with the seed tasks (n={scores.size}, median {np.median(scores):.2f})")
    return save_figure(fig, path)


def _bars(path: Path, labels: list[str], counts: list[int], title: str, color: str) -> str:
    fig, ax = subplots(figsize=(7, 0.28 * max(len(labels), 1) + 1.2))
    y = np.arange(len(labels))
    ax.barh(y, counts, color=color)
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("count")
    ax.set_title(title)
    return save_figure(fig, path)


def write_run_plots(out_dir: Path, *, instruction_words: Sequence[int], input_words: Sequence[int],
                    output_words: Sequence[int], seed_rouge: np.ndarray | None, leading_words: list[dict],
                    rejects: dict[str, int]) -> list[str]:
    """Write the run figures that have data; return their paths."""
    paths = [_lengths(out_dir / "lengths.png", [("instructions", list(instruction_words)),
                                                ("non-empty inputs", list(input_words)),
                                                ("outputs", list(output_words))])]
    if seed_rouge is not None and seed_rouge.size:
        paths.append(_seed_rouge(out_dir / "seed_rouge_l.png", seed_rouge))
    if leading_words:
        paths.append(_bars(out_dir / "leading_words.png", [d["word"] for d in leading_words],
                           [d["count"] for d in leading_words], "Most common leading words", "#8172b2"))
    if rejects:
        paths.append(_bars(out_dir / "rejects.png", list(rejects), list(rejects.values()),
                           "Rejects by stage:reason", "#c44e52"))
    return paths
