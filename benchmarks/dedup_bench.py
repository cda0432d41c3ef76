"""Benchmark of the near-duplicate filter: cost per item vs pool size, speed-up, recall, memory.

    .venv/bin/python benchmarks/dedup_bench.py                       # 1k, 10k, 100k (CI-sized: never run in CI)
    .venv/bin/python benchmarks/dedup_bench.py --sizes 1000,10000,100000,200000,1000000

Every size runs in a fresh subprocess so its peak RSS is its own.  The stream is
``benchmarks/synthetic.py``'s ``instruction_stream`` over the seed and evaluation
tasks (function words and sentence shapes of real instructions, new content
words, 10 % mutated near-duplicates, 5 % template fill-ins), with the 175 seed
tasks pre-loaded as in the original.  Results go to benchmarks/results/dedup.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _texts(path: Path) -> list[str]:
    return [json.loads(line)["instruction"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _data() -> tuple[list[str], list[str]]:
    seeds = _texts(ROOT / "data" / "seed_tasks.jsonl")
    return seeds, seeds + _texts(ROOT / "data" / "human_eval" / "user_oriented_instructions.jsonl")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one_size(n: int, exact_max: int) -> dict:
    """Filter n synthetic items with the fast filter (and the exact one, in lock-step, when n <= exact_max)."""
    from selfinstruct.dedup import ExactRougeFilter, NearDuplicateFilter
    from selfinstruct.dedup.filters import pair_recall
    from synthetic import instruction_stream  # benchmarks/synthetic.py, next to this script

    seeds, base = _data()
    stream = list(instruction_stream(base, n, seed=2024))
    rss_before = _peak_rss_mb()
    fast = NearDuplicateFilter()
    cpu0 = time.process_time()  # CPU time as well: other jobs on a shared machine inflate wall time
    t0 = time.perf_counter()
    fast.add_many(seeds)
    # Timed per tenth of the stream as well: a flat curve means a flat cost per item as the pool grows.
    # Decisions are counted, not kept: a pipeline consumes them as they come.
    kept, curve = 0, []
    tenth = max(1, n // 10)
    for i in range(0, n, tenth):
        t = time.perf_counter()
        kept += sum(d.keep for d in fast.check_and_add_many(stream[i:i + tenth]))
        curve.append((time.perf_counter() - t) / len(stream[i:i + tenth]) * 1e6)
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    out = {"n": n, "seconds": elapsed, "cpu_seconds": cpu, "cpu_us_per_item": cpu / n * 1e6, "us_per_item": elapsed / n * 1e6, "items_per_s": n / elapsed,
           "kept": kept, "peak_rss_mb": _peak_rss_mb(),
           "rss_before_filter_mb": rss_before, "index_mb": fast._index.nbytes / 2**20,
           "us_per_item_by_tenth": curve}
    del fast
    if n <= exact_max:
        exact, lsh = ExactRougeFilter(), NearDuplicateFilter()
        exact.add_many(seeds)
        lsh.add_many(seeds)
        differences = pairs_above = pairs_found = 0
        t_exact = 0.0
        for text in stream:
            above, hit = pair_recall(lsh, exact, text)
            pairs_above += above
            pairs_found += hit
            t = time.perf_counter()
            keep_exact = exact.check_and_add(text).keep
            t_exact += time.perf_counter() - t
            differences += keep_exact != lsh.check_and_add(text).keep
        out.update(exact_seconds=t_exact, decision_differences=differences, pairs_above_threshold=pairs_above,
                   pairs_found=pairs_found, pair_recall=pairs_found / pairs_above if pairs_above else 1.0)
    return out


def speedup(sizes: list[int]) -> list[dict]:
    """The original approach (rouge_score against every pool item, per candidate) vs both filters."""
    from rouge_score import rouge_scorer

    from selfinstruct.dedup import ExactRougeFilter, NearDuplicateFilter
    from synthetic import instruction_stream  # benchmarks/synthetic.py, next to this script

    seeds, base = _data()
    rows = []
    for n in sizes:
        stream = list(instruction_stream(base, n, seed=2024))
        scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
        pool = list(seeds)
        t = time.perf_counter()
        original = []
        for text in stream:  # bootstrap_instructions.py's loop, without its process pool
            best = max((scorer.score(text, p)["rougeL"].fmeasure for p in pool), default=0.0)
            original.append(not best > 0.7)
            if original[-1]:
                pool.append(text)
        t_orig = time.perf_counter() - t
        timings = {}
        for name, cls in (("exact", ExactRougeFilter), ("lsh", NearDuplicateFilter)):
            f = cls()
            t = time.perf_counter()
            f.add_many(seeds)
            keep = [d.keep for d in f.check_and_add_many(stream)]
            timings[name] = time.perf_counter() - t
            timings[name + "_differences"] = sum(a != b for a, b in zip(keep, original))
        rows.append({"n": n, "rouge_score_loop_s": t_orig, "exact_s": timings["exact"], "lsh_s": timings["lsh"],
                     "speedup_lsh": t_orig / timings["lsh"], "speedup_exact": t_orig / timings["exact"],
                     "lsh_differences": timings["lsh_differences"], "exact_differences": timings["exact_differences"]})
        print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def datasketch_memory(n: int) -> dict:
    """RSS of datasketch's own in-memory MinHashLSH with the same banding, to extrapolate to 1M items."""
    import numpy as np
    import xxhash
    from datasketch import LeanMinHash, MinHashLSH

    from selfinstruct.dedup import DedupConfig
    from selfinstruct.dedup.lsh import MinHasher
    from selfinstruct.rouge import Vocabulary
    from synthetic import instruction_stream  # benchmarks/synthetic.py, next to this script

    c = DedupConfig()
    _, base = _data()
    vocab = Vocabulary()
    sig = MinHasher(vocab, num_perm=c.num_perm, seed=c.seed).sketch_many(
        [vocab.encode(t) for t in instruction_stream(base, n, seed=1)])
    lsh = MinHashLSH(num_perm=c.num_perm, params=(c.bands, c.rows),
                     hashfunc=lambda b: xxhash.xxh32_intdigest(b))  # the bucket-key hashfunc option
    before = _current_rss_mb()
    for i, row in enumerate(sig):
        if row[0] != np.uint32(0xFFFFFFFF):
            lsh.insert(i, LeanMinHash(seed=c.seed, hashvalues=row, scheme="affine32"), check_duplication=False)
    per_item = (_current_rss_mb() - before) * 2**20 / n
    return {"n": n, "bytes_per_item": per_item, "extrapolated_1m_gb": per_item * 1e6 / 2**30}


