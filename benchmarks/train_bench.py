"""Training throughput: the seed notebook's QLoRA setup against ours, on the same model, data and hardware.

    seed: no packing (rows padded to the longest in the batch), loss on the whole
          sequence, LoRA r=8 on q/k/v/o, sdpa attention
    ours: best-fit-decreasing packing (padding-free), loss on the answer only,
          LoRA r=16 on all linear projections, flash-attention-2 if installed else sdpa

Both load the base in nf4 with double quantisation and use gradient
checkpointing, through the same code path as `selfinstruct train`
(selfinstruct.train.trainer.prepare_run).

The model is Qwen2.5-0.5B-Instruct's exact architecture (hidden 896, 14 heads /
2 KV heads, intermediate 4864, vocab 151936, tied embeddings) with random
weights: throughput depends on the shapes, not the values, so it is measured
faithfully without downloading the checkpoint. On CPU ``--layers`` reduces the
depth (24 by default on GPU) to keep the run short; the results say so.

Tokens/s counts *real* tokens (padding excluded) per second of training step
time, and separately the *supervised* tokens (labels != -100). Token ids come
from the offline BPE of tests/tiny_qwen.py (vocab 1024): it cuts texts into
more tokens than Qwen's 151k-vocabulary tokenizer would, so sequences are
longer than with the real tokenizer, for both setups alike.

Each setup runs in its own subprocess, so peak memory is its own (CUDA:
torch.cuda.max_memory_allocated; CPU: peak RSS of the process).

    python benchmarks/train_bench.py --device cpu --layers 4 --max-length 256 --steps 4
    python benchmarks/train_bench.py --device cuda            # 24 layers, 1024 tokens
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

QWEN25_05B = dict(
    hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
    num_key_value_heads=2, vocab_size=151936, max_position_embeddings=32768, rope_theta=1000000.0,
    rms_norm_eps=1e-6, tie_word_embeddings=True, hidden_act="silu",
)
SETUPS = {
    "seed": {"lora.r": 8, "lora.alpha": 16, "lora.target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"],
             "training.packing": False, "training.completion_only_loss": False},
    # ablation: the seed's LoRA with our data pipeline, to separate the packing
    # gain from the extra cost of adapting every projection
    "seed-lora+packing": {"lora.r": 8, "lora.alpha": 16, "lora.target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"],
                          "training.packing": True, "training.completion_only_loss": True},
    "ours": {"lora.r": 16, "lora.alpha": 32, "lora.target_modules": "all-linear",
             "training.packing": True, "training.completion_only_loss": True},
}


def seed_task_records(path: Path) -> list[dict[str, str]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            task = json.loads(line)
            for inst in task["instances"]:
                rows.append({"instruction": task["instruction"], "input": inst.get("input", ""),
                             "output": inst.get("output", "")})
    return rows


def build_model_dir(root: Path, layers: int) -> Path:
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    from tiny_qwen import build_tiny_qwen

    tok_dir = build_tiny_qwen(root / "tok")
    tokenizer = AutoTokenizer.from_pretrained(tok_dir)
    model_dir = root / "qwen2.5-0.5b-random"
    config = Qwen2Config(**{**QWEN25_05B, "num_hidden_layers": layers},
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    Qwen2ForCausalLM(config).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    return model_dir


def run_one(args: argparse.Namespace) -> dict:
    """One setup, in this process: train warmup + measured steps, report throughput and memory."""
    import torch
    from transformers import TrainerCallback

    from selfinstruct.train.config import load_train_config
    from selfinstruct.train.trainer import prepare_run

    torch.set_num_threads(args.threads)
    setup = SETUPS[args.run_one]
    attn = args.attn
    if args.run_one == "ours" and args.device == "cuda" and attn == "sdpa":
        try:
            import flash_attn  # noqa: F401

            attn = "flash_attention_2"
        except ImportError:
            pass
    overrides = {
        "model.name": args.model_dir, "model.attn_implementation": attn, "data.path": args.data_file,
        "data.eval_fraction": 0.0, "data.max_rows": args.max_rows,
        "training.output_dir": str(Path(args.work) / f"out-{args.run_one}"), "training.resume": False,
        "training.max_steps": args.warmup + args.steps, "training.batch_size": args.batch_size,
        "training.gradient_accumulation_steps": 1, "training.max_length": args.max_length,
        "training.save_steps": 10_000, "training.logging_steps": 1, "training.warmup_ratio": 0.0,
        "training.learning_rate": 1e-4, "lora.dropout": 0.05, **setup,
    }
    marks: dict[str, float] = {}

    class Clock(TrainerCallback):
        # measure from the end of the warmup steps to the end of the last step
        def on_step_end(self, _args, state, control, **kw):
            if args.device == "cuda":
                torch.cuda.synchronize()
            if state.global_step == args.warmup:
                marks["t0"] = time.perf_counter()
                marks["real0"], marks["sup0"] = trainer.real_tokens, trainer.supervised_tokens
                marks["padded0"] = padded["n"]
                if args.device == "cuda":
                    torch.cuda.reset_peak_memory_stats()
            marks["t1"] = time.perf_counter()

    run = prepare_run(load_train_config(None, overrides), device="cuda:0" if args.device == "cuda" else "cpu",
                      callbacks=[Clock()])
    trainer = run.trainer
    padded = {"n": 0}
    step = trainer.training_step

    def counting_step(model, inputs, num_items_in_batch=None):
        padded["n"] += int(inputs["input_ids"].numel())
        return step(model, inputs, num_items_in_batch)

    trainer.training_step = counting_step
    trainer.train()
    seconds = marks["t1"] - marks["t0"]
    real = trainer.real_tokens - marks["real0"]
    supervised = trainer.supervised_tokens - marks["sup0"]
    processed = padded["n"] - marks["padded0"]
    if args.device == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
        peak_kind = "torch.cuda.max_memory_allocated"
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        peak_kind = "peak RSS of the process"
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    return {
        "setup": args.run_one, "attn_implementation": attn, "lora_r": setup["lora.r"],
        "lora_targets": setup["lora.target_modules"], "packing": setup["training.packing"],
        "completion_only_loss": setup["training.completion_only_loss"], "trainable_params": trainable,
        "quantization": run.quantization, "compute_dtype": run.compute_dtype,
        "measured_steps": args.steps, "seconds": round(seconds, 3),
        "real_tokens": real, "supervised_tokens": supervised, "tokens_incl_padding": processed,
        "padding_fraction": round(1 - real / processed, 4) if processed else None,
        "tokens_per_second": round(real / seconds, 2), "supervised_tokens_per_second": round(supervised / seconds, 2),
        "peak_memory_mib": round(peak, 1), "peak_memory_kind": peak_kind,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--layers", type=int, default=None, help="decoder layers (default: 24 on cuda, 4 on cpu)")
    parser.add_argument("--max-length", type=int, default=None, help="default: 1024 on cuda, 256 on cpu")
    parser.add_argument("--batch-size", type=int, default=None, help="rows per step (default: 8 cuda, 4 cpu)")
    parser.add_argument("--steps", type=int, default=None, help="measured steps (default: 20 cuda, 4 cpu)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    parser.add_argument("--max-rows", type=int, default=0, help="use at most this many examples (0: all)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--attn", default="sdpa")
    parser.add_argument("--data", default=str(REPO / "data" / "seed_tasks.jsonl"),
                        help="seed_tasks.jsonl (its instances are used) or any file/run dir `train` reads")
    parser.add_argument("--out", default=None, help="results stem (default: benchmarks/results/train_bench_<device>)")
    parser.add_argument("--run-one", choices=list(SETUPS), help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", help=argparse.SUPPRESS)
    parser.add_argument("--data-file", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    cuda = args.device == "cuda"
    args.layers = args.layers or (24 if cuda else 4)
    args.max_length = args.max_length or (1024 if cuda else 256)
    args.batch_size = args.batch_size or (8 if cuda else 4)
    args.steps = args.steps or (20 if cuda else 4)

    if args.run_one:
        print(json.dumps(run_one(args)))
        return

    command = "python benchmarks/train_bench.py " + shlex.join(sys.argv[1:])
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = Path(args.data)
        if data.name == "seed_tasks.jsonl":
            data_file = work / "seed_instances.jsonl"
            data_file.write_text("".join(json.dumps(r) + "\n" for r in seed_task_records(data)))
        else:
            data_file = data
        model_dir = build_model_dir(work, args.layers)
        results = []
        for name in SETUPS:
            cmd = [sys.executable, __file__, *sys.argv[1:], "--run-one", name, "--model-dir", str(model_dir),
                   "--data-file", str(data_file), "--work", str(work)]
            env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
            if proc.returncode != 0:
                sys.exit(f"{name} failed:\n{proc.stderr[-4000:]}")
            results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(json.dumps(results[-1]), flush=True)

    by_name = {r["setup"]: r for r in results}
    seed, ours = by_name["seed"], by_name["ours"]
    report = {
        "command": command,
        "device": args.device,
        "machine": f"{platform.machine()} {os.cpu_count()} cpu(s), torch threads {args.threads}",
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "model": f"Qwen2.5-0.5B-Instruct architecture, random weights, {args.layers} of 24 layers",
        "max_length": args.max_length, "batch_size": args.batch_size, "measured_steps": args.steps,
        "data": str(args.data),
        "results": results,
        "speedup_tokens_per_second": round(ours["tokens_per_second"] / seed["tokens_per_second"], 3),
        "ratios_vs_seed": {r["setup"]: round(r["tokens_per_second"] / seed["tokens_per_second"], 3) for r in results},
        "speedup_supervised_tokens_per_second": round(
            ours["supervised_tokens_per_second"] / seed["supervised_tokens_per_second"], 3),
    }
    stem = Path(args.out) if args.out else REPO / "benchmarks" / "results" / f"train_bench_{args.device}"
    write_report(stem, report, to_markdown(report))


def write_report(stem: Path, report: dict, markdown: str) -> None:
    """``stem``.json (the figures) and ``stem``.md (the table); the table is printed too."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    stem.with_suffix(".md").write_text(markdown)
    print(markdown)


