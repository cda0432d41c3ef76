"""Live results: the run directory is refreshed while a run goes on, atomically, and at once on a stop."""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.engine.conftest import cli
from tests.pipeline.checks import read_jsonl

LIVE_FILES = ("machine_generated_instructions.jsonl", "is_clf_or_not.jsonl", "machine_generated_instances.jsonl",
              "rejects.jsonl", "finetuning/all_generated_instances.jsonl", "finetuning/messages.jsonl")


def _rows(path: Path) -> int | None:
    try:
        return len(read_jsonl(path))
    except FileNotFoundError:
        return None


class TornFileWatcher(threading.Thread):
    """Reads the run files over and over while the run goes on; records any read that is not whole JSON(L)."""

    def __init__(self, run: Path):
        super().__init__(daemon=True)
        self.run_dir = run
        self.halt = threading.Event()
        self.reads = 0
        self.problems: list[str] = []

    def run(self) -> None:
        while not self.halt.is_set():
            for name in (*LIVE_FILES, "stats.json", "finetuning/alpaca.json"):
                try:
                    data = (self.run_dir / name).read_bytes()
                except FileNotFoundError:
                    continue
                self.reads += 1
                try:
                    if name.endswith(".jsonl"):
                        if data and not data.endswith(b"\n"):
                            raise ValueError("last line has no newline")
                        for line in data.splitlines():
                            json.loads(line)
                    else:
                        json.loads(data)
                except ValueError as exc:
                    self.problems.append(f"{name}: {exc} ({len(data)} bytes)")
            time.sleep(0.02)


@pytest.mark.timeout(180)
def test_run_files_fill_while_the_run_goes_on(sim, tmp_path):
    # 150 ms per answer: 600 instructions take ~30 s at concurrency 8, long enough to watch.
    server = sim(latency_ms=150)
    run = tmp_path / "run"
    watcher = TornFileWatcher(run)
    watcher.start()
    t0 = time.monotonic()
    proc = cli("generate", "--out", str(run), "--api-base", server.url, "--model", "sim", "--num-instructions", "600",
               "--max-concurrency", "8")
    try:
        instructions = run / "machine_generated_instructions.jsonl"
        time.sleep(max(0.0, t0 + 8 - time.monotonic()))
        assert proc.poll() is None, proc.communicate()
        first = _rows(instructions)
        assert first, "no instruction rows 8 s into the run"
        assert first < 600
        deadline = time.monotonic() + 8
        later = first
        while later == first and time.monotonic() < deadline:
            time.sleep(0.2)
            later = _rows(instructions)
        assert proc.poll() is None, proc.communicate()
        assert later > first, "the instructions file did not grow"
        # Every live file is there, and a refreshed stats.json counts what the files hold.
        for name in LIVE_FILES:
            assert (run / name).is_file(), name
        stats = json.loads((run / "stats.json").read_text())
        assert 0 < stats["export"]["instructions"] < 600
        # Stop it (SIGINT) instead of waiting: the files are refreshed at once and at the end.
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        watcher.halt.set()
        watcher.join()
    assert proc.returncode == 130, err
    assert watcher.reads > 100
    assert watcher.problems == []
    final = read_jsonl(run / "machine_generated_instructions.jsonl")
    assert len(final) >= later
    assert json.loads((run / "stats.json").read_text())["export"]["instructions"] == len(final)


