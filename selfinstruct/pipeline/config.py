"""Settings of a Self-Instruct generation run, one frozen dataclass per concern, built from TOML + flags."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfinstruct.errors import ConfigError
from selfinstruct.runfiles import STATE

__all__ = ["GenerationConfig", "GenerateConfig", "TOP_LEVEL_TABLES", "FLAT_KEYS", "table_from_flat", "build_generate_config"]

TOP_LEVEL_TABLES = ("endpoint", "limits", "retry", "generation", "prompt", "filters", "dedup", "export", "prices",
                    "batch")


@dataclass(frozen=True, kw_only=True)
class GenerationConfig:
    num_instructions: int = field(default=100, metadata={"help": "stop once this many instructions are accepted"})
    seed_tasks: str | None = field(default=None, metadata={"help": "seed task JSONL (default: the vendored 175)"})
    seed: int = field(default=42, metadata={"help": "random seed for prompt sampling and export"})
    max_instances_per_prompt: int = field(default=5, metadata={"help": "examples asked per instance prompt"})
    stall_limit: int = field(default=200, metadata={
        "help": "stop if this many instruction answers in a row add nothing to the pool"})
    drain_timeout: float = field(default=30.0, metadata={"help": "grace period after SIGINT/SIGTERM, seconds"})
    progress_interval: float = field(default=5.0, metadata={"help": "seconds between plain progress lines"})
    export_interval: float = field(default=5.0, metadata={
        "help": "seconds between live refreshes of the run directory's files while the run goes on "
                "(0: write them only when the run stops)"})
    synchronous: str = field(default="NORMAL", metadata={"help": "SQLite synchronous: NORMAL or FULL"})
    stages: tuple[str, ...] = field(default=("generate", "classify", "instances"), metadata={
        "help": "which request stages run (the original's step commands run one each)"})
    import_run_files: bool = field(default=False, metadata={
        "help": "seed an empty state from the run dir's machine_generated_instructions.jsonl / is_clf_or_not.jsonl"})

    def __post_init__(self) -> None:
        from selfinstruct.config import MAX_COUNT, MAX_INTERVAL, MAX_SECONDS, MAX_SEED, check_range

        check_range("generation.num_instructions", self.num_instructions, lo=1, hi=MAX_COUNT)
        check_range("generation.stall_limit", self.stall_limit, lo=1, hi=MAX_COUNT)
        check_range("generation.seed", self.seed, lo=0, hi=MAX_SEED)
        check_range("generation.max_instances_per_prompt", self.max_instances_per_prompt, lo=1, hi=1000)
        check_range("generation.drain_timeout", self.drain_timeout, lo=0, hi=MAX_SECONDS)
        check_range("generation.progress_interval", self.progress_interval, lo=0, hi=MAX_INTERVAL, lo_open=True)
        check_range("generation.export_interval", self.export_interval, lo=0, hi=MAX_INTERVAL)
        if self.synchronous.upper() not in ("OFF", "NORMAL", "FULL"):
            raise ConfigError(f"generation.synchronous must be NORMAL or FULL, got {self.synchronous!r}")
        bad = set(self.stages) - {"generate", "classify", "instances"}
        if bad:
            raise ConfigError(f"unknown stage(s) {sorted(bad)}")


@dataclass(frozen=True, kw_only=True)
class GenerateConfig:
    """Everything one run needs. ``endpoint`` is a ``workers.openai.EndpointConfig``."""

    out_dir: Path
    endpoint: Any
    limits: Any
    retry: Any
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    prompt: Any = None        # selfinstruct.stages.instructions.InstructionPromptConfig
    filters: Any = None       # selfinstruct.stages.filters.InstructionFilterConfig
    dedup: Any = None         # selfinstruct.dedup.DedupConfig
    export: Any = None        # selfinstruct.stages.prepare.PrepareConfig
    prices: Any = None        # selfinstruct.engine.stats.PriceTable
    batch: Any = None         # selfinstruct.batch.BatchConfig (None: online)
    batch_prices: Any = None  # selfinstruct.batch.BatchPrices

    @property
    def state_path(self) -> Path:
        return self.out_dir / STATE


# A service job spec's flat setting names (an API surface) -> the dotted ``section.key`` every config uses.
FLAT_KEYS: dict[str, str] = {
    "api_base": "endpoint.api_base",
    "model": "endpoint.model",
    "endpoint": "endpoint.endpoint",
    "api_key_env": "endpoint.api_key_env",
    "rpm": "limits.rpm",
    "tpm": "limits.tpm",
    "max_concurrency": "limits.max_concurrency",
    "timeout": "retry.timeout",
    "max_attempts": "retry.max_attempts",
    "max_outage": "retry.max_outage",
    "num_instructions": "generation.num_instructions",
    "seed_tasks": "generation.seed_tasks",
    "seed": "generation.seed",
    "stall_limit": "generation.stall_limit",
    "drain_timeout": "generation.drain_timeout",
    "export_interval": "generation.export_interval",
    "classification_only": "prompt.classification_only",
    "num_prompt_instructions": "prompt.num_prompt_instructions",
    "num_machine_instructions": "prompt.num_machine_instructions",
    "include_seed_tasks": "export.include_seed_tasks",
    "max_instances_per_task": "export.max_instances_per_task",
    "threshold": "dedup.threshold",
    "mode": "endpoint.mode",
    "batch_poll_interval": "batch.poll_interval",
    "batch_window": "batch.window",
    "batch_max_requests": "batch.max_file_requests",
}


def table_from_flat(flat: dict[str, Any], *, source: str = "<flags>") -> dict[str, Any]:
    """``{"rpm": 600, "model": "m"}`` -> ``{"limits": {"rpm": 600}, "endpoint": {"model": "m"}}``; None is skipped."""
    from selfinstruct.config import table_from_dotted

    for key in flat:
        if key not in FLAT_KEYS:
            raise ConfigError(f"{source}: unknown setting {key!r} (known: {', '.join(sorted(FLAT_KEYS))})")
    return table_from_dotted({FLAT_KEYS[key]: value for key, value in flat.items()}, source=source)


def build_generate_config(table: dict[str, Any], *, out_dir: Path, source: str = "<flags>") -> GenerateConfig:
    """Frozen configs from a TOML-shaped table; unknown tables and keys are errors naming them and ``source``."""
    from selfinstruct.config import build, check_keys, table_of
    from selfinstruct.dedup import DedupConfig
    from selfinstruct.engine.retry import RetryConfig
    from selfinstruct.engine.stats import PriceTable
    from selfinstruct.engine.throttle import LimitsConfig
    from selfinstruct.stages.filters import InstructionFilterConfig
    from selfinstruct.stages.instructions import InstructionPromptConfig
    from selfinstruct.stages.prepare import PrepareConfig
    from workers.openai import EndpointConfig

    check_keys(table, set(TOP_LEVEL_TABLES) | {"out"}, source=source)
    for name in TOP_LEVEL_TABLES:
        table_of(table, name, source=source)
    from selfinstruct.batch import BatchConfig, BatchPrices, batch_table

    ep, batch = batch_table(table.get("endpoint", {}), table.get("batch", {}), source=source)
    ep.setdefault("endpoint", "completions")
    if "api_base" not in ep or "model" not in ep:
        raise ConfigError(f"{source}: the endpoint needs api_base and model (--api-base, --model)")
    endpoint = build(EndpointConfig, ep, source=source, section="endpoint")
    prompt = dict(table.get("prompt", {}))
    prompt.setdefault("endpoint", endpoint.endpoint)
    # Lists become tuples inside build, which also refuses a string where a list belongs
    # (tuple("sat") would have blacklisted the letters s, a and t).
    filters = dict(table.get("filters", {}))
    generation = dict(table.get("generation", {}))
    return GenerateConfig(
        out_dir=Path(out_dir),
        endpoint=endpoint,
        limits=build(LimitsConfig, table.get("limits", {}), source=source, section="limits"),
        retry=build(RetryConfig, table.get("retry", {}), source=source, section="retry"),
        generation=build(GenerationConfig, generation, source=source, section="generation"),
        prompt=build(InstructionPromptConfig, prompt, source=source, section="prompt"),
        filters=build(InstructionFilterConfig, filters, source=source, section="filters"),
        dedup=build(DedupConfig, table.get("dedup", {}), source=source, section="dedup"),
        export=build(PrepareConfig, table.get("export", {}), source=source, section="export"),
        prices=PriceTable.from_table(table.get("prices", {}), source=source),
        batch=build(BatchConfig, batch, source=source, section="batch"),
        batch_prices=BatchPrices.from_table(table.get("prices", {}), source=source),
    )
