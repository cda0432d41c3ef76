"""Write a run directory from the store: the original's file names and fields, each file replaced atomically.

The store is the truth; these files are views of it. They are rewritten whole
(temp file + fsync + rename, so a reader sees the old file or the new one, never
a torn line) at the end of a run, and while it goes on by ``LiveExport``: every
``export_interval`` seconds and as soon as a stop (pause, signal) is asked for.

A live refresh runs in a worker thread with its own read-only SQLite connection,
reading every table inside one read transaction: WAL gives it a consistent
snapshot of what was committed, and the event loop keeps serving requests while
a large run's files are parsed, shuffled and written.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfinstruct.engine.store_reads import read_snapshot
from selfinstruct.errors import SelfInstructError
from selfinstruct.io import write_json_atomic, write_jsonl_atomic
from selfinstruct.stages.base import Instance
from selfinstruct.runfiles import ALPACA, GPT3_FINETUNING_GLOB, RUN_FILES
from selfinstruct.stages.prepare import PrepareConfig, prepare_finetuning

__all__ = ["export_run", "write_finetuning", "LiveExport", "RunRows"]

log = logging.getLogger(__name__)

_KINDS = ("instruction", "clf", "instances", "reject")


@dataclass
class RunRows:
    """The pipeline's records, by kind, in commit order."""

    instructions: list[dict[str, Any]]
    labels: dict[str, dict[str, Any]]
    instances: dict[str, dict[str, Any]]
    rejects: list[dict[str, Any]]
    models: dict[str, str]  # request id -> the model that answered it

    @classmethod
    def from_records(cls, records: Callable[[str], list[tuple[str, Any]]], models: dict[str, str]) -> "RunRows":
        return cls(models=models,
            instructions=[data for _, data in records("instruction")],
            labels={data["instruction"]: data for _, data in records("clf")},
            instances={data["instruction"]: data for _, data in records("instances")},
            rejects=[data for _, data in records("reject")],
        )


def write_finetuning(ft_dir: Path, exports: Any) -> None:
    """Write the four fine-tuning files; a GPT-3 file from an earlier export (other row count) is removed."""
    ft_dir.mkdir(parents=True, exist_ok=True)
    for name, rows in exports.files().items():
        if name == ALPACA:
            write_json_atomic(ft_dir / name, rows)
        else:
            write_jsonl_atomic(ft_dir / name, rows)
    for old in ft_dir.glob(GPT3_FINETUNING_GLOB):
        if old.name != exports.gpt3_filename:
            old.unlink(missing_ok=True)


def _with_model(meta: dict[str, Any], models: dict[str, str]) -> dict[str, Any]:
    """Add the model that answered ``meta["request_id"]`` (rows say which model made them)."""
    model = models.get(meta.get("request_id"))
    return {**meta, "model": model} if model else meta


def write_run_files(rows: RunRows, out_dir: Path, *, seeds: list[Any], prepare: PrepareConfig, seed: int,
                    stats: dict[str, Any]) -> dict[str, Any]:
    """Rewrite every run file from ``rows``; stats.json last, so its summary never names rows not yet written."""
    instructions, labels, instances = rows.instructions, rows.labels, rows.instances
    models = rows.models
    write_jsonl_atomic(out_dir / RUN_FILES["instructions"], (
        {"instruction": d["instruction"], "most_similar": d["most_similar"],
         "avg_similarity_score": d["avg_similarity_score"],
         "avg_similarity_is_estimate": d.get("avg_similarity_is_estimate", True),
         "metadata": _with_model(d["metadata"], models), "request_idx": d["request_idx"]} for d in instructions))
    write_jsonl_atomic(out_dir / RUN_FILES["classification"], (
        {"instruction": d["instruction"], "is_classification": labels[d["instruction"]]["is_classification"]}
        for d in instructions if d["instruction"] in labels))
    ordered = [instances[d["instruction"]] for d in instructions if d["instruction"] in instances]
    write_jsonl_atomic(out_dir / RUN_FILES["instances"], (
        {"instruction": r["instruction"], "is_classification": r["is_classification"],
         "raw_instances": r["raw_instances"], "instance_metadata": _with_model(r["instance_metadata"], models),
         "instances": r["instances"]} for r in ordered))
    write_jsonl_atomic(out_dir / RUN_FILES["rejects"], rows.rejects)

    tasks = [(r["instruction"], [Instance(i["input"], i["output"]) for i in r["instances"]])
             for r in ordered if r["instances"]]
    exports = prepare_finetuning(tasks, rng=random.Random(seed), config=prepare, seeds=seeds)
    write_finetuning(out_dir / RUN_FILES["finetuning"], exports)
    summary = {
        "instructions": len(instructions),
        "classified": len(labels),
        "classification_tasks": sum(1 for v in labels.values() if v["is_classification"]),
        "instructions_with_instances": len(tasks),
        "training_rows": len(exports.all_generated),
        "gpt3_file": exports.gpt3_filename,
    }
    write_json_atomic(out_dir / RUN_FILES["stats"], {**stats, "export": summary})
    return summary


