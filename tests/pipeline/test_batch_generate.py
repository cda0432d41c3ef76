"""`selfinstruct generate --mode batch`: the Self-Instruct loop in rounds of batches, checked like an online run."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time

from tests.engine.conftest import cli
from tests.pipeline.checks import assert_run_is_valid


def run_cli(*args, timeout=240):
    proc = cli(*args)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def generate_args(server, run, n):
    return ("generate", "--out", str(run), "--api-base", server.url, "--model", "sim", "--num-instructions", str(n),
            "--mode", "batch", "--batch-poll-interval", "0.05")


def stage_of(custom_id: str) -> str:
    return custom_id.split("-", 1)[0]


def test_generate_in_batch_mode_passes_the_online_checks_with_no_online_call(sim, tmp_path):
    server = sim(batch_seconds=0.1)
    run = tmp_path / "run"
    code, _, err = run_cli(*generate_args(server, run, 200))
    assert code == 0, err
    assert_run_is_valid(run, target=200)
    stats = server.stats(with_ids=False)
    assert stats["requests"] == 0                                     # every stage went through batches
    batches = stats["batch"]["submitted"]
    stages = {stage_of(cid) for b in batches for cid in b["custom_ids"]}
    assert stages == {"gen", "clf", "inst"}
    ids = [cid for b in batches for cid in b["custom_ids"]]
    assert len(ids) == len(set(ids))                                  # no item failed, so none went twice
    run_stats = json.loads((run / "stats.json").read_text())
    assert run_stats["mode"] == "batch"
    assert {b["state"] for b in run_stats["batches"]} == {"closed"}
    assert run_stats["batch"]["items_done"] == len(ids)
    # The rounds are sized to the target: the last one does not overshoot by much.
    assert run_stats["generation_requests"] <= 200


def test_generate_killed_mid_round_resumes_without_resubmitting(sim, tmp_path):
    server = sim(batch_seconds=1.0, batch_p_fail=0.05, seed=5)
    run = tmp_path / "run"
    args = generate_args(server, run, 60)
    proc = cli(*args)
    deadline = time.monotonic() + 60
    while not server.stats(with_ids=False)["batch"]["submitted"]:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no batch was created"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    code, _, err = run_cli(*args)
    assert code == 0, err
    assert_run_is_valid(run, target=60)
    sim_batches = server.sim.batches
    failed: set[str] = set()
    seen: set[str] = set()
    for b in sim_batches.submitted:
        for cid in b["custom_ids"]:
            assert cid not in seen or cid in failed, cid             # again only after it failed
            seen.add(cid)
        error_file = sim_batches.batches[b["batch_id"]].get("error_file_id")
        if error_file:
            failed |= {json.loads(line)["custom_id"] for line in sim_batches.files[error_file].splitlines()}
    assert server.stats(with_ids=False)["requests"] == 0
    # The instruction answers of the batch that was in flight at the kill were processed, not dropped.
    state = sqlite3.connect(run / "state.sqlite3")
    assert state.execute("SELECT COUNT(*) FROM results WHERE id LIKE 'gen-%' AND status=1 AND id NOT IN "
                         "(SELECT key FROM records WHERE kind='processed')").fetchone()[0] == 0
    assert state.execute("SELECT COUNT(*) FROM batches WHERE state != 'closed'").fetchone()[0] == 0
