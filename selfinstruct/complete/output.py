"""The output file of `complete`: committed answers appended in commit order, and rebuilt when the input changed.

The protocol (see ``selfinstruct.complete.run``): answers are committed to the
store first; ``export`` appends the ones not yet exported, fsyncs, and records
(last exported sequence, file size) in the store in the same transaction;
``prepare`` cuts a torn or unrecorded tail on restart. ``forget`` removes ids
from the state and, if any had been exported, rewrites the whole file
atomically from the store. Each line is ``{"id", ...answer, "model"}``.
``AppendingExport`` runs ``export`` every half second while the run goes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

from selfinstruct.engine.store import CheckpointStore, DoneRow
from selfinstruct.errors import StorageError
from selfinstruct.io import append_lines_durable, atomic_file, dumps_line, storage_error

__all__ = ["OutputExporter", "AppendingExport", "forget_results"]

log = logging.getLogger(__name__)


def _output_line(done: DoneRow) -> bytes:
    row = {"id": done.id, **done.response}
    if done.model:
        row["model"] = done.model
    return dumps_line(row)


async def forget_results(store: CheckpointStore, ids: list[str]) -> bool:
    """Delete ``ids``' results from the state, in one commit; True when any had been exported to an output
    file (the export is then recorded as empty, so the file must be rebuilt)."""

    def delete(conn: sqlite3.Connection) -> bool:
        exported = int(CheckpointStore.read_meta(conn, "export.seq", "0") or 0)
        rebuild = CheckpointStore.forget_ids(conn, ids, exported_through=exported)
        if rebuild:
            CheckpointStore.set_meta(conn, "export.seq", 0)
            CheckpointStore.set_meta(conn, "export.size", 0)
        return rebuild

    return bool(ids) and bool(await store.submit(delete))


class OutputExporter:
    """Appends committed results to OUTPUT in commit order; see the module docstring for the protocol."""

    def __init__(self, store: CheckpointStore, output: Path):
        self.store = store
        self.output = output

    def prepare(self) -> None:
        """Cut OUTPUT back to what the store says was exported (drops a torn or unrecorded tail)."""
        self.output.parent.mkdir(parents=True, exist_ok=True)
        size = int(self.store.get_meta("export.size", "0") or 0)
        current = self.output.stat().st_size if self.output.exists() else 0
        if current < size:
            log.warning("%s is shorter than recorded (%d < %d bytes); rewriting it from the state",
                        self.output, current, size)
            size = -1
        if current != max(size, 0) or not self.output.exists():
            try:
                with open(self.output, "ab") as fh:
                    fh.truncate(max(size, 0))
                    fh.flush()
                    os.fsync(fh.fileno())
            except OSError as exc:
                raise storage_error(self.output, exc) from exc
        if size < 0:
            self.store.submit(lambda conn: (CheckpointStore.set_meta(conn, "export.seq", 0),
                                            CheckpointStore.set_meta(conn, "export.size", 0)))

    def export(self) -> asyncio.Future[Any]:
        output = self.output

        def op(conn: sqlite3.Connection) -> int:
            last = int(CheckpointStore.read_meta(conn, "export.seq", "0") or 0)
            rows = list(CheckpointStore.iter_done_since(conn, last))
            if not rows:
                return 0
            size = append_lines_durable(output, [_output_line(row) for row in rows])
            CheckpointStore.set_meta(conn, "export.seq", rows[-1].done_seq)
            CheckpointStore.set_meta(conn, "export.size", size)
            return len(rows)

        return self.store.submit(op)

    async def forget(self, ids: list[str]) -> None:
        """Drop ``ids`` from the state; if any was exported, rebuild OUTPUT from what remains.

        Two commits, in this order, so a crash between them is safe: (1) delete the rows and,
        when OUTPUT must change, record it as empty (a restart then truncates and re-exports);
        (2) write the new OUTPUT atomically and record its size and last sequence.
        """

        if await forget_results(self.store, ids):
            await self.store.submit(self._rewrite)

    def _rewrite(self, conn: sqlite3.Connection) -> None:
        last = size = 0
        with atomic_file(self.output) as fh:
            for row in CheckpointStore.iter_done_since(conn, 0):
                fh.write(_output_line(row))
                last = row.done_seq
            size = fh.tell()
        CheckpointStore.set_meta(conn, "export.seq", last)
        CheckpointStore.set_meta(conn, "export.size", size)


class AppendingExport:
    """The run's live output: ``export`` every ``interval`` seconds, then once more at the end (``final``).

    A failed write (disk full) stops intake and is kept in ``failure``: every answer is
    still in the state, so a rerun after freeing space loses nothing.
    """

    def __init__(self, exporter: OutputExporter, stop: asyncio.Event, *, interval: float = 0.5):
        self.exporter = exporter
        self.stop = stop
        self.interval = interval
        self.failure: StorageError | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="complete-export")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def final(self) -> None:
        """The last export, of everything committed (the harness shields it and calls it while the store is healthy)."""
        if self.failure is None:
            try:
                await self.exporter.export()
            except StorageError as exc:
                self._failed(exc)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.exporter.export()
            except StorageError as exc:
                self._failed(exc)
                self.stop.set()
                return

    def _failed(self, exc: StorageError) -> None:
        if self.exporter.store.failure is None:  # a failed store is reported as itself
            self.failure = exc
