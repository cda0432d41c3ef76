"""The engine: sends one request with limits, retries, a circuit breaker and durable state. It knows nothing about Self-Instruct.

``Engine.call(request)`` is the whole contract:
1. an id already done in the store is answered from the store (resume never re-asks);
2. otherwise attempts go through the circuit breaker (``breaker.py``: while the
   endpoint is down only one probe goes out per interval, and the others wait
   on an event) and the shared ``Throttle`` to the worker; ``retry.py`` decides
   the waits between attempts. A slot in the concurrency window is held only
   while a request is on the wire, not while it backs off or waits;
3. a success is committed to the store *before* ``call`` returns it;
4. a request that runs out of attempts is committed as failed and raises
   ``RequestFailed`` (attempts that failed while the breaker was open do not
   count); a fatal endpoint error (401/403/404/4xx, or ``EndpointUnreachable``)
   propagates at once so the caller can stop the whole run, and so does
   ``EndpointDown`` after ``max_outage``;
5. once ``stop`` is set no attempt starts: a request waiting for a permit, a
   backoff or a probe, and any request not yet begun, raises
   ``RequestNotStarted`` and stays uncommitted. Requests on the wire finish.

Callers decide the concurrency (how many ``call``s run at once); see
``TaskPool`` for the bounded-task pattern used by the run harness and the pipeline.
``defaults`` are the endpoint's default request parameters: each request's
parameters are resolved once (``workers.base.resolve_params``) and the request
goes to the worker with them resolved.
Runs build their engine through ``harness.RunHarness``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from selfinstruct.engine.breaker import Admit, BreakerConfig, CircuitBreaker, GiveUp, is_outage
from selfinstruct.engine.retry import RetryConfig, make_retrying
from selfinstruct.engine.shutdown import until_stopped
from selfinstruct.engine.stats import EngineStats
from selfinstruct.engine.store import CheckpointStore
from selfinstruct.engine.throttle import Permit, Throttle
from selfinstruct.errors import (
    ContextLengthExceeded,
    EndpointDown,
    EndpointUnreachable,
    FatalEndpointError,
    RateLimited,
    RequestError,
    RequestFailed,
    RequestNotStarted,
)
from workers.base import Request, Response, Worker, resolve_params

__all__ = ["Engine", "TaskPool"]

log = logging.getLogger(__name__)


class Engine:
    def __init__(self, worker: Worker, *, throttle: Throttle, store: CheckpointStore,
                 retry: RetryConfig | None = None, stats: EngineStats | None = None,
                 defaults: Mapping[str, Any] | None = None, seed: int | None = None,
                 stop: asyncio.Event | None = None, breaker: BreakerConfig | None = None):
        self.worker = worker
        self.throttle = throttle
        self.store = store
        self.retry = retry or RetryConfig()
        self.stats = stats or EngineStats()
        self.defaults = dict(defaults or {})
        self.stop = stop
        self._rng = random.Random(seed)
        self.breaker = CircuitBreaker(breaker or BreakerConfig(max_outage=self.retry.max_outage),
                                      rng=random.Random(seed))
        self._breaker_changed = asyncio.Event()
        self._last_outage: BaseException | None = None
        self.not_started = 0   # calls that ended unsent because of ``stop``

    async def call(self, request: Request, *, then: Callable[[Response], Callable | None] | None = None) -> Response:
        """Answer ``request`` exactly once across restarts.

        ``then(response)`` runs on the event loop once the answer is known, with no await before the commit
        is queued, and returns a store operation (or None) for what the caller derived from the answer. A new
        answer commits in the same transaction as that operation: a crash keeps both or neither. An answer
        already in the store gets the operation committed on its own (a state from before answers and their
        derived records were committed together)."""
        stored = self.store.get_response(request.id)
        if stored is not None:
            self.stats.done += 1
            self.stats.cached += 1
            response = Response.from_json(stored)
            op = then(response) if then is not None else None
            if op is not None:
                await self.store.submit(op)
            return response
        try:
            return await self._call(request, then)
        except RequestNotStarted:
            self.not_started += 1
            raise

    async def _call(self, request: Request, then: Callable[[Response], Callable | None] | None) -> Response:
        if self.stop is not None and self.stop.is_set():
            raise RequestNotStarted(request.id)
        # Its parameters are resolved once and sent as they are; the stored request stays the one asked
        # (its digest is what a resume compares). After a context-length error max_tokens shrinks.
        params = resolve_params(self.defaults, request.params)
        sent = dataclasses.replace(request, params=params)
        n = int(params.get("n") or 1)
        # attempts: the ones that count against max_attempts; excused: the last failure was the outage's
        state = {"max_tokens": int(params["max_tokens"]), "attempts": 0, "excused": 0}
        prompt_chars = _prompt_chars(request)
        last_error: BaseException | None = None
        try:
            # Most calls succeed first time: try once directly, and only build the tenacity
            # controller (which costs more than the rest of the engine) after a failure.
            try:
                response = await self._attempt(sent, state, prompt_chars, n)
            except RequestError as exc:
                response = await self._retry(sent, state, prompt_chars, n, exc)
        except FatalEndpointError:
            self.stats.errors["fatal"] += 1
            raise
        except (RequestError, ContextLengthExceeded) as exc:
            last_error = exc
        if last_error is not None:
            await self.store.put_failed(request.id, request.to_json(), _describe(last_error), state["attempts"])
            self.stats.failed += 1
            raise RequestFailed(request.id, last_error, state["attempts"]) from last_error
        derived = then(response) if then is not None else None
        await self.store.put_result(request.id, request.to_json(), response.to_json(), state["attempts"] + 1, derived)
        self.stats.done += 1
        return response

    async def _retry(self, request: Request, state: dict[str, int], prompt_chars: int, n: int,
                     first: RequestError) -> Response:
        """The attempts after a first failure, under tenacity (``retry.make_retrying``)."""
        retrying = make_retrying(self.retry, self._rng, state, on_retry=self._count_retry,
                                 sleep=lambda seconds: until_stopped(asyncio.sleep(seconds), self.stop))
        replayed = False
        async for attempt in retrying:
            with attempt:
                if not replayed:  # tenacity judges the first failure like any other
                    replayed = True
                    raise first
                return await self._attempt(request, state, prompt_chars, n)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    def _count_retry(self) -> None:
        self.stats.retries += 1

    # -- the circuit breaker -------------------------------------------------------------
    async def _admit(self) -> bool:
        """Wait until the breaker lets this attempt go. True when it goes as the probe."""
        loop = asyncio.get_running_loop()
        breaker = self.breaker
        while True:
            now = loop.time()
            decision = breaker.admit(now)
            if decision is Admit.SEND:
                return False
            if decision is Admit.PROBE:
                return True
            if decision is Admit.GIVE_UP:
                raise self._give_up_error(breaker.give_up(now), now)
            until = breaker.next_event(now)
            wait: Awaitable[Any] = self._breaker_changed.wait()
            if until is not None:
                wait = asyncio.wait_for(wait, until - now)
            try:
                await until_stopped(wait, self.stop)
            except TimeoutError:
                pass

    def _drop_probe(self) -> None:
        """The probe this attempt was admitted as will not report: let another caller probe."""
        self.breaker.cancel_probe()
        self._wake_waiters()

    def _wake_waiters(self) -> None:
        changed, self._breaker_changed = self._breaker_changed, asyncio.Event()
        changed.set()

    def _breaker_moved(self, now: float) -> None:
        """The breaker opened, closed or rescheduled its probe: wake its waiters and show its state in the stats."""
        self._wake_waiters()
        breaker = self.breaker
        if breaker.open and breaker.down_since is not None:
            if self.stats.endpoint_down_since is None:
                self.stats.endpoint_down_since = time.time() - (now - breaker.down_since)
                log.warning("%s is not answering (%s); sending one probe per interval until it does",
                            self.worker.endpoint_url, self._last_outage)
        elif self.stats.endpoint_down_since is not None:
            log.warning("%s answers again after %.1f s down; continuing", self.worker.endpoint_url,
                        time.time() - self.stats.endpoint_down_since)
            self.stats.endpoint_down_since = None

    def _give_up_error(self, why: GiveUp | None, now: float) -> Exception:
        url = self.worker.endpoint_url
        breaker = self.breaker
        down_for = now - (breaker.down_since if breaker.down_since is not None else now)
        last = f" (last error: {self._last_outage})" if self._last_outage is not None else ""
        if why is GiveUp.UNREACHABLE:
            return EndpointUnreachable(
                f"{url}: the endpoint has not answered once in {down_for:.0f} s, "
                f"{breaker.failures} failed calls{last}", endpoint=url)
        since = self.stats.endpoint_down_since
        shown = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since)) if since is not None else "?"
        return EndpointDown(
            f"{url}: the endpoint has been down for {down_for:.0f} s (since {shown}), longer than "
            f"max_outage {self.retry.max_outage:g} s. Nothing is lost: rerun (or resume the job) "
            f"to continue where it stopped{last}", endpoint=url, down_since=since, duration=down_for)

    # -- one attempt ---------------------------------------------------------------------
    async def _permit(self, estimate: int) -> tuple[Permit, bool]:
        """A throttle permit and whether this attempt is the breaker's probe; waits for both, ends on stop."""
        throttle = self.throttle
        breaker = self.breaker
        while True:
            probe = await self._admit() if breaker.open else False
            try:
                permit = await until_stopped(throttle.acquire(estimate), self.stop)
            except BaseException:
                if probe:
                    self._drop_probe()
                raise
            if self.stop is not None and self.stop.is_set():
                throttle.release(permit, ok=False)
                if probe:
                    self._drop_probe()
                raise RequestNotStarted("stopping")
            if probe or not breaker.open:
                return permit, probe
            # The breaker opened while this attempt waited for its permit: do not send it.
            throttle.release(permit, ok=False)

    async def _attempt(self, request: Request, state: dict[str, int], prompt_chars: int, n: int) -> Response:
        throttle = self.throttle
        estimate = throttle.estimator.estimate(prompt_chars, state["max_tokens"], n)
        state["excused"] = 0
        permit, probe = await self._permit(estimate)
        stats = self.stats
        stats.calls += 1
        stats.in_flight += 1
        stats.window = throttle.window_size
        ok = throttled = False
        outcome: bool | None = None   # True: the endpoint answered; False: an outage failure; None: neither
        used = retry_after = rate_limits = None
        try:
            response = await self.worker.send(request, max_tokens=state["max_tokens"], timeout=self.retry.timeout)
            ok = outcome = True
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
            outcome = throttled = True
            retry_after = exc.retry_after
            rate_limits = getattr(exc, "rate_limits", None)
            stats.rate_limited += 1
            stats.errors["429"] += 1
            raise
        except ContextLengthExceeded:
            outcome = True
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
            if is_outage(exc):
                outcome = False
                self._last_outage = exc
            else:
                outcome = True
            raise
        finally:
            stats.in_flight -= 1
            throttle.release(permit, ok=ok, throttled=throttled, used_tokens=used,
                             retry_after=retry_after, rate_limits=rate_limits)
            stats.window = throttle.window_size
            stats.rate = throttle.current_rate
            self._tell_breaker(outcome, probe, state)

    def _tell_breaker(self, outcome: bool | None, probe: bool, state: dict[str, int]) -> None:
        breaker = self.breaker
        if outcome is None:   # cancelled or crashed on the wire: says nothing about the endpoint
            if probe:
                self._drop_probe()
            return
        now = asyncio.get_running_loop().time()
        if outcome:
            if breaker.on_answer(now, probe=probe):
                self._breaker_moved(now)
            return
        was_open = breaker.open
        state["excused"] = int(breaker.on_outage(now, probe=probe))
        if breaker.open and (probe or not was_open):
            self._breaker_moved(now)


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
