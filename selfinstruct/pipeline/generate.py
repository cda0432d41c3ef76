"""`generate` as a library call: wire config -> store, worker, throttle, engine, pipeline -> run directory.

``generate_async`` takes an optional shared ``Throttle`` (the service passes one
per endpoint and key, so concurrent jobs share limits) and an optional
``Shutdown`` (the service stops jobs itself; the CLI installs signal handlers).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from selfinstruct.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_SOME_FAILED
from selfinstruct.pipeline.config import GenerateConfig

__all__ = ["GenerateResult", "generate_async", "run_generate"]

log = logging.getLogger(__name__)


@dataclass
class GenerateResult:
    exit_code: int
    stats: dict[str, Any]
    export: dict[str, Any]
    interrupted: bool
    stalled: bool


async def generate_async(config: GenerateConfig, *, api_key: str | None = None, throttle: Any = None,
                         shutdown: Any = None, stats: Any = None, on_start: Any = None) -> GenerateResult:
    from selfinstruct.dedup import DedupConfig, NearDuplicateFilter
    from selfinstruct.engine import CheckpointStore, Engine, EngineStats, Reporter, Throttle
    from selfinstruct.engine.shutdown import Shutdown
    from selfinstruct.pipeline.export import export_run
    from selfinstruct.pipeline.runner import SelfInstructPipeline
    from selfinstruct.stages.filters import InstructionFilter, InstructionFilterConfig
    from selfinstruct.stages.instructions import InstructionPromptBuilder, InstructionPromptConfig
    from selfinstruct.stages.prepare import PrepareConfig
    from selfinstruct.stages.seeds import default_seed_path, load_seed_tasks
    from workers.openai import OpenAIWorker

    gen = config.generation
    seeds = load_seed_tasks(gen.seed_tasks or default_seed_path())
    prompt_cfg = config.prompt or InstructionPromptConfig(endpoint=config.endpoint.endpoint)
    builder = InstructionPromptBuilder(seeds, prompt_cfg)
    config.out_dir.mkdir(parents=True, exist_ok=True)

    stats = stats or EngineStats(model=config.endpoint.model)
    store = await CheckpointStore(config.state_path, synchronous=gen.synchronous).open()
    worker = OpenAIWorker(config.endpoint, api_key, max_connections=config.limits.max_concurrency)
    throttle = throttle or Throttle(config.limits)
    own_shutdown = shutdown is None
    shutdown = shutdown or Shutdown()
    engine = Engine(worker, throttle=throttle, store=store, retry=config.retry, stats=stats,
                    defaults=config.endpoint.defaults, seed=gen.seed, stop=shutdown.stop)
    t0 = time.perf_counter()
    dedup = NearDuplicateFilter(config.dedup or DedupConfig())
    pipeline = SelfInstructPipeline(
        engine=engine, seeds=seeds, builder=builder,
        instruction_filter=InstructionFilter(config.filters or InstructionFilterConfig()), dedup=dedup,
        endpoint=config.endpoint.endpoint, target=gen.num_instructions, stages=gen.stages,
        classification_only=prompt_cfg.classification_only, max_instances_per_prompt=gen.max_instances_per_prompt,
        seed=gen.seed, stall_limit=gen.stall_limit, max_tasks=max(8, 2 * config.limits.max_concurrency))
    reporter = Reporter(stats, prices=config.prices, interval=gen.progress_interval, label="generate")
    outcome = None
    try:
        if gen.import_run_files:
            await _import_run_files(pipeline, config.out_dir)
        pipeline.restore()
        stats.extra["restore_seconds"] = round(time.perf_counter() - t0, 3)
        if own_shutdown:
            shutdown.install()
        if on_start is not None:
            on_start(pipeline)
        reporter.start()
        outcome = await pipeline.run(shutdown, gen.drain_timeout)
    finally:
        await reporter.stop()
        if own_shutdown:
            shutdown.uninstall()
        try:
            await worker.aclose()
        finally:
            failure = store.failure
            snapshot = stats.snapshot(config.prices)
            export = {}
            if failure is None:
                # Wait for every queued record before reading them back for export.
                await asyncio.shield(store.submit(lambda conn: None))
                export = export_run(store, config.out_dir, seeds=seeds, prepare=config.export or PrepareConfig(),
                                    seed=gen.seed, stats=snapshot)
            await store.close()
    if store.failure is not None:
        raise store.failure
    if outcome.interrupted:
        code = EXIT_INTERRUPTED
    elif outcome.failed_requests or outcome.stalled or outcome.accepted < gen.num_instructions:
        code = EXIT_SOME_FAILED
    else:
        code = EXIT_OK
    return GenerateResult(exit_code=code, stats=snapshot, export=export, interrupted=outcome.interrupted,
                          stalled=outcome.stalled)


async def _import_run_files(pipeline: Any, out_dir: Any) -> None:
    from selfinstruct.io import iter_jsonl

    inst_path = out_dir / "machine_generated_instructions.jsonl"
    clf_path = out_dir / "is_clf_or_not.jsonl"
    instructions = [str(obj["instruction"]) for _, obj in iter_jsonl(inst_path)] if inst_path.exists() else []
    labels = {str(obj["instruction"]): bool(obj["is_classification"]) for _, obj in iter_jsonl(clf_path)} \
        if clf_path.exists() else {}
    pipeline.import_run_files(instructions, labels)
    await pipeline.store.submit(lambda conn: None)


def run_generate(config: GenerateConfig, *, api_key: str | None = None) -> GenerateResult:
    return asyncio.run(generate_async(config, api_key=api_key))
