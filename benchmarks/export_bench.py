"""Live export cost: how long a refresh of a big run directory takes, and how long it stalls the event loop.

A store is filled with N synthetic instructions, each with a label, three
instances and a reject; then one ``LiveExport.refresh`` (worker thread, private
read-only SQLite snapshot) runs while a 10 ms ticker measures the event loop's
lag, and one inline ``export_run`` (on the loop, as before live export) is timed.

    python benchmarks/export_bench.py 10000 50000
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from selfinstruct.engine.store import CheckpointStore  # noqa: E402
from selfinstruct.pipeline.export import LiveExport, export_run  # noqa: E402
from selfinstruct.stages.prepare import PrepareConfig  # noqa: E402


def fill(store: CheckpointStore, n: int):
    def op(conn):
        for i in range(n):
            text = f"Write a short essay about topic number {i} with care and detail."
            store.write_record(conn, "instruction", f"k{i}", {
                "instruction": text, "most_similar": {"a": 0.1, "b": 0.2}, "avg_similarity_score": 0.1,
                "avg_similarity_is_estimate": True, "request_idx": i,
                "metadata": {"request_id": f"gen-{i}", "finish_reason": "stop", "max_rouge_l": 0.3}})
            store.write_record(conn, "clf", f"k{i}", {"instruction": text, "is_classification": i % 5 == 0,
                                                      "raw_answer": "No"})
            store.write_record(conn, "instances", f"k{i}", {
                "instruction": text, "is_classification": False, "raw_instances": "Input: x\nOutput: y " * 20,
                "instance_metadata": {"request_id": "r", "finish_reason": "stop", "usage": {"prompt_tokens": 100}},
                "instances": [{"input": f"in {j} {i}", "output": f"out {j} {i} " * 10} for j in range(3)]})
            store.write_record(conn, "reject", f"r{i}", {"stage": "instruction", "reason": "rouge_l_similar",
                                                         "text": text * 3, "request_id": "x"})
    return store.submit(op)


async def measure(n: int) -> str:
    out = Path(tempfile.mkdtemp())
    store = await CheckpointStore(out / "state.sqlite3").open()
    await fill(store, n)
    live = LiveExport(store.path, out, interval=5, stop=asyncio.Event(), snapshot=dict, seeds=[],
                      prepare=PrepareConfig(), seed=42)
    lags: list[float] = []
    running = True

    async def ticker() -> None:
        while running:
            t = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append(time.perf_counter() - t - 0.01)

    tick = asyncio.get_running_loop().create_task(ticker())
    await asyncio.sleep(0.2)
    lags.clear()
    seconds = await live.refresh()
    running = False
    await tick
    lags.sort()
    t = time.perf_counter()
    export_run(store, out, seeds=[], prepare=PrepareConfig(), seed=42, stats={})
    inline = time.perf_counter() - t
    await store.close()
    return (f"| {n:,} | {seconds:.2f} | {max(lags) * 1000:.0f} | {lags[int(len(lags) * 0.99)] * 1000:.0f} | "
            f"{inline:.2f} |")


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [10_000, 50_000]
    print("| instructions | live refresh s (thread) | longest loop stall ms | p99 loop stall ms | inline export s |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for n in sizes:
        print(asyncio.run(measure(n)), flush=True)


if __name__ == "__main__":
    main()
