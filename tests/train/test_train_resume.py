"""Kill `selfinstruct train` after a checkpoint, rerun it, and check it continues from that checkpoint."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from train_helpers import kill_at_checkpoint, train_env, write_config

REPO_ROOT = Path(__file__).resolve().parents[2]
MAX_STEPS = 40


def _kill(proc: subprocess.Popen) -> None:
    proc.kill()  # SIGKILL
    proc.wait(timeout=30)


def test_kill_then_resume_continues_from_the_checkpoint(tiny_qwen, alpaca_file, tmp_path):
    out = tmp_path / "out"
    cfg = write_config(tmp_path / "c.toml", tiny_qwen, alpaca_file, out, max_steps=MAX_STEPS, batch_size=4,
                       save_steps=5)
    cmd = [sys.executable, "-m", "selfinstruct", "train", "--config", str(cfg)]
    checkpoint, killed_at, first_losses = kill_at_checkpoint(cmd, out, tmp_path / "first.log", _kill)
    assert 5 <= killed_at < MAX_STEPS

    second = subprocess.run(cmd, cwd=REPO_ROOT, env=train_env(), capture_output=True, timeout=240)
    assert second.returncode == 0, second.stderr.decode()[-3000:]
    summary = json.loads((out / "training_summary.json").read_text())
    assert summary["resumed_from_checkpoint"] == str(checkpoint)
    assert summary["global_step"] == MAX_STEPS
    # only the remaining steps were run again, not the whole schedule
    assert summary["optimizer_steps_this_run"] == MAX_STEPS - killed_at
    # the loss series is continuous across the kill: steps 1..MAX_STEPS, once each
    assert summary["loss_steps"] == list(range(1, MAX_STEPS + 1))
    assert summary["losses"][: len(first_losses)] == first_losses
