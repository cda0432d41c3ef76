"""`complete` under misuse: output = input, two runs on one output, changed settings, changed input,
duplicate ids, a full disk on the output. Real processes over loopback HTTP against the simulator."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time

import pytest

from tests.engine.conftest import REPO, cli, read_output, write_requests

UNUSED = "http://127.0.0.1:9/v1"   # never contacted: these runs stop before any request


def run_cli(*args, env=None, timeout=120):
    proc = cli(*args, env=env)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def complete(inp, out, url, *extra, model="sim", timeout=120):
    return run_cli("complete", str(inp), "--out", str(out), "--api-base", url, "--model", model, *extra,
                   timeout=timeout)


@pytest.mark.timeout(120)
def test_output_that_is_the_input_is_refused_and_the_input_is_untouched(tmp_path):
    inp = tmp_path / "a.jsonl"
    write_requests(inp, 20)
    before = inp.read_bytes()
    (tmp_path / "sub").mkdir()
    os.symlink(inp, tmp_path / "link.jsonl")
    os.link(inp, tmp_path / "hard.jsonl")
    cases = [
        ("--out", str(inp)),                                   # the same path
        ("--out", str(tmp_path / "sub" / ".." / "a.jsonl")),   # a relative detour
        ("--out", str(tmp_path / "link.jsonl")),               # a symlink to it
        ("--out", str(tmp_path / "hard.jsonl")),               # a hard link to it
        ("--out", str(tmp_path / "o.jsonl"), "--state", str(inp)),   # the state file
    ]
    for extra in cases:
        code, _, err = run_cli("complete", str(inp), *extra, "--api-base", UNUSED, "--model", "m")
        assert code == 2, (extra, err)
        assert "refusing to write over it" in err and "Traceback" not in err, err
        assert inp.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl", "hard.jsonl", "link.jsonl", "sub"]
    # A relative --out from the input's own folder.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "selfinstruct", "complete", "a.jsonl", "--out", "./a.jsonl",
                           "--api-base", UNUSED, "--model", "m"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and "refusing" in proc.stderr, proc.stderr
    assert inp.read_bytes() == before


@pytest.mark.timeout(120)
def test_output_that_is_a_directory_is_refused(tmp_path):
    inp = tmp_path / "a.jsonl"
    write_requests(inp, 3)
    code, _, err = run_cli("complete", str(inp), "--out", str(tmp_path), "--api-base", UNUSED, "--model", "m")
    assert code == 2 and "is a directory" in err and "Traceback" not in err, err


def _wait_for_lock(lock, proc, deadline=30.0):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if lock.exists() and lock.read_text().strip():
            return int(lock.read_text())
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("the first run never took the lock")


@pytest.mark.timeout(180)
def test_second_run_on_the_same_output_exits_2_fast_and_the_first_writes_each_id_once(sim, tmp_path):
    server = sim(latency_ms=100)     # the first run takes about 8 s: long enough to meet the second
    inp = tmp_path / "in.jsonl"
    rows = write_requests(inp, 300)
    out = tmp_path / "out.jsonl"
    args = ("complete", str(inp), "--out", str(out), "--api-base", server.url, "--model", "sim",
            "--max-concurrency", "4")
    first = cli(*args)
    pid = _wait_for_lock(tmp_path / "out.state.sqlite3.lock", first)
    assert pid == first.pid
    t0 = time.monotonic()
    code, _, err = run_cli(*args, timeout=30)
    assert time.monotonic() - t0 < 5
    assert code == 2 and "in use by another selfinstruct run" in err and f"pid {first.pid}" in err, err
    _, err1 = first.communicate(timeout=150)
    assert first.returncode == 0, err1
    ids = [r["id"] for r in read_output(out)]
    assert sorted(ids) == sorted(r["id"] for r in rows) and len(ids) == len(set(ids))
    assert server.stats()["max_calls_per_id"] == 1 and server.stats()["requests"] == 300
    # The lock went with the process: a rerun resumes at once.
    code, _, err = run_cli(*args)
    assert code == 0, err


@pytest.mark.timeout(180)
def test_another_model_exits_2_naming_it_and_allow_changes_continues_and_records_it(sim, tmp_path):
    server = sim()
    inp = tmp_path / "in.jsonl"
    write_requests(inp, 10)
    out = tmp_path / "out.jsonl"
    code, _, err = complete(inp, out, server.url, model="model-a")
    assert code == 0, err
    assert {r["model"] for r in read_output(out)} == {"model-a"}
    before = out.read_bytes()
    write_requests(inp, 14)                      # four new ids
    code, _, err = complete(inp, out, server.url, model="model-b")
    assert code == 2 and "model: 'model-a' -> 'model-b'" in err and "--allow-changes" in err, err
    assert out.read_bytes() == before
    code, _, err = complete(inp, out, server.url, "--endpoint", "chat", model="model-a")
    assert code == 2 and "endpoint: 'completions' -> 'chat'" in err, err
    code, _, err = complete(inp, out, server.url, "--allow-changes", model="model-b")
    assert code == 0, err
    got = {r["id"]: r["model"] for r in read_output(out)}
    assert len(got) == 14
    assert sorted(v for v in got.values()) == ["model-a"] * 10 + ["model-b"] * 4
    stats = json.loads((tmp_path / "out.stats.json").read_text())
    assert stats["models"] == {"model-a": 10, "model-b": 4}
    [change] = stats["settings_changes"]
    assert change["changes"] == {"model": ["model-a", "model-b"]}
    # The new settings are now the recorded ones: the same rerun needs no flag.
    code, _, err = complete(inp, out, server.url, model="model-b")
    assert code == 0, err


@pytest.mark.timeout(180)
def test_a_changed_prompt_is_asked_again_and_a_removed_id_leaves_the_output(sim, tmp_path):
    server = sim()
    inp = tmp_path / "in.jsonl"
    rows = write_requests(inp, 30)
    out = tmp_path / "out.jsonl"
    code, _, err = complete(inp, out, server.url)
    assert code == 0, err
    asked = server.stats()["requests"]
    rows[3]["prompt"] = "A brand new question"
    rows[4]["params"] = {"max_tokens": 7}            # changed params count as a changed request
    del rows[10]
    rows.append({"id": "req-new", "prompt": "Fresh"})
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, _, err = complete(inp, out, server.url)
    assert code == 0, err
    assert server.stats()["requests"] == asked + 3
    got = read_output(out)
    assert len(got) == 30 and sorted(r["id"] for r in got) == sorted(r["id"] for r in rows)
    by_id = {r["id"]: r for r in got}
    assert by_id["req-00003"]["text"] == "Echo: A brand new question"
    assert by_id["req-new"]["text"] == "Echo: Fresh"
    assert "req-00010" not in by_id
    stats = json.loads((tmp_path / "out.stats.json").read_text())
    assert stats["changed_requests"] == 2 and stats["removed_ids"] == 1
    # A plain rerun changes nothing and asks nothing; appending still works after the rebuild.
    before = out.read_bytes()
    code, _, err = complete(inp, out, server.url)
    assert code == 0 and out.read_bytes() == before and server.stats()["requests"] == asked + 3
    rows.append({"id": "req-later", "prompt": "Later"})
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, _, err = complete(inp, out, server.url)
    assert code == 0, err
    assert out.read_bytes().startswith(before) and len(read_output(out)) == 31


@pytest.mark.timeout(120)
def test_duplicate_ids_exit_2_listing_lines_unless_first_is_chosen(sim, tmp_path):
    server = sim()
    inp = tmp_path / "in.jsonl"
    lines = [{"id": "a", "prompt": "first a"}, {"id": "b", "prompt": "b"}, {"id": "a", "prompt": "second a"},
             {"id": "c", "prompt": "c"}, {"id": "b", "prompt": "b again"}]
    inp.write_text("".join(json.dumps(r) + "\n" for r in lines))
    out = tmp_path / "out.jsonl"
    code, _, err = complete(inp, out, server.url)
    assert code == 2, err
    assert "2 duplicate id(s)" in err and "'a' on line 3 (first on line 1)" in err and "'b' on line 5" in err
    assert "--duplicate-ids first" in err and "Traceback" not in err
    assert server.stats()["requests"] == 0 and not out.exists()
    code, _, err = complete(inp, out, server.url, "--duplicate-ids", "first")
    assert code == 0, err
    got = {r["id"]: r["text"] for r in read_output(out)}
    assert got == {"a": "Echo: first a", "b": "Echo: b", "c": "Echo: c"}
    assert json.loads((tmp_path / "out.stats.json").read_text())["duplicate_ids_skipped"] == 2


@pytest.mark.timeout(180)
def test_a_full_disk_on_the_output_names_that_file_and_a_rerun_resumes(sim, tmp_path):
    # /dev/full fails every write with ENOSPC: a real full-disk error at the output, no mocking.
    server = sim(latency_ms=5)
    inp = tmp_path / "in.jsonl"
    rows = write_requests(inp, 120)
    out = tmp_path / "out.jsonl"
    os.symlink("/dev/full", out)
    code, _, err = complete(inp, out, server.url, "--max-concurrency", "4")
    assert code == 2, err
    # The error blames the output (the state is fine and says so), with no traceback.
    assert f"error: {out}: no space left on device (ENOSPC); every answer so far is kept in" in err, err
    assert "Traceback" not in err and "transaction" not in err and err.count("error:") == 1, err
    with sqlite3.connect(tmp_path / "out.state.sqlite3") as conn:
        answered = conn.execute("SELECT COUNT(*) FROM results WHERE status=1").fetchone()[0]
    assert answered >= 1 and answered == server.stats()["requests"]
    out.unlink()
    code, _, err = complete(inp, out, server.url)
    assert code == 0, err
    assert sorted(r["id"] for r in read_output(out)) == sorted(r["id"] for r in rows)
    assert server.stats()["max_calls_per_id"] == 1
