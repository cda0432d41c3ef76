"""Run the service: lock the state dir, open the job table, serve HTTP, resume jobs, and shut down by signal.

Shutdown (SIGTERM or SIGINT), in this order:
1. stop taking HTTP requests (the listening socket closes);
2. ask every running job to drain, for up to ``grace`` seconds; a second signal
   (or the end of the grace period) stops them at once;
3. each interrupted job is recorded as ``queued``, so the next start resumes it
   from its checkpoint, and the job table is closed in ``finally``.

A SIGKILL skips all of that and loses nothing either: the job table still says
``running``, which the next start reads as "resume", and each job's own
checkpoint holds every answer that was committed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

from aiohttp import web

from selfinstruct.engine.runlock import lock_file
from selfinstruct.errors import ConfigError
from selfinstruct.service.app import build_app
from selfinstruct.service.config import ServiceConfig
from selfinstruct.service.hygiene import HostPolicy
from selfinstruct.service.manager import JobManager
from selfinstruct.service.store import JobStore

__all__ = ["serve", "lock_state_dir"]

log = logging.getLogger("selfinstruct.service")


def lock_state_dir(state_dir: Path) -> IO[bytes]:
    """Hold an exclusive lock on ``DIR/service.lock`` so two services never run the same jobs twice.

    The kernel drops the lock when the process dies, even by SIGKILL, so a restart never finds a stale lock.
    """
    return lock_file(state_dir / "service.lock",
                     in_use=f"{state_dir}: another selfinstruct service already uses this state directory")


async def serve(config: ServiceConfig, *, environ: Mapping[str, str],
                stop: asyncio.Event | None = None,
                on_ready: Callable[[str, int], None] | None = None) -> None:
    """Serve until ``stop`` is set (or, when no event is given, until SIGTERM/SIGINT)."""
    lock = lock_state_dir(config.state_dir)
    store = JobStore(config.state_dir / "service.sqlite3").open()
    manager = JobManager(store, config.state_dir / "jobs", environ=environ, backends=config.backends,
                         seeds_dir=config.seeds_dir, max_jobs=config.max_jobs, log_interval=config.log_interval,
                         shared_limits=config.limits)
    hosts = HostPolicy(bound_host=config.host, allowed=config.allowed_hosts, port=config.port or None)
    app = build_app(manager, hosts=hosts, token=config.token, origins=config.allowed_origins,
                    max_body=config.max_body_bytes, review_templates=config.review_templates)
    runner = web.AppRunner(app, handle_signals=False)
    loop = asyncio.get_running_loop()
    installed: list[int] = []
    own_stop = stop is None
    stop = stop or asyncio.Event()
    try:
        await runner.setup()
        site = web.TCPSite(runner, config.host, config.port, shutdown_timeout=5.0)
        try:
            await site.start()
        except OSError as exc:
            raise ConfigError(f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}") from exc
        host, port = _bound_address(runner, config)
        hosts.port = port
        log.info("listening on http://%s:%s", host, port, extra={
            "event": "listening", "host": host, "port": port, "state_dir": str(config.state_dir),
            "auth": "bearer" if config.token else "none", "pid": os.getpid()})
        _log_backends(config, environ)
        if own_stop:
            installed = _install_signals(loop, stop, manager)
        manager.start()
        if on_ready is not None:
            on_ready(host, port)
        await stop.wait()
        log.info("stopping: no new requests; draining running jobs", extra={"event": "stopping"})
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        try:
            await runner.cleanup()
            await manager.close(config.grace)
        finally:
            store.close()
            lock.close()
            log.info("stopped", extra={"event": "stopped"})


def _log_backends(config: ServiceConfig, environ: Mapping[str, str]) -> None:
    """Say at start what jobs can run on, and which backends' keys are missing (before a job fails on it)."""
    if not config.backends:
        log.warning("no backends configured: every job will be refused; start with --config service.toml "
                    "([backends.NAME] tables) or --backend NAME=URL", extra={"event": "no_backends"})
        return
    for backend in config.backends.values():
        log.info("backend %s: %s", backend.name, backend.api_base, extra={
            "event": "backend", "backend": backend.name, "api_base": backend.api_base,
            "models": list(backend.models or ()), "rpm": backend.rpm, "tpm": backend.tpm,
            "max_concurrency": backend.max_concurrency})
        if backend.api_key_env is not None and not environ.get(backend.api_key_env):
            log.warning("backend %s: environment variable %s is not set; its jobs will fail until it is",
                        backend.name, backend.api_key_env, extra={"event": "backend_key_missing",
                                                                  "backend": backend.name})


def _bound_address(runner: web.AppRunner, config: ServiceConfig) -> tuple[str, int]:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return str(address[0]), int(address[1])
    return config.host, config.port


def _install_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event, manager: JobManager) -> list[int]:
    """First SIGTERM/SIGINT: drain; a second one: stop running jobs at once."""

    def on_signal(signame: str) -> None:
        if stop.is_set():
            log.warning("second %s: stopping running jobs now", signame, extra={"event": "hard_stop"})
            for job in manager.live.values():
                job.shutdown.hard.set()
        else:
            log.info("%s received", signame, extra={"event": "signal", "signal": signame})
            stop.set()

    installed = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, on_signal, sig.name)
            installed.append(sig)
        except (RuntimeError, ValueError):  # not the main thread (tests): the caller sets ``stop`` instead
            pass
    return installed
