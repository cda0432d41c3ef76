"""The original's step commands: exit codes after failed requests, and `prepare`'s --config and --seed."""

from __future__ import annotations

import json
import random

import pytest

from tests.pipeline.checks import read_jsonl
from tests.pipeline.test_generate import run_cli

SHORT = [f"Explain how a {thing} works to a curious child." for thing in
         ("bicycle", "refrigerator", "compass", "lighthouse", "windmill", "thermometer")]
# Its prompts are longer than the simulated model's context: the request fails for good (400 context length).
LONG = "Summarize the following notes carefully: " + " ".join(f"note{i} is about topic{i}." for i in range(900))


def _write_run(run, *, labels: bool) -> None:
    run.mkdir(parents=True)
    rows = [*SHORT[:3], LONG, *SHORT[3:]]
    (run / "machine_generated_instructions.jsonl").write_text(
        "".join(json.dumps({"instruction": i}) + "\n" for i in rows))
    if labels:
        (run / "is_clf_or_not.jsonl").write_text(
            "".join(json.dumps({"instruction": i, "is_classification": False}) + "\n" for i in rows))


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("step", "labels", "out_file"), [
    ("classify", False, "is_clf_or_not.jsonl"),
    ("instances", True, "machine_generated_instances.jsonl"),
])
def test_a_step_with_a_failed_request_exits_3_then_only_that_request_is_left(sim, tmp_path, step, labels, out_file):
    server = sim(max_context=2048)
    run = tmp_path / "run"
    _write_run(run, labels=labels)
    code, _, err = run_cli(step, "--batch-dir", str(run), "--api-base", server.url, "--model", "sim")
    assert code == 3, err
    done = {r["instruction"] for r in read_jsonl(run / out_file)}
    assert done == set(SHORT)
    failed = [r for r in read_jsonl(run / "rejects.jsonl") if r["reason"] == "request_failed"]
    assert [(r["stage"], r["text"]) for r in failed] == [(step, LONG)]


@pytest.mark.timeout(120)
def test_a_step_whose_requests_all_succeed_exits_0(sim, tmp_path):
    server = sim()
    run = tmp_path / "run"
    run.mkdir()
    (run / "machine_generated_instructions.jsonl").write_text(
        "".join(json.dumps({"instruction": i}) + "\n" for i in SHORT))
    code, _, err = run_cli("classify", "--batch-dir", str(run), "--api-base", server.url, "--model", "sim")
    assert code == 0, err
    assert len(read_jsonl(run / "is_clf_or_not.jsonl")) == len(SHORT)


def _instances_file(run) -> None:
    run.mkdir(parents=True, exist_ok=True)
    rows = []
    for n, inst in enumerate(SHORT):
        rows.append({"instruction": inst, "instances": [
            {"input": f"Case {n}.{k}: a short input text", "output": f"Answer {n}.{k} in a few words."}
            for k in range(8)]})
    (run / "machine_generated_instances.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def _all_generated(run) -> list[dict]:
    return read_jsonl(run / "finetuning" / "all_generated_instances.jsonl")


def test_prepare_applies_its_config_and_flags_override_it(tmp_path):
    run = tmp_path / "run"
    _instances_file(run)
    cfg = tmp_path / "prep.toml"
    cfg.write_text("[export]\nmax_instances_per_task = 2\ninclude_seed_tasks = true\n\n[generation]\nseed = 7\n")
    code, _, err = run_cli("prepare", "--batch-dir", str(run), "--config", str(cfg))
    assert code == 0, err
    rows = _all_generated(run)
    assert len(rows) == 2 * len(SHORT)                       # [export] max_instances_per_task = 2
    gpt3 = list((run / "finetuning").glob("gpt3_finetuning_data_*.jsonl"))
    assert len(gpt3) == 1 and len(read_jsonl(gpt3[0])) > 175  # include_seed_tasks = true
    seeded7 = (run / "finetuning" / "alpaca.json").read_text()
    code, _, err = run_cli("prepare", "--batch-dir", str(run), "--config", str(cfg), "--max-instances-per-task", "3")
    assert code == 0, err
    assert len(_all_generated(run)) == 3 * len(SHORT)         # the flag wins over the file
    # The config's seed is used: the same as --seed 7 without the file's seed.
    cfg.write_text("[export]\nmax_instances_per_task = 2\ninclude_seed_tasks = true\n")
    code, _, err = run_cli("prepare", "--batch-dir", str(run), "--config", str(cfg), "--seed", "7")
    assert code == 0, err
    assert (run / "finetuning" / "alpaca.json").read_text() == seeded7


def test_prepare_config_unknown_key_is_named(tmp_path):
    run = tmp_path / "run"
    _instances_file(run)
    cfg = tmp_path / "prep.toml"
    cfg.write_text("[export]\nmax_instances_per_tsk = 2\n")
    code, _, err = run_cli("prepare", "--batch-dir", str(run), "--config", str(cfg))
    assert code == 2
    assert "max_instances_per_tsk" in err and str(cfg) in err


def test_prepare_seed_0_is_seed_0(tmp_path):
    from selfinstruct.stages.base import Instance
    from selfinstruct.stages.prepare import PrepareConfig, prepare_finetuning
    from selfinstruct.stages.seeds import default_seed_path, load_seed_tasks

    run = tmp_path / "run"
    _instances_file(run)
    rows = read_jsonl(run / "machine_generated_instances.jsonl")
    tasks = [(r["instruction"], [Instance(i["input"], i["output"]) for i in r["instances"]]) for r in rows]

    def expected(seed: int) -> list[dict]:
        exports = prepare_finetuning(tasks, rng=random.Random(seed), config=PrepareConfig(),
                                     seeds=load_seed_tasks(default_seed_path()))
        return exports.files()["all_generated_instances.jsonl"]

    assert expected(0) != expected(42)
    code, _, err = run_cli("prepare", "--batch-dir", str(run), "--seed", "0")
    assert code == 0, err
    assert _all_generated(run) == expected(0)
