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

With several replicas (``replicas.py``) each attempt goes to the replica
``replicas.choose`` picks, through that replica's own breaker and throttle; a
retry avoids the replica the last attempt failed on, and the run stops on an
outage only when every replica has given up.

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
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from selfinstruct.engine.breaker import Admit, BreakerConfig, CircuitBreaker, GiveUp, is_outage
from selfinstruct.engine.replicas import Replica, choose
from selfinstruct.engine.retry import RetryConfig, make_retrying
from selfinstruct.engine.shutdown import until_stopped
from selfinstruct.engine.stats import EngineStats
from selfinstruct.engine.taskpool import TaskPool
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
                 stop: asyncio.Event | None = None, breaker: BreakerConfig | None = None,
                 replicas: Sequence[tuple[str, Worker, Throttle]] | None = None):
        self.store = store
        self.retry = retry or RetryConfig()
        self.stats = stats or EngineStats()
        self.defaults = dict(defaults or {})
        self.stop = stop
        self._rng = random.Random(seed)
        breaker_config = breaker or BreakerConfig(max_outage=self.retry.max_outage)
        # One replica unless the run lists several (replicas.py); each has its own throttle and breaker.
        routes = list(replicas) if replicas else [(worker.endpoint_url, worker, throttle)]
        self.replicas = [Replica(label, w, t, CircuitBreaker(breaker_config, rng=random.Random(seed)))
                         for label, w, t in routes]
        first = self.replicas[0]
        self.worker, self.throttle, self.breaker = first.worker, first.throttle, first.breaker
        if len(self.replicas) > 1:
            self.stats.replicas = {r.label: r for r in self.replicas}
        self._breaker_changed = asyncio.Event()
        self.not_started = 0   # calls that ended unsent because of ``stop``

    async def call(self, request: Request, *, then: Callable[[Response], Callable | None] | None = None) -> Response:
        """Answer ``request`` exactly once across restarts.

        ``then(response)`` runs on the event loop once the answer is known, with no await before the commit
        is queued, and returns a store operation (or None) for what the caller derived from the answer. A new
        answer commits in the same transaction as that operation: a crash keeps both or neither. An answer
        already in the store gets the operation committed on its own (a state from before answers and their
        derived records were committed together)."""
        response = await stored_answer(self.store, self.stats, request, then)
        if response is not None:
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
        state: dict[str, Any] = {"max_tokens": int(params["max_tokens"]), "attempts": 0, "excused": 0, "avoid": None}
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

    async def _retry(self, request: Request, state: dict[str, Any], prompt_chars: int, n: int,
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

    # -- routing and the circuit breakers ------------------------------------------------
    async def _route(self, avoid: Replica | None) -> tuple[Replica, bool]:
        """Wait until a replica may take this attempt (``replicas.choose``). True when it goes as a probe.

        A down replica due for a probe gets the attempt as its probe; else the least loaded healthy one.
        With every replica down the attempt waits for a change; with every replica given up, the run stops."""
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            for r in self.replicas:
                if r.give_up is None and r.breaker.open:
                    if r is avoid and choose(self.replicas, avoid) is not None:
                        continue   # this request just failed there: let another request probe it
                    decision = r.breaker.admit(now)
                    if decision is Admit.PROBE:
                        return r, True
                    if decision is Admit.GIVE_UP:
                        self._retire(r, now)
            live = [r for r in self.replicas if r.give_up is None]
            if not live:
                if len(self.replicas) == 1:   # a fresh error for each caller, as before replicas
                    only = self.replicas[0]
                    raise self._give_up_error(only, only.breaker.give_up(now), now)
                raise self._all_gone()
            picked = choose(live, avoid)
            if picked is not None:
                return picked, False
            until = min((t for t in (r.breaker.next_event(now) for r in live) if t is not None), default=None)
            wait: Awaitable[Any] = self._breaker_changed.wait()
            if until is not None:
                wait = asyncio.wait_for(wait, until - now)
            try:
                await until_stopped(wait, self.stop)
            except TimeoutError:
                pass

    def _retire(self, replica: Replica, now: float) -> None:
        """The replica gave up (never answered, or down past max_outage): send it nothing more this run."""
        replica.give_up = self._give_up_error(replica, replica.breaker.give_up(now), now)
        replica.stats.retired = True
        if len(self.replicas) > 1:
            log.warning("replica %s retired for this run: %s", replica.label, replica.give_up)
        self._wake_waiters()

    def _all_gone(self) -> Exception:
        first = self.replicas[0].give_up
        errors = "; ".join(str(r.give_up) for r in self.replicas)
        if isinstance(first, EndpointDown):
            return EndpointDown(f"every replica is down: {errors}", endpoint=first.endpoint,
                                down_since=first.down_since, duration=first.duration)
        return EndpointUnreachable(f"no replica answers: {errors}", endpoint=self.worker.endpoint_url)

    def _drop_probe(self, replica: Replica) -> None:
        """The probe this attempt was admitted as will not report: let another caller probe."""
        replica.breaker.cancel_probe()
        self._wake_waiters()

    def _wake_waiters(self) -> None:
        changed, self._breaker_changed = self._breaker_changed, asyncio.Event()
        changed.set()

    def _breaker_moved(self, replica: Replica, now: float) -> None:
        """A breaker opened, closed or rescheduled its probe: wake the waiters and show its state in the stats.

        The run's endpoint counts as down while every replica is down."""
        self._wake_waiters()
        breaker = replica.breaker
        name = replica.url if len(self.replicas) == 1 else f"replica {replica.label}"
        if breaker.open and breaker.down_since is not None:
            if replica.down_since is None:
                replica.down_since = time.time() - (now - breaker.down_since)
                log.warning("%s is not answering (%s); sending one probe per interval until it does",
                            name, replica.last_outage)
        elif replica.down_since is not None:
            log.warning("%s answers again after %.1f s down; continuing", name, time.time() - replica.down_since)
            replica.down_since = None
        down = [r.down_since for r in self.replicas if r.give_up is None]
        self.stats.endpoint_down_since = min(down) if down and all(d is not None for d in down) else None

    def _give_up_error(self, replica: Replica, why: GiveUp | None, now: float) -> Exception:
        url = replica.url
        breaker = replica.breaker
        down_for = now - (breaker.down_since if breaker.down_since is not None else now)
        last = f" (last error: {replica.last_outage})" if replica.last_outage is not None else ""
        if why is GiveUp.UNREACHABLE:
            return EndpointUnreachable(
                f"{url}: the endpoint has not answered once in {down_for:.0f} s, "
                f"{breaker.failures} failed calls{last}", endpoint=url)
        since = replica.down_since
        shown = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since)) if since is not None else "?"
        return EndpointDown(
            f"{url}: the endpoint has been down for {down_for:.0f} s (since {shown}), longer than "
            f"max_outage {self.retry.max_outage:g} s. Nothing is lost: rerun (or resume the job) "
            f"to continue where it stopped{last}", endpoint=url, down_since=since, duration=down_for)

    # -- one attempt ---------------------------------------------------------------------
    async def _permit(self, estimate: int, avoid: Replica | None) -> tuple[Replica, Permit, bool]:
        """A replica, its throttle's permit and whether this attempt is its probe; waits for all, ends on stop.

        The replica's ``outstanding`` counts this attempt from here; the caller ends it (``_attempt``)."""
        while True:
            replica, probe = await self._route(avoid)
            throttle = replica.throttle
            replica.outstanding += 1
            try:
                permit = await until_stopped(throttle.acquire(estimate), self.stop)
            except BaseException:
                replica.outstanding -= 1
                if probe:
                    self._drop_probe(replica)
                raise
            if self.stop is not None and self.stop.is_set():
                replica.outstanding -= 1
                throttle.release(permit, ok=False)
                if probe:
                    self._drop_probe(replica)
                raise RequestNotStarted("stopping")
            if probe or not replica.breaker.open:
                return replica, permit, probe
            # Its breaker opened while this attempt waited for the permit: do not send it there.
            replica.outstanding -= 1
            throttle.release(permit, ok=False)

    async def _attempt(self, request: Request, state: dict[str, Any], prompt_chars: int, n: int) -> Response:
        # Token estimates are learned from the first replica's answers: every replica serves the same model.
        estimate = self.throttle.estimator.estimate(prompt_chars, state["max_tokens"], n)
        state["excused"] = 0
        replica, permit, probe = await self._permit(estimate, state.get("avoid"))
        throttle = replica.throttle
        stats = self.stats
        stats.calls += 1
        replica.stats.calls += 1
        stats.in_flight += 1
        self._show_limits()
        ok = throttled = False
        outcome: bool | None = None   # True: the endpoint answered; False: an outage failure; None: neither
        used = retry_after = rate_limits = None
        try:
            response = await replica.worker.send(request, max_tokens=state["max_tokens"], timeout=self.retry.timeout)
            ok = outcome = True
            usage = response.usage or {}
            used = usage.get("total_tokens")
            stats.prompt_tokens += int(usage.get("prompt_tokens", 0) or 0)
            completion = int(usage.get("completion_tokens", 0) or 0)
            stats.completion_tokens += completion
            if usage:
                self.throttle.estimator.observe(completion, state["max_tokens"], n)
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
                                            endpoint=replica.url, status=400, retryable=False)
            state["max_tokens"] = shrunk
            raise
        except RequestError as exc:
            stats.errors[type(exc).__name__ if exc.status is None else str(exc.status)] += 1
            if is_outage(exc):
                outcome = False
                replica.last_outage = exc
            else:
                outcome = True
            raise
        finally:
            stats.in_flight -= 1
            replica.outstanding -= 1
            if ok:
                replica.stats.answered += 1
            elif throttled:
                replica.stats.rate_limited += 1
            elif outcome is not None:
                replica.stats.errors += 1
            # The next attempt of this request goes elsewhere when it can (see replicas.choose).
            state["avoid"] = None if ok else replica
            throttle.release(permit, ok=ok, throttled=throttled, used_tokens=used,
                             retry_after=retry_after, rate_limits=rate_limits)
            self._show_limits()
            self._tell_breaker(replica, outcome, probe, state)

    def _show_limits(self) -> None:
        """The run's concurrency window and pacing rate: the sums over its live replicas."""
        live = [r.throttle for r in self.replicas if r.give_up is None] or [self.throttle]
        self.stats.window = sum(t.window_size for t in live)
        rates = [t.current_rate for t in live if t.current_rate]
        self.stats.rate = sum(rates) if rates else None

    def _tell_breaker(self, replica: Replica, outcome: bool | None, probe: bool, state: dict[str, Any]) -> None:
        breaker = replica.breaker
        if outcome is None:   # cancelled or crashed on the wire: says nothing about the endpoint
            if probe:
                self._drop_probe(replica)
            return
        now = asyncio.get_running_loop().time()
        if outcome:
            if breaker.on_answer(now, probe=probe):
                self._breaker_moved(replica, now)
            return
        was_open = breaker.open
        state["excused"] = int(breaker.on_outage(now, probe=probe))
        if breaker.open and (probe or not was_open):
            self._breaker_moved(replica, now)


async def stored_answer(store: CheckpointStore, stats: EngineStats, request: Request,
                        then: Callable[[Response], Callable | None] | None) -> Response | None:
    """The answer already stored for ``request``, counted as done from the cache, with ``then``'s operation
    committed on its own; None when there is none. The online and the batch engine answer a resume the same way."""
    stored = store.get_response(request.id)
    if stored is None:
        return None
    stats.done += 1
    stats.cached += 1
    response = Response.from_json(stored)
    op = then(response) if then is not None else None
    if op is not None:
        await store.submit(op)
    return response


def _prompt_chars(request: Request) -> int:
    if request.messages is not None:
        return sum(len(str(m.get("content", ""))) for m in request.messages)
    return len(request.prompt or "")


def _describe(exc: BaseException) -> str:
    status = getattr(exc, "status", None)
    return f"{type(exc).__name__}" + (f" (HTTP {status})" if status else "") + f": {exc}"
