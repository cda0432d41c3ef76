"""Kill `selfinstruct train` after a checkpoint, rerun it, and check it continues from that checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from selfinstruct.train.trainer import find_resume_checkpoint

REPO_ROOT = Path(__file__).resolve().parents[2]
MAX_STEPS = 40


def _write_config(path: Path, model: Path, data: Path, out: Path) -> Path:
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
max_steps = {MAX_STEPS}
learning_rate = 5e-3
warmup_ratio = 0.0
max_length = 96
batch_size = 4
gradient_accumulation_steps = 1
logging_steps = 1
save_steps = 5
save_total_limit = 3
""")
    return path


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    return env


def test_kill_then_resume_continues_from_the_checkpoint(tiny_qwen, alpaca_file, tmp_path):
    out = tmp_path / "out"
    cfg = _write_config(tmp_path / "c.toml", tiny_qwen, alpaca_file, out)
    cmd = [sys.executable, "-m", "selfinstruct", "train", "--config", str(cfg)]
    log = (tmp_path / "first.log").open("wb")
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=_env(), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        while find_resume_checkpoint(out) is None:
            assert proc.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)  # a crash: no chance to clean up
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    assert not (out / "training_summary.json").exists(), "the first run finished before the kill"
    checkpoint = find_resume_checkpoint(out)
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    killed_at = state["global_step"]
    assert 5 <= killed_at < MAX_STEPS
    first_losses = [e["loss"] for e in state["log_history"] if "loss" in e]

    second = subprocess.run(cmd, cwd=REPO_ROOT, env=_env(), capture_output=True, timeout=240)
    assert second.returncode == 0, second.stderr.decode()[-3000:]
    summary = json.loads((out / "training_summary.json").read_text())
    assert summary["resumed_from_checkpoint"] == str(checkpoint)
    assert summary["global_step"] == MAX_STEPS
    # only the remaining steps were run again, not the whole schedule
    assert summary["optimizer_steps_this_run"] == MAX_STEPS - killed_at
    # the loss series is continuous across the kill: steps 1..MAX_STEPS, once each
    assert summary["loss_steps"] == list(range(1, MAX_STEPS + 1))
    assert summary["losses"][: len(first_losses)] == first_losses