def export_run(store: Any, out_dir: Path, *, seeds: list[Any], prepare: PrepareConfig, seed: int,
               stats: dict[str, Any]) -> dict[str, Any]:
    """Rewrite every run file from an open ``CheckpointStore``; return a summary of what was written."""
    return write_run_files(RunRows.from_records(store.records, store.result_models()), out_dir, seeds=seeds, prepare=prepare, seed=seed,
                           stats=stats)


def _read_rows(db_path: Path, *, unless_seq: int | None = None) -> tuple[RunRows | None, int | None]:
    """The run's rows from one snapshot of the state file, and the newest record seq; (None, unless_seq) when
    no record was committed since ``unless_seq``."""
    snap = read_snapshot(db_path, _KINDS, unless_seq=unless_seq)
    if snap is None:
        return None, unless_seq
    return RunRows.from_records(snap.records.__getitem__, snap.models), snap.newest_seq


class LiveExport:
    """Refresh the run directory while a run goes on: a second after the start, then every ``interval``
    seconds, and at once when ``stop`` is set (pause, signal).

    ``lock`` serialises every export of the run directory (the temp file names
    are per process); ``final`` writes the end-of-run export under it too. A refresh is skipped
    when no record was committed since the last one; only stats.json is then
    rewritten. After a slow refresh the next waits longer (4x its duration), so
    exporting a huge run takes at most about a fifth of the time. Measured in
    benchmarks/results/export.md: 10,000 instructions refresh in ~3 s of a
    thread, the event loop stalling at most ~0.2 s (GIL hand-offs).
    """

    def __init__(self, db_path: Path, out_dir: Path, *, interval: float, stop: asyncio.Event,
                 snapshot: Callable[[], dict[str, Any]], seeds: list[Any], prepare: PrepareConfig, seed: int):
        self.db_path = db_path
        self.out_dir = out_dir
        self.interval = interval
        self.stop = stop
        self.snapshot = snapshot
        self.seeds = seeds
        self.prepare = prepare
        self.seed = seed
        self.lock = threading.Lock()
        self.refreshes = 0
        self.last_seconds = 0.0
        self._exported_seq: int | None = None
        self._summary: dict[str, Any] = {}
        self._closing = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.interval > 0:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="live-export")

    async def close(self) -> None:
        """Stop refreshing; returns once a refresh in progress has finished writing."""
        self._closing.set()
        if self._task is not None:
            task, self._task = self._task, None
            await asyncio.wait({task})
            if not task.cancelled() and task.exception() is not None:
                log.warning("live export stopped: %s", task.exception())

    async def _run(self) -> None:
        stop_seen = False
        wait = min(self.interval, 1.0)  # a first look soon after the start, then every interval
        while not self._closing.is_set():
            waits = {asyncio.ensure_future(self._closing.wait())}
            if not stop_seen:
                waits.add(asyncio.ensure_future(self.stop.wait()))
            _, pending = await asyncio.wait(waits, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            for fut in pending:
                fut.cancel()
            if self._closing.is_set():
                return
            stop_seen = stop_seen or self.stop.is_set()
            try:
                elapsed = await self.refresh()
            except (SelfInstructError, OSError) as exc:
                # A failed refresh loses nothing (the store is the truth); the final export reports for real.
                log.warning("live export failed: %s", exc)
                elapsed = self.interval
            wait = max(self.interval, 4 * elapsed)

    async def final(self, stats: dict[str, Any]) -> dict[str, Any]:
        """The export at the end of a run (every record committed): in a thread, so a big run's export does
        not stall other jobs sharing the event loop; returns the summary."""
        return await asyncio.to_thread(self._export_locked, stats)

    def _export_locked(self, stats: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            rows, _ = _read_rows(self.db_path)
            assert rows is not None  # no unless_seq: always read
            return write_run_files(rows, self.out_dir, seeds=self.seeds, prepare=self.prepare, seed=self.seed,
                                   stats=stats)

    async def refresh(self) -> float:
        """One refresh in a worker thread; returns its duration in seconds."""
        stats = self.snapshot()   # on the loop: the counters are only consistent here
        t0 = time.perf_counter()
        await asyncio.shield(asyncio.to_thread(self._refresh_locked, stats))
        self.last_seconds = time.perf_counter() - t0
        return self.last_seconds

    def _refresh_locked(self, stats: dict[str, Any]) -> None:
        with self.lock:
            rows, newest = _read_rows(self.db_path, unless_seq=self._exported_seq if self._summary else None)
            if rows is None:
                write_json_atomic(self.out_dir / RUN_FILES["stats"], {**stats, "export": self._summary})
                return
            self._summary = write_run_files(rows, self.out_dir, seeds=self.seeds, prepare=self.prepare,
                                            seed=self.seed, stats=stats)
            self._exported_seq = newest
            self.refreshes += 1
