"""The dashboard's pure parts: SVG charts, the per-job time series, the page shell's CSP, and the run-file
reader (missing files, unparseable lines, a file replaced while cached)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import pytest

from selfinstruct.service.dashboard.charts import bar_chart, line_chart, nice_max
from selfinstruct.service.dashboard.layout import page, respond
from selfinstruct.service.dashboard.runview import RunView, read_jsonl
from selfinstruct.service.dashboard.series import JobSeries, Sample, SeriesBook

SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize("value, axis", [(0, 1), (0.3, 0.5), (1, 1), (1.2, 2), (2.2, 2.5), (3, 5), (7, 10),
                                         (10, 10), (11, 20), (240, 250), (999, 1000)])
def test_nice_max(value, axis):
    assert nice_max(value) == pytest.approx(axis)


def test_bar_chart_is_valid_svg_longest_first_with_escaped_labels():
    svg = bar_chart({"a:<script>": 2, "b:long": 9, "c:x": 2}, title="rejects & co", width=800)
    root = ET.fromstring(svg)  # well-formed XML, so every label was escaped
    labels = [t.text for t in root.iter(f"{SVG}text") if t.get("text-anchor") == "end"]
    assert labels == ["b:long", "a:<script>", "c:x"]
    widths = [float(r.get("width")) for r in root.iter(f"{SVG}rect")]
    assert widths[0] == max(widths) and widths[1] == pytest.approx(widths[0] * 2 / 9, abs=0.05)  # drawn to 0.1 px
    assert "nothing yet" in bar_chart({}, title="t")


def test_line_chart_scales_points_into_the_plot():
    svg = line_chart({"req/s": [(10.0, 0.0), (20.0, 4.0), (30.0, 2.0)]}, title="t")
    root = ET.fromstring(svg)
    (line,) = root.iter(f"{SVG}polyline")
    xs, ys = zip(*(map(float, p.split(",")) for p in line.get("points").split()))
    assert xs[0] < xs[1] < xs[2] and ys[1] < ys[2] < ys[0]  # y grows downwards in SVG
    assert "no samples yet" in line_chart({"a": [(1.0, 1.0)]}, title="t")


def test_series_rates_acceptance_and_decimation():
    s = JobSeries(max_points=5)
    for i in range(12):
        s.add(Sample(t=float(i), accepted=2 * i, rejected=i, requests=3 * i, rate_limited=0), target=100)
    assert len(s.samples) <= 5 and s.samples[0].t == 0.0 and s.samples[-1].t == 11.0  # still spans the run
    rates = s.rates()
    assert all(v == pytest.approx(3.0) for _, v in rates["requests/s"])
    assert all(v == pytest.approx(2.0) for _, v in rates["accepted/s"])
    assert all(v == pytest.approx(200 / 3) for _, v in s.acceptance()["accepted %"])
    assert s.eta_s == pytest.approx((100 - 22) / 2.0)


def test_series_book_samples_live_jobs_only():
    stats = SimpleNamespace(extra={"accepted_instructions": 3, "target_instructions": 10,
                                   "rejects_by_reason": {"instruction:too_short": 2}}, done=7, rate_limited=1)
    manager = SimpleNamespace(live={"j1": SimpleNamespace(stats=stats)})
    clock = iter([0.0, 5.0])
    book = SeriesBook(manager, clock=lambda: next(clock))
    book.sample()
    stats.extra["accepted_instructions"] = 8
    book.sample()
    assert [x.accepted for x in book.jobs["j1"].samples] == [3, 8]
    assert book.jobs["j1"].samples[0].rejected == 2 and book.eta("j1") == pytest.approx(2 / 1.0)
    manager.live.clear()
    assert book.eta("j1") is None  # no ETA for a job that is not running


def test_csp_allows_exactly_the_page_scripts_and_no_other_origin():
    script = "document.title = 'x';"
    resp = respond(page("T <1>", "<p>body</p>", script=script))
    csp = resp.headers["Content-Security-Policy"]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}';" in csp and "default-src 'none'" in csp
    assert "connect-src 'self'" in csp and "unsafe-inline" not in csp.split("style-src")[0]
    assert not re.search(r"https?://", csp)
    assert "<title>T &lt;1&gt; · selfinstruct</title>" in resp.text
    assert "script-src 'none'" in respond(page("T", "<p>no script</p>")).headers["Content-Security-Policy"]


def test_run_view_reads_what_is_there(tmp_path):
    view = RunView(tmp_path)
    assert view.accepted().items == [] and view.rejected().items == []  # no files yet: empty, no error
    rows = [{"instruction": f"Write a poem about the number {i}."} for i in range(30)]
    path = tmp_path / "machine_generated_instructions.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n{not json\n")
    shown = view.accepted(page=2, size=25)
    assert [a.instruction for a in shown.items] == [r["instruction"] for r in rows[25:]]
    assert (shown.total, shown.page, shown.pages) == (30, 2, 2)
    assert view.accepted(page=99, size=25).page == 2  # past the end: the last page
    assert [a.instruction for a in view.accepted(query="NUMBER 7").items] == ["Write a poem about the number 7."]
    # The export replaces the file by rename: the cache sees the new version.
    new = tmp_path / "tmp.jsonl"
    new.write_text(json.dumps({"instruction": "Only this one."}) + "\n")
    os.replace(new, path)
    assert [r["instruction"] for r in read_jsonl(path)] == ["Only this one."]


def test_rejects_get_their_nearest_accepted_neighbour(tmp_path):
    (tmp_path / "machine_generated_instructions.jsonl").write_text("\n".join(json.dumps({"instruction": t}) for t in (
        "Write a poem about the sea.", "List three prime numbers.")) + "\n")
    (tmp_path / "rejects.jsonl").write_text("\n".join(json.dumps(r) for r in (
        {"stage": "instruction", "reason": "rouge_l_similar", "text": "Write a poem about the moon.",
         "max_rouge_l": 0.8, "most_similar": {"Write a poem about the sun.": 0.8, "x": 0.1}},
        {"stage": "instruction", "reason": "too_short", "text": "List primes."},
        {"stage": "generate", "reason": "request_failed", "text": ""})) + "\n")
    view = RunView(tmp_path)
    assert view.reject_reasons() == {"instruction:rouge_l_similar": 1, "instruction:too_short": 1,
                                     "generate:request_failed": 1}
    similar, short, failed = view.rejected().items
    assert similar.neighbour == "Write a poem about the sea." and similar.rouge_l == pytest.approx(5 / 6)
    assert (similar.pool_neighbour, similar.pool_rouge_l) == ("Write a poem about the sun.", 0.8)
    assert short.neighbour == "List three prime numbers." and short.rouge_l == pytest.approx(1 / 3)  # "list" of 2 and of 4 tokens
    assert failed.neighbour is None and failed.rouge_l is None
    assert [r.reason for r in view.rejected(reason="instruction:too_short").items] == ["too_short"]


def test_rates_are_taken_over_a_window():
    s = JobSeries(max_points=100)
    for i in range(21):  # 5 accepted in one burst every 5 s, 1 request a second
        s.add(Sample(t=float(i), accepted=5 * (i // 5), rejected=0, requests=i, rate_limited=0), target=None)
    accepted = dict(s.rates(over=10.0)["accepted/s"])
    assert accepted[1.0] == 0.0 and accepted[5.0] == pytest.approx(1.0)  # the first 5 s: one burst of 5
    assert all(v == pytest.approx(1.0) for t, v in accepted.items() if t >= 10)  # 5 per 5 s, steady
    assert len(set(accepted.values())) > 1  # before the window fills, the bursts still show
    assert all(v == pytest.approx(1.0) for _, v in s.rates(over=10.0)["requests/s"])
