"""Benchmark of ``selfinstruct dedup``, whole-process: wall time, peak RSS, cost per item over the run, Ray vs one node.

    .venv/bin/python benchmarks/dedup_bench.py                 # the issue-15 targets (about 20 min on 2 cores)
    .venv/bin/python benchmarks/dedup_bench.py --sizes 200000 --speedup-size 2000 --ray-sizes 200000

Each size is one ``python -m selfinstruct dedup IN --out OUT --seeds data/seed_tasks.jsonl --stats S``
subprocess, timed from start to exit, as a user runs it; its peak RSS is the child's own
(``wait4``).  The input is ``benchmarks/synthetic.py``'s ``instruction_stream`` (seed 2024) written
as JSONL beforehand (not timed).  The same stream was filtered by the previous (MinHash-LSH) filter
for benchmarks/results/dedup*.md, so its kept counts are a cross-check of the decisions.

``--speedup-size`` runs the original Self-Instruct loop (rouge_score against every kept text, per
candidate) and the new engine on the same items in this process, and compares decisions with it and
with ExactRougeFilter.  ``--ray-sizes`` runs the same command with ``--ray`` (a local cluster with
all cores) and samples the RSS of the driver and of every Ray process it started (one node here).
Results: benchmarks/results/dedup.{md,json}, with the load average: other jobs share this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SEEDS = ROOT / "data" / "seed_tasks.jsonl"
# Kept counts of the previous MinHash-LSH filter on the same streams (benchmarks/results/dedup*.md, before
# issue 15): the exact engine must agree.
PREVIOUS_KEPT = {1_000: 896, 10_000: 8_657, 100_000: 84_176, 200_000: 166_316, 1_000_000: 804_222}


def _texts(path: Path) -> list[str]:
    return [json.loads(line)["instruction"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _stream(n: int) -> list[str]:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from synthetic import instruction_stream

    base = _texts(SEEDS) + _texts(ROOT / "data" / "human_eval" / "user_oriented_instructions.jsonl")
    return list(instruction_stream(base, n, seed=2024))


def _tree_rss_mb(pid: int) -> tuple[float, float]:
    """(RSS of the process, RSS of it and all its descendants) in MB."""
    import psutil

    try:
        proc = psutil.Process(pid)
        own = proc.memory_info().rss
        total = own + sum(c.memory_info().rss for c in proc.children(recursive=True) if c.is_running())
    except psutil.Error:
        return 0.0, 0.0
    return own / 2**20, total / 2**20


def run_cli(n: int, workdir: Path, *, ray: bool = False) -> dict:
    src = workdir / f"in_{n}.jsonl"
    if not src.exists():
        src.write_text("".join(json.dumps({"instruction": t}) + "\n" for t in _stream(n)), encoding="utf-8")
    out, stats = workdir / "out.jsonl", workdir / "stats.json"
    argv = [sys.executable, "-m", "selfinstruct", "dedup", str(src), "--out", str(out), "--seeds", str(SEEDS),
            "--stats", str(stats)] + (["--ray"] if ray else [])
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_USAGE_STATS_ENABLED": "0"}
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peaks = {"driver": 0.0, "tree": 0.0}
    done = threading.Event()

    def sample() -> None:  # Ray's raylet and workers are the driver's descendants on a local cluster
        while not done.wait(0.5):
            own, tree = _tree_rss_mb(proc.pid)
            peaks["driver"], peaks["tree"] = max(peaks["driver"], own), max(peaks["tree"], tree)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    done.set()
    sampler.join()
    err = proc.stderr.read().decode() if proc.stderr else ""
    if status != 0:
        raise SystemExit(f"dedup failed (status {status}): {err[-2000:]}")
    report = json.loads(stats.read_text())
    row = {"n": n, "engine": "ray" if ray else "prefix", "wall_s": wall, "load_average_1m_at_start": load,
           "peak_rss_mb": usage.ru_maxrss / 1024, "cpu_s": usage.ru_utime + usage.ru_stime,
           "sampled_driver_rss_mb": peaks["driver"], "sampled_all_processes_rss_mb": peaks["tree"],
           "kept": report["kept"], "previous_lsh_kept": PREVIOUS_KEPT.get(n), "filter_s": report["seconds"]}
    method = report["dedup_method"]
    if "chunk_seconds" in method:
        chunks = method["chunk_seconds"]
        first = sum(chunks[:5]) / max(1, len(chunks[:5]))  # chunks are 20,000 texts: 5 = the first 100k
        last = sum(chunks[-5:]) / max(1, len(chunks[-5:]))
        row.update(candidates=method["candidates"], edges=method["edges"], chunk_seconds=chunks,
                   cost_ratio_last_to_first_100k=last / first if first else None)
    print(json.dumps({k: v for k, v in row.items() if k != "chunk_seconds"}), file=sys.stderr)
    return row


def speedup(n: int) -> dict:
    """The original loop vs the new engine and the brute-force filter, in this process, same items."""
    from rouge_score import rouge_scorer

    from selfinstruct.dedup import ExactRougeFilter
    from selfinstruct.dedup.greedy import greedy_dedup

    seeds, stream = _texts(SEEDS), _stream(n)
    t = time.perf_counter()
    result = greedy_dedup(stream, seeds=seeds)
    t_new = time.perf_counter() - t
    exact = ExactRougeFilter()
    t = time.perf_counter()
    exact.add_many(seeds)
    want = [d.keep for d in exact.check_and_add_many(stream)]
    t_exact = time.perf_counter() - t
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    pool, original = list(seeds), []
    t = time.perf_counter()
    for text in stream:  # bootstrap_instructions.py's loop, without its process pool
        best = max((scorer.score(text, p)["rougeL"].fmeasure for p in pool), default=0.0)
        original.append(not best > 0.7)
        if original[-1]:
            pool.append(text)
    t_orig = time.perf_counter() - t
    keep = result.keep.tolist()
    row = {"n": n, "rouge_score_loop_s": t_orig, "exact_filter_s": t_exact, "prefix_engine_s": t_new,
           "speedup": t_orig / t_new, "differences_vs_loop": sum(a != b for a, b in zip(keep, original)),
           "differences_vs_exact_filter": sum(a != b for a, b in zip(keep, want)), "kept": sum(keep)}
    print(json.dumps(row), file=sys.stderr)
    return row


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="2000,200000,1000000", help="whole-process sizes (single node)")
    p.add_argument("--speedup-size", type=int, default=2000, help="items for the rouge_score-loop comparison (0: skip)")
    p.add_argument("--ray-sizes", default="200000", help="whole-process sizes with --ray ('' to skip)")
    p.add_argument("--out", default=str(RESULTS / "dedup"), help="results path without extension")
    args = p.parse_args()
    command = "python benchmarks/dedup_bench.py " + " ".join(sys.argv[1:])
    result: dict = {"command": command.strip(), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                    "load_average_at_start": os.getloadavg(), "sizes": [], "ray": [], "speedup": None}
    with tempfile.TemporaryDirectory(prefix="dedup-bench-") as tmp:
        for n in [int(x) for x in args.sizes.split(",") if x]:
            result["sizes"].append(run_cli(n, Path(tmp)))
        for n in [int(x) for x in args.ray_sizes.split(",") if x]:
            result["ray"].append(run_cli(n, Path(tmp), ray=True))
    if args.speedup_size:
        result["speedup"] = speedup(args.speedup_size)
    result["load_average_at_end"] = os.getloadavg()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    out.with_suffix(".md").write_text(render(result))
    print(render(result))
    return 0


def render(r: dict) -> str:
    lines = ["# Near-duplicate filter benchmark (`selfinstruct dedup`, whole process)", "",
             f"Command: `{r['command']}`  ",
             f"Machine: {r['machine']}; load average at start {r['load_average_at_start'][0]:.1f}, at end "
             f"{r['load_average_at_end'][0]:.1f}. Other jobs share this machine: a run whose load average "
             "at start is above the core count is noisy (wall time inflated; CPU s is less affected).", "",
             "| engine | items | wall s | CPU s | peak RSS MB (driver) | all processes MB (sampled) | kept "
             "| kept by the previous LSH filter | load at start | cost/item, last 100k vs first 100k |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s in r["sizes"] + r["ray"]:
        ratio = s.get("cost_ratio_last_to_first_100k")
        lines.append(f"| {s['engine']} | {s['n']:,} | {s['wall_s']:.1f} | {s['cpu_s']:.1f} | {s['peak_rss_mb']:,.0f} | "
                     f"{s['sampled_all_processes_rss_mb']:,.0f} | {s['kept']:,} | "
                     f"{'-' if s['previous_lsh_kept'] is None else format(s['previous_lsh_kept'], ',')} | "
                     f"{s['load_average_1m_at_start']:.1f} | {'-' if ratio is None else f'{ratio:.2f}x'} |")
    for s in r["sizes"]:
        if s.get("chunk_seconds") and len(s["chunk_seconds"]) > 1:
            lines += ["", f"Seconds per chunk of 20,000 texts at {s['n']:,}: "
                      + " ".join(f"{x:.1f}" for x in s["chunk_seconds"])]
    if r["speedup"]:
        s = r["speedup"]
        lines += ["", f"## Against the original loop ({s['n']:,} items, in one process)", "",
                  "| rouge_score loop s | ExactRougeFilter s | prefix engine s | speed-up | decision differences "
                  "(vs loop / vs ExactRougeFilter) |", "|---:|---:|---:|---:|---|",
                  f"| {s['rouge_score_loop_s']:.1f} | {s['exact_filter_s']:.2f} | {s['prefix_engine_s']:.3f} | "
                  f"{s['speedup']:.0f}x | {s['differences_vs_loop']} / {s['differences_vs_exact_filter']} |"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
