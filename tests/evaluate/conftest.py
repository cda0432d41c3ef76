"""Fixtures for the evaluation tests: offline hub, one torch thread, a tiny Qwen2, small task/prediction files, a run dir."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ for shared helpers


os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[2]
TASKS_FILE = REPO_ROOT / "data" / "human_eval" / "user_oriented_instructions.jsonl"
BASELINES_DIR = REPO_ROOT / "data" / "human_eval" / "predictions"


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    import torch

    torch.set_num_threads(1)




@pytest.fixture()
def small_tasks(tmp_path) -> Path:
    """Six tasks from three apps; two with an empty input."""
    rows = [
        ("t0", "Gmail", "Write a polite reply to the email.", "Thanks for the invite!", "Thank you, I will come."),
        ("t1", "Gmail", "Summarize the email in one sentence.", "The meeting moved to 3pm on Friday.",
         "The meeting is now Friday at 3pm."),
        ("t2", "Yelp", "Classify the review as positive or negative.", "The food was cold and bland.", "Negative"),
        ("t3", "Yelp", "Suggest a name for a new bakery.", "", "Rise and Shine Bakery"),
        ("t4", "Notion", "List three tips for staying focused.", "",
         "1. Turn off notifications. 2. Work in short blocks. 3. Take breaks."),
        ("t5", "Notion", "Convert the date to ISO format.", "March 5, 2021", "2021-03-05"),
    ]
    return write_jsonl(tmp_path / "tasks.jsonl", [
        {"id": i, "motivation_app": app, "instruction": ins, "instances": [{"input": inp, "output": out}]}
        for i, app, ins, inp, out in rows
    ])


RUN_INSTRUCTIONS = [
    "Write a haiku about the ocean.",
    "Classify the sentiment of the tweet as positive or negative.",
    "Given a list of numbers, return the largest one.",
    "write a short story about a robot learning to paint.",
    "Is the following statement true or false?",
    "Translate the sentence into French.",
]


@pytest.fixture()
def run_dir(tmp_path) -> Path:
    """A small synthetic generation run with every file `selfinstruct analyze` reads."""
    d = tmp_path / "run"
    write_jsonl(d / "machine_generated_instructions.jsonl", [
        {"instruction": t, "most_similar": {"Some seed.": 0.1}, "avg_similarity_score": 0.05,
         "metadata": {"request_id": f"gen-{i}"}, "request_idx": i // 2}
        for i, t in enumerate(RUN_INSTRUCTIONS)
    ])
    labels = [False, True, False, False, "Yes", "No"]  # both label forms occur in real runs
    write_jsonl(d / "is_clf_or_not.jsonl", [
        {"instruction": t, "is_classification": lab} for t, lab in zip(RUN_INSTRUCTIONS, labels)
    ])
    instances = {
        RUN_INSTRUCTIONS[0]: [("", "Waves fold on the shore\nsalt wind carries gull voices\nthe tide keeps its time")],
        RUN_INSTRUCTIONS[1]: [("I love this phone!", "Positive"), ("Worst service ever.", "Negative")],
        RUN_INSTRUCTIONS[2]: [("3, 9, 4", "9"), ("10, -2", "10"), ("7", "7")],
        RUN_INSTRUCTIONS[3]: [("", "The robot dipped its brush in blue and painted the sky it had never seen.")],
    }
    write_jsonl(d / "machine_generated_instances.jsonl", [
        {"instruction": ins, "raw_instances": "...", "instance_metadata": {},
         "instances": [{"input": a, "output": b} for a, b in pairs]}
        for ins, pairs in instances.items()
    ])
    write_jsonl(d / "finetuning" / "all_generated_instances.jsonl", [
        {"instruction": ins, "input": a, "output": b} for ins, pairs in instances.items() for a, b in pairs
    ])
    write_jsonl(d / "rejects.jsonl", [
        {"stage": "instruction", "reason": "rouge_l_similar", "text": "Write a haiku about the sea."},
        {"stage": "instruction", "reason": "rouge_l_similar", "text": "Write a poem about the ocean."},
        {"stage": "instruction", "reason": "blacklist:image", "text": "Draw an image of a cat."},
        {"stage": "instance", "reason": "ends_with_colon", "text": "Output:"},
    ])
    (d / "stats.json").write_text(json.dumps({"done": 10, "failed": 0}), encoding="utf-8")
    return d
