"""Shared helpers of the training tests: a small fixed dataset and fast config overrides."""

from __future__ import annotations

from pathlib import Path


REPO_ROOT = Path(__file__).resolve().parents[2]


def small_examples(n: int = 16) -> list[dict[str, str]]:
    """The first ``n`` seed-task instances with short texts (a fixed, learnable dataset)."""
    import json

    rows = []
    for line in (REPO_ROOT / "data" / "seed_tasks.jsonl").read_text(encoding="utf-8").splitlines():
        task = json.loads(line)
        inst = task["instances"][0]
        if len(task["instruction"]) + len(inst["input"]) < 110 and len(inst["output"]) < 90:
            rows.append({"instruction": task["instruction"], "input": inst["input"], "output": inst["output"]})
        if len(rows) == n:
            break
    return rows


def fast_overrides(model: Path, data: Path, output_dir: Path, **extra) -> dict:
    """Config overrides for a seconds-long CPU run on the tiny model."""
    overrides = {
        "model.name": str(model),
        "data.path": str(data),
        "data.eval_fraction": 0.125,
        "training.output_dir": str(output_dir),
        "training.max_steps": 30,
        "training.learning_rate": 5e-3,
        "training.warmup_ratio": 0.0,
        "training.max_length": 96,
        "training.batch_size": 4,
        "training.gradient_accumulation_steps": 1,
        "training.logging_steps": 5,
        "training.save_steps": 100,
        "lora.dropout": 0.0,
    }
    overrides.update(extra)
    return overrides
