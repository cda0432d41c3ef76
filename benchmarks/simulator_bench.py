"""Throughput of the simulated endpoint and of OpenAIWorker against it (trivial answers, zero latency).

The server runs in its own process; the client is one asyncio loop driving
OpenAIWorker with N concurrent requests. Prints requests/second for both roles
and writes benchmarks/results/simulator.md.

    .venv/bin/python benchmarks/simulator_bench.py [--requests 20000] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WARMUP = 1000
sys.path.insert(0, str(ROOT))


def _serve(queue: "mp.Queue[str]", cpu: int | None) -> None:
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
    from workers.simulated import SimConfig, serve_forever

    serve_forever(SimConfig(), "127.0.0.1", 0, on_ready=queue.put)


async def _drive(url: str, total: int, concurrency: int, endpoint: str) -> tuple[float, float]:
    from workers import EndpointConfig, OpenAIWorker, Request

    worker = OpenAIWorker(EndpointConfig(api_base=url, model="sim", endpoint=endpoint,
                                         defaults={"max_tokens": 8}), None, max_connections=concurrency)

    async def loop(ids) -> None:
        for i in ids:
            await worker.send(Request(id=f"r{i}", prompt=f"Say hi {i}"), timeout=30)

    warm = iter(range(-WARMUP, 0))  # opens the pooled connections first
    await asyncio.gather(*(loop(warm) for _ in range(concurrency)))
    ids = iter(range(total))
    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(loop(ids) for _ in range(concurrency)))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    await worker.aclose()
    return total / elapsed, total / cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--endpoint", default="completions")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/simulator.md"))
    args = ap.parse_args()
    ncpu = os.cpu_count() or 1
    ctx = mp.get_context("spawn")
    queue: "mp.Queue[str]" = ctx.Queue()
    server = ctx.Process(target=_serve, args=(queue, 0 if ncpu >= 2 else None), daemon=True)
    server.start()
    url = queue.get(timeout=30)
    if ncpu >= 2 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {1})
    import psutil

    proc = psutil.Process(server.pid)
    try:
        rate, client_cap = asyncio.run(_drive(url, args.requests, args.concurrency, args.endpoint))
        times = proc.cpu_times()
        server_cpu = times.user + times.system
    finally:
        server.terminate()
        server.join(10)
    # Requests per CPU-second of each process (warm-up included on the server side,
    # hence the extra requests): what one core could do without neighbours.
    server_cap = (args.requests + WARMUP) / server_cpu
    line = (f"| {time.strftime('%Y-%m-%d')} | {platform.python_version()} | {ncpu} | {args.endpoint} | "
            f"{args.requests} | {args.concurrency} | {rate:,.0f} | {server_cap:,.0f} | {client_cap:,.0f} |")
    print(f"{rate:,.0f} req/s wall; per CPU-second: server {server_cap:,.0f}, client {client_cap:,.0f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    header = ("# Simulated endpoint + OpenAIWorker throughput\n\n"
              "Trivial answers, zero latency; server pinned to one core, client (one asyncio loop driving\n"
              "`OpenAIWorker.send`) pinned to another. The figure is both the server's req/s and the worker's.\n\n"
              "Command: `.venv/bin/python benchmarks/simulator_bench.py --requests N --concurrency C`\n\n"
              "| date | python | cpus | endpoint | requests | concurrency | req/s (wall) | server req/CPU-s | client req/CPU-s |\n"
              "|---|---|---|---|---|---|---|---|---|\n")
    text = out.read_text() if out.exists() else header
    out.write_text(text + line + "\n")


if __name__ == "__main__":
    main()
