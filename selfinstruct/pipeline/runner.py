"""The Self-Instruct pipeline as one stream on the engine: generate -> filter -> classify -> instances.

An accepted instruction flows at once to classification and then to instance
generation; the instruction producer samples from the live pool. All requests
share one engine (one throttle, one store), so a kill at any moment resumes
every stage:

- Each request has a deterministic id (``gen-000042``, ``clf-<hash>``,
  ``inst-<hash>``); the engine answers a done id from the store, never again
  from the endpoint.
- What the pipeline derives from an answer (accepted instructions, rejects,
  labels, instances) is written as records in one store operation together
  with a ``processed`` mark. An answer committed but not yet processed when the
  process died is processed on restart, against the pool as it was committed.
- The pool and the near-duplicate index are rebuilt from the records.

Decisions (filters, dedup) happen synchronously on the event loop between
awaits, so the in-memory pool and the records are always in the same order.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import logging
import random
from dataclasses import dataclass
from typing import Any

import orjson

from selfinstruct.engine import Engine, TaskPool
from selfinstruct.engine.shutdown import Shutdown, drain
from selfinstruct.errors import RequestFailed
from selfinstruct.stages.classify import build_classification_prompt, parse_classification
from selfinstruct.stages.filters import InstructionFilter
from selfinstruct.stages.instances import build_instance_prompt, process_instances
from selfinstruct.stages.instructions import InstructionPromptBuilder, parse_instruction_list
from workers.base import Request, Response

__all__ = ["SelfInstructPipeline", "PipelineOutcome", "instruction_key"]

log = logging.getLogger(__name__)


def instruction_key(instruction: str) -> str:
    return hashlib.sha1(instruction.encode()).hexdigest()[:20]


@dataclass
class PipelineOutcome:
    accepted: int
    with_instances: int
    interrupted: bool
    stalled: bool
    failed_requests: int


class SelfInstructPipeline:
    def __init__(self, *, engine: Engine, seeds: list[Any], builder: InstructionPromptBuilder,
                 instruction_filter: InstructionFilter, dedup: Any, endpoint: str, target: int,
                 stages: tuple[str, ...] = ("generate", "classify", "instances"), classification_only: bool = False,
                 max_instances_per_prompt: int = 5, seed: int = 42, stall_limit: int = 200,
                 max_tasks: int = 128):
        self.engine = engine
        self.store = engine.store
        self.stats = engine.stats
        self.seeds = seeds
        self.builder = builder
        self.filter = instruction_filter
        self.dedup = dedup
        self.endpoint = endpoint
        self.target = target
        self.stages = stages
        self.classification_only = classification_only
        self.max_instances = max_instances_per_prompt
        self.seed = seed
        self.stall_limit = stall_limit
        self.tasks = TaskPool(max_tasks, on_error=self._on_task_error, on_done=self._wake_dispatcher)
        self.pool: list[str] = []
        # Instructions labelled as classification, in label order; only the classify step adds to it.
        # Classification-only mode samples its in-context examples from these.
        self.pool_clf: list[str] = []
        self.labels: dict[str, bool] = {}
        self.has_instances: set[str] = set()
        self.rejects: collections.Counter[str] = collections.Counter()  # whole job, restored on resume
        self._rejects_published: collections.Counter[str] = collections.Counter()
        self.downstream: collections.deque[tuple[str, str]] = collections.deque()
        self._scheduled: set[str] = set()   # instructions with a stage queued or running
        self.gen_next = 0
        self.gen_in_flight = 0
        self.gen_yield = 3.0                # accepted per answer, running estimate
        self.stalled_answers = 0
        self.failed_requests = 0
        self._wake = asyncio.Event()
        self.shutdown: Shutdown | None = None

    # ------------------------------------------------------------------ resume
    def import_run_files(self, instructions: list[str], labels: dict[str, bool]) -> None:
        """Take instructions (and labels) produced elsewhere, e.g. by the original scripts, as accepted as-is."""
        store = self.store
        have = {d["instruction"] for _, d in store.records("instruction")}
        have_labels = {d["instruction"] for _, d in store.records("clf")}
        new = [i for i in dict.fromkeys(instructions) if i not in have]
        new_labels = {i: v for i, v in labels.items() if i not in have_labels}

        def op(conn: Any) -> None:
            for idx, text in enumerate(new):
                store.write_record(conn, "instruction", instruction_key(text), {
                    "instruction": text, "most_similar": {}, "avg_similarity_score": None,
                    "avg_similarity_is_estimate": True, "metadata": {"imported": True}, "request_idx": -1})
            for text, label in new_labels.items():
                store.write_record(conn, "clf", instruction_key(text),
                                   {"instruction": text, "is_classification": label, "raw_answer": None})

        store.submit(op)

    def restore(self) -> None:
        """Rebuild the pool, labels and dedup index from the store, and queue unfinished work."""
        seed_texts = [s.instruction for s in self.seeds]
        self.dedup.add_many(seed_texts)
        stored = [data["instruction"] for _, data in self.store.records("instruction")]
        self.dedup.add_many(stored)
        self.pool = stored
        for _, data in self.store.records("clf"):
            self.labels[data["instruction"]] = bool(data["is_classification"])
        self.pool_clf = [i for i in self.pool if self.labels.get(i)]
        for _, data in self.store.records("instances"):
            self.has_instances.add(data["instruction"])
        for _, data in self.store.records("reject"):
            self.rejects[f"{data['stage']}:{data['reason']}"] += 1
        self._rejects_published = self.rejects.copy()  # earlier processes' rejects are not this one's events
        rows = self.store.query("SELECT id FROM results WHERE id LIKE 'gen-%'")
        self.gen_next = 1 + max((int(r[0][4:]) for r in rows), default=-1)
        # Answers that were committed but not processed before the last stop.
        pending = self.store.query(
            "SELECT id, request, response FROM results WHERE status=1 AND id LIKE 'gen-%' AND id NOT IN "
            "(SELECT key FROM records WHERE kind='processed') ORDER BY done_seq")
        for rid, req_blob, resp_blob in pending:
            req = Request.from_json(orjson.loads(req_blob))
            self._process_generation(req, Response.from_json(orjson.loads(resp_blob)))
        for instruction in self.pool:
            self._queue_downstream(instruction)
        self._update_stats()

    def _queue_downstream(self, instruction: str) -> None:
        """Queue the instruction's next stage, decided from its state; never twice at once."""
        if instruction in self.has_instances or instruction in self._scheduled:
            return
        if instruction not in self.labels:
            if "classify" in self.stages or self.classification_only:
                self.downstream.append(("classify", instruction))
                self._scheduled.add(instruction)
        elif "instances" in self.stages:
            self.downstream.append(("instances", instruction))
            self._scheduled.add(instruction)

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
            self._update_stats()
        if self.tasks.fatal is not None:
            raise self.tasks.fatal
        finished = len(self.pool) >= self.target and not self._unfinished_downstream()
        return PipelineOutcome(accepted=len(self.pool), with_instances=len(self.has_instances),
                               interrupted=shutdown.signalled and not finished,
                               stalled=self.stalled_answers >= self.stall_limit,
                               failed_requests=self.failed_requests)

    async def _wake_on_stop(self, shutdown: Shutdown) -> None:
        await shutdown.stop.wait()
        self._wake.set()

    def _unfinished_downstream(self) -> bool:
        if "instances" not in self.stages and "classify" not in self.stages:
            return False
        return any(i not in self.has_instances for i in self.pool) if "instances" in self.stages else \
            any(i not in self.labels for i in self.pool)

    async def _dispatch(self, shutdown: Shutdown) -> None:
        while not shutdown.stop.is_set():
            if self.downstream:
                stage, instruction = self.downstream.popleft()
                job = self._classify_task if stage == "classify" else self._instances_task
                await self.tasks.spawn(lambda job=job, instruction=instruction: self._run_stage(job, instruction))
                continue
            if self._may_generate():
                await self._spawn_generation()
                continue
            if not len(self.tasks):
                return  # nothing running, nothing to start: done (or stalled)
            self._wake.clear()
            await self._wake.wait()

    def _may_generate(self) -> bool:
        if "generate" not in self.stages or self.stalled_answers >= self.stall_limit:
            return False
        missing = self.target - len(self.pool)
        if missing <= 0:
            return False
        # Enough answers in flight to fill the pool at the observed yield, plus a margin,
        # so the run neither idles nor overshoots the target by much.
        wanted = int(missing / max(self.gen_yield, 0.5)) + 2
        cap = max(1, self.engine.throttle.config.max_concurrency // 2)
        return self.gen_in_flight < min(wanted, cap)

    async def _spawn_generation(self) -> None:
        idx = self.gen_next
        self.gen_next += 1
        rng = random.Random(f"{self.seed}:{idx}")
        machine = self.pool_clf if self.classification_only else self.pool
        prompt = self.builder.build(rng, machine)
        first_number = None
        if prompt.endpoint == "completions":
            first_number = self.builder.config.num_prompt_instructions + 1
        req = Request(id=f"gen-{idx:06d}", **prompt.request_fields(),
                      meta={"stage": "generate", "first_number": first_number})
        self.gen_in_flight += 1
        try:
            await self.tasks.spawn(lambda: self._generation_task(req))
        except BaseException:
            self.gen_in_flight -= 1
            raise

    # ------------------------------------------------------------------ stage tasks
    async def _generation_task(self, req: Request) -> None:
        try:
            response = await self.engine.call(req)
        except RequestFailed as exc:
            self.failed_requests += 1
            self._record_rejects([("generate", "request_failed", "", {"request_id": req.id, "error": str(exc)})],
                                 key=req.id, processed=True)
            return
        finally:
            self.gen_in_flight -= 1
            self._wake.set()
        self._process_generation(req, response)

    def _process_generation(self, req: Request, response: Response) -> None:
        """Parse, filter and dedup one answer; record everything in one store operation. No awaits."""
        parse = parse_instruction_list(response.text, first_number=req.meta.get("first_number"),
                                       finish_reason=response.finish_reason)
        rejects: list[tuple[str, str, str, dict[str, Any]]] = []
        accepted: list[dict[str, Any]] = []
        if parse.dropped_for_length:
            rejects.append(("generate", "finish_reason_length", response.text[:2000], {"request_id": req.id}))
        for text in parse.instructions:
            if len(self.pool) >= self.target:
                break  # the run has what it asked for; the rest of this answer is surplus
            verdict = self.filter.check(text)
            if not verdict.ok:
                rejects.append(("instruction", verdict.reason or "filtered", text, {"request_id": req.id}))
                continue
            decision = self.dedup.check_and_add(text)
            if not decision.keep:
                rejects.append(("instruction", "rouge_l_similar", text, {
                    "request_id": req.id, "max_rouge_l": round(decision.max_score, 4),
                    "most_similar": dict(list(decision.most_similar.items())[:3])}))
                continue
            self.pool.append(text)
            accepted.append({
                "instruction": text,
                "most_similar": decision.most_similar,
                "avg_similarity_score": decision.avg_similarity_estimate,
                "avg_similarity_is_estimate": True,
                "metadata": {"request_id": req.id, "finish_reason": response.finish_reason,
                             "max_rouge_l": round(decision.max_score, 4)},
                "request_idx": int(req.id[4:]),
            })
        n = len(accepted)
        self.gen_yield = 0.8 * self.gen_yield + 0.2 * n
        self.stalled_answers = 0 if n else self.stalled_answers + 1
        store = self.store

        def op(conn: Any) -> None:
            for rec in accepted:
                store.write_record(conn, "instruction", instruction_key(rec["instruction"]), rec)
            _write_rejects(store, conn, req.id, rejects)
            store.write_record(conn, "processed", req.id, {"accepted": n})

        self.store.submit(op)
        for stage, reason, _, _ in rejects:
            self.rejects[f"{stage}:{reason}"] += 1
        for rec in accepted:
            self._queue_downstream(rec["instruction"])
        self._update_stats()
        self._wake.set()

    async def _run_stage(self, job: Any, instruction: str) -> None:
        """Run one stage task; once it has finished, queue the next stage if it succeeded."""
        try:
            succeeded = await job(instruction)
        finally:
            self._scheduled.discard(instruction)
        if succeeded:
            self._queue_downstream(instruction)  # the pool's done-callback then wakes the dispatcher

    async def _classify_task(self, instruction: str) -> bool:
        if self.classification_only:
            label, raw = True, None
        else:
            prompt = build_classification_prompt(instruction, endpoint=self.endpoint)
            req = Request(id=f"clf-{instruction_key(instruction)}", **prompt.request_fields(),
                          meta={"stage": "classify"})
            response = await self._call_or_record_failure(req, "classify", instruction)
            if response is None:
                return False
            raw = response.text
            label = parse_classification(raw, response.finish_reason)
            if label is None:
                # The original treats anything but "yes" as No; we do the same and record it.
                self._record_rejects([("classify", "unparseable_answer", instruction, {"answer": raw[:200]})],
                                     key=f"{req.id}-answer")
                label = False
        record = {"instruction": instruction, "is_classification": label, "raw_answer": raw}
        self.labels[instruction] = label
        if label:
            self.pool_clf.append(instruction)
        await self.store.submit(lambda conn: self.store.write_record(conn, "clf", instruction_key(instruction), record))
        self._update_stats()
        return True

    async def _instances_task(self, instruction: str) -> bool:
        is_clf = self.labels.get(instruction, False)
        prompt = build_instance_prompt(instruction, is_classification=is_clf, endpoint=self.endpoint,
                                       max_instances=self.max_instances)
        req = Request(id=f"inst-{instruction_key(instruction)}", **prompt.request_fields(),
                      meta={"stage": "instances"})
        response = await self._call_or_record_failure(req, "instances", instruction)
        if response is None:
            return False
        result = process_instances(response.text, response.finish_reason, is_classification=is_clf)
        record = {
            "instruction": instruction,
            "is_classification": is_clf,
            "raw_instances": response.text,
            "instance_metadata": {"request_id": req.id, "finish_reason": response.finish_reason,
                                  "usage": response.usage},
            "instances": [{"input": i.input, "output": i.output} for i in result.kept],
        }
        rejects = [("instance", reason, f"{inst.input}\n=> {inst.output}"[:2000], {"instruction": instruction})
                   for inst, reason in result.rejected]
        if result.task_reason:
            rejects.append(("instances", result.task_reason, instruction, {}))
        store = self.store

        def op(conn: Any) -> None:
            store.write_record(conn, "instances", instruction_key(instruction), record)
            _write_rejects(store, conn, req.id, rejects)

        await self.store.submit(op)
        self.has_instances.add(instruction)
        for stage, reason, _, _ in rejects:
            self.rejects[f"{stage}:{reason}"] += 1
        self._update_stats()
        return True

    # ------------------------------------------------------------------ progress
    def progress(self) -> tuple[str, int, int | None]:
        """What the user asked for, for the progress display: accepted instructions of the target, then
        the next stage's count over the accepted pool (instances, or labels when instances do not run)."""
        if "generate" in self.stages and len(self.pool) < self.target and self.stalled_answers < self.stall_limit:
            return "instructions", len(self.pool), self.target
        if "instances" in self.stages:
            return "instances", len(self.has_instances), len(self.pool)
        if "classify" in self.stages or self.classification_only:
            return "classified", len(self.labels), len(self.pool)
        return "instructions", len(self.pool), self.target

    # ------------------------------------------------------------------ helpers
    async def _call_or_record_failure(self, req: Request, stage: str, instruction: str) -> Response | None:
        """The answer, or None after recording a request that used up its attempts (retried on the next run)."""
        try:
            return await self.engine.call(req)
        except RequestFailed as exc:
            self.failed_requests += 1
            self._record_rejects([(stage, "request_failed", instruction, {"error": str(exc)})], key=req.id)
            return None

    def _record_rejects(self, rejects: list[tuple[str, str, str, dict[str, Any]]], *, key: str,
                        processed: bool = False) -> None:
        """Record rejects under ``key`` (a request id); ``processed`` also marks that answer as handled."""
        store = self.store

        def op(conn: Any) -> None:
            _write_rejects(store, conn, key, rejects)
            if processed:
                store.write_record(conn, "processed", key, {"accepted": 0})

        self.store.submit(op)
        for stage, reason, _, _ in rejects:
            self.rejects[f"{stage}:{reason}"] += 1

    def _wake_dispatcher(self) -> None:
        self._wake.set()

    def _on_task_error(self, exc: BaseException) -> None:
        if not isinstance(exc, RequestFailed) and self.shutdown is not None:
            self.shutdown.stop.set()
        self._wake.set()

    def _update_stats(self) -> None:
        self.stats.total = None
        self.stats.extra.update({
            "target_instructions": self.target,
            "accepted_instructions": len(self.pool),
            "classified": len(self.labels),
            "classification_tasks": len(self.pool_clf),
            "instructions_with_instances_done": len(self.has_instances),
            "rejects_by_reason": dict(sorted(self.rejects.items())),
            "generation_requests": self.gen_next,
        })
        # /metrics counts events of this process only (selfinstruct.service.metrics); the stats object
        # outlives a run within one process, so the new rejects are added to what it already holds.
        seen = self.stats.extra.setdefault("rejects_this_process", {})
        for key, n in (self.rejects - self._rejects_published).items():
            seen[key] = seen.get(key, 0) + n
        self._rejects_published = self.rejects.copy()


def _write_rejects(store: Any, conn: Any, key_base: str, rejects: list[tuple[str, str, str, dict[str, Any]]]) -> None:
    for i, (stage, reason, text, extra) in enumerate(rejects):
        store.write_record(conn, "reject", f"{key_base}/{i}", {"stage": stage, "reason": reason, "text": text, **extra})
