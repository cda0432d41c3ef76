"""`generate` and the step commands under misuse: a file as run directory, a seed file the run writes,
two runs on one run directory, a changed model, duplicate seed instructions. Plus the lock and fingerprint
helpers themselves."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time

import pytest

from selfinstruct.engine import CheckpointStore
from selfinstruct.engine.fingerprint import FINGERPRINT_KEY, differences, reconcile, request_digest
from selfinstruct.engine.runlock import lock_file
from selfinstruct.errors import ConfigError
from selfinstruct.stages.prepare import PrepareConfig, prepare_finetuning
from selfinstruct.stages.seeds import load_seed_tasks
from tests.engine.conftest import REPO, cli
from tests.pipeline.checks import assert_run_is_valid, read_jsonl

UNUSED = "http://127.0.0.1:9/v1"


def run_cli(*args, timeout=240):
    proc = cli(*args)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


@pytest.mark.timeout(120)
def test_generate_into_an_existing_file_exits_2_and_leaves_it(tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("precious\n")
    for command in ("generate", "bootstrap", "prepare"):
        flags = ("--out", str(target)) if command != "prepare" else ("--batch-dir", str(target))
        code, _, err = run_cli(command, *flags, *(("--api-base", UNUSED, "--model", "m") if command != "prepare"
                                                  else ()))
        assert code == 2, (command, err)
        assert "exists and is not a directory" in err and "Traceback" not in err, err
    assert target.read_text() == "precious\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.timeout(120)
def test_a_seed_file_the_run_would_write_is_refused(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    seeds = run / "machine_generated_instructions.jsonl"
    seeds.write_bytes((REPO / "data/seed_tasks.jsonl").read_bytes())
    before = seeds.read_bytes()
    code, _, err = run_cli("generate", "--out", str(run), "--api-base", UNUSED, "--model", "m",
                           "--seed-tasks", str(seeds))
    assert code == 2 and "the seed file" in err and "refusing to write over it" in err, err
    assert seeds.read_bytes() == before and sorted(p.name for p in run.iterdir()) == [seeds.name]


@pytest.mark.timeout(240)
def test_second_generate_on_one_run_dir_exits_2_fast_and_the_first_keeps_the_invariant(sim, tmp_path):
    server = sim(latency_ms=150)
    run = tmp_path / "run"
    args = ("generate", "--out", str(run), "--api-base", server.url, "--model", "sim", "--num-instructions", "60",
            "--max-concurrency", "4")
    first = cli(*args)
    lock = run / "state.sqlite3.lock"
    deadline = time.monotonic() + 60
    while not (lock.exists() and lock.read_text().strip()):
        assert time.monotonic() < deadline and first.poll() is None, first.communicate()
        time.sleep(0.05)
    t0 = time.monotonic()
    code, _, err = run_cli(*args, timeout=60)
    assert time.monotonic() - t0 < 5
    assert code == 2 and "in use by another selfinstruct run" in err and f"pid {first.pid}" in err, err
    # The step commands take the same lock.
    code, _, err = run_cli("prepare", "--batch-dir", str(run), timeout=60)
    assert code == 2 and f"pid {first.pid}" in err, err
    _, err1 = first.communicate(timeout=200)
    assert first.returncode == 0, err1
    assert_run_is_valid(run, target=60)


@pytest.mark.timeout(240)
def test_generate_with_another_model_exits_2_and_allow_changes_records_it(sim, tmp_path):
    server = sim()
    run = tmp_path / "run"
    common = ("--out", str(run), "--api-base", server.url, "--num-instructions")
    code, _, err = run_cli("generate", *common, "15", "--model", "model-a")
    assert code == 0, err
    rows = read_jsonl(run / "machine_generated_instructions.jsonl")
    assert {r["metadata"]["model"] for r in rows} == {"model-a"}
    assert {r["instance_metadata"]["model"] for r in read_jsonl(run / "machine_generated_instances.jsonl")} \
        == {"model-a"}
    code, _, err = run_cli("generate", *common, "25", "--model", "model-b")
    assert code == 2 and "model: 'model-a' -> 'model-b'" in err and "Traceback" not in err, err
    code, _, err = run_cli("generate", *common, "25", "--model", "model-a", "--classification-only")
    assert code == 2 and "classification_only: False -> True" in err, err
    code, _, err = run_cli("generate", *common, "25", "--model", "model-b", "--allow-changes")
    assert code == 0, err
    models = [r["metadata"]["model"] for r in read_jsonl(run / "machine_generated_instructions.jsonl")]
    assert len(models) == 25 and models[:15] == ["model-a"] * 15 and set(models[15:]) == {"model-b"}
    stats = json.loads((run / "stats.json").read_text())
    assert stats["settings_changes"][0]["changes"] == {"model": ["model-a", "model-b"]}
    assert set(stats["models"]) == {"model-a", "model-b"}


@pytest.mark.timeout(60)
def test_duplicate_seed_instructions_warn_with_lines_and_export_once(tmp_path, caplog):
    seeds = tmp_path / "seeds.jsonl"
    rows = [{"id": "t1", "instruction": "Name a color.", "instances": [{"input": "", "output": "Red"}]},
            {"id": "t2", "instruction": "Add two numbers.", "instances": [{"input": "1 2", "output": "3"}]},
            {"id": "t3", "instruction": "Name  a color. ", "instances": [{"input": "", "output": "Blue"}]}]
    seeds.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with caplog.at_level(logging.WARNING, logger="selfinstruct.stages.seeds"):
        tasks = load_seed_tasks(seeds)
    assert [t.id for t in tasks] == ["t1", "t2"]
    assert f"{seeds}:3: duplicate seed instruction (same as line 1)" in caplog.text
    import random
    exports = prepare_finetuning([], rng=random.Random(0), config=PrepareConfig(include_seed_tasks=True),
                                 seeds=tasks)
    assert len(exports.gpt3) == 2


def test_lock_is_exclusive_names_the_holder_and_dies_with_it(tmp_path):
    path = tmp_path / "x.lock"
    held = lock_file(path, in_use="busy")
    with pytest.raises(ConfigError, match=rf"busy \(pid {os.getpid()}\)"):
        lock_file(path, in_use="busy")
    held.close()
    lock_file(path, in_use="busy").close()
    # A holder killed with SIGKILL leaves no stale lock.
    code = ("import sys, time; from pathlib import Path; from selfinstruct.engine.runlock import lock_file; "
            f"fh = lock_file(Path({str(path)!r}), in_use='busy'); print('held', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(ConfigError, match=rf"pid {proc.pid}"):
            lock_file(path, in_use="busy")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    lock_file(path, in_use="busy").close()


def test_fingerprint_compares_shared_names_and_waits_for_answers(tmp_path):
    assert differences({"model": "a", "endpoint": "chat"}, {"model": "b", "seed_tasks": "x"}) == \
        {"model": ("a", "b")}
    assert request_digest({"id": "1", "prompt": "p", "params": {"a": 1, "b": 2}}) == \
        request_digest({"id": "2", "prompt": "p", "params": {"b": 2, "a": 1}, "meta": {"k": 1}})
    assert request_digest({"prompt": "p"}) != request_digest({"prompt": "p", "params": {"max_tokens": 5}})

    async def scenario():
        async with CheckpointStore(tmp_path / "s.sqlite3") as store:
            await reconcile(store, {"model": "a"}, allow_changes=False)
            # No answers yet: nothing would mix, so a new model is simply recorded.
            assert await reconcile(store, {"model": "b"}, allow_changes=False) == {}
            await store.put_result("r1", {"id": "r1", "prompt": "p"}, {"text": "t"}, 1)
            with pytest.raises(ConfigError, match="model: 'b' -> 'c'"):
                await reconcile(store, {"model": "c"}, allow_changes=False)
            assert json.loads(store.get_meta(FINGERPRINT_KEY)) == {"model": "b"}
            assert await reconcile(store, {"model": "c"}, allow_changes=True) == {"model": ("b", "c")}
            assert json.loads(store.get_meta(FINGERPRINT_KEY)) == {"model": "c"}

    asyncio.run(scenario())
