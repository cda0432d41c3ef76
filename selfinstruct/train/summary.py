"""What a training run leaves behind besides the adapter: training_summary.json and the loss-curve PNG.

``losses_from_log_history`` is pure (a list of trainer log dicts in, the
training-loss series out) so it is table-testable; the writers are the I/O edge.
After a resume the trainer's log history already holds the entries logged
before the checkpoint, so the series is continuous across a kill.
"""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from selfinstruct.io import write_json_atomic

__all__ = ["losses_from_log_history", "library_versions", "write_summary", "plot_losses", "SUMMARY_FILE", "PLOT_FILE"]

SUMMARY_FILE = "training_summary.json"
PLOT_FILE = "loss_curve.png"
_LIBRARIES = ("torch", "transformers", "trl", "peft", "bitsandbytes", "accelerate", "datasets", "tokenizers")


def losses_from_log_history(history: list[dict[str, Any]]) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    """(training losses, eval losses) as [{"step", "loss"}] in step order, one entry per step."""
    train: dict[int, float] = {}
    evals: dict[int, float] = {}
    for entry in history:
        step = int(entry.get("step", 0))
        if "loss" in entry:
            train[step] = float(entry["loss"])
        if "eval_loss" in entry:
            evals[step] = float(entry["eval_loss"])
    as_list = lambda d: [{"step": s, "loss": v} for s, v in sorted(d.items())]  # noqa: E731
    return as_list(train), as_list(evals)


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def write_summary(output_dir: str | Path, summary: dict[str, Any]) -> Path:
    path = Path(output_dir) / SUMMARY_FILE
    write_json_atomic(path, summary)
    return path


def plot_losses(output_dir: str | Path, losses: list[dict[str, float]], eval_losses: list[dict[str, float]],
                *, title: str) -> Path | None:
    """Training loss (and eval points) against step; None when nothing was logged."""
    if not losses and not eval_losses:
        return None
    import matplotlib

    matplotlib.use("Agg")  # no display on training machines
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    try:
        if losses:
            ax.plot([p["step"] for p in losses], [p["loss"] for p in losses], label="train loss", lw=1.5)
        if eval_losses:
            ax.plot([p["step"] for p in eval_losses], [p["loss"] for p in eval_losses], "o--", label="eval loss")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("loss per supervised token")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        path = Path(output_dir) / PLOT_FILE
        tmp = path.with_name(f".{path.name}.tmp.png")
        fig.savefig(tmp)
        tmp.replace(path)
    finally:
        plt.close(fig)
    return path
