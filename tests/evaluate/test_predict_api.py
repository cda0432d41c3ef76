"""`selfinstruct predict --api-base`: the engine answers the evaluation tasks over loopback HTTP."""

from __future__ import annotations

import json

from selfinstruct.cli import main
from selfinstruct.evaluate.tasks import DEFAULT_TASKS_PATH, load_tasks


def test_predict_through_the_engine_then_resume(sim, tmp_path):
    server = sim(latency_ms=2)
    out = tmp_path / "sim_predictions.jsonl"
    args = ["predict", "--out", str(out), "--model", "sim", "--api-base", server.url, "--limit", "20",
            "--max-new-tokens", "64"]
    assert main(args) == 0
    tasks = load_tasks(DEFAULT_TASKS_PATH)[:20]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [t.id for t in tasks]
    for row, task in zip(rows, tasks):
        assert set(row) >= {"prompt", "instruction", "input", "response", "target", "id"}
        assert row["target"] == task.target
        assert row["response"]                       # the simulator echoes; an answer came back
    calls = server.stats(with_ids=False)["requests"]
    assert main(args) == 0                          # resume: nothing asked again
    assert server.stats(with_ids=False)["requests"] == calls


def test_predict_with_api_takes_a_config_and_asks_a_changed_task_again(sim, tmp_path):
    import dataclasses

    from selfinstruct.evaluate.predict_api import PredictApiConfig, predict_with_api

    server = sim(latency_ms=1)
    tasks = load_tasks(DEFAULT_TASKS_PATH)[:3]
    out = tmp_path / "cfg_predictions.jsonl"
    config = PredictApiConfig(api_base=server.url, model="sim", endpoint="completions", max_new_tokens=64)
    assert predict_with_api(tasks, out, config, api_key=None) == 0
    assert server.stats(with_ids=False)["requests"] == 3
    first = [json.loads(line) for line in out.read_text().splitlines()]
    assert not list(tmp_path.glob("*.requests.jsonl")) and not list(tmp_path.glob("*.answers.jsonl"))
    changed = [tasks[0], dataclasses.replace(tasks[1], instruction="Something else entirely."), tasks[2]]
    assert predict_with_api(changed, out, config, api_key=None) == 0
    assert server.stats(with_ids=False)["requests"] == 4          # only the changed task was asked again
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [t.id for t in tasks]
    assert rows[1]["instruction"] == "Something else entirely."
    assert rows[0] == first[0] and rows[2] == first[2]
