"""The drain rule, through the real CLI: after SIGINT no request starts, and the process exits once the ones
on the wire are answered (not after the whole --drain-timeout). Unsent requests are resumed, never failed.
"""

from __future__ import annotations

import signal
import time

import pytest

from tests.engine.conftest import cli, read_output, write_requests

LATENCY_S = 2.0


def _signal_right_after_an_arrival(server, proc, min_requests: int) -> float:
    """Send SIGINT just after the endpoint received a request; returns the monotonic time of the signal.

    At --rpm 60 the next request is due a second later, so any arrival after the signal is one the
    process started after it.
    """
    deadline = time.monotonic() + 60
    seen = server.stats(with_ids=False)["requests"]
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        now = server.stats(with_ids=False)["requests"]
        if now != seen and now >= min_requests:
            sent = time.monotonic()
            proc.send_signal(signal.SIGINT)
            return sent
        seen = now
        time.sleep(0.005)
    raise AssertionError("the run never reached the endpoint")


@pytest.mark.timeout(180)
@pytest.mark.parametrize("command", ["complete", "generate"])
def test_after_sigint_no_request_starts_and_the_process_exits_when_the_wire_is_clear(sim, tmp_path, command):
    server = sim(latency_ms=LATENCY_S * 1000, record_arrivals=True)
    inp = tmp_path / "in.jsonl"
    rows = write_requests(inp, 40)
    out = tmp_path / ("out.jsonl" if command == "complete" else "run")
    common = ("--api-base", server.url, "--model", "sim", "--drain-timeout", "30") if command == "complete" else \
        ("--api-base", server.url, "--model", "sim")
    if command == "complete":
        args = ("complete", str(inp), "--out", str(out), *common)
    else:
        args = ("generate", "--out", str(out), "--num-instructions", "40", *common)
    # A run paced at one request per second with four slots: requests queue for permits.
    proc = cli(*args, "--rpm", "60", "--max-concurrency", "4")
    signalled = _signal_right_after_an_arrival(server, proc, 3)
    _, err = proc.communicate(timeout=60)
    exited = time.monotonic()
    assert proc.returncode == 130, err
    assert exited - signalled <= LATENCY_S + 1.0, (exited - signalled, err)
    arrivals = server.stats(with_ids=False)["arrival_times"]
    late = [round(t - signalled, 3) for t in arrivals if t > signalled]
    assert late == [], f"requests reached the endpoint after SIGINT: {late}"
    assert server.stats(with_ids=False)["in_flight"] == 0
    assert "Traceback" not in err

    # Requests that never started are not failures: a rerun (unpaced now) finishes the job.
    if command == "complete":
        partial = read_output(out)
        assert len({r["id"] for r in partial}) == len(partial) < len(rows)
        assert not (tmp_path / "out.failed.jsonl").exists() or (tmp_path / "out.failed.jsonl").read_text() == ""
        proc = cli(*args, "--max-concurrency", "64")
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        final = read_output(out)
        assert sorted(r["id"] for r in final) == sorted(r["id"] for r in rows)
    else:
        import json

        stats = json.loads((out / "stats.json").read_text()) if (out / "stats.json").exists() else {}
        assert stats.get("failed", 0) == 0
