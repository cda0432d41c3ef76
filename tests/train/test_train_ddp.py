"""Data-parallel QLoRA on CPU: `torchrun --standalone --nproc_per_node 2 -m selfinstruct train` with gloo,
a kill and resume under torchrun, and `accelerate launch` with a config file.

Two real processes on the tiny model (torchrun is torch.distributed.run, run
with this interpreter). Evidence that both ranks trained comes from the ranks
themselves: each one's count of forward/backward passes and tokens, gathered to
rank 0 for the summary, and the epoch reached (two shards of the data make an
epoch half as many steps). Evidence that only rank 0 writes: one adapter, one
"wrote" log line and one printed result, where every rank used to print its own.
"""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from selfinstruct.train.trainer import find_resume_checkpoint
from train_helpers import kill_at_checkpoint, train_env, write_config

pytestmark = pytest.mark.slow  # two launches of two processes each: 20-60 s a test on 2 shared cores

REPO_ROOT = Path(__file__).resolve().parents[2]
WORLD = 2
BATCH = 2


def _torchrun(config: Path) -> list[str]:
    # --standalone: a local rendezvous on a free port, so parallel runs do not collide
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={WORLD}",
            "-m", "selfinstruct", "train", "--config", str(config)]


def _kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL torchrun and its workers at once, as a crash of the node would (no chance to clean up).

    torchrun starts each worker in a session of its own, so killing torchrun's
    process group would leave the workers training on.
    """
    import psutil

    try:
        victims = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        victims = []
    for victim in victims:
        try:
            victim.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(victims, timeout=30)
    proc.wait(timeout=30)


def test_torchrun_two_ranks_train_one_adapter_with_gloo(tiny_qwen, alpaca_file, tmp_path):
    out = tmp_path / "out"
    steps, accumulation = 10, 2
    cfg = write_config(tmp_path / "c.toml", tiny_qwen, alpaca_file, out, max_steps=steps,
                       batch_size=BATCH, accumulation=accumulation, logging_steps=1, save_steps=100)
    proc = subprocess.run(_torchrun(cfg), cwd=REPO_ROOT, env=train_env(), capture_output=True, text=True,
                          timeout=300)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]

    s = json.loads((out / "training_summary.json").read_text())
    assert s["world_size"] == WORLD and s["distributed_backend"] == "gloo"
    assert s["per_device_batch_size"] == BATCH and s["gradient_accumulation_steps"] == accumulation
    assert s["global_batch_size"] == BATCH * accumulation * WORLD == 8
    assert s["global_step"] == steps

    # both ranks stepped: each ran every micro-batch of every optimizer step on its own shard
    assert [r["rank"] for r in s["ranks"]] == [0, 1]
    assert [r["device"] for r in s["ranks"]] == ["cpu", "cpu"]
    assert [r["micro_steps"] for r in s["ranks"]] == [steps * accumulation] * WORLD
    assert all(r["real_tokens"] > r["supervised_tokens"] > 0 for r in s["ranks"])
    assert s["real_tokens_trained"] == sum(r["real_tokens"] for r in s["ranks"])
    # the data was split, not repeated: an epoch is ceil(rows / (batch * world)) micro-batches per rank
    batches_per_epoch = math.ceil(s["train_rows"] / (BATCH * WORLD))
    assert s["epoch"] == steps / math.ceil(batches_per_epoch / accumulation)
    # trl counts tokens over all ranks (gathered) in its own logs; it agrees with the per-rank sums
    state = json.loads((find_resume_checkpoint(out) / "trainer_state.json").read_text())
    assert [e["num_tokens"] for e in state["log_history"] if "num_tokens" in e][-1] == s["real_tokens_trained"]

    # the loss falls
    assert s["loss_steps"] == list(range(1, steps + 1))
    assert s["losses"][-1] < 0.8 * s["losses"][0], s["losses"]

    # rank 0 alone wrote: one adapter beside the summary (checkpoints are the Trainer's own), one result
    adapters = sorted(p.parent.name for p in out.rglob("adapter_model.safetensors")
                      if not p.parent.name.startswith("checkpoint-"))
    assert adapters == [out.name]
    assert (out / "loss_curve.png").is_file() and (out / "adapter_config.json").is_file()
    assert log.count("wrote the adapter and summary") == 1
    assert f"[rank 0/{WORLD}]" in log and f"rank 0 of {WORLD} wrote" in log
    assert proc.stdout.count('"output_dir"') == 1
    result = proc.stdout[proc.stdout.index('{\n  "output_dir"'):]  # after the Trainer's own log dicts
    assert json.loads(result)["world_size"] == WORLD
    # the replica is quiet: nothing below a warning from rank 1
    assert not [line for line in log.splitlines() if line.startswith(f"[rank 1/{WORLD}]") and " INFO " in line]


def test_torchrun_kill_then_resume_continues_on_both_ranks(tiny_qwen, alpaca_file, tmp_path):
    out = tmp_path / "out"
    max_steps = 12
    cfg = write_config(tmp_path / "c.toml", tiny_qwen, alpaca_file, out, max_steps=max_steps,
                       batch_size=BATCH, accumulation=1, logging_steps=1, save_steps=3)
    checkpoint, killed_at, first_losses = kill_at_checkpoint(_torchrun(cfg), out, tmp_path / "first.log",
                                                             _kill_tree)
    assert 3 <= killed_at < max_steps

    second = subprocess.run(_torchrun(cfg), cwd=REPO_ROOT, env=train_env(), capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, (second.stdout + second.stderr)[-4000:]
    s = json.loads((out / "training_summary.json").read_text())
    assert s["world_size"] == WORLD
    assert s["resumed_from_checkpoint"] == str(checkpoint)
    assert s["global_step"] == max_steps
    # each rank ran only the remaining steps
    assert s["optimizer_steps_this_run"] == max_steps - killed_at
    assert [r["micro_steps"] for r in s["ranks"]] == [max_steps - killed_at] * WORLD
    # one loss series across the kill
    assert s["loss_steps"] == list(range(1, max_steps + 1))
    assert s["losses"][: len(first_losses)] == first_losses


def test_accelerate_launch_with_a_config_file_runs_two_ranks(tiny_qwen, alpaca_file, tmp_path):
    """`accelerate launch --config_file` (distributed_type MULTI_GPU, 2 processes) on a CPU-only machine: gloo."""
    out = tmp_path / "out"
    steps = 4
    cfg = write_config(tmp_path / "c.toml", tiny_qwen, alpaca_file, out, max_steps=steps,
                       batch_size=BATCH, accumulation=1, logging_steps=1, save_steps=100)
    accelerate_cfg = tmp_path / "accelerate.yaml"
    accelerate_cfg.write_text(
        "compute_environment: LOCAL_MACHINE\ndistributed_type: MULTI_GPU\nnum_machines: 1\n"
        f"num_processes: {WORLD}\nmachine_rank: 0\ngpu_ids: all\nmixed_precision: 'no'\nuse_cpu: false\n"
    )
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(accelerate_cfg),
           "--main_process_port", "0",  # a free port
           "-m", "selfinstruct", "train", "--config", str(cfg)]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=train_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    s = json.loads((out / "training_summary.json").read_text())
    assert s["world_size"] == WORLD and s["distributed_backend"] == "gloo"
    assert s["global_batch_size"] == BATCH * WORLD
    assert [r["micro_steps"] for r in s["ranks"]] == [steps] * WORLD
    assert proc.stdout.count('"output_dir"') == 1
    assert (out / "adapter_model.safetensors").is_file()
