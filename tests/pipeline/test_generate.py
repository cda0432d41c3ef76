"""`selfinstruct generate` end to end over real loopback HTTP."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time

from tests.engine.conftest import REPO, cli
from tests.pipeline.checks import assert_greedy_rouge_invariant, assert_run_is_valid, read_jsonl
from tests.pipeline.foreign_endpoint import ForeignEndpoint


def run_cli(*args, env=None, timeout=240):
    proc = cli(*args, env=env)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def test_generate_against_a_foreign_chat_endpoint(tmp_path):
    run = tmp_path / "run"
    with ForeignEndpoint() as ep:
        code, _, err = run_cli("generate", "--out", str(run), "--api-base", ep.url, "--model", "other-llm",
                               "--endpoint", "chat", "--num-instructions", "300", "--max-concurrency", "16")
    assert code == 0, err
    assert_run_is_valid(run, target=300)
    stats = json.loads((run / "stats.json").read_text())
    assert stats["accepted_instructions"] == 300
    assert sum(stats["rejects_by_reason"].values()) == len(read_jsonl(run / "rejects.jsonl"))


def test_generate_completions_against_the_simulator_then_resume_is_free(sim, tmp_path):
    server = sim(latency_ms=5)
    run = tmp_path / "run"
    args = ("generate", "--out", str(run), "--api-base", server.url, "--model", "sim", "--num-instructions", "120")
    code, _, err = run_cli(*args)
    assert code == 0, err
    assert_run_is_valid(run, target=120)
    rejects = read_jsonl(run / "rejects.jsonl")
    reasons = {r["reason"] for r in rejects}
    assert "rouge_l_similar" in reasons and reasons & {"too_short", "write_a_program"}
    before = server.stats(with_ids=False)["requests"]
    files = {p.name: p.read_bytes() for p in run.glob("*.jsonl")}
    code, _, err = run_cli(*args)                  # rerun: resumes a finished run, asks nothing
    assert code == 0, err
    assert server.stats(with_ids=False)["requests"] == before
    assert {p.name: p.read_bytes() for p in run.glob("*.jsonl")} == files


def test_sigkill_mid_run_then_rerun_keeps_the_pool_clean(sim, tmp_path):
    server = sim(latency_ms=40)
    run = tmp_path / "run"
    args = ("generate", "--out", str(run), "--api-base", server.url, "--model", "sim", "--num-instructions", "150",
            "--max-concurrency", "8")
    proc = cli(*args)
    state = run / "state.sqlite3"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.1)
        assert proc.poll() is None, proc.communicate()
        if state.exists():
            try:
                conn = sqlite3.connect(state)
                n = conn.execute("SELECT COUNT(*) FROM records WHERE kind='instances'").fetchone()[0]
                conn.close()
            except sqlite3.Error:
                continue
            if n >= 40:
                break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    code, _, err = run_cli(*args)
    assert code == 0, err
    info = assert_run_is_valid(run, target=150)
    assert len(info["instructions"]) == 150
    calls = server.stats()["calls_per_id"]
    assert max(calls.values()) <= 2
    assert sum(c - 1 for c in calls.values()) <= 16        # only what was in flight at the kill


def test_demo_runs_offline_with_no_key(tmp_path):
    env = {"OPENAI_API_KEY": "", "HF_HUB_OFFLINE": "1"}
    code, _, err = run_cli("demo", "--out", str(tmp_path / "demo"), "--num-instructions", "100", env=env)
    assert code == 0, err
    assert_run_is_valid(tmp_path / "demo", target=100)
    assert "finetuning/messages.jsonl" in err


def test_bad_seed_file_names_file_and_line(sim, tmp_path):
    server = sim()
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text('{"id": "a", "instruction": "Do a thing well today."}\n{"id": "b", "instruction": 7}\n')
    code, _, err = run_cli("generate", "--out", str(tmp_path / "run"), "--api-base", server.url, "--model", "sim",
                           "--seed-tasks", str(seeds))
    assert code == 2
    assert f"{seeds}:2" in err


def test_unknown_config_key_names_key_and_file(sim, tmp_path):
    server = sim()
    cfg = tmp_path / "gen.toml"
    cfg.write_text(f'[endpoint]\napi_base = "{server.url}"\nmodel = "sim"\n\n[limits]\nrpmm = 5\n')
    code, _, err = run_cli("generate", "--out", str(tmp_path / "run"), "--config", str(cfg))
    assert code == 2
    assert "rpmm" in err and str(cfg) in err


def test_toml_config_with_flag_override(sim, tmp_path):
    server = sim()
    cfg = tmp_path / "gen.toml"
    cfg.write_text(f'[endpoint]\napi_base = "{server.url}"\nmodel = "sim"\n\n[generation]\nnum_instructions = 500\n'
                   f'\n[filters]\nuse_alpaca_extras = true\n')
    code, _, err = run_cli("generate", "--out", str(tmp_path / "run"), "--config", str(cfg),
                           "--num-instructions", "30")
    assert code == 0, err
    assert len(read_jsonl(tmp_path / "run" / "machine_generated_instructions.jsonl")) == 30


def test_original_step_commands_and_sample(sim, tmp_path):
    server = sim()
    run = tmp_path / "run"
    common = ("--batch-dir", str(run), "--api-base", server.url, "--model", "sim")
    code, _, err = run_cli("bootstrap", *common, "--num-instructions-to-generate", "40")
    assert code == 0, err
    instructions = [r["instruction"] for r in read_jsonl(run / "machine_generated_instructions.jsonl")]
    assert len(instructions) == 40
    assert_greedy_rouge_invariant(instructions)
    assert not (run / "is_clf_or_not.jsonl").read_text()
    code, _, err = run_cli("classify", *common)
    assert code == 0, err
    assert len(read_jsonl(run / "is_clf_or_not.jsonl")) == 40
    code, _, err = run_cli("instances", *common)
    assert code == 0, err
    assert len(read_jsonl(run / "machine_generated_instances.jsonl")) == 40
    code, _, err = run_cli("prepare", "--batch-dir", str(run), "--include-seed-tasks")
    assert code == 0, err
    gpt3 = list((run / "finetuning").glob("gpt3_finetuning_data_*.jsonl"))
    assert len(gpt3) == 1 and len(read_jsonl(gpt3[0])) > 175
    out = tmp_path / "raters.csv"
    code, _, err = run_cli("sample", str(run), "--n", "25", "--out", str(out))
    assert code == 0, err
    lines = out.read_text().splitlines()
    assert lines[0].startswith("id,instruction,is_classification,input,output,valid_instruction")
    assert len(lines) >= 26


def test_cli_help_starts_without_heavy_imports():
    code = ("import sys; from selfinstruct.cli import build_parser; build_parser(); "
            "heavy = [m for m in ('torch', 'transformers', 'datasketch', 'rich', 'aiohttp', 'trl') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == ""


def test_classification_only_pool_holds_each_instruction_once(sim, tmp_path):
    import asyncio

    from selfinstruct.pipeline import build_generate_config, generate_async

    server = sim()
    table = {"endpoint": {"api_base": server.url, "model": "sim"}, "prompt": {"classification_only": True},
             "generation": {"num_instructions": 25}}
    config = build_generate_config(table, out_dir=tmp_path / "run")
    seen = []
    result = asyncio.run(generate_async(config, on_start=seen.append))
    pipeline = seen[0]
    assert result.exit_code == 0
    # The pool the prompts sample from has every classification instruction exactly once.
    assert sorted(pipeline.pool_clf) == sorted(pipeline.pool)
    assert len(set(pipeline.pool_clf)) == len(pipeline.pool_clf) == 25
    assert result.stats["classification_tasks"] == 25
    labels = read_jsonl(tmp_path / "run" / "is_clf_or_not.jsonl")
    assert len(labels) == 25 and all(r["is_classification"] for r in labels)


def test_answer_reprocessed_on_restore_is_classified_once(sim, tmp_path):
    """An answer committed but not processed before a crash is processed on restart, and its
    instructions go through classification and instances exactly once."""
    import asyncio

    from selfinstruct.pipeline import build_generate_config, generate_async

    server = sim()
    run = tmp_path / "run"
    base = {"endpoint": {"api_base": server.url, "model": "sim"}}
    only_generate = {**base, "generation": {"num_instructions": 20, "stages": ["generate"]}}
    assert asyncio.run(generate_async(build_generate_config(only_generate, out_dir=run))).exit_code == 0
    # Simulate the crash window: the last answer's derived records never committed.
    conn = sqlite3.connect(run / "state.sqlite3")
    last = conn.execute("SELECT MAX(key) FROM records WHERE kind='processed' AND "
                        "json_extract(data, '$.accepted') > 0").fetchone()[0]
    conn.execute("DELETE FROM records WHERE kind='processed' AND key=?", (last,))
    dropped = conn.execute("DELETE FROM records WHERE kind='instruction' AND "
                           "json_extract(data, '$.metadata.request_id')=?", (last,)).rowcount
    conn.commit()
    conn.close()
    assert dropped > 0
    full = {**base, "generation": {"num_instructions": 20}}
    assert asyncio.run(generate_async(build_generate_config(full, out_dir=run))).exit_code == 0
    calls = server.stats()["calls_per_id"]
    downstream = {k: v for k, v in calls.items() if k.startswith(("clf-", "inst-"))}
    assert len(downstream) == 40
    assert set(downstream.values()) == {1}
    assert_run_is_valid(run, target=20)
