"""The training configuration: frozen dataclasses per concern, read from TOML, overridden by CLI flags.

A TOML file has one table per dataclass (``[model]``, ``[data]``, ``[lora]``,
``[training]``). Every field carries ``metadata={"help": ...}``; the CLI turns
that into its help text, so the documentation cannot drift from the code.
Unknown tables or keys are a ConfigError naming the key and the file: a typo
such as ``learnig_rate`` must not silently train with the default.

Pure: no torch, no I/O beyond reading the TOML file.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfinstruct.config import MAX_SEED, check_range, check_value, load_toml, merge, table_from_dotted
from selfinstruct.errors import ConfigError

__all__ = [
    "ModelSettings",
    "DataSettings",
    "LoraSettings",
    "TrainingSettings",
    "TrainConfig",
    "load_train_config",
    "config_keys_help",
    "DEFAULT_MODEL",
]

DEFAULT_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"
_DTYPES = ("auto", "bfloat16", "float16", "float32")
_SCHEDULERS = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup")


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass(frozen=True, kw_only=True)
class ModelSettings:
    name: str = field(default=DEFAULT_MODEL, metadata=_help("hub name or local directory of the base model"))
    load_in_4bit: bool = field(default=True, metadata=_help("QLoRA: load the base in nf4 4-bit with double quantisation"))
    compute_dtype: str = field(
        default="auto",
        metadata=_help("matmul dtype: auto = bfloat16 on a GPU that supports it, else float16 on GPU, float32 on CPU"),
    )
    attn_implementation: str = field(
        default="sdpa", metadata=_help("attention kernel: sdpa, flash_attention_2 or eager")
    )
    fallback_chat_template: bool = field(
        default=True,
        metadata=_help("if the tokenizer has no chat template, use ChatML and warn (false: stop with an error)"),
    )

    def __post_init__(self) -> None:
        if self.compute_dtype not in _DTYPES:
            raise ConfigError(f"model.compute_dtype must be one of {_DTYPES}, got {self.compute_dtype!r}")
        if not self.name:
            raise ConfigError("model.name is empty")


@dataclass(frozen=True, kw_only=True)
class DataSettings:
    path: str = field(
        default="",
        metadata=_help("a generate run directory, messages.jsonl, all_generated_instances.jsonl, "
                       "prompt/completion JSONL, or Alpaca JSON"),
    )
    eval_fraction: float = field(default=0.02, metadata=_help("fraction of rows held out for evaluation"))
    eval_max_rows: int = field(default=500, metadata=_help("cap on held-out rows (0: no cap)"))
    max_rows: int = field(default=0, metadata=_help("use at most this many rows, sampled with the seed (0: all)"))
    seed: int = field(default=42, metadata=_help("seed of the shuffle that picks the held-out split"))

    def __post_init__(self) -> None:
        if not 0.0 <= self.eval_fraction < 1.0:
            raise ConfigError(f"data.eval_fraction must be in [0, 1), got {self.eval_fraction}")
        if self.eval_max_rows < 0 or self.max_rows < 0:
            raise ConfigError("data.eval_max_rows and data.max_rows must be >= 0")
        check_range("data.seed", self.seed, lo=0, hi=MAX_SEED)


@dataclass(frozen=True, kw_only=True)
class LoraSettings:
    r: int = field(default=16, metadata=_help("LoRA rank"))
    alpha: int = field(default=32, metadata=_help("LoRA alpha (the update is scaled by alpha / r)"))
    dropout: float = field(default=0.05, metadata=_help("dropout on the LoRA input"))
    target_modules: str | tuple[str, ...] = field(
        default="all-linear",
        metadata=_help('"all-linear" (every projection except lm_head) or a list of module names'),
    )

    def __post_init__(self) -> None:
        if self.r <= 0 or self.alpha <= 0:
            raise ConfigError(f"lora.r and lora.alpha must be > 0, got r={self.r} alpha={self.alpha}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"lora.dropout must be in [0, 1), got {self.dropout}")
        if isinstance(self.target_modules, list):
            object.__setattr__(self, "target_modules", tuple(self.target_modules))


@dataclass(frozen=True, kw_only=True)
class TrainingSettings:
    output_dir: str = field(default="runs/qlora", metadata=_help("where checkpoints, the adapter and the summary go"))
    num_epochs: float = field(default=3.0, metadata=_help("passes over the training split"))
    max_steps: int = field(default=-1, metadata=_help("stop after this many optimizer steps (-1: use num_epochs)"))
    learning_rate: float = field(default=2e-4, metadata=_help("peak learning rate"))
    lr_scheduler: str = field(default="cosine", metadata=_help(f"learning-rate schedule: {', '.join(_SCHEDULERS)}"))
    warmup_ratio: float = field(default=0.03, metadata=_help("fraction of steps spent warming up"))
    weight_decay: float = field(default=0.0, metadata=_help("AdamW weight decay"))
    batch_size: int = field(default=8, metadata=_help("sequences (or packed rows) per device per step"))
    gradient_accumulation_steps: int = field(default=2, metadata=_help("micro-batches per optimizer step"))
    max_length: int = field(default=1024, metadata=_help("tokens per sequence (per packed row when packing)"))
    packing: bool = field(default=True, metadata=_help("pack examples best-fit-decreasing into max_length rows"))
    completion_only_loss: bool = field(default=True, metadata=_help("loss on the answer tokens only"))
    gradient_checkpointing: bool = field(default=True, metadata=_help("recompute activations to save memory"))
    seed: int = field(default=42, metadata=_help("seed of LoRA initialisation and data order"))
    logging_steps: int = field(default=10, metadata=_help("log the training loss every N steps"))
    save_steps: int = field(default=200, metadata=_help("write a checkpoint every N steps"))
    save_total_limit: int = field(default=2, metadata=_help("keep at most this many checkpoints"))
    eval_steps: int = field(default=0, metadata=_help("evaluate every N steps (0: only at the end)"))
    resume: bool = field(default=True, metadata=_help("continue from the last checkpoint in output_dir if there is one"))

    def __post_init__(self) -> None:
        if self.lr_scheduler not in _SCHEDULERS:
            raise ConfigError(f"training.lr_scheduler must be one of {_SCHEDULERS}, got {self.lr_scheduler!r}")
        for name in ("batch_size", "gradient_accumulation_steps", "max_length", "logging_steps", "save_steps"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"training.{name} must be > 0, got {getattr(self, name)}")
        if self.max_steps <= 0 and self.max_steps != -1:
            raise ConfigError(f"training.max_steps must be > 0 or -1, got {self.max_steps}")
        if self.max_steps == -1 and self.num_epochs <= 0:
            raise ConfigError(f"training.num_epochs must be > 0, got {self.num_epochs}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ConfigError(f"training.warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.learning_rate <= 0:
            raise ConfigError(f"training.learning_rate must be > 0, got {self.learning_rate}")
        # transformers seeds numpy too, whose seeds stop at 2**32 - 1.
        check_range("training.seed", self.seed, lo=0, hi=MAX_SEED)
        check_range("training.eval_steps", self.eval_steps, lo=0)


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    model: ModelSettings = field(default_factory=ModelSettings)
    data: DataSettings = field(default_factory=DataSettings)
    lora: LoraSettings = field(default_factory=LoraSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_SECTIONS: dict[str, type] = {
    "model": ModelSettings,
    "data": DataSettings,
    "lora": LoraSettings,
    "training": TrainingSettings,
}


def _build_section(cls: type, values: dict[str, Any], source: str, section: str):
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key in values:
        if key not in known:
            raise ConfigError(
                f"{source}: unknown key {section}.{key!r} (known keys in [{section}]: {', '.join(sorted(known))})"
            )
    hints = typing.get_type_hints(cls)
    # One rule for every config (selfinstruct.config.check_value): no coercion, finite floats only.
    values = {key: _checked(value, hints[key], source, f"{section}.{key}") for key, value in values.items()}
    try:
        return cls(**values)
    except TypeError as exc:  # pragma: no cover - unknown keys are caught above
        raise ConfigError(f"{source}: [{section}]: {exc}") from exc
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from exc


def _checked(value: Any, hint: Any, source: str, name: str) -> Any:
    try:
        return check_value(value, hint, name=name)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def load_train_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """TOML file (optional) + dotted overrides such as {"training.max_steps": 50} -> TrainConfig.

    Overrides whose value is None are ignored, so unset command-line flags can be
    passed straight through. A missing ``data.path`` is an error here, because
    nothing can be trained without data.
    """
    source = str(path) if path is not None else "<defaults>"
    raw = load_toml(path)
    for section, value in raw.items():
        if section not in _SECTIONS:
            raise ConfigError(f"{source}: unknown table [{section}] (known: {', '.join(_SECTIONS)})")
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {section!r} must be a table, got {type(value).__name__}")
    flags = table_from_dotted(overrides or {})
    if set(flags) - set(_SECTIONS):  # pragma: no cover - a programming error in the CLI's flag table
        raise ConfigError(f"unknown override section(s) {sorted(set(flags) - set(_SECTIONS))}")
    merged = merge({name: {} for name in _SECTIONS}, merge(raw, flags))
    built = {name: _build_section(cls, merged[name], source, name) for name, cls in _SECTIONS.items()}
    config = TrainConfig(**built)
    if not config.data.path:
        raise ConfigError(f"{source}: no training data: set data.path in the config or pass --data")
    return config


def config_keys_help() -> str:
    """Every config key with its default and help, for the CLI epilog."""
    lines = ["config keys (TOML tables and their keys):"]
    for section, cls in _SECTIONS.items():
        lines.append(f"  [{section}]")
        for f in dataclasses.fields(cls):
            default = f.default if f.default is not dataclasses.MISSING else "?"
            lines.append(f"    {f.name} = {default!r}  -- {f.metadata.get('help', '')}")
    return "\n".join(lines)
