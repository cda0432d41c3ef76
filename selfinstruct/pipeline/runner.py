"""The Self-Instruct pipeline as one stream on the engine: a scheduler over stages (generate -> classify -> instances).

The stages (``selfinstruct.stages``, the ``Stage`` protocol) say what to ask for
an item and what an answer leaves behind; this module decides what to send
next and commits. An accepted instruction flows at once to classification and
then to instance generation; the instruction source samples from the live pool.
All requests share one engine (one throttle, one store), so a kill at any
moment resumes every stage:

- Each request has a deterministic id (``gen-000042``, ``clf-<hash>``,
  ``inst-<hash>``); the engine answers a done id from the store, never again
  from the endpoint.
- What a stage derives from an answer (accepted instructions, rejects, labels,
  instances, and a generation answer's ``processed`` mark) is committed in the
  same transaction as the answer (``Engine.call(then=)``): a crash keeps both
  or neither. A state written before that (an answer committed but not
  processed) has its answers processed on restart, against the pool as it was
  committed.
- The pool and the near-duplicate index are rebuilt from the records.

Decisions (filters, dedup, labels) happen synchronously on the event loop as
each answer arrives, and their records are queued for commit in the same step,
so the in-memory pool and the records are always in the same order.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from selfinstruct.engine import Engine, TaskPool
from selfinstruct.engine.shutdown import Shutdown, drain
from selfinstruct.errors import RequestFailed
from selfinstruct.pipeline.sink import RunSink
from selfinstruct.stages.classify import ClassifyStage
from selfinstruct.stages.filters import InstructionFilter
from selfinstruct.stages.instances import InstancesStage
from selfinstruct.stages.instructions import InstructionPromptBuilder, InstructionStage
from selfinstruct.stages.protocol import Answer, Ask, DownstreamStage, Outcome, RunState, Stage
from workers.base import Request, Response

__all__ = ["SelfInstructPipeline", "PipelineOutcome"]


@dataclass
class PipelineOutcome:
    accepted: int
    with_instances: int
    interrupted: bool
    stalled: bool
    failed_requests: int


def _request(ask: Ask) -> Request:
    return Request(id=ask.id, **ask.prompt.request_fields(), meta=dict(ask.meta))


def _answer(request_id: str, meta: dict[str, Any], response: Response) -> Answer:
    return Answer(request_id, response.text, response.finish_reason, response.usage, meta)


class SelfInstructPipeline:
    def __init__(self, *, engine: Engine, seeds: list[Any], builder: InstructionPromptBuilder,
                 instruction_filter: InstructionFilter, dedup: Any, endpoint: str, target: int,
                 stages: tuple[str, ...] = ("generate", "classify", "instances"), classification_only: bool = False,
                 max_instances_per_prompt: int = 5, seed: int = 42, stall_limit: int = 200,
                 max_tasks: int = 128, generation_cap: int | None = None):
        self.engine = engine
        self.store = engine.store
        self.seeds = seeds
        self.dedup = dedup
        self.target = target
        self.stall_limit = stall_limit
        # Instruction requests in flight at most (None: half the endpoint's concurrency). In batch mode one
        # round's instruction batch is sized by the target alone (see _may_generate).
        self.generation_cap = generation_cap
        self.state = RunState()
        self.sink = RunSink(engine.store, engine.stats)
        self.source = InstructionStage(self.state, builder, instruction_filter, dedup, target=target, seed=seed)
        # Every accepted instruction goes through these in order; a stage not enabled stops it there.
        self.chain: list[DownstreamStage] = [
            ClassifyStage(self.state, endpoint=endpoint, assume_classification=classification_only),
            InstancesStage(self.state, endpoint=endpoint, max_instances=max_instances_per_prompt),
        ]
        self.enabled = set(stages) | ({"classify"} if classification_only else set())
        self.tasks = TaskPool(max_tasks, on_error=self._on_task_error, on_done=self._wake_dispatcher)
        self.downstream: collections.deque[tuple[DownstreamStage, str]] = collections.deque()
        self._scheduled: set[str] = set()   # instructions with a stage queued or running
        self.gen_next = 0
        self.resumed_generation: collections.deque[int] = collections.deque()
        self.gen_in_flight = 0
        self.gen_yield = 3.0                # accepted per answer, running estimate
        self.stalled_answers = 0
        self._wake = asyncio.Event()
        self.shutdown: Shutdown | None = None

    @property
    def pool(self) -> list[str]:
        return self.state.pool

    @property
    def pool_clf(self) -> list[str]:
        return self.state.pool_clf

    # ------------------------------------------------------------------ resume
    def import_run_files(self, instructions: list[str], labels: dict[str, bool]) -> None:
        """Take instructions (and labels) produced elsewhere, e.g. by the original scripts, as accepted as-is."""
        have = {d["instruction"] for _, d in self.store.records("instruction")}
        have_labels = {d["instruction"] for _, d in self.store.records("clf")}
        rows = [InstructionStage.imported(text) for text in dict.fromkeys(instructions) if text not in have]
        rows += [ClassifyStage.imported(text, label) for text, label in labels.items() if text not in have_labels]
        self.store.submit(self.sink.rows_op(rows))

    def restore(self) -> None:
        """Rebuild the pool, labels and dedup index from the store, and queue unfinished work."""
        state, store = self.state, self.store
        self.dedup.add_many([s.instruction for s in self.seeds])
        state.pool[:] = [data["instruction"] for _, data in store.records("instruction")]
        self.dedup.add_many(state.pool)
        for _, data in store.records("clf"):
            state.labels[data["instruction"]] = bool(data["is_classification"])
        state.pool_clf[:] = [i for i in state.pool if state.labels.get(i)]
        state.with_instances.update(data["instruction"] for _, data in store.records("instances"))
        self.sink.restore()
        prefix = InstructionStage.prefix
        # Batch mode: instruction requests in a batch still in flight are asked again first (the batch answers
        # them, nothing is resubmitted), and their ids are never reused for a new prompt.
        in_flight = sorted(InstructionStage.index(rid) for rid in store.open_batch_ids(prefix))
        self.resumed_generation.extend(in_flight)
        asked = [InstructionStage.index(rid) for rid in store.result_ids(prefix)] + in_flight
        self.gen_next = 1 + max(asked, default=-1)
        # Answers committed without their records (a state from before they were committed together).
        for req, resp in store.answers_without_record(prefix, "processed"):
            request = Request.from_json(req)
            outcome = self.source.answer(InstructionStage.index(request.id),
                                         _answer(request.id, request.meta, Response.from_json(resp)))
            store.submit(self.sink.op(outcome))
            self._took_generation(outcome)
        for instruction in state.pool:
            self._queue(instruction)
        self._publish()

    def _next_stage(self, instruction: str) -> DownstreamStage | None:
        """The stage after the last one the instruction went through, if it is enabled."""
        pending = None
        for stage in reversed(self.chain):
            if stage.done(instruction):
                break
            pending = stage
        return pending if pending is not None and pending.name in self.enabled else None

    def _queue(self, instruction: str) -> None:
        """Queue the instruction's next stage, decided from its state; never twice at once."""
        if instruction in self._scheduled:
            return
        stage = self._next_stage(instruction)
        if stage is not None:
            self.downstream.append((stage, instruction))
            self._scheduled.add(instruction)

    def _last_stage(self) -> DownstreamStage | None:
        return next((s for s in reversed(self.chain) if s.name in self.enabled), None)

    # ------------------------------------------------------------------ the loop
    async def run(self, shutdown: Shutdown, grace: float) -> PipelineOutcome:
        self.shutdown = shutdown
        stopper = asyncio.get_running_loop().create_task(self._wake_on_stop(shutdown))
        try:
            await self._dispatch(shutdown)
            if self.tasks.fatal is None:
                await drain(self.tasks, shutdown, grace)
        finally:
            stopper.cancel()
            await self.tasks.cancel_all()
            self._publish()
        if self.tasks.fatal is not None:
            raise self.tasks.fatal
        last = self._last_stage()
        unfinished = last is not None and any(not last.done(i) for i in self.pool)
        finished = len(self.pool) >= self.target and not unfinished
        return PipelineOutcome(accepted=len(self.pool), with_instances=len(self.state.with_instances),
                               interrupted=shutdown.signalled and not finished,
                               stalled=self.stalled_answers >= self.stall_limit,
                               failed_requests=self.sink.failed_requests)

    async def _wake_on_stop(self, shutdown: Shutdown) -> None:
        await shutdown.stop.wait()
        self._wake.set()

    async def _dispatch(self, shutdown: Shutdown) -> None:
        while not shutdown.stop.is_set():
            if self.downstream:
                stage, instruction = self.downstream.popleft()
                await self.tasks.spawn(lambda s=stage, i=instruction: self._run_downstream(s, i))
                continue
            if self.resumed_generation:
                await self._spawn_generation(self.resumed_generation.popleft())
                continue
            if self._may_generate():
                await self._spawn_generation()
                continue
            if not len(self.tasks):
                return  # nothing running, nothing to start: done (or stalled)
            self._wake.clear()
            await self._wake.wait()

    def _may_generate(self) -> bool:
        if "generate" not in self.enabled or self.stalled_answers >= self.stall_limit:
            return False
        missing = self.target - len(self.pool)
        if missing <= 0:
            return False
        # Enough answers in flight to fill the pool at the observed yield, plus a margin,
        # so the run neither idles nor overshoots the target by much.
        wanted = int(missing / max(self.gen_yield, 0.5)) + 2
        cap = self.generation_cap or max(1, self.engine.throttle.config.max_concurrency // 2)
        return self.gen_in_flight < min(wanted, cap)

    async def _spawn_generation(self, index: int | None = None) -> None:
        if index is None:
            index = self.gen_next
            self.gen_next += 1
        ask = self.source.ask(index)   # samples the pool as it is now
        self.gen_in_flight += 1
        try:
            await self.tasks.spawn(lambda: self._run_generation(index, ask))
        except BaseException:
            self.gen_in_flight -= 1
            raise

    # ------------------------------------------------------------------ tasks
    async def _send(self, stage: Stage[Any], item: Any, ask: Ask | None) -> Outcome | None:
        """Ask for ``item`` and commit the answer with its outcome in one transaction; None if the request
        used up its attempts (its reject is recorded, and the next run asks again)."""
        if ask is None:
            outcome = stage.answer(item, None)
            await self.store.submit(self.sink.op(outcome))
            return outcome
        outcomes: list[Outcome] = []

        def derive(response: Response) -> Callable[[Any], None]:
            outcomes.append(stage.answer(item, _answer(ask.id, ask.meta, response)))
            return self.sink.op(outcomes[-1])

        try:
            await self.engine.call(_request(ask), then=derive)
        except RequestFailed as exc:
            await self.store.submit(self.sink.failed(stage.failed(item, ask, str(exc))))
            return None
        return outcomes[-1]

    async def _run_generation(self, index: int, ask: Ask) -> None:
        try:
            outcome = await self._send(self.source, index, ask)
        finally:
            self.gen_in_flight -= 1
            self._wake.set()
        if outcome is not None:
            self._took_generation(outcome)

    def _took_generation(self, outcome: Outcome) -> None:
        n = len(outcome.advances)
        self.gen_yield = 0.8 * self.gen_yield + 0.2 * n
        self.stalled_answers = 0 if n else self.stalled_answers + 1
        self._advance(outcome)

    async def _run_downstream(self, stage: DownstreamStage, instruction: str) -> None:
        """Run one stage for an instruction; once it has finished, queue the next stage if it succeeded."""
        try:
            outcome = await self._send(stage, instruction, stage.ask(instruction))
        finally:
            self._scheduled.discard(instruction)
        if outcome is not None:
            self._advance(outcome)  # the pool's done-callback then wakes the dispatcher

    def _advance(self, outcome: Outcome) -> None:
        for instruction in outcome.advances:
            self._queue(instruction)
        self._publish()
        self._wake.set()

    # ------------------------------------------------------------------ progress
    def progress(self) -> tuple[str, int, int | None]:
        """What the user asked for, for the progress display: accepted instructions of the target, then
        the last stage's count over the accepted pool (instances, or labels when instances do not run)."""
        if "generate" in self.enabled and len(self.pool) < self.target and self.stalled_answers < self.stall_limit:
            return "instructions", len(self.pool), self.target
        last = self._last_stage()
        if last is not None:
            return last.progress, last.count(), len(self.pool)
        return "instructions", len(self.pool), self.target

    def _publish(self) -> None:
        state = self.state
        self.sink.publish({
            "target_instructions": self.target,
            "accepted_instructions": len(state.pool),
            "classified": len(state.labels),
            "classification_tasks": len(state.pool_clf),
            "instructions_with_instances_done": len(state.with_instances),
            "rejects_by_reason": self.sink.by_reason(),
            "generation_requests": self.gen_next,
        })

    # ------------------------------------------------------------------ task pool callbacks
    def _wake_dispatcher(self) -> None:
        self._wake.set()

    def _on_task_error(self, exc: BaseException) -> None:
        if not isinstance(exc, RequestFailed) and self.shutdown is not None:
            self.shutdown.stop.set()
        self._wake.set()
