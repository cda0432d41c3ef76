"""Bounded task creation for runs: capacity is taken before a task exists and given back when it ends.

Used by the run harness and the pipeline to keep at most N requests (tasks) alive; see ``TaskPool``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from selfinstruct.errors import RequestFailed, RequestNotStarted

__all__ = ["TaskPool"]


class TaskPool:
    """Bounded task creation (arq style): capacity is acquired *before* a task exists, released when it ends.

    A finished task's exception is handed to ``on_error``; the first fatal error
    is kept in ``fatal`` so the owner can stop intake and surface it. A task that
    ended with ``RequestNotStarted`` (the run is stopping) is neither.
    """

    def __init__(self, limit: int, *, on_error: Callable[[BaseException], None] | None = None,
                 on_done: Callable[[], None] | None = None):
        self._sem = asyncio.Semaphore(limit)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._on_error = on_error
        self._on_done = on_done
        self.fatal: BaseException | None = None

    async def spawn(self, coro_fn: Callable[[], Awaitable[Any]]) -> asyncio.Task[Any]:
        await self._sem.acquire()
        try:
            task = asyncio.get_running_loop().create_task(coro_fn())
        except BaseException:
            self._sem.release()
            raise
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        self._sem.release()
        if self._on_done is not None:
            # Called after the task has left the pool, so a waiter that checks len(pool) sees it gone.
            self._on_done()
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None or isinstance(exc, RequestNotStarted):
            return  # not started: the run is stopping, and the next run asks it
        if isinstance(exc, RequestFailed):
            if self._on_error:
                self._on_error(exc)
            return
        if self.fatal is None:
            self.fatal = exc
        if self._on_error:
            self._on_error(exc)

    def __len__(self) -> int:
        return len(self._tasks)

    async def join(self, timeout: float | None = None) -> bool:
        """Wait for running tasks; True if all finished within ``timeout``."""
        if not self._tasks:
            return True
        done, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        return not pending

    async def cancel_all(self) -> None:
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