def _current_rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1000,10000,100000", help="comma-separated stream sizes")
    p.add_argument("--exact-max", type=int, default=10000, help="largest size also run with the exact filter")
    p.add_argument("--speedup-sizes", default="500,1000,2000", help="sizes for the rouge_score-loop comparison")
    p.add_argument("--datasketch-memory", type=int, default=20000, help="items for datasketch's memory probe (0: skip)")
    p.add_argument("--one", type=int, help=argparse.SUPPRESS)
    p.add_argument("--out", default=str(RESULTS / "dedup"), help="results path without extension")
    args = p.parse_args()
    if args.one:
        print(json.dumps(one_size(args.one, args.exact_max)))
        return 0
    command = "python benchmarks/dedup_bench.py " + " ".join(sys.argv[1:])
    result: dict = {"command": command.strip(), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                    "load_average_at_start": os.getloadavg(), "sizes": [], "speedup": []}
    for n in [int(x) for x in args.sizes.split(",") if x]:
        proc = subprocess.run([sys.executable, __file__, "--one", str(n), "--exact-max", str(args.exact_max)],
                              capture_output=True, text=True, check=True)
        result["sizes"].append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(json.dumps(result["sizes"][-1]), file=sys.stderr)
    if args.speedup_sizes:
        result["speedup"] = speedup([int(x) for x in args.speedup_sizes.split(",") if x])
    if args.datasketch_memory:
        result["datasketch_memory"] = datasketch_memory(args.datasketch_memory)
    result["load_average_at_end"] = os.getloadavg()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    out.with_suffix(".md").write_text(render(result))
    print(render(result))
    return 0


def render(r: dict) -> str:
    lines = ["# Near-duplicate filter benchmark", "", f"Command: `{r['command']}`  ",
             f"Machine: {r['machine']}; load average at start {r['load_average_at_start'][0]:.1f}, "
             f"at end {r['load_average_at_end'][0]:.1f} (other jobs share the machine: compare ratios).", "",
             "## Cost per item as the pool grows (NearDuplicateFilter, 175 seeds pre-loaded)", "",
             "| items | kept | wall s | CPU s | CPU µs/item | items/s (wall) | wall µs/item by tenth of the stream | "
             "peak RSS MB | index MB | decision diffs vs exact | pair recall |",
             "|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|"]
    for s in r["sizes"]:
        exact = (f"{s['decision_differences']} | {s['pairs_found']}/{s['pairs_above_threshold']}"
                 if "decision_differences" in s else "not run | not run")
        lines.append(f"| {s['n']:,} | {s['kept']:,} | {s['seconds']:.1f} | {s['cpu_seconds']:.1f} | "
                     f"{s['cpu_us_per_item']:.0f} | {s['items_per_s']:,.0f} | {' '.join(str(round(x)) for x in s['us_per_item_by_tenth'])} | "
                     f"{s['peak_rss_mb']:,.0f} | {s['index_mb']:,.0f} | {exact} |")
    lines += ["", "Pair recall: (query, pool text) pairs with exact ROUGE-L F > 0.7 that the LSH returned as "
              "candidates, measured in lock-step with the brute-force filter."]
    if r["speedup"]:
        lines += ["", "## Against the original approach (rouge_score vs every pool item, per candidate; same items, "
                  "one run)", "", "| items | rouge_score loop s | ExactRougeFilter s | NearDuplicateFilter s | "
                  "speed-up (LSH) | speed-up (exact) | decision diffs (LSH / exact) |", "|---:|---:|---:|---:|---:|---:|---|"]
    for s in r["speedup"] or []:
        lines.append(f"| {s['n']:,} | {s['rouge_score_loop_s']:.1f} | {s['exact_s']:.2f} | {s['lsh_s']:.2f} | "
                     f"{s['speedup_lsh']:.0f}x | {s['speedup_exact']:.0f}x | "
                     f"{s['lsh_differences']} / {s['exact_differences']} |")
    if "datasketch_memory" in r:
        d = r["datasketch_memory"]
        lines += ["", "## datasketch's in-memory MinHashLSH with the same banding (200 bands x 4 rows)", "",
                  f"{d['n']:,} items: {d['bytes_per_item']:,.0f} bytes per item (bucket-key `hashfunc` on) -> "
                  f"about {d['extrapolated_1m_gb']:.1f} GB at 1M items, which is why the in-memory index is "
                  "PackedBandIndex (8 bytes per item and band)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
