"""`generate` as a library call: config -> the run harness (store, worker, throttle, engine) + the pipeline -> run directory.

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
    from selfinstruct.engine.fingerprint import file_digest, of_endpoint

    current = of_endpoint(config.endpoint)
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
    from selfinstruct.dedup import DedupConfig, NearDuplicateFilter
    from selfinstruct.engine import fingerprint
    from selfinstruct.engine.harness import RunHarness, RunSettings, exit_code
    from selfinstruct.pipeline.export import LiveExport
    from selfinstruct.pipeline.runner import SelfInstructPipeline
    from selfinstruct.stages.filters import InstructionFilter, InstructionFilterConfig
    from selfinstruct.stages.instructions import InstructionPromptBuilder, InstructionPromptConfig
    from selfinstruct.stages.prepare import PrepareConfig
    from selfinstruct.stages.seeds import default_seed_path, load_seed_tasks

    gen = config.generation
    seed_path = gen.seed_tasks or default_seed_path()
    check_run_paths(config, seed_path)
    seeds = load_seed_tasks(seed_path)
    prompt_cfg = config.prompt or InstructionPromptConfig(endpoint=config.endpoint.endpoint)
    builder = InstructionPromptBuilder(seeds, prompt_cfg)
    settings = RunSettings(state=config.state_path, owner=str(config.out_dir), endpoint=config.endpoint,
                           limits=config.limits, retry=config.retry,
                           fingerprint=run_fingerprint(config, seed_path, prompt_cfg), allow_changes=allow_changes,
                           synchronous=gen.synchronous, seed=gen.seed, drain_timeout=gen.drain_timeout,
                           label="generate", progress_interval=gen.progress_interval, prices=config.prices,
                           batch=config.batch)
    config.out_dir.mkdir(parents=True, exist_ok=True)
    async with RunHarness(settings, api_key=api_key, throttle=throttle, shutdown=shutdown, stats=stats) as run:
        t0 = time.perf_counter()
        stats = run.stats
        pipeline = SelfInstructPipeline(
            engine=run.engine, seeds=seeds, builder=builder,
            instruction_filter=InstructionFilter(config.filters or InstructionFilterConfig()),
            dedup=NearDuplicateFilter(config.dedup or DedupConfig()), endpoint=config.endpoint.endpoint,
            target=gen.num_instructions, stages=gen.stages, classification_only=prompt_cfg.classification_only,
            max_instances_per_prompt=gen.max_instances_per_prompt, seed=gen.seed, stall_limit=gen.stall_limit,
            **_task_limits(config))
        live_export = LiveExport(config.state_path, config.out_dir, interval=gen.export_interval,
                                 stop=run.shutdown.stop, snapshot=lambda: stats.snapshot(config.prices), seeds=seeds,
                                 prepare=config.export or PrepareConfig(), seed=gen.seed)
        if gen.import_run_files:
            await _import_run_files(pipeline, config.out_dir)
        pipeline.restore()
        stats.extra["restore_seconds"] = round(time.perf_counter() - t0, 3)
        if on_start is not None:
            on_start(pipeline)

        async def final() -> tuple[dict[str, Any], dict[str, Any]]:
            snapshot = stats.snapshot(config.prices)
            # Wait for every queued record before reading them back for export.
            await run.store.submit(lambda conn: None)
            snapshot["models"] = run.store.models()
            changes = fingerprint.history(run.store)
            if changes:
                snapshot["settings_changes"] = changes
            if run.batch_engine is not None:
                _batch_stats(snapshot, config, run)
            return snapshot, await live_export.final(snapshot)

        outcome, written = await run.drive(lambda: pipeline.run(run.shutdown, gen.drain_timeout), live=live_export,
                                           progress=pipeline.progress, final=final)
    snapshot, export = written or (stats.snapshot(config.prices), {})
    incomplete = bool(outcome.failed_requests or outcome.stalled or outcome.accepted < gen.num_instructions)
    return GenerateResult(exit_code=exit_code(interrupted=outcome.interrupted, incomplete=incomplete),
                          stats=snapshot, export=export, interrupted=outcome.interrupted, stalled=outcome.stalled)


def _task_limits(config: GenerateConfig) -> dict[str, int]:
    """Online: a bounded window of requests. Batch: a round is as large as the target needs (the pipeline sizes it
    from the observed yield), so the pool and the generation cap are a batch file's size."""
    if config.batch is not None and config.batch.batched:
        size = config.batch.max_file_requests
        return {"max_tasks": size, "generation_cap": size}
    return {"max_tasks": max(8, 2 * config.limits.max_concurrency)}


def _batch_stats(snapshot: dict[str, Any], config: GenerateConfig, run: Any) -> None:
    """Batch mode's part of stats.json: every batch with its ids and counts, and the cost split."""
    from selfinstruct.batch import BatchPrices, cost_fields

    counts = run.batch_engine.counts
    prices = config.batch_prices or BatchPrices()
    costs = cost_fields(prices, config.endpoint.model,
                        (counts["batch_prompt_tokens"], counts["batch_completion_tokens"]),
                        (run.stats.prompt_tokens, run.stats.completion_tokens))
    snapshot.update(costs, mode=config.batch.mode, batches=[row.to_json() for row in run.store.batches()],
                    cost_usd_estimate=costs["cost_total_usd"])


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
