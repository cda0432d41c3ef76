"""Data-parallel QLoRA on CPU: one process against `torchrun --nproc_per_node 2`, through `selfinstruct train`.

Each run is the real command line in a subprocess, on the same model, data and
per-device batch:

    1 process x 1 thread     python -m selfinstruct train ...            (OMP_NUM_THREADS=1)
    1 process x 2 threads    python -m selfinstruct train ...            (OMP_NUM_THREADS=2)
    2 processes x 1 thread   torchrun --standalone --nproc_per_node 2 -m selfinstruct train ...  (gloo)

Two processes double the global batch (per-device batch x world size), so the
comparison is examples per second of training (global_step x global_batch_size
/ train_seconds from training_summary.json), plus the whole command's wall time
(imports, model load and data preparation included, once per process).
Packing is off, so a row is one example. The model is train_bench.py's
Qwen2.5-0.5B-shaped random model with fewer layers.

    python benchmarks/train_ddp_bench.py --layers 2 --steps 8
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from train_bench import build_model_dir, seed_task_records, write_report  # noqa: E402

RUNS = [  # (name, processes, torch threads per process)
    ("1 process x 1 thread", 1, 1),
    ("1 process x 2 threads", 1, 2),
    ("torchrun 2 processes x 1 thread", 2, 1),
]


def write_config(path: Path, model: Path, data: Path, out: Path, args: argparse.Namespace) -> Path:
    path.write_text(f"""
[model]
name = "{model}"
[data]
path = "{data}"
eval_fraction = 0.0
[training]
output_dir = "{out}"
resume = false
max_steps = {args.steps}
batch_size = {args.batch_size}
gradient_accumulation_steps = 1
max_length = {args.max_length}
packing = false
warmup_ratio = 0.0
logging_steps = 1
save_steps = 100000
""")
    return path


def run(name: str, processes: int, threads: int, config: Path, out: Path) -> dict:
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
                if processes > 1 else [sys.executable])
    cmd = [*launcher, "-m", "selfinstruct", "train", "--config", str(config)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(REPO)}
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"{name} failed:\n{proc.stderr[-4000:]}")
    s = json.loads((out / "training_summary.json").read_text())
    examples = s["global_step"] * s["global_batch_size"]
    return {
        # as a user types it: torchrun is `python -m torch.distributed.run`
        "run": name, "command": shlex.join([f"OMP_NUM_THREADS={threads}", "torchrun" if processes > 1 else "python",
                                            *cmd[3 if processes > 1 else 1:]]),
        "world_size": s["world_size"], "distributed_backend": s["distributed_backend"],
        "torch_threads": s["torch_threads"], "per_device_batch_size": s["per_device_batch_size"],
        "global_batch_size": s["global_batch_size"], "steps": s["global_step"], "examples": examples,
        "train_seconds": s["train_seconds"], "wall_seconds": round(wall, 2),
        "examples_per_second": round(examples / s["train_seconds"], 3),
        "tokens_per_second": round(s["tokens_per_second"], 1),
        "first_loss": s["losses"][0], "final_loss": s["losses"][-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=2, help="decoder layers of the 0.5B-shaped model")
    parser.add_argument("--steps", type=int, default=8, help="optimizer steps per run")
    parser.add_argument("--batch-size", type=int, default=2, help="rows per device per step")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "train_ddp_bench_cpu"),
                        help="results stem (.json and .md)")
    args = parser.parse_args()
    command = "python benchmarks/train_ddp_bench.py " + shlex.join(sys.argv[1:])
    load_before = [round(x, 2) for x in os.getloadavg()]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = work / "seed_instances.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in seed_task_records(REPO / "data" / "seed_tasks.jsonl")))
        model = build_model_dir(work, args.layers)
        for i, (name, processes, threads) in enumerate(RUNS):
            out = work / f"out-{i}"
            results.append(run(name, processes, threads, write_config(work / f"c{i}.toml", model, data, out, args), out))
            print(json.dumps(results[-1]), flush=True)
    base = results[0]["examples_per_second"]
    report = {
        "command": command,
        "machine": f"{platform.machine()} {os.cpu_count()} cpu(s)",
        "load_average_before": load_before,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "model": f"Qwen2.5-0.5B-Instruct shape, random weights, {args.layers} of 24 layers, nf4",
        "max_length": args.max_length, "steps": args.steps,
        "results": results,
        "examples_per_second_vs_1x1": {r["run"]: round(r["examples_per_second"] / base, 3) for r in results},
    }
    stem = Path(args.out)
    write_report(stem, report, to_markdown(report))


def to_markdown(r: dict) -> str:
    rows = "\n".join(
        f"| {x['run']} | {x['world_size']} | {x['distributed_backend'] or '-'} | {x['global_batch_size']} "
        f"| {x['examples_per_second']:.2f} | {r['examples_per_second_vs_1x1'][x['run']]:.2f}x "
        f"| {x['tokens_per_second']:.0f} | {x['train_seconds']:.1f} | {x['wall_seconds']:.1f} "
        f"| {x['first_loss']:.2f} -> {x['final_loss']:.2f} |"
        for x in r["results"]
    )
    commands = "\n".join(f"- {x['run']}: `{x['command']}`" for x in r["results"])
    return f"""# Data-parallel QLoRA on CPU: 1 process vs torchrun with 2 processes

Command: `{r['command']}`

- Model: {r['model']}; max_length {r['max_length']}, {r['steps']} optimizer steps, no packing (a row is an example).
- Machine: {r['machine']}; load average {r['load_average_before']} before, {r['load_average_after']} after
  (other jobs shared the 2 cores, so read ratios, not absolute figures).
- examples/s = global_step x global_batch_size / train_seconds (the Trainer's loop, first step included);
  wall = the whole command (imports, model load, data preparation in every process).

| run | world_size | backend | global batch | examples/s | vs 1x1 | tokens/s | train s | wall s | loss |
|---|---|---|---|---|---|---|---|---|---|
{rows}

The runs, as launched (config in a temporary directory):
{commands}
"""


if __name__ == "__main__":
    main()
