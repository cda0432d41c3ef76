"""Shared-limits benchmark: two `selfinstruct complete` processes on one account, with and without Redis.

One simulated endpoint (its own `selfinstruct simulate` process) has a true
limit of 3,000 RPM (50 req/s) and 50 ms latency. Two `complete` processes run
at the same time, each with 750 requests and each told `--rpm 3000`, the
account's limit:

    (a) with `--limits-redis` (one redis-server on loopback): they share the budget
    (b) without: each paces itself at 3,000 RPM, and together they ask twice the limit
    (c) with Redis killed 3 s in: both finish (all ids once, exit 0) on their local limits at
        redis_fallback_fraction, and each logs the fallback warning once
    (d) the same 1,500 requests over four processes (375 each, each told `--rpm 3000`), with and without Redis

The combined rate is 1,500 requests / the wall time from the first start to
the last exit (start-up included); the 429 share is the endpoint's own count
of 429s over all calls it got. The machine is shared and noisy: the load
average is recorded with each run, and (a) and (b) run back to back.

    python benchmarks/shared_limits_bench.py          # all parts (~1.5 minutes)
Results: benchmarks/results/shared_limits.md and shared_limits.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _procs import output_ids, start_complete  # noqa: E402
from engine_bench import RESULTS, Simulator, free_port, write_input  # noqa: E402

RPM = 3000
LATENCY_MS = 50
PER_PROCESS = 750
WARNING = "shared limits: Redis at"


class Redis:
    def __init__(self, workdir: Path):
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server is not installed (apt-get install redis-server)")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = subprocess.Popen([binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(workdir)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import socket

        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def run_pair(tmp: Path, name: str, *, redis: bool, kill_redis_after: float | None = None, processes: int = 2) -> dict:
    per_process = 2 * PER_PROCESS // processes
    with Simulator("--rpm", str(RPM), "--latency-ms", str(LATENCY_MS)) as sim:
        server = Redis(tmp) if redis else None
        try:
            procs, outs = [], []
            t0 = time.perf_counter()
            for p in range(processes):
                inp = tmp / f"{name}_{p}.jsonl"
                write_input(inp, per_process)
                out = tmp / f"{name}_{p}_out.jsonl"
                outs.append(out)
                flags = ["--api-base", sim.url, "--rpm", str(RPM)]
                if server is not None:
                    flags += ["--limits-redis", server.url]
                procs.append(start_complete(inp, out, *flags))
            if kill_redis_after is not None and server is not None:
                time.sleep(kill_redis_after)
                server.kill()
            errs = [p.communicate(timeout=900)[1] for p in procs]
            wall = time.perf_counter() - t0
            st = sim.stats()
        finally:
            if server is not None:
                server.kill()
    exactly_once = True
    for out in outs:
        ids = output_ids(out)
        exactly_once &= len(ids) == len(set(ids)) == per_process
    total = 2 * PER_PROCESS
    calls = st["requests"]
    limited = st["status"].get("429", 0)
    return {"redis": redis, "redis_killed_after_s": kill_redis_after, "processes": processes, "requests": total,
            "exits": [p.returncode for p in procs], "wall_s": round(wall, 2),
            "combined_rps": round(total / wall, 1), "ceiling_rps": RPM / 60,
            "ratio": round(total / wall / (RPM / 60), 3), "server_calls": calls, "server_429": limited,
            "share_429": round(limited / max(1, calls), 4), "exactly_once": exactly_once,
            "warnings_per_process": [e.count(WARNING) for e in errs], "load_avg": os.getloadavg()}


def write_results(results: dict, command: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "shared_limits.json").write_text(json.dumps({"command": command, **results}, indent=2) + "\n")
    lines = ["# Shared limits benchmark", "", f"Command: `{command}`", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
             f"date {time.strftime('%Y-%m-%d')}. One `selfinstruct simulate` process, true {RPM} RPM "
             f"({RPM // 60} req/s), {LATENCY_MS} ms latency; two `complete` processes at once, {PER_PROCESS} "
             f"requests each (four: {PER_PROCESS // 2} each), each told `--rpm {RPM}`. Combined rate = {2 * PER_PROCESS} / wall time from the "
             f"first start to the last exit, start-up included. 429 share = the endpoint's 429s / all calls it got.",
             "", "| run | exits | wall s | combined req/s | /ceiling | calls | 429s | 429 share | exactly once "
             "| fallback warnings per process | load avg |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['exits']} | {r['wall_s']} | {r['combined_rps']} | **{r['ratio']}** | "
                     f"{r['server_calls']} | {r['server_429']} | **{r['share_429']}** | {r['exactly_once']} | "
                     f"{r['warnings_per_process']} | {', '.join(f'{x:.2f}' for x in r['load_avg'])} |")
    lines += ["", "Caveats: two shared cores run the clients, the simulator and Redis; start-up of every client "
              "process is in the wall time. Without Redis each process starts pacing at the full account rate, "
              "so together they ask for a multiple of the limit until their 429s cut each one's adaptive rate "
              "(AIMD): the 429s come at the start and in bursts while the rates recover, so their share is "
              "larger in a shorter run and with more processes. The simulator answers a 429 at once and "
              "charges nothing for it, so here the 429s cost little time; a real API may count them against "
              "the account. With Redis killed the processes fall back to `redis_fallback_fraction` (0.5) of "
              "their own `--rpm` each (with two processes, exactly the account's limit), and keep trying to "
              "reconnect once a second.", ""]
    (RESULTS / "shared_limits.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="a,b,c,d")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    results = {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if "a" in parts:
            results["with Redis"] = run_pair(tmp, "a", redis=True)
            print(results["with Redis"], flush=True)
        if "b" in parts:
            results["without Redis"] = run_pair(tmp, "b", redis=False)
            print(results["without Redis"], flush=True)
        if "c" in parts:
            results["Redis killed at 3 s"] = run_pair(tmp, "c", redis=True, kill_redis_after=3.0)
            print(results["Redis killed at 3 s"], flush=True)
        if "d" in parts:
            results["4 processes, with Redis"] = run_pair(tmp, "d", redis=True, processes=4)
            print(results["4 processes, with Redis"], flush=True)
            results["4 processes, without Redis"] = run_pair(tmp, "e", redis=False, processes=4)
            print(results["4 processes, without Redis"], flush=True)
    write_results(results, "python benchmarks/shared_limits_bench.py"
                  + (f" --only {args.only}" if args.only != "a,b,c,d" else ""))


if __name__ == "__main__":
    main()
