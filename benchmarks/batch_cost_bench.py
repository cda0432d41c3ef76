"""Benchmark: cost per 1,000 accepted instructions, online against the Batch API, on the simulated prices.

    .venv/bin/python benchmarks/batch_cost_bench.py                 # 1,000 instructions, seeds 1..3
    .venv/bin/python benchmarks/batch_cost_bench.py --target 300 --seeds 1

Each (mode, seed) runs ``selfinstruct generate`` as a real process against the
simulated endpoint on 127.0.0.1 (online: the completions route; batch: the Files
and Batches routes, every stage in batches) with the same ``[prices."sim"]``
table: the online prices of gpt-4o-mini (0.15 / 0.60 USD per 1M tokens) and no
``batch_input``/``batch_output``, so the batch prices are the default half.
What is compared is what each run's stats.json says it cost, divided by the
instructions it accepted. The simulated LM's token counts stand in for a real
model's: the ratio is the finding, the absolute dollars are not.
Results go to benchmarks/results/batch_cost.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))

PRICES = {"input": 0.15, "output": 0.60}


def one_run(url: str, mode: str, target: int, seed: int, work: Path) -> dict:
    run = work / f"{mode}-{seed}"
    config = work / f"{mode}-{seed}.toml"
    config.write_text(f'[prices.sim]\ninput = {PRICES["input"]}\noutput = {PRICES["output"]}\n')
    args = [sys.executable, "-m", "selfinstruct", "generate", "--out", str(run), "--api-base", url, "--model", "sim",
            "--num-instructions", str(target), "--seed", str(seed), "--config", str(config), "--mode", mode]
    if mode == "batch":
        args += ["--batch-poll-interval", "0.05"]
    t0 = time.perf_counter()
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{mode} seed {seed} exited {proc.returncode}: {proc.stderr[-2000:]}")
    stats = json.loads((run / "stats.json").read_text())
    accepted = stats["accepted_instructions"]
    cost = stats["cost_usd_estimate"]
    return {"mode": mode, "seed": seed, "accepted": accepted, "wall_s": round(wall, 2),
            "prompt_tokens": stats["prompt_tokens"] + stats.get("batch_prompt_tokens", 0),
            "completion_tokens": stats["completion_tokens"] + stats.get("batch_completion_tokens", 0),
            "cost_usd": cost, "cost_online_equivalent_usd": stats.get("cost_online_equivalent_usd", cost),
            "usd_per_1000_accepted": round(cost / accepted * 1000, 6),
            "online_calls": stats["calls"], "batches": len(stats.get("batches") or [])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", type=int, default=1000)
    parser.add_argument("--seeds", default="1,2,3")
    args = parser.parse_args()
    from workers.simulated import SimConfig, start_in_thread

    seeds = [int(s) for s in args.seeds.split(",")]
    rows = []
    with start_in_thread(SimConfig(batch_seconds=0.1)) as server, tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            for mode in ("online", "batch"):
                rows.append(one_run(server.url, mode, args.target, seed, Path(tmp)))
                print(json.dumps(rows[-1]), file=sys.stderr)
    summary = {}
    for mode in ("online", "batch"):
        per = [r["usd_per_1000_accepted"] for r in rows if r["mode"] == mode]
        summary[mode] = round(sum(per) / len(per), 6)
    summary["batch_over_online"] = round(summary["batch"] / summary["online"], 4)
    command = "python benchmarks/batch_cost_bench.py" + (f" --target {args.target}" if args.target != 1000 else "") \
        + (f" --seeds {args.seeds}" if args.seeds != "1,2,3" else "")
    result = {"command": command, "target": args.target, "prices_usd_per_1m": PRICES,
              "batch_prices_usd_per_1m": {k: v / 2 for k, v in PRICES.items()}, "runs": rows, "summary": summary,
              "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                          "loadavg": [round(x, 2) for x in os.getloadavg()]}}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "batch_cost.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Cost per 1,000 accepted instructions: online vs the Batch API (simulated endpoint)", "",
        f"Command: `{command}`", "",
        f"Prices: online {PRICES['input']} / {PRICES['output']} USD per 1M input/output tokens (gpt-4o-mini's), "
        f"batch the default half. Target {args.target} instructions per run; seeds {args.seeds}. "
        f"Load average at the end: {result['machine']['loadavg']}.", "",
        "| mode | seed | accepted | prompt tokens | completion tokens | cost USD | USD / 1,000 accepted | "
        "online calls | batches | wall s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['mode']} | {r['seed']} | {r['accepted']} | {r['prompt_tokens']} | "
                     f"{r['completion_tokens']} | {r['cost_usd']:.6f} | {r['usd_per_1000_accepted']:.6f} | "
                     f"{r['online_calls']} | {r['batches']} | {r['wall_s']} |")
    lines += ["", f"Mean USD per 1,000 accepted: online {summary['online']:.6f}, batch {summary['batch']:.6f} "
                  f"(batch / online = {summary['batch_over_online']}).", "",
              "Caveats: the simulated LM's tokens stand in for a real model's, so the absolute dollars are not a "
              "forecast; the ratio is. The batch runs sample their prompts from pools that grow in rounds rather "
              "than one answer at a time, so their token counts differ a little from the online runs'. Wall time "
              "here is the simulator's (batches complete in 0.1 s); a real batch takes up to its 24 h window.", ""]
    (RESULTS / "batch_cost.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
