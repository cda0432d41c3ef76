"""The progress display: a pipeline's own count (label, done, total) with a measured ETA, or requests."""

from __future__ import annotations

import asyncio
import io

import pytest

from selfinstruct.engine.stats import EngineStats, ProgressEta, Reporter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("samples", "total", "eta"), [
    ([(0, 0), (10, 100)], 600, 50.0),          # 10/s, 500 left
    ([(0, 300), (10, 400)], 600, 20.0),        # a resumed run: only what moved counts
    ([(0, 10), (10, 10)], 600, None),          # nothing moved yet: unknown, not infinite
    ([(0, 0)], 600, None),
    ([(0, 0), (10, 600)], 600, 0.0),
    ([(0, 0), (10, 50)], None, None),          # no total, no ETA
])
def test_eta_from_the_recent_rate(samples, total, eta):
    clock = Clock()
    est = ProgressEta(clock=clock)
    got = None
    for t, done in samples:
        clock.now = 1000.0 + t
        got = est.update("instructions", done, total)
    assert got == (pytest.approx(eta) if eta is not None else None)


def test_eta_restarts_with_a_new_label_and_forgets_old_samples():
    clock = Clock()
    est = ProgressEta(window=60, clock=clock)
    est.update("instructions", 0, 600)
    clock.now += 10
    assert est.update("instructions", 600, 600) == 0.0
    clock.now += 1
    assert est.update("instances", 500, 600) is None      # first sample of the new count
    clock.now += 10
    assert est.update("instances", 550, 600) == pytest.approx(10.0)
    # Slow at first, fast lately: after the window only the recent rate counts.
    est = ProgressEta(window=60, clock=clock)
    for _ in range(10):
        est.update("x", 0, 1000)
        clock.now += 10
    for done in range(100, 1000, 100):
        est.update("x", done, 1000)
        clock.now += 10
    assert est.update("x", 900, 1000) == pytest.approx(100 / (500 / 60), rel=0.01)


def test_plain_line_counts_the_pipeline_progress_not_requests():
    stats = EngineStats(model="sim")
    stats.done, stats.failed = 1234, 2
    clock = Clock()
    state = {"done": 100}
    out = io.StringIO()
    reporter = Reporter(stats, stream=out, live=False, label="generate", clock=clock,
                        progress=lambda: ("instructions", state["done"], 600))
    first = reporter.line()
    assert first.startswith("generate: instructions 100/600 | ")
    clock.now += 10
    state["done"] = 200
    line = reporter.line()
    assert line.startswith("generate: instructions 200/600 eta 40s | requests 1234 done 2 failed")
    assert "1234/" not in line


def test_without_progress_the_count_is_requests():
    stats = EngineStats(model="sim", total=50)
    stats.done = 20
    reporter = Reporter(stats, stream=io.StringIO(), live=False, label="complete")
    assert reporter.line().startswith("complete: done 20/50 | ")
    assert reporter.counts()[:3] == ("requests", 20, 50)


def test_reporter_prints_lines_while_running():
    stats = EngineStats(model="sim")
    out = io.StringIO()

    async def main() -> None:
        reporter = Reporter(stats, stream=out, live=False, interval=0.05, label="generate",
                            progress=lambda: ("instances", 3, 10))
        reporter.start()
        await asyncio.sleep(0.3)
        await reporter.stop()

    asyncio.run(main())
    lines = out.getvalue().splitlines()
    assert len(lines) >= 2 and all(line.startswith("generate: instances 3/10") for line in lines)


def test_live_display_shows_the_pipeline_count(monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")   # rich would cut the line at 80 columns
    stats = EngineStats(model="sim")
    out = io.StringIO()

    async def main() -> None:
        reporter = Reporter(stats, stream=out, live=True, label="generate", progress=lambda: ("instructions", 7, 60))
        reporter.start()
        await asyncio.sleep(0.4)
        await reporter.stop()

    asyncio.run(main())
    text = out.getvalue()
    assert "generate: instructions" in text and "7/60" in text
