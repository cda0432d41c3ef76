"""`generate` as a library call: wire config -> store, worker, throttle, engine, pipeline -> run directory.

``generate_async`` takes an optional shared ``Throttle`` (the service passes one
per endpoint and key, so concurrent jobs share limits) and an optional
``Shutdown`` (the service stops jobs itself; the CLI installs signal handlers).
The run directory's files are refreshed while the run goes on (``LiveExport``,
every ``export_interval`` seconds and on a stop) and written once more at the end.

Before anything is written: the run directory must not be an existing file, and
no input (the seed file) may be one of the files the run writes. The run then
holds ``state.sqlite3.lock`` (one writer per state) and checks the state's
fingerprint (model, endpoint kind, default parameters, seed-file hash, prompt
mode); a difference is an error unless ``allow_changes`` (see
``selfinstruct.engine.fingerprint``).
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


def run_fingerprint(config: GenerateConfig, seed_path: Any, prompt_cfg: Any) -> dict[str, Any]:
    """What defines this run's answers; prompt settings and seeds only where the run generates instructions."""
    from selfinstruct.engine.fingerprint import file_digest

    ep = config.endpoint
    current: dict[str, Any] = {"model": ep.model, "endpoint": ep.endpoint, "defaults": dict(ep.defaults)}
    if "generate" in config.generation.stages:
        current.update({"seed_tasks": file_digest(seed_path), "classification_only": prompt_cfg.classification_only,
                        "num_prompt_instructions": prompt_cfg.num_prompt_instructions,
                        "num_machine_instructions": prompt_cfg.num_machine_instructions})
    return current


def check_run_paths(config: GenerateConfig, seed_path: Any) -> None:
    """The run directory is a directory (or new), and the seed file is not a file this run writes."""
    from pathlib import Path

    from selfinstruct.engine.outputs import refuse_overlaps, require_run_dir, same_file
    from selfinstruct.errors import ConfigError
    from selfinstruct.runfiles import FINETUNING, RUN_FILES

    require_run_dir(config.out_dir)
    state = config.state_path
    outputs = {f"run file {name}": config.out_dir / name for name in RUN_FILES.values() if name != FINETUNING}
    outputs.update({"state file": state, "lock file": state.with_name(state.name + ".lock")})
    refuse_overlaps(outputs, {"seed file": Path(seed_path)})
    ft = config.out_dir / RUN_FILES["finetuning"]
    seed = Path(seed_path).resolve()
    if same_file(seed.parent, ft):
        raise ConfigError(f"the seed file {seed_path} is inside the run's {ft} folder, which the run rewrites; "
                          f"copy it elsewhere")


async def generate_async(config: GenerateConfig, *, api_key: str | None = None, throttle: Any = None,
                         shutdown: Any = None, stats: Any = None, on_start: Any = None,
                         allow_changes: bool = False) -> GenerateResult:
    from selfinstruct.engine.runlock import lock_file
    from selfinstruct.stages.seeds import default_seed_path

    seed_path = config.generation.seed_tasks or default_seed_path()
    check_run_paths(config, seed_path)
    state = config.state_path
    lock = lock_file(state.with_name(state.name + ".lock"),
                     in_use=f"{config.out_dir}: in use by another selfinstruct run",
                     hint="wait for it to finish, or choose another --out")
    try:
        return await _generate_locked(config, seed_path, api_key=api_key, throttle=throttle, shutdown=shutdown,
                                      stats=stats, on_start=on_start, allow_changes=allow_changes)
    finally:
        lock.close()


async def _generate_locked(config: GenerateConfig, seed_path: Any, *, api_key: str | None, throttle: Any,
                           shutdown: Any, stats: Any, on_start: Any, allow_changes: bool) -> GenerateResult:
    from selfinstruct.dedup import DedupConfig, NearDuplicateFilter
    from selfinstruct.engine import CheckpointStore, Engine, EngineStats, Reporter, Throttle
    from selfinstruct.engine.shutdown import Shutdown
    from selfinstruct.pipeline.export import LiveExport
    from selfinstruct.pipeline.runner import SelfInstructPipeline
    from selfinstruct.stages.filters import InstructionFilter, InstructionFilterConfig
    from selfinstruct.stages.instructions import InstructionPromptBuilder, InstructionPromptConfig
    from selfinstruct.stages.prepare import PrepareConfig
    from selfinstruct.engine import fingerprint
    from selfinstruct.stages.seeds import load_seed_tasks
    from workers.openai import OpenAIWorker

    gen = config.generation
    seeds = load_seed_tasks(seed_path)
    prompt_cfg = config.prompt or InstructionPromptConfig(endpoint=config.endpoint.endpoint)
    builder = InstructionPromptBuilder(seeds, prompt_cfg)
    config.out_dir.mkdir(parents=True, exist_ok=True)

    stats = stats or EngineStats(model=config.endpoint.model)
    store = await CheckpointStore(config.state_path, synchronous=gen.synchronous).open()
    store.row_model = config.endpoint.model
    try:
        await fingerprint.reconcile(store, run_fingerprint(config, seed_path, prompt_cfg),
                                    allow_changes=allow_changes)
    except BaseException:
        await store.close()
        raise
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
    reporter = Reporter(stats, prices=config.prices, interval=gen.progress_interval, label="generate",
                        progress=pipeline.progress)
    prepare = config.export or PrepareConfig()
    live_export = LiveExport(config.state_path, config.out_dir, interval=gen.export_interval, stop=shutdown.stop,
                             snapshot=lambda: stats.snapshot(config.prices), seeds=seeds, prepare=prepare,
                             seed=gen.seed)
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
        live_export.start()
        outcome = await pipeline.run(shutdown, gen.drain_timeout)
    finally:
        await reporter.stop()
        await live_export.close()  # returns once a refresh in progress has written its files
        if own_shutdown:
            shutdown.uninstall()
        try:
            await worker.aclose()
        finally:
            failure = store.failure
            snapshot = stats.snapshot(config.prices)
            export = {}
            try:
                if failure is None:
                    # Wait for every queued record before reading them back for export.
                    await asyncio.shield(store.submit(lambda conn: None))
                    snapshot["models"] = store.models()
                    changes = fingerprint.history(store)
                    if changes:
                        snapshot["settings_changes"] = changes
                    export = await live_export.final(snapshot)
            finally:
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
    from selfinstruct.runfiles import CLASSIFICATION, INSTRUCTIONS

    inst_path = out_dir / INSTRUCTIONS
    clf_path = out_dir / CLASSIFICATION
    instructions = [str(obj["instruction"]) for _, obj in iter_jsonl(inst_path)] if inst_path.exists() else []
    labels = {str(obj["instruction"]): bool(obj["is_classification"]) for _, obj in iter_jsonl(clf_path)} \
        if clf_path.exists() else {}
    pipeline.import_run_files(instructions, labels)
    await pipeline.store.submit(lambda conn: None)


def run_generate(config: GenerateConfig, *, api_key: str | None = None, allow_changes: bool = False) -> GenerateResult:
    return asyncio.run(generate_async(config, api_key=api_key, allow_changes=allow_changes))