@pytest.mark.timeout(120)
def test_a_stop_refreshes_the_files_before_the_drain_ends(sim, tmp_path):
    """With a refresh interval far away, asking the run to stop (what the service's pause does) writes the
    files at once, while the in-flight requests are still draining."""
    from selfinstruct.engine.shutdown import Shutdown
    from selfinstruct.pipeline import build_generate_config, generate_async

    server = sim(latency_ms=1500)
    run = tmp_path / "run"
    table = {"endpoint": {"api_base": server.url, "model": "sim"}, "limits": {"max_concurrency": 8},
             "generation": {"num_instructions": 400, "export_interval": 3600}}
    config = build_generate_config(table, out_dir=run)
    seen = []
    path = run / "machine_generated_instructions.jsonl"

    async def main() -> None:
        shutdown = Shutdown()
        task = asyncio.get_running_loop().create_task(generate_async(config, shutdown=shutdown, on_start=seen.append))
        deadline = time.monotonic() + 60
        while not (seen and seen[0].pool):
            assert time.monotonic() < deadline and not task.done()
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)   # the first look (1 s after start) has passed; the next is an hour away
        before = _rows(path) or 0
        accepted = len(seen[0].pool)
        shutdown.signalled = True   # as the service's pause does
        shutdown.stop.set()
        while (_rows(path) or 0) <= before:
            assert not task.done(), "the files were written only when the run ended"
            await asyncio.sleep(0.02)
        assert _rows(path) >= accepted
        result = await task
        assert result.interrupted and result.exit_code == 130

    asyncio.run(main())
    assert len(read_jsonl(path)) == len(seen[0].pool)


def test_live_refresh_is_atomic_and_skips_an_unchanged_store(tmp_path):
    """Refreshes run while records are committed and a reader reads: every read is whole, and a refresh
    with nothing new committed rewrites only stats.json."""
    from selfinstruct.engine.store import CheckpointStore
    from selfinstruct.pipeline.export import LiveExport
    from selfinstruct.stages.prepare import PrepareConfig

    run = tmp_path / "run"
    watcher = TornFileWatcher(run)

    def record(i: int) -> dict:
        return {"instruction": f"Describe the history of town number {i} in detail.", "most_similar": {},
                "avg_similarity_score": 0.1, "metadata": {"i": i}, "request_idx": i}

    async def main() -> None:
        store = await CheckpointStore(run / "state.sqlite3").open()
        live = LiveExport(store.path, run, interval=3600, stop=asyncio.Event(), snapshot=lambda: {"tick": 1},
                          seeds=[], prepare=PrepareConfig(), seed=0)
        watcher.start()
        n = 0
        for _ in range(40):
            def op(conn, start=n):
                for i in range(start, start + 250):
                    rec = record(i)
                    store.write_record(conn, "instruction", f"k{i}", rec)
                    store.write_record(conn, "instances", f"k{i}", {
                        "instruction": rec["instruction"], "is_classification": False, "raw_instances": "x",
                        "instance_metadata": {}, "instances": [{"input": "", "output": f"Output {i} " * 40}]})
            await store.submit(op)
            n += 250
            await live.refresh()
            assert _rows(run / "machine_generated_instructions.jsonl") == n
        assert live.refreshes == 40
        files = {p: p.read_bytes() for p in run.glob("*.jsonl")}
        mtime = (run / "machine_generated_instructions.jsonl").stat().st_mtime_ns
        await live.refresh()     # nothing new committed
        assert live.refreshes == 40
        assert (run / "machine_generated_instructions.jsonl").stat().st_mtime_ns == mtime
        assert {p: p.read_bytes() for p in run.glob("*.jsonl")} == files
        assert json.loads((run / "stats.json").read_text())["export"]["instructions"] == n
        await store.close()

    try:
        asyncio.run(main())
    finally:
        watcher.halt.set()
        watcher.join()
    assert watcher.reads > 50
    assert watcher.problems == []


def test_export_interval_is_a_generation_setting(tmp_path):
    from selfinstruct.errors import ConfigError
    from selfinstruct.pipeline import GenerationConfig, build_generate_config

    assert GenerationConfig().export_interval == 5.0
    table = {"endpoint": {"api_base": "http://127.0.0.1:1/v1", "model": "m"}, "generation": {"export_interval": 0.5}}
    assert build_generate_config(table, out_dir=tmp_path).generation.export_interval == 0.5
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ConfigError, match="export_interval"):
            GenerationConfig(export_interval=bad)
