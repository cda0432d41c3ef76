"""Shared helpers of the training tests: a small fixed dataset, fast config overrides, and the config file,
environment and first (killed) run of a `selfinstruct train` subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


REPO_ROOT = Path(__file__).resolve().parents[2]


def small_examples(n: int = 16) -> list[dict[str, str]]:
    """The first ``n`` seed-task instances with short texts (a fixed, learnable dataset)."""
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


def write_config(path: Path, model: Path, data: Path, out: Path, *, max_steps: int, batch_size: int,
                 accumulation: int = 1, logging_steps: int = 1, save_steps: int) -> Path:
    """A TOML config at ``path`` for a short CPU run of `selfinstruct train` on the tiny model."""
    path.write_text(f"""
[model]
name = "{model}"
[data]
path = "{data}"
eval_fraction = 0.125
[lora]
dropout = 0.0
[training]
output_dir = "{out}"
max_steps = {max_steps}
learning_rate = 5e-3
warmup_ratio = 0.0
max_length = 96
batch_size = {batch_size}
gradient_accumulation_steps = {accumulation}
logging_steps = {logging_steps}
save_steps = {save_steps}
save_total_limit = 3
""")
    return path


def train_env() -> dict[str, str]:
    """The environment of a `selfinstruct train` subprocess: offline, one thread, this checkout's code."""
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false",
               PYTHONPATH=os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p))
    return env


def kill_at_checkpoint(cmd: list[str], out: Path, log_path: Path,
                       kill: Callable[[subprocess.Popen], None]) -> tuple[Path, int, list[float]]:
    """Run ``cmd`` (its output to ``log_path``) until its first checkpoint under ``out``, then ``kill`` it
    (a crash: no chance to clean up). The checkpoint, the step it was killed at and the losses logged by then."""
    from selfinstruct.train.trainer import find_resume_checkpoint

    log = log_path.open("wb")
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=train_env(), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        while find_resume_checkpoint(out) is None:
            assert proc.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.02)
    finally:
        kill(proc)
        log.close()
    assert not (out / "training_summary.json").exists(), "the first run finished before the kill"
    checkpoint = find_resume_checkpoint(out)
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    return checkpoint, state["global_step"], [e["loss"] for e in state["log_history"] if "loss" in e]
