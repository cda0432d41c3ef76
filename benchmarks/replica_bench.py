"""Replica routing benchmark: one `selfinstruct complete` process over four simulated replicas of one model.

Each replica is its own `selfinstruct simulate` process with a true limit of
1,500 RPM and 50 ms latency, so the four together allow 100 req/s. The client
is told `--rpm 1500` and gets four `--api-base`.

    (a) throughput: 2,000 requests; achieved / 100 req/s ceiling, and the share of 429s
    (b) failure: the same, with one replica killed (SIGKILL) 5 s in: every id answered exactly once,
        exit 0, and how the survivors took the load (the client's per-replica stats)

Wall times are the whole client process, start-up included; the engine's own
elapsed time (stats.json) is shown beside it. The machine is shared and noisy:
the load average is recorded with each run.

    python benchmarks/replica_bench.py            # both parts (~1 minute)
    python benchmarks/replica_bench.py --only a
Results: benchmarks/results/replicas.md and replicas.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _procs import output_ids, start_complete  # noqa: E402
from engine_bench import RESULTS, Simulator, write_input  # noqa: E402

REPLICAS = 4
RPM = 1500
LATENCY_MS = 50
REQUESTS = 2000


def run_client(inp: Path, out: Path, sims: list[Simulator], *, kill_after: float | None = None) -> dict:
    api_bases = [flag for sim in sims for flag in ("--api-base", sim.url)]
    killer = None
    if kill_after is not None:
        def kill() -> None:
            sims[0].proc.kill()
        killer = threading.Timer(kill_after, kill)
    t0 = time.perf_counter()
    proc = start_complete(inp, out, "--rpm", str(RPM), *api_bases)
    if killer is not None:
        killer.start()
    _, err = proc.communicate(timeout=900)
    wall = time.perf_counter() - t0
    stats = json.loads(out.with_name(out.stem + ".stats.json").read_text())
    ids = output_ids(out)
    return {"exit": proc.returncode, "wall_s": wall, "stats": stats, "lines": len(ids), "unique_ids": len(set(ids)),
            "stderr_tail": err[-600:]}


def sim_counts(sims: list[Simulator], alive: list[bool]) -> tuple[int, int]:
    calls = limited = 0
    for sim, up in zip(sims, alive):
        if not up:
            continue
        st = sim.stats()
        calls += st["requests"]
        limited += st["status"].get("429", 0)
    return calls, limited


def part(tmp: Path, *, kill_after: float | None) -> dict:
    inp = tmp / "in.jsonl"
    write_input(inp, REQUESTS)
    out = tmp / ("b_out.jsonl" if kill_after else "a_out.jsonl")
    sims = [Simulator("--rpm", str(RPM), "--latency-ms", str(LATENCY_MS), "--seed", str(i)) for i in range(REPLICAS)]
    try:
        r = run_client(inp, out, sims, kill_after=kill_after)
        alive = [kill_after is None or i > 0 for i in range(REPLICAS)]
        calls, limited = sim_counts(sims, alive)
    finally:
        for sim in sims:
            if sim.proc.poll() is None:
                sim.close()
    s = r["stats"]
    ceiling = REPLICAS * RPM / 60
    replicas = {label: {k: v[k] for k in ("calls", "answered", "rate_limited_429", "errors", "up")}
                for label, v in s["replicas"].items()}
    return {"requests": REQUESTS, "exit": r["exit"], "wall_s": round(r["wall_s"], 2),
            "engine_elapsed_s": s["elapsed_s"], "achieved_rps_wall": round(REQUESTS / r["wall_s"], 1),
            "achieved_rps_engine": round(REQUESTS / s["elapsed_s"], 1), "ceiling_rps": ceiling,
            "ratio_wall": round(REQUESTS / r["wall_s"] / ceiling, 3),
            "ratio_engine": round(REQUESTS / s["elapsed_s"] / ceiling, 3),
            "client_429": s["rate_limited_429"], "client_calls": s["calls"],
            "share_429": round(s["rate_limited_429"] / max(1, s["calls"]), 4),
            "survivor_server_calls": calls, "survivor_server_429": limited,
            "lines": r["lines"], "unique_ids": r["unique_ids"],
            "exactly_once": r["lines"] == r["unique_ids"] == REQUESTS, "replicas": replicas,
            "killed_after_s": kill_after, "load_avg": os.getloadavg()}


def write_results(results: dict, command: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "replicas.json").write_text(json.dumps({"command": command, **results}, indent=2) + "\n")
    lines = ["# Replica routing benchmark", "", f"Command: `{command}`", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
             f"date {time.strftime('%Y-%m-%d')}. Four `selfinstruct simulate` processes, each a true {RPM} RPM "
             f"and {LATENCY_MS} ms latency (together {REPLICAS * RPM // 60} req/s); one `complete` process with "
             f"four `--api-base` and `--rpm {RPM}` (per replica). Wall = the whole client process, start-up "
             f"included; engine = its stats.json elapsed_s.", "",
             "| run | requests | exit | wall s | req/s (wall) | /ceiling (wall) | req/s (engine) | /ceiling (engine) "
             "| 429 share | exactly once | load avg |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        if not isinstance(r, dict) or "requests" not in r:
            continue
        lines.append(f"| {name} | {r['requests']} | {r['exit']} | {r['wall_s']} | {r['achieved_rps_wall']} | "
                     f"**{r['ratio_wall']}** | {r['achieved_rps_engine']} | **{r['ratio_engine']}** | "
                     f"{r['share_429']} | {r['exactly_once']} | {', '.join(f'{x:.2f}' for x in r['load_avg'])} |")
    for name, r in results.items():
        if not isinstance(r, dict) or "replicas" not in r:
            continue
        lines += ["", f"Per replica, {name} (the client's stats.json):", "",
                  "| replica | calls | answered | 429 | errors | up at the end |", "|---|---|---|---|---|---|"]
        for label, v in r["replicas"].items():
            lines.append(f"| {label} | {v['calls']} | {v['answered']} | {v['rate_limited_429']} | {v['errors']} | "
                         f"{v['up']} |")
    killed = results.get("one replica killed at 5 s")
    if isinstance(killed, dict):
        ceiling = killed["ceiling_rps"]
        # 100 req/s until the kill, then the three survivors' 75 req/s
        ideal = killed["killed_after_s"] + (REQUESTS - killed["killed_after_s"] * ceiling) / (ceiling * 3 / 4)
        lines += ["", f"With one replica gone after {killed['killed_after_s']:g} s the best possible engine time "
                  f"is {ideal:.1f} s ({killed['killed_after_s']:g} s at {ceiling:g} req/s, then "
                  f"{ceiling * 3 / 4:g} req/s): the run took {killed['engine_elapsed_s']} s, "
                  f"**{ideal / killed['engine_elapsed_s']:.3f}** of that best."]
    lines += ["", "Caveats: two shared cores run the client and four simulators together; the ceiling assumes "
              "the simulators keep up. In the failure run the killed replica's in-flight requests fail with "
              "connection errors and are retried on the survivors; its breaker opens after 5 consecutive "
              "failures and it is probed with backoff afterwards (probes to a dead replica count as its errors). The "
              "kill timer starts with the client process, about a second before its engine starts, so the best "
              "possible time above is slightly generous to the run.", ""]
    (RESULTS / "replicas.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="a,b")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    results: dict = {}
    with tempfile.TemporaryDirectory() as d:
        if "a" in parts:
            results["throughput"] = part(Path(d), kill_after=None)
            print(json.dumps(results["throughput"], indent=1), flush=True)
        if "b" in parts:
            results["one replica killed at 5 s"] = part(Path(d), kill_after=5.0)
            print(json.dumps(results["one replica killed at 5 s"], indent=1), flush=True)
    write_results(results, "python benchmarks/replica_bench.py" + (f" --only {args.only}" if args.only != "a,b" else ""))


def rerender() -> None:
    """Rewrite replicas.md from replicas.json (after a change to the table's layout, not to the figures)."""
    saved = json.loads((RESULTS / "replicas.json").read_text())
    write_results({k: v for k, v in saved.items() if k != "command"}, saved["command"])


if __name__ == "__main__":
    main()
