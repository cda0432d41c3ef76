"""The dashboard's pages from a real daemon and a real run: the jobs table, the one-job page, and the data
browser checked against the run directory's files (paging, search, reject reasons, nearest neighbours)."""

from __future__ import annotations

import html
import json
import re

import pytest

from selfinstruct.rouge import rouge_l_f

from .helpers import Daemon, job_spec, sim_backend
from workers.simulated import SimConfig, start_in_thread


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A daemon with one finished job of 60 instructions; (daemon, job id, run directory)."""
    with start_in_thread(SimConfig(latency_ms=5, seed=2), port=0) as sim:
        d = Daemon(tmp_path_factory.mktemp("dash") / "state", config={
            "backends": {"sim": sim_backend(sim.url, rpm=6000, max_concurrency=8)}})
        d.start()
        try:
            job = d.submit(job_spec(num_instructions=60))
            d.wait_state(job, ("done",))
            yield d, job, d.state_dir / "jobs" / job
        finally:
            d.stop()


def _jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _cells(page: str, cls: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(rf"<td class={cls}>(.*?)</td>", page, re.S)]


def test_jobs_page_and_table_show_the_job(finished):
    d, job, _ = finished
    status, page = d.call("GET", "/")
    assert status == 200 and f'href="/ui/jobs/{job}"' in page and "<form id=submit" in page
    assert '<option value="sim">' in page  # the submit form lists the configured backend
    status, table = d.call("GET", "/ui/jobs-table")
    assert status == 200 and "60 / 60 accepted (100%)" in table and "state-done" in table
    # A finished job can be neither paused nor cancelled: those buttons are disabled.
    assert re.search(rf'data-action="pause" data-job="{job}" disabled', table)


def test_job_page_has_charts_health_and_result_links(finished):
    d, job, run = finished
    status, page = d.call("GET", f"/ui/jobs/{job}")
    assert status == 200
    assert page.count('class="chart"') == 3  # throughput, acceptance, rejects by reason
    stats = d.job(job)["stats"]
    for reason, count in stats["rejects_by_reason"].items():
        assert f"<title>{html.escape(reason)}: {count}</title>" in page
    assert f'href="/jobs/{job}/output?file=machine_generated_instructions.jsonl"' in page
    assert "state.sqlite3" not in page
    assert d.call("GET", f"/jobs/{job}/output?file=machine_generated_instructions.jsonl")[0] == 200
    assert d.call("GET", "/ui/jobs/nosuchjob")[0] == 404


def test_data_browser_pages_through_the_accepted_file(finished):
    d, job, run = finished
    expected = [r["instruction"] for r in _jsonl(run / "machine_generated_instructions.jsonl")]
    assert len(expected) == 60
    seen = []
    for number in (1, 2, 3):
        status, page = d.call("GET", f"/ui/jobs/{job}/data?page={number}")
        assert status == 200 and "page %d of 3" % number in page
        seen += _cells(page, "instruction")
    assert seen == expected
    labels = {r["instruction"]: r["is_classification"] for r in _jsonl(run / "is_clf_or_not.jsonl")}
    status, page = d.call("GET", f"/ui/jobs/{job}/data")
    first = expected[0]
    kind = "classification" if labels[first] else "generation"
    assert f"<td class=instruction>{html.escape(first)}</td><td>{kind}</td>" in page


def test_data_browser_search(finished):
    d, job, run = finished
    expected = [r["instruction"] for r in _jsonl(run / "machine_generated_instructions.jsonl")]
    word = max({w for t in expected for w in t.lower().split() if len(w) > 5},
               key=lambda w: sum(w in t.lower() for t in expected))
    status, page = d.call("GET", f"/ui/jobs/{job}/data?q={word}")
    found = _cells(page, "instruction")
    assert found and all(word in t.lower() for t in found)
    assert set(found) >= {t for t in expected if word in t.lower()}


def test_rejects_filter_by_reason_with_nearest_accepted_neighbour(finished):
    d, job, run = finished
    accepted = [r["instruction"] for r in _jsonl(run / "machine_generated_instructions.jsonl")]
    rejects = _jsonl(run / "rejects.jsonl")
    reason = "instruction:rouge_l_similar"
    wanted = [r["text"] for r in rejects if f"{r['stage']}:{r['reason']}" == reason][:25]
    assert wanted, "the simulated run should reject near-duplicates"
    status, page = d.call("GET", f"/ui/jobs/{job}/data?view=rejected&reason={reason}")
    assert status == 200
    rows = re.findall(r"<tr class=rejected><td><span class=mono>(.*?)</span></td><td>(.*?)</td>"
                      r"<td>(.*?)(?:<div|</td>).*?<td class=num>([0-9.]+)</td>", page, re.S)
    # A long text is folded: its cell's last <pre> holds all of it.
    rows = [(r, html.unescape(re.findall(r"<pre>(.*?)</pre>", cell, re.S)[-1]), n, s) for r, cell, n, s in rows]
    assert [text for _, text, _, _ in rows] == wanted
    for got_reason, text, neighbour, score in rows:
        neighbour = html.unescape(neighbour)
        assert got_reason == reason
        best = max(rouge_l_f(a, text) for a in accepted)
        assert score == f"{best:.3f}" and rouge_l_f(neighbour, text) == pytest.approx(best, rel=1e-12)
    # The reason list counts every reject of the file.
    counts = {}
    for r in rejects:
        counts[f"{r['stage']}:{r['reason']}"] = counts.get(f"{r['stage']}:{r['reason']}", 0) + 1
    for name, n in counts.items():
        assert f">{html.escape(name)} ({n})</option>" in page
