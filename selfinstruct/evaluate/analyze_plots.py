"""PNG figures of a generation run: word-length histograms (paper Fig. 5), ROUGE-L to the seeds (Fig. 4), verbs, rejects."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from selfinstruct.evaluate.analyze import ROUGE_BINS
from selfinstruct.evaluate.plots import pyplot, save_figure

__all__ = ["write_run_plots"]


def _lengths(path: Path, series: list[tuple[str, Sequence[int]]]) -> str:
    plt = pyplot()
    fig, axes = plt.subplots(1, len(series), figsize=(4.5 * len(series), 3.4), squeeze=False)
    for ax, (title, values) in zip(axes[0], series, strict=True):
        if values:
            top = int(np.quantile(values, 0.99)) + 1  # a few very long texts would squash the rest
            ax.hist(np.clip(values, 0, top), bins=min(40, max(top, 1)), color="#4c72b0")
            ax.set_xlim(0, top)
        else:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(f"{title} (n={len(values)})")
        ax.set_xlabel("length in words (clipped at p99)")
        ax.set_ylabel("count")
    fig.suptitle("Length distributions")
    return save_figure(fig, path)


def _seed_rouge(path: Path, scores: np.ndarray) -> str:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.hist(scores, bins=ROUGE_BINS, color="#55a868", edgecolor="white")
    ax.set_xlabel("ROUGE-L F with the most similar seed instruction")
    ax.set_ylabel("generated instructions")
    ax.set_title(f"Overlap with the seed tasks (n={scores.size}, median {np.median(scores):.2f})")
    return save_figure(fig, path)


def _bars(path: Path, labels: list[str], counts: list[int], title: str, color: str) -> str:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 0.28 * max(len(labels), 1) + 1.2))
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
