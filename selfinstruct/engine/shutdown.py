"""Graceful shutdown by signal: the first SIGINT/SIGTERM stops intake and drains, a second one stops at once.

Used by every long-running entry point through the run harness (``harness``), so
they all behave the same. The drain rule: after the first signal no new request
starts (the engine watches ``Shutdown.stop``: items not begun, retries, and
requests waiting for a permit or a breaker probe all end unsent and stay
uncommitted, so the next run asks them). Requests already on the wire get up to
the grace period; the drain ends as soon as they are done. Then the rest is
cancelled and the store is always closed (its final write is shielded).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from selfinstruct.errors import RequestNotStarted

if TYPE_CHECKING:
    from selfinstruct.engine.engine import TaskPool

__all__ = ["Shutdown", "StopEvent", "drain", "until_stopped"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class StopEvent(asyncio.Event):
    """An ``asyncio.Event`` that also calls its subscribers, synchronously, when it is set.

    The engine subscribes a request's task while it waits (for a permit, a backoff,
    a breaker probe), so a stop cuts the wait short without a watcher task per wait.
    """

    def __init__(self) -> None:
        super().__init__()
        self._subscribers: set[Callable[[], None]] = set()

    def subscribe(self, callback: Callable[[], None]) -> None:
        self._subscribers.add(callback)

    def unsubscribe(self, callback: Callable[[], None]) -> None:
        self._subscribers.discard(callback)

    def set(self) -> None:
        if self.is_set():
            return
        super().set()
        for callback in list(self._subscribers):
            callback()


async def until_stopped(awaitable: Awaitable[T], stop: asyncio.Event | None) -> T:
    """Await ``awaitable``; if ``stop`` is set first, cancel it and raise ``RequestNotStarted``.

    With a ``StopEvent`` the waiting task itself is cancelled from ``set()``, so a
    wait costs one subscription; a plain ``asyncio.Event`` is raced in a task.
    """
    if stop is None:
        return await awaitable
    if stop.is_set():
        _discard(awaitable)
        raise RequestNotStarted("stopping")
    if not isinstance(stop, StopEvent):
        return await _race(awaitable, stop)
    task = asyncio.current_task()
    assert task is not None
    cut = False

    def on_stop() -> None:
        nonlocal cut
        cut = True
        task.cancel()

    stop.subscribe(on_stop)
    try:
        return await awaitable
    except asyncio.CancelledError:
        if cut:
            task.uncancel()
            raise RequestNotStarted("stopping") from None
        raise
    finally:
        stop.unsubscribe(on_stop)


async def _race(awaitable: Awaitable[T], stop: asyncio.Event) -> T:
    work = asyncio.ensure_future(awaitable)
    stopper = asyncio.get_running_loop().create_task(stop.wait())
    try:
        await asyncio.wait({work, stopper}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        work.cancel()
        raise
    finally:
        stopper.cancel()
    if work.done():
        return work.result()
    work.cancel()
    await asyncio.gather(work, return_exceptions=True)
    raise RequestNotStarted("stopping")


def _discard(awaitable: Awaitable[Any]) -> None:
    """Close a coroutine that will never be awaited (avoids the 'never awaited' warning)."""
    close = getattr(awaitable, "close", None)
    if close is not None:
        close()


class Shutdown:
    """``stop`` is set by the first signal (or by the owner on a fatal error); ``hard`` by the second signal."""

    def __init__(self) -> None:
        self.stop = StopEvent()
        self.hard = asyncio.Event()
        self.signalled = False
        self._installed: list[int] = []

    def _on_signal(self) -> None:
        self.signalled = True
        if self.stop.is_set():
            log.warning("second signal: stopping now")
            self.hard.set()
        else:
            log.warning("stopping: draining in-flight requests (signal again to stop at once)")
            self.stop.set()

    def install(self) -> "Shutdown":
        if sys.platform == "win32":
            return self
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self._on_signal)
                self._installed.append(sig)
            except (RuntimeError, ValueError):  # not the main thread: the owner stops us instead
                pass
        return self

    def uninstall(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in self._installed:
            loop.remove_signal_handler(sig)
        self._installed.clear()


async def drain(pool: "TaskPool", shutdown: Shutdown, grace: float) -> None:
    """Let running tasks finish; once ``stop`` is set allow ``grace`` seconds; ``hard`` ends it at once."""
    loop = asyncio.get_running_loop()
    if not shutdown.stop.is_set():
        join, stopped = loop.create_task(pool.join()), loop.create_task(shutdown.stop.wait())
        await asyncio.wait({join, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if join.done():
            return
        join.cancel()
    if pool.fatal is not None:
        return
    join, hard = loop.create_task(pool.join(grace)), loop.create_task(shutdown.hard.wait())
    await asyncio.wait({join, hard}, return_when=asyncio.FIRST_COMPLETED)
    join.cancel()
    hard.cancel()
