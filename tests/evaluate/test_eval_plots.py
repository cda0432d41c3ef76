"""Figure layout: integer histograms get one bin per integer (or per equal run of integers), titles never overlap."""

from __future__ import annotations

import numpy as np
import pytest

from selfinstruct.analyze.plots import integer_bin_edges, lengths_figure
from selfinstruct.plotting import pyplot


@pytest.mark.parametrize("values, top, first, width, bins", [
    ([5, 6, 7, 9, 10, 10], 10, 4.5, 1, 6),          # the tests' tiny run: one bin per integer
    ([1, 2, 3, 3], 3, 0.5, 1, 3),
    ([7], 7, 6.5, 1, 1),
    (list(range(3, 47)), 46, 2.5, 2, 22),            # 44 integers, at most 40 bins: two integers per bin
    (list(range(0, 301)), 300, -0.5, 8, 38),
])
def test_integer_bin_edges(values, top, first, width, bins):
    edges = integer_bin_edges(values, top=top)
    assert edges[0] == first and len(edges) == bins + 1
    assert np.all(np.diff(edges) == width)
    assert np.all(edges % 1 == 0.5)                  # half-integers: no integer sits on an edge
    assert edges[-1] >= top + 0.5
    # every integer in range lands in exactly one bin, and every bin gets one: no empty-bin gaps
    counts, _ = np.histogram(np.arange(min(values), top + 1), bins=edges)
    assert counts.min() >= 1 and counts.sum() == top - min(values) + 1


def test_only_missing_lengths_show_as_empty_bins():
    values = [5, 6, 7, 9, 10, 10]                    # no 8-word text: exactly one real gap
    old = np.histogram(values, bins=11)[0]           # the former bins=min(40, top): 11 bins over [5, 10]
    assert (old == 0).sum() > 1                      # ...showed gaps that are no missing length
    new = np.histogram(values, bins=integer_bin_edges(values, top=10))[0]
    assert new.tolist() == [1, 1, 1, 0, 1, 2]


def test_lengths_figure_titles_do_not_overlap():
    fig = lengths_figure([("instructions", [5, 6, 7, 9, 10, 10]), ("non-empty inputs", [1, 2, 3, 3]),
                          ("outputs", [1, 1, 1, 14, 1, 16, 13])])
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        top = fig.get_suptitle()
        assert top == "Length distributions"
        sup = fig._suptitle.get_window_extent(renderer)
        boxes = [ax.title.get_window_extent(renderer) for ax in fig.axes]
        assert not any(sup.overlaps(b) for b in boxes)
        assert all(sup.y0 >= b.y1 for b in boxes)   # the suptitle sits above every axes title
        for a, b in zip(boxes, boxes[1:]):
            assert not a.overlaps(b)
        # the outputs histogram keeps its p99 in range: 16 is not clipped into 15's bin
        heights = [p.get_height() for p in fig.axes[2].patches]
        assert heights[-1] == 1 and sum(heights) == 7
    finally:
        pyplot().close(fig)
