"""Where every stage outcome goes: its rows become one store operation, its rejects are counted once.

``RunSink.op(outcome)`` is the only place a reject is counted and the only
place the pipeline writes records; ``publish`` copies the run's counters into
the engine stats (stats.json, /metrics). The pipeline commits the operation
with the answer it came from (``Engine.call(then=)``), so what is counted and
what is stored agree.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Any

from selfinstruct.stages.protocol import Outcome, Record

__all__ = ["RunSink"]


class RunSink:
    """The rejects of a run (``rejects_by_reason``) and the store operations that keep outcomes."""

    def __init__(self, store: Any, stats: Any) -> None:
        self.store = store
        self.stats = stats
        self.rejects: collections.Counter[str] = collections.Counter()   # whole job, restored on resume
        self._published: collections.Counter[str] = collections.Counter()
        self.failed_requests = 0

    def restore(self) -> None:
        """Count the rejects earlier processes stored (they are not this process's events)."""
        for _, data in self.store.records("reject"):
            self.rejects[f"{data['stage']}:{data['reason']}"] += 1
        self._published = self.rejects.copy()

    def op(self, outcome: Outcome) -> Callable[[Any], None]:
        """Count the outcome's rejects and return the store operation that writes its rows."""
        for reject in outcome.rejects:
            self.rejects[reject.counter] += 1
        rows = outcome.records + [Record("reject", f"{outcome.reject_key}/{i}", reject.row())
                                  for i, reject in enumerate(outcome.rejects)]
        return self.rows_op(rows)

    def failed(self, outcome: Outcome) -> Callable[[Any], None]:
        """``op`` for the outcome of a request that used up its attempts; counts the failed request."""
        self.failed_requests += 1
        return self.op(outcome)

    def rows_op(self, rows: list[Record]) -> Callable[[Any], None]:
        """The store operation that writes ``rows`` (upserts by kind and key)."""
        store = self.store

        def op(conn: Any) -> None:
            for row in rows:
                store.write_record(conn, row.kind, row.key, row.data)

        return op

    def by_reason(self) -> dict[str, int]:
        """``rejects_by_reason``: every reject of the job, by ``stage:reason``."""
        return dict(sorted(self.rejects.items()))

    def publish(self, counts: dict[str, Any]) -> None:
        """Put ``counts`` in the engine stats, and this process's new rejects in ``rejects_this_process``."""
        extra = self.stats.extra
        self.stats.total = None
        extra.update(counts)
        # /metrics counts events of this process only (selfinstruct.service.metrics); the stats object
        # outlives a run within one process, so the new rejects are added to what it already holds.
        seen = extra.setdefault("rejects_this_process", {})
        for key, n in (self.rejects - self._published).items():
            seen[key] = seen.get(key, 0) + n
        self._published = self.rejects.copy()
