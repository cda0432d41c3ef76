"""Headless matplotlib for every report's figures: the Agg backend, one layout, saving that fails as a StorageError.

matplotlib is imported inside ``pyplot()`` with the Agg backend so no display is
needed and importing this module costs nothing.  Every figure comes from
``subplots()``, which uses matplotlib's constrained layout: it reserves room for
a suptitle above the axes titles (a plain ``fig.suptitle`` is drawn over them).
Used by the evaluation report (selfinstruct.evaluate.plots) and the run
analysis (selfinstruct.analyze.plots).
"""

from __future__ import annotations

from pathlib import Path

from selfinstruct.errors import StorageError

__all__ = ["save_figure", "pyplot", "subplots", "LAYOUT"]

LAYOUT = "constrained"


def pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def subplots(*args, **kwargs):
    """``plt.subplots`` with the layout every figure uses."""
    return pyplot().subplots(*args, layout=LAYOUT, **kwargs)


def save_figure(fig, path: Path) -> str:
    """Save and close; a failed write is a StorageError naming the path."""
    plt = pyplot()
    try:
        fig.savefig(path, dpi=110, bbox_inches="tight")
    except OSError as exc:
        raise StorageError(f"{path}: {exc.strerror or exc}") from exc
    finally:
        plt.close(fig)
    return str(path)
