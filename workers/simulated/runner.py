"""Ways to run a SimulatedEndpoint: in a background thread (demo, sync tests) or in the foreground (CLI)."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from typing import Any

from workers.simulated.config import SimConfig
from workers.simulated.server import SimulatedEndpoint

__all__ = ["RunningSim", "start_in_thread", "serve_forever"]


class RunningSim:
    """A simulator serving from its own event loop in a daemon thread. Use as a context manager."""

    def __init__(self, sim: SimulatedEndpoint, loop: asyncio.AbstractEventLoop, thread: threading.Thread, url: str):
        self.sim = sim
        self.url = url
        self._loop = loop
        self._thread = thread

    def stats(self, *, with_ids: bool = True) -> dict[str, Any]:
        # Read on the server's loop so counters are not read mid-update.
        return asyncio.run_coroutine_threadsafe(self._stats(with_ids), self._loop).result(timeout=10)

    async def _stats(self, with_ids: bool) -> dict[str, Any]:
        return self.sim.stats(with_ids=with_ids)

    def reset(self) -> None:
        asyncio.run_coroutine_threadsafe(self._reset(), self._loop).result(timeout=10)

    async def _reset(self) -> None:
        self.sim._reset()

    def outage(self, seconds: float, *, after: float = 0.0) -> None:
        """Answer 503 to every completion call for ``seconds``, starting ``after`` seconds from now (0 ends one)."""
        asyncio.run_coroutine_threadsafe(self._outage(seconds, after), self._loop).result(timeout=10)

    async def _outage(self, seconds: float, after: float) -> None:
        self.sim.set_outage(seconds, after=after)

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self.sim.stop(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)

    def __enter__(self) -> "RunningSim":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_in_thread(config: SimConfig | None = None, port: int = 0, host: str = "127.0.0.1") -> RunningSim:
    """Start a simulator on a fresh event loop in a daemon thread; returns once it accepts connections."""
    sim = SimulatedEndpoint(config)
    loop = asyncio.new_event_loop()
    ready: dict[str, Any] = {}
    started = threading.Event()

    def main() -> None:
        asyncio.set_event_loop(loop)
        try:
            ready["url"] = loop.run_until_complete(sim.start(host, port))
        except BaseException as exc:  # surfaced to the caller below
            ready["error"] = exc
            started.set()
            loop.close()
            return
        started.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    thread = threading.Thread(target=main, name="simulated-endpoint", daemon=True)
    thread.start()
    started.wait()
    if "error" in ready:
        raise ready["error"]
    return RunningSim(sim, loop, thread, ready["url"])


async def _serve(config: SimConfig, host: str, port: int, on_ready: Callable[[str], None] | None) -> None:
    sim = SimulatedEndpoint(config)
    url = await sim.start(host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        if on_ready is not None:
            on_ready(url)
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await sim.stop()


def serve_forever(config: SimConfig, host: str = "127.0.0.1", port: int = 8000,
                  on_ready: Callable[[str], None] | None = None) -> None:
    """Serve in the foreground until SIGINT or SIGTERM; ``on_ready`` gets the base URL."""
    asyncio.run(_serve(config, host, port, on_ready))
