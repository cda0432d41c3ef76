"""The batch engine: ``Engine.call``'s contract (exactly once, across restarts) kept through the Batch API.

Callers use it like the online engine: ``await engine.call(request, then=...)``.
Calls are gathered; once no new call came for ``gather_seconds`` (or a file is
full) the waiting requests are cut into batch files and each file goes through
the store's batch protocol (``store_batches``):

1. the batch (its custom_ids = request ids, and the exact lines) is recorded
   *before* the upload; 2. its file id is recorded after the upload; 3. its batch
   id right after the create; 4. it is polled with backoff; 5. its output is
   committed in one operation: each answer with what its caller derived from it
   (``then``), every item's outcome, the batch closed.

The durability rule. A request id is in at most one open batch; a batch is
created on the server at most once. On restart every open batch is resumed,
never resubmitted: a created one is polled again; a recorded one without a file
is uploaded (no batch can exist for it yet); one with a file but no batch id
(the crash came between create and its record) is first looked up among the
server's batches by its input file, adopted if found, created only if not.
Only items in the error file (each such failure is an attempt, within
``max_attempts``) and the unfinished items of an expired or cancelled batch go
into a later batch.

A stop (signal) ends the waits: calls not in a batch yet, and calls whose batch
is still in flight, raise ``RequestNotStarted``; the next run resumes polling.
In ``auto`` mode a small remainder (``online_tail``) with no batch in flight goes
through the online engine instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import orjson

from selfinstruct.batch.config import BatchConfig
from selfinstruct.engine.engine import Engine, stored_answer
from selfinstruct.engine.shutdown import until_stopped
from selfinstruct.engine.store_batches import BatchRow, ClosedItem
from selfinstruct.errors import (
    MalformedResponse,
    RequestFailed,
    RequestNotStarted,
    RetryableError,
    ServerError,
)
from workers.base import Request, Response, resolve_params
from workers.batch import TERMINAL, BatchWorker, batch_url, split_lines
from workers.openai import parse_body

__all__ = ["BatchEngine"]

log = logging.getLogger(__name__)

_UNFINISHED_CODES = ("batch_expired", "batch_cancelled")
Then = Callable[[Response], Callable | None] | None


class BatchEngine:
    """``call`` answers through batches; ``online`` (the plain engine) shares the store, stats and throttle."""

    def __init__(self, online: Engine, worker: BatchWorker, config: BatchConfig):
        self.online = online
        self.worker = worker
        self.config = config
        self.store = online.store
        self.stats = online.stats
        self.throttle = online.throttle
        self.retry = online.retry
        self.stop = online.stop
        self._endpoint = batch_url(worker.config.endpoint)
        self._waiters: dict[str, tuple[Request, Then, asyncio.Future[Response]]] = {}
        self._queue: dict[str, None] = {}          # ids waiting to be put in a batch, in call order
        self._in_batch: dict[str, str] = {}        # id -> key of its open batch
        self._tasks: set[asyncio.Task[Any]] = set()
        self._open = 0                             # batches in flight
        self._arrived = asyncio.Event()
        self._driver: asyncio.Task[Any] | None = None
        self.fatal: BaseException | None = None
        self.not_started = 0
        self.counts = {"batches": 0, "items_submitted": 0, "items_done": 0, "items_error": 0,
                       "items_unfinished": 0, "resumed_batches": 0, "online_tail": 0,
                       "batch_prompt_tokens": 0, "batch_completion_tokens": 0}
        self.stats.extra["batch"] = self.counts
        self.stats.extra["batches_in_flight"] = []

    # -- the contract ------------------------------------------------------------------
    async def call(self, request: Request, *, then: Then = None) -> Response:
        response = await stored_answer(self.store, self.stats, request, then)
        if response is not None:
            return response
        if self.fatal is not None:
            raise self.fatal
        if self.stop is not None and self.stop.is_set():
            self.not_started += 1
            raise RequestNotStarted(request.id)
        self._start()
        fut: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._waiters[request.id] = (request, then, fut)
        if request.id not in self._in_batch:
            self._queue[request.id] = None
            self._arrived.set()
        try:
            return await fut
        except RequestNotStarted:
            self.not_started += 1
            raise
        finally:
            if self._waiters.get(request.id, (None, None, None))[2] is fut:
                del self._waiters[request.id]

    def _publish(self) -> None:
        """Show the open batches (ids, status, counts) in the stats, for progress lines and the service."""
        self.stats.extra["batches_in_flight"] = [row.to_json() for row in self.store.batches(open_only=True)]

    async def aclose(self) -> None:
        tasks = [t for t in (self._driver, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.worker.aclose()

    # -- the driver: gather calls into batch files -----------------------------------------
    def _start(self) -> None:
        if self._driver is not None:
            return
        for row in self.store.batches(open_only=True):  # a restart: resume, never resubmit
            for req, _ in self.store.batch_items(row.key):
                self._in_batch[req["id"]] = row.key
            self.counts["resumed_batches"] += 1
            self._spawn(self._run_batch(row))
        self._driver = self._spawn(self._drive())

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None and not isinstance(exc, RequestNotStarted):
            self._fail_all(exc)

    def _fail_all(self, exc: BaseException) -> None:
        """A fatal error (or a stop): every waiting caller gets it; what was recorded stays for the next run."""
        if not isinstance(exc, RequestNotStarted) and self.fatal is None:
            self.fatal = exc
        for _, _, fut in list(self._waiters.values()):
            if not fut.done():
                fut.set_exception(exc)

    async def _drive(self) -> None:
        while True:
            await self._gathered()
            if self.stop is not None and self.stop.is_set():
                self._fail_all(RequestNotStarted("stopping"))
                return
            ids = [rid for rid in self._queue if rid in self._waiters and rid not in self._in_batch]
            self._queue.clear()
            if not ids:
                continue
            if self.config.mode == "auto" and self._open == 0 and len(ids) <= self.config.online_tail:
                for rid in ids:
                    self.counts["online_tail"] += 1
                    self._spawn(self._ask_online(rid))
                continue
            await self._submit(ids)

    async def _gathered(self) -> None:
        """Wait for a call, then until none came for ``gather_seconds`` (or a file is full, or a stop)."""
        if not self._queue:
            await self._wait(None)
        while not (self.stop is not None and self.stop.is_set()) and len(self._queue) < self.config.max_file_requests:
            if not await self._wait(self.config.gather_seconds):
                return

    async def _wait(self, timeout: float | None) -> bool:
        """True when a call arrived (or a stop came) within ``timeout``."""
        self._arrived.clear()
        waits = [asyncio.ensure_future(self._arrived.wait())]
        if self.stop is not None:
            waits.append(asyncio.ensure_future(self.stop.wait()))
        try:
            done, _ = await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
        return bool(done)

    async def _ask_online(self, rid: str) -> None:
        request, then, fut = self._waiters[rid]
        try:
            response = await self.online.call(request, then=then)
        except BaseException as exc:  # the caller's own call surfaces it
            if not fut.done():
                fut.set_exception(exc)
            return
        if not fut.done():
            fut.set_result(response)

    async def _submit(self, ids: list[str]) -> None:
        """Cut the waiting requests into files, record each batch, and start it."""
        items = []
        for rid in ids:
            request = self._waiters[rid][0]
            sent = Request(id=rid, prompt=request.prompt, messages=request.messages,
                           params=resolve_params(self.online.defaults, request.params))
            items.append((request.to_json(), self.worker.input_line(sent)))
        lines = [(req["id"], line) for req, line in items]
        by_id = dict((req["id"], (req, line)) for req, line in items)
        for chunk in split_lines(lines, max_requests=self.config.max_file_requests,
                                 max_bytes=self.config.max_file_bytes):
            key = await self.store.record_batch(self._endpoint, [by_id[cid] for cid, _ in chunk])
            for cid, _ in chunk:
                self._in_batch[cid] = key
            self.counts["items_submitted"] += len(chunk)
            self._spawn(self._run_batch(BatchRow(key, self._endpoint, None, None, "recorded", None, {}, len(chunk))))

    # -- one batch ---------------------------------------------------------------------------
    async def _run_batch(self, row: BatchRow) -> None:
        self._open += 1
        try:
            batch = await self._created(row)
            wait = self.config.poll_interval
            while batch.get("status") not in TERMINAL:
                await until_stopped(asyncio.sleep(wait), self.stop)
                wait = min(wait * 1.5, self.config.max_poll_interval)
                batch = await self._api(self.worker.retrieve, batch["id"])
                await self.store.batch_polled(row.key, batch)
                self._publish()
            await self._close(row.key, batch)
            self._publish()
        except RequestNotStarted:
            # Stopping: the batch stays open in the store and the next run polls it again.
            for rid, key in list(self._in_batch.items()):
                if key == row.key and rid in self._waiters and not self._waiters[rid][2].done():
                    self._waiters[rid][2].set_exception(RequestNotStarted(rid))
            raise
        finally:
            self._open -= 1

    async def _created(self, row: BatchRow) -> dict[str, Any]:
        """The server's batch object for ``row``, creating it (once) where the store has no batch id."""
        if row.batch_id is not None:
            return await self._api(self.worker.retrieve, row.batch_id)
        file_id = row.file_id
        batch = None
        if file_id is not None:
            # Recorded with a file but without a batch id: a crash came after the upload, perhaps after
            # the create too. Adopt the batch made from this file if the server has one.
            batch = await self._api(self.worker.find_by_file, file_id)
            if batch is not None:
                log.info("%s: adopting batch %s created from file %s before a restart", row.key, batch["id"],
                         file_id)
        else:
            lines = [line for _, line in self.store.batch_items(row.key)]
            file_id = await self._api(lambda: self.worker.upload(lines, filename=f"{row.key}.jsonl"))
            await self.store.batch_uploaded(row.key, file_id)
        if batch is None:
            batch = await self._api(lambda: self.worker.create(file_id, window=self.config.window,
                                                               metadata={"selfinstruct_batch": row.key}))
            self.counts["batches"] += 1
        await self.store.batch_created(row.key, batch)
        self._publish()
        return batch

    async def _api(self, fn: Callable[..., Any], *args: Any) -> Any:
        """One Files/Batches call; retryable failures are tried again with backoff (``max_attempts`` in a row)."""
        wait = min(1.0, self.config.poll_interval)
        for attempt in range(1, self.retry.max_attempts + 1):
            try:
                return await until_stopped(fn(*args), self.stop)
            except RetryableError as exc:
                if attempt == self.retry.max_attempts:
                    raise
                log.warning("%s; trying again in %.1f s", exc, wait)
                delay = exc.retry_after if exc.retry_after is not None else wait
                await until_stopped(asyncio.sleep(delay), self.stop)
                wait = min(wait * 2, self.config.max_poll_interval)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _close(self, key: str, batch: dict[str, Any]) -> None:
        """Fetch the output and error files and commit every item's outcome with the batch closed."""
        items = self.store.batch_items(key)
        if batch.get("status") == "failed":
            # The server refused the file as a whole (validation): every item failed once and goes again,
            # within max_attempts, so a file that can never pass ends as failed requests with this reason.
            errors = (batch.get("errors") or {}).get("data") or []
            shown = "; ".join(str(e.get("message")) for e in errors[:3] if isinstance(e, dict)) or "no reason given"
            lines = {req["id"]: {"custom_id": req["id"], "error": {"code": "batch_failed", "message": shown}}
                     for req, _ in items}
        else:
            lines = {line["custom_id"]: line for line in await self._content(batch.get("error_file_id"))}
            lines.update((line["custom_id"], line) for line in await self._content(batch.get("output_file_id")))
        prior = self.store.batch_errors([req["id"] for req, _ in items])
        closed: list[ClosedItem] = []
        answers: dict[str, Response] = {}
        late: list[str] = []
        for req, _ in items:   # in the order they were asked: callers derive their records in that order
            rid = req["id"]
            line = lines.get(rid)
            if line is None or (line.get("error") or {}).get("code") in _UNFINISHED_CODES:
                closed.append(ClosedItem(rid, "unfinished"))
                continue
            attempts = prior.get(rid, 0) + 1
            try:
                response = self._response(line)
            except MalformedResponse as exc:
                why = str(exc)
                closed.append(ClosedItem(rid, "error", attempts=attempts,
                                         failed=why if attempts >= self.retry.max_attempts else None))
                continue
            answers[rid] = response
            waiter = self._waiters.get(rid)
            if waiter is None:
                late.append(rid)
            op = waiter[1](response) if waiter is not None and waiter[1] is not None else None
            closed.append(ClosedItem(rid, "done", response.to_json(), attempts, op))
            self.counts["batch_prompt_tokens"] += int(response.usage.get("prompt_tokens", 0) or 0)
            self.counts["batch_completion_tokens"] += int(response.usage.get("completion_tokens", 0) or 0)
        await self.store.close_batch(key, batch, closed)
        self._settle(closed, answers, late)

    def _response(self, line: dict[str, Any]) -> Response:
        """The answer in an output line; MalformedResponse (naming the route and status) for an error line."""
        url = f"{self.worker.api_base}{self._endpoint[3:]}"
        result = line.get("response") or {}
        if result.get("status_code") != 200 or line.get("error"):
            raise MalformedResponse(_describe(line, url), endpoint=url, status=result.get("status_code"))
        choices, usage, model = parse_body(orjson.dumps(result.get("body")), self.worker.config.endpoint, url)
        return Response(choices=choices, usage=usage, model=model)

    def _settle(self, closed: list[ClosedItem], answers: dict[str, Response], late: list[str]) -> None:
        """After the commit: answer the waiting callers, and queue the items that go into a later batch."""
        for item in closed:
            self._in_batch.pop(item.id, None)
            self.counts[f"items_{item.outcome}"] += 1
            waiter = self._waiters.get(item.id)
            if item.outcome == "done":
                if waiter is not None:   # a caller that comes later finds it in the store (counted there)
                    self.stats.done += 1
                if waiter is not None and not waiter[2].done():
                    if item.id in late and waiter[1] is not None:
                        # The caller arrived while the batch was closing: its records commit on their own.
                        self._spawn(self._late_then(item.id, answers[item.id]))
                    else:
                        waiter[2].set_result(answers[item.id])
            elif item.failed is not None:
                self.stats.failed += 1
                if waiter is not None and not waiter[2].done():
                    waiter[2].set_exception(RequestFailed(item.id, ServerError(item.failed), item.attempts))
            elif waiter is not None:
                self._queue[item.id] = None
                self._arrived.set()

    async def _late_then(self, rid: str, response: Response) -> None:
        _, then, fut = self._waiters[rid]
        op = then(response) if then is not None else None
        if op is not None:
            await self.store.submit(op)
        if not fut.done():
            fut.set_result(response)

    async def _content(self, file_id: str | None) -> list[dict[str, Any]]:
        return [] if not file_id else await self._api(self.worker.content, file_id)


def _describe(line: dict[str, Any], url: str) -> str:
    error = line.get("error")
    if isinstance(error, dict):
        return f"batch item error {error.get('code')}: {error.get('message')}"
    response = line.get("response") or {}
    body = response.get("body") or {}
    message = (body.get("error") or {}).get("message") if isinstance(body, dict) else None
    return f"{url}: HTTP {response.get('status_code')} in the batch" + (f": {message}" if message else "")
