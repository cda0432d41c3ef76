"""SVG charts we draw ourselves: a line chart of series over time and a horizontal bar chart. Pure functions.

No JavaScript and no external resources: each returns one ``<svg>`` element as
text, with every label escaped, sized by a viewBox so it scales with the page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

__all__ = ["line_chart", "bar_chart", "nice_max", "PALETTE"]

PALETTE = ("#2f5fd0", "#1f8a4c", "#c0392b", "#b7791f", "#7b4bb7")
_W, _H = 560, 220                  # viewBox of a line chart
_LEFT, _RIGHT, _TOP, _BOTTOM = 48, 26, 14, 34


def nice_max(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k at or above ``value`` (an axis that ends on a round number)."""
    if value <= 0:
        return 1.0
    scale = 1.0
    while scale * 10 <= value:
        scale *= 10
    while scale > value:
        scale /= 10
    for step in (1, 2, 2.5, 5, 10):
        if step * scale >= value:
            return step * scale
    return 10 * scale


def _fmt(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.2g}"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def line_chart(series: Mapping[str, Sequence[tuple[float, float]]], *, title: str, unit: str = "",
               empty: str = "no samples yet") -> str:
    """Series of (seconds since start, value) points on one time axis and one value axis starting at 0."""
    points = [p for pts in series.values() for p in pts]
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {_W} {_H}" width="100%" '
            f'aria-label="{escape(title)}"><title>{escape(title)}</title>')
    if len(points) < 2:
        return head + f'<text x="{_W / 2}" y="{_H / 2}" text-anchor="middle">{escape(empty)}</text></svg>'
    t0 = min(t for t, _ in points)
    t_span = max(t for t, _ in points) - t0 or 1.0
    y_max = nice_max(max(v for _, v in points))
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    def x(t: float) -> float:
        return _LEFT + (t - t0) / t_span * plot_w

    def y(v: float) -> float:
        return _TOP + plot_h - v / y_max * plot_h

    parts = [head]
    for i in range(5):  # horizontal grid lines with their values
        v = y_max * i / 4
        parts.append(f'<line x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#e3e6ec"/>'
                     f'<text x="{_LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{_fmt(v)}</text>')
    for i in range(5):
        t = t0 + t_span * i / 4
        parts.append(f'<text x="{x(t):.1f}" y="{_H - _BOTTOM + 16}" text-anchor="middle">{_duration(t - t0)}</text>')
    for i, (name, pts) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        if pts:
            path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in pts)
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>')
        lx = _LEFT + 8 + i * 150
        parts.append(f'<rect x="{lx}" y="{_H - 12}" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{lx + 14}" y="{_H - 3}">{escape(name)}{escape(unit)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(values: Mapping[str, float], *, title: str, empty: str = "nothing yet", width: int = 560) -> str:
    """One horizontal bar per label, longest first, each with its value at its end (``width``: of the viewBox,
    about the pixels it will take, so its text stays the page's size)."""
    rows = sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))
    bar_h, gap, label_w = 18, 6, 260
    height = max(40, len(rows) * (bar_h + gap) + gap)
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {width} {height}" width="100%" '
            f'aria-label="{escape(title)}"><title>{escape(title)}</title>')
    if not rows:
        return head + f'<text x="{width / 2}" y="{height / 2 + 4}" text-anchor="middle">{escape(empty)}</text></svg>'
    top = max(v for _, v in rows) or 1
    room = width - label_w - 50
    parts = [head]
    for i, (label, value) in enumerate(rows):
        y0 = gap + i * (bar_h + gap)
        w = max(1.0, value / top * room)
        parts.append(f'<text x="{label_w - 6}" y="{y0 + 13}" text-anchor="end">{escape(label)}</text>'
                     f'<rect x="{label_w}" y="{y0}" width="{w:.1f}" height="{bar_h}" fill="{PALETTE[2]}" rx="2">'
                     f'<title>{escape(label)}: {_fmt(value)}</title></rect>'
                     f'<text x="{label_w + w + 5:.1f}" y="{y0 + 13}">{_fmt(value)}</text>')
    parts.append("</svg>")
    return "".join(parts)
