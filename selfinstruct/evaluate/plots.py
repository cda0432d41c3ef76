"""PNG figures for the evaluation report: metric bars with CIs, a per-app heatmap, response-length distributions.

Figures come from selfinstruct.plotting (headless matplotlib, imported on first use).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from selfinstruct.plotting import save_figure, subplots

if TYPE_CHECKING:
    from selfinstruct.evaluate.report import ModelResult

__all__ = ["write_plots"]

_BAR_METRICS = [("bleu", "BLEU (corpus, 0-100)"), ("rouge_l", "ROUGE-L F (0-1)"),
                ("bertscore_f1", "BERTScore-F1"), ("bertscore_f1_rescaled", "BERTScore-F1 (rescaled)")]


def _bars(results: list[ModelResult], path: Path) -> str:
    metrics = [(k, t) for k, t in _BAR_METRICS if all(k in r.summary for r in results)]
    names = [r.name for r in results]
    fig, axes = subplots(1, len(metrics), figsize=(4.2 * len(metrics), 0.45 * len(names) + 1.6), squeeze=False)
    y = np.arange(len(names))
    for ax, (key, title) in zip(axes[0], metrics, strict=True):
        vals = np.array([r.summary[key].value for r in results])
        err = np.array([[r.summary[key].value - r.summary[key].low for r in results],
                        [r.summary[key].high - r.summary[key].value for r in results]])
        ax.barh(y, vals, xerr=err, color="#4c72b0", ecolor="black", capsize=3)
        ax.set_yticks(y, names if ax is axes[0][0] else [""] * len(names))
        ax.invert_yaxis()
        ax.set_title(title)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle("Scores with 95% bootstrap intervals")
    return save_figure(fig, path)


def _heatmap(results: list[ModelResult], path: Path) -> str:
    apps = sorted({app for r in results for app in r.per_app})
    grid = np.full((len(apps), len(results)), np.nan)
    for j, res in enumerate(results):
        for i, app in enumerate(apps):
            if app in res.per_app:
                grid[i, j] = res.per_app[app]["rouge_l"]
    # Apps sorted by their mean score so the pattern reads top (easy) to bottom (hard).
    order = np.argsort(-np.nanmean(grid, axis=1), kind="stable")
    grid = grid[order]
    labels = [f"{apps[i]} ({results[0].per_app.get(apps[i], {}).get('n', '?')})" for i in order]
    fig, ax = subplots(figsize=(1.1 * len(results) + 4, 0.22 * len(apps) + 1.8))
    im = ax.imshow(grid, aspect="auto", cmap="viridis", vmin=0.0, vmax=max(0.5, float(np.nanmax(grid))))
    ax.set_xticks(np.arange(len(results)), [r.name for r in results], rotation=45, ha="right")
    ax.set_yticks(np.arange(len(apps)), labels, fontsize=7)
    fig.colorbar(im, ax=ax, label="mean ROUGE-L")
    ax.set_title("ROUGE-L per motivation app (tasks per app in brackets)")
    return save_figure(fig, path)


def _lengths(results: list[ModelResult], path: Path) -> str:
    data = [[max(1, len(p.target.split())) for p in results[0].predictions.pairs]]
    data += [[max(1, len(p.response.split())) for p in r.predictions.pairs] for r in results]
    labels = ["human target"] + [r.name for r in results]
    fig, ax = subplots(figsize=(8, 0.45 * len(labels) + 1.5))
    ax.boxplot(data, vert=False, tick_labels=labels, showfliers=True, flierprops={"markersize": 2})
    ax.set_xscale("log")
    ax.invert_yaxis()
    ax.set_xlabel("words per answer (log scale; empty answers counted as 1)")
    ax.set_title("Response length distributions")
    ax.grid(axis="x", alpha=0.3)
    return save_figure(fig, path)


def write_plots(out_dir: Path, results: list[ModelResult]) -> list[str]:
    """Write the three evaluation figures; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return [
        _bars(results, out_dir / "metrics_ci.png"),
        _heatmap(results, out_dir / "per_app_rouge_l.png"),
        _lengths(results, out_dir / "response_lengths.png"),
    ]
