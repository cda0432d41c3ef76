"""`selfinstruct complete --mode batch` end to end against the simulated Files and Batches API on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time

import pytest

from tests.engine.conftest import cli, read_output, write_requests


def run_cli(*args, timeout=120):
    proc = cli(*args)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def batch_args(server, inp, out, *extra):
    return ("complete", str(inp), "--out", str(out), "--api-base", server.url, "--model", "sim",
            "--mode", "batch", "--batch-poll-interval", "0.05", *extra)


def submitted(server) -> list[dict]:
    return server.stats(with_ids=False)["batch"]["submitted"]


def test_thousand_requests_through_batches_alone_with_failed_items_resubmitted(sim, tmp_path):
    server = sim(batch_seconds=0.2, batch_p_fail=0.03, seed=7)
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    rows = write_requests(inp, 1000, chat_every=0)
    prices = tmp_path / "prices.toml"
    prices.write_text('[prices.sim]\ninput = 0.15\noutput = 0.60\n')
    code, _, err = run_cli(*batch_args(server, inp, out, "--config", str(prices)))
    assert code == 0, err
    got = read_output(out)
    assert sorted(r["id"] for r in got) == [r["id"] for r in rows]          # every id exactly once
    for row in got[:20]:
        assert row["text"].startswith("Echo: Say something about item")
    stats = server.stats(with_ids=False)
    assert stats["requests"] == 0                                            # no online completion call
    batches = stats["batch"]["submitted"]
    first, rest = batches[0]["custom_ids"], [cid for b in batches[1:] for cid in b["custom_ids"]]
    assert sorted(first) == [r["id"] for r in rows]
    # 3% fail in the first batch; exactly those (and only those) go into the second one.
    failed_first = [line["custom_id"] for line in _error_lines(server, batches[0]["batch_id"])]
    assert 10 <= len(failed_first) <= 60, len(failed_first)
    assert batches[1]["custom_ids"] == failed_first
    assert len(rest) == len(set(rest)) or all(cid in failed_first for cid in rest)
    run = json.loads((tmp_path / "out.stats.json").read_text())
    assert run["done"] == 1000 and run["failed"] == 0
    assert run["batch"]["items_error"] == len(rest)                          # every resubmission had failed
    assert run["batch"]["items_done"] == 1000
    # Batch tokens at the default half price; the same tokens online would have cost twice as much.
    assert run["cost_online_usd"] == 0 and run["cost_batch_usd"] > 0
    assert run["cost_batch_usd"] == pytest.approx(run["cost_online_equivalent_usd"] / 2, abs=2e-6)


def test_sigkill_after_the_first_batch_is_created_never_resubmits(sim, tmp_path):
    server = sim(batch_seconds=1.0, batch_p_fail=0.05, seed=3)
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    rows = write_requests(inp, 200)
    proc = cli(*batch_args(server, inp, out, "--batch-max-requests", "80"))
    deadline = time.monotonic() + 30
    while not submitted(server):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no batch was created"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    code, _, err = run_cli(*batch_args(server, inp, out, "--batch-max-requests", "80"))
    assert code == 0, err
    assert sorted(r["id"] for r in read_output(out)) == [r["id"] for r in rows]
    # From the simulator's record: an id is in a second batch only after it failed in an earlier one.
    failed_in = {}
    for b in submitted(server):
        batch_id = b["batch_id"]
        for cid in b["custom_ids"]:
            assert cid not in failed_in or failed_in[cid], (cid, batch_id)
            failed_in[cid] = False
        for line in _error_lines(server, batch_id):
            failed_in[line["custom_id"]] = True
    assert server.stats(with_ids=False)["requests"] == 0


def _error_lines(server, batch_id):
    sim = server.sim.batches
    batch = sim.batches[batch_id]
    file_id = batch.get("error_file_id")
    if not file_id:
        return []
    return [json.loads(line) for line in sim.files[file_id].splitlines() if line.strip()]


def test_an_expired_batch_keeps_its_finished_items_and_resubmits_only_the_rest(sim, tmp_path):
    server = sim(batch_seconds=0.4, batch_expire_after=0.2, batch_expires=1)
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    rows = write_requests(inp, 100)
    code, _, err = run_cli(*batch_args(server, inp, out))
    assert code == 0, err
    assert sorted(r["id"] for r in read_output(out)) == [r["id"] for r in rows]
    first, second = submitted(server)[:2]
    expired = server.sim.batches.batches[first["batch_id"]]
    assert expired["status"] == "expired"
    finished = expired["request_counts"]["completed"]
    assert 0 < finished < 100
    # The second batch holds exactly the unfinished items: the finished ones were kept.
    assert second["custom_ids"] == first["custom_ids"][finished:]
    state = sqlite3.connect(tmp_path / "out.state.sqlite3")
    outcomes = dict(state.execute("SELECT outcome, COUNT(*) FROM batch_items WHERE batch_key='batch-000001' "
                                  "GROUP BY outcome").fetchall())
    assert outcomes == {"done": finished, "unfinished": 100 - finished}
