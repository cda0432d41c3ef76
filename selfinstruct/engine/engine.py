"""The engine: sends one request with limits, retries and durable state. It knows nothing about Self-Instruct.

``Engine.call(request)`` is the whole contract:
1. an id already done in the store is answered from the store (resume never re-asks);
2. otherwise attempts go through the shared ``Throttle`` to the worker; tenacity
   decides the waits between attempts (see ``retry.py``), and a slot in the
   concurrency window is held only while a request is on the wire, not while it
   backs off;
3. a success is committed to the store *before* ``call`` returns it;
4. a request that runs out of attempts is committed as failed and raises
   ``RequestFailed``; a fatal endpoint error (401/403/404/4xx) propagates at once
   so the caller can stop the whole run.

Callers decide the concurrency (how many ``call``s run at once); see
``TaskPool`` for the bounded-task pattern used by the batch runner and pipeline.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from selfinstruct.engine.retry import RetryConfig, backoff_delay, is_retryable, make_retrying
from selfinstruct.engine.stats import EngineStats
from selfinstruct.engine.store import CheckpointStore
from selfinstruct.engine.throttle import Throttle
from selfinstruct.errors import (
    ContextLengthExceeded,
    FatalEndpointError,
    RateLimited,
    RequestError,
    RequestFailed,
)
from workers.base import Request, Response, Worker

__all__ = ["Engine", "TaskPool"]

log = logging.getLogger(__name__)


class Engine:
    def __init__(self, worker: Worker, *, throttle: Throttle, store: CheckpointStore,
                 retry: RetryConfig | None = None, stats: EngineStats | None = None,
                 defaults: Mapping[str, Any] | None = None, seed: int | None = None):
        self.worker = worker
        self.throttle = throttle
        self.store = store
        self.retry = retry or RetryConfig()
        self.stats = stats or EngineStats()
        self.defaults = dict(defaults or {})
        self._rng = random.Random(seed)

    async def call(self, request: Request, *, then: Callable | None = None) -> Response:
        """Answer ``request`` exactly once across restarts. ``then(conn)`` runs in the same commit as the result."""
        stored = self.store.get_response(request.id)
        if stored is not None:
            self.stats.done += 1
            self.stats.cached += 1
            return Response.from_json(stored)
        max_tokens = int(request.params.get("max_tokens", self.defaults.get("max_tokens", 256)))
        n = int(request.params.get("n", self.defaults.get("n", 1)) or 1)
        state = {"max_tokens": max_tokens, "attempts": 0}
        prompt_chars = _prompt_chars(request)
        last_error: BaseException | None = None
        try:
            # Most calls succeed first time: try once directly, and only build the tenacity
            # controller (which costs more than the rest of the engine) after a failure.
            state["attempts"] = 1
            try:
                response = await self._attempt(request, state, prompt_chars, n)
            except RequestError as exc:
                if not is_retryable(exc) or self.retry.max_attempts <= 1:
                    raise
                response = await self._retry(request, state, prompt_chars, n, exc)
        except FatalEndpointError:
            self.stats.errors["fatal"] += 1
            raise
        except (RequestError, ContextLengthExceeded) as exc:
            last_error = exc
        if last_error is not None:
            await self.store.put_failed(request.id, request.to_json(), _describe(last_error), state["attempts"])
            self.stats.failed += 1
            raise RequestFailed(request.id, last_error, state["attempts"]) from last_error
        await self.store.put_result(request.id, request.to_json(), response.to_json(), state["attempts"], then)
        self.stats.done += 1
        return response

    async def _retry(self, request: Request, state: dict[str, int], prompt_chars: int, n: int,
                     first: BaseException) -> Response:
        """Attempts 2..max_attempts under tenacity, after waiting the backoff the first failure earned."""
        await asyncio.sleep(backoff_delay(1, first, self.retry, self._rng))
        retrying = make_retrying(self.retry, self._rng, attempts_done=1)
        async for attempt in retrying:
            with attempt:
                self.stats.retries += 1
                state["attempts"] += 1
                return await self._attempt(request, state, prompt_chars, n)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def _attempt(self, request: Request, state: dict[str, int], prompt_chars: int, n: int) -> Response:
        throttle = self.throttle
        estimate = throttle.estimator.estimate(prompt_chars, state["max_tokens"], n)
        permit = await throttle.acquire(estimate)
        stats = self.stats
        stats.calls += 1
        stats.in_flight += 1
        stats.window = throttle.window_size
        ok = throttled = False
        used = retry_after = rate_limits = None
        try:
            response = await self.worker.send(request, max_tokens=state["max_tokens"], timeout=self.retry.timeout)
            ok = True
            usage = response.usage or {}
            used = usage.get("total_tokens")
            stats.prompt_tokens += int(usage.get("prompt_tokens", 0) or 0)
            completion = int(usage.get("completion_tokens", 0) or 0)
            stats.completion_tokens += completion
            if usage:
                throttle.estimator.observe(completion, state["max_tokens"], n)
            rate_limits = response.rate_limits
            return response
        except RateLimited as exc:
            throttled = True
            retry_after = exc.retry_after
            rate_limits = getattr(exc, "rate_limits", None)
            stats.rate_limited += 1
            stats.errors["429"] += 1
            raise
        except ContextLengthExceeded:
            stats.errors["context_length"] += 1
            shrunk = int(state["max_tokens"] * self.retry.shrink_factor)
            if shrunk < self.retry.min_max_tokens:
                # Nothing left to shrink: this request cannot succeed, so stop retrying it.
                raise ContextLengthExceeded(f"prompt too long even with max_tokens={state['max_tokens']}",
                                            endpoint=self.worker.endpoint_url, status=400,
                                            retryable=False)
            state["max_tokens"] = shrunk
            raise
        except RequestError as exc:
            stats.errors[type(exc).__name__ if exc.status is None else str(exc.status)] += 1
            raise
        finally:
            stats.in_flight -= 1
            throttle.release(permit, ok=ok, throttled=throttled, used_tokens=used,
                             retry_after=retry_after, rate_limits=rate_limits)
            stats.window = throttle.window_size
            stats.rate = throttle.current_rate


def _prompt_chars(request: Request) -> int:
    if request.messages is not None:
        return sum(len(str(m.get("content", ""))) for m in request.messages)
    return len(request.prompt or "")


def _describe(exc: BaseException) -> str:
    status = getattr(exc, "status", None)
    return f"{type(exc).__name__}" + (f" (HTTP {status})" if status else "") + f": {exc}"


class TaskPool:
    """Bounded task creation (arq style): capacity is acquired *before* a task exists, released when it ends.

    A finished task's exception is handed to ``on_error``; the first fatal error
    is kept in ``fatal`` so the owner can stop intake and surface it.
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
        if exc is None:
            return
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