def to_markdown(r: dict) -> str:
    rows = "\n".join(
        f"| {x['setup']} | {'yes' if x['packing'] else 'no'} | {'answer' if x['completion_only_loss'] else 'all'} "
        f"| r={x['lora_r']} {x['lora_targets'] if isinstance(x['lora_targets'], str) else '/'.join(t[0] for t in x['lora_targets'])} "
        f"| {x['attn_implementation']} | {x['padding_fraction']:.1%} | {x['tokens_per_second']:.1f} "
        f"| {x['supervised_tokens_per_second']:.1f} | {x['peak_memory_mib']:.0f} |"
        for x in r["results"]
    )
    return f"""# Training throughput: seed setup vs ours ({r['device']})

Command: `{r['command']}`

- Model: {r['model']} (throughput depends on shapes, not weights; nf4 double-quant base, gradient checkpointing).
- Machine: {r['machine']} (load average {r['load_average_at_end']} at the end: other jobs shared the CPU). max_length {r['max_length']}, batch {r['batch_size']} rows, {r['measured_steps']} timed steps after 1 warmup step.
- Data: instances of {r['data']}, rendered with the chat template through `selfinstruct.train`.
- Token ids from the offline 1024-token BPE of tests/tiny_qwen.py (more tokens per text than Qwen's tokenizer; same for both setups).
- tokens/s = real (non-pad) tokens per second of step time; supervised = tokens with a label (seed: every real token; ours: answer tokens only).
- Peak memory: {r['results'][0]['peak_memory_kind']}.

| setup | packing | loss on | LoRA | attention | padding | tokens/s | supervised tokens/s | peak MiB |
|---|---|---|---|---|---|---|---|---|
{rows}

Real tokens/s relative to the seed setup: {', '.join(f"{k} {v}x" for k, v in r['ratios_vs_seed'].items())}.
Ours / seed: **{r['speedup_tokens_per_second']}x** real tokens/s, **{r['speedup_supervised_tokens_per_second']}x** supervised tokens/s.
Note the seed supervises the prompt too, so its supervised tokens/s counts tokens that teach the model to echo prompts.
"""


if __name__ == "__main__":
    main()
