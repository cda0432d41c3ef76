"""`selfinstruct train`: read the TOML config, apply flag overrides, run one QLoRA fine-tune.

Only the standard library and our light modules are imported here; torch and
friends load inside ``run`` (via selfinstruct.train.trainer).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Callable

from selfinstruct.commands.common import float_flag, int_flag
from selfinstruct.config import INT64_MAX
from selfinstruct.train.config import (
    DataSettings,
    LoraSettings,
    ModelSettings,
    TrainingSettings,
    config_keys_help,
    load_train_config,
)

__all__ = ["add_arguments", "run", "OVERRIDES"]

# flag -> (dotted config key, dataclass the help comes from, argparse type)
OVERRIDES: dict[str, tuple[str, type, Callable[[str], object]]] = {
    "--model": ("model.name", ModelSettings, str),
    "--data": ("data.path", DataSettings, str),
    "--output-dir": ("training.output_dir", TrainingSettings, str),
    "--max-steps": ("training.max_steps", TrainingSettings, int_flag(1, INT64_MAX, also=(-1,))),
    "--num-epochs": ("training.num_epochs", TrainingSettings, float_flag(0, 1e6, lo_open=True)),
    "--learning-rate": ("training.learning_rate", TrainingSettings, float_flag(0, 10, lo_open=True)),
    "--lora-r": ("lora.r", LoraSettings, int_flag(1, 65_536)),
    "--max-length": ("training.max_length", TrainingSettings, int_flag(1, 10_000_000)),
}


def _field_help(cls: type, name: str) -> str:
    return next(f.metadata["help"] for f in dataclasses.fields(cls) if f.name == name)


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = config_keys_help()
    parser.add_argument("--config", metavar="TOML", help="training config (see configs/qlora-qwen2.5-0.5b.toml)")
    for flag, (key, cls, typ) in OVERRIDES.items():
        parser.add_argument(flag, dest=_dest(flag), type=typ, default=None,
                            help=f"{_field_help(cls, key.split('.', 1)[1])} (overrides {key})")
    parser.add_argument("--no-4bit", dest="no_4bit", action="store_true",
                        help="train LoRA on the full-precision base instead of nf4 (overrides model.load_in_4bit)")
    parser.add_argument("--no-fallback-template", dest="no_fallback_template", action="store_true",
                        help="fail if the model has no chat template instead of using ChatML "
                             "(overrides model.fallback_chat_template)")
    parser.add_argument("--no-resume", dest="no_resume", action="store_true",
                        help="start fresh even if output_dir holds a checkpoint (overrides training.resume)")


def overrides_from_args(args: argparse.Namespace) -> dict[str, object]:
    overrides: dict[str, object] = {key: getattr(args, _dest(flag)) for flag, (key, _, _) in OVERRIDES.items()}
    if args.no_4bit:
        overrides["model.load_in_4bit"] = False
    if args.no_fallback_template:
        overrides["model.fallback_chat_template"] = False
    if args.no_resume:
        overrides["training.resume"] = False
    return overrides


def run(args: argparse.Namespace) -> int:
    config = load_train_config(args.config, overrides_from_args(args))
    from selfinstruct.train.trainer import train  # heavy: torch, transformers, trl, peft

    result = train(config)
    s = result.summary
    final = s["losses"][-1] if s["losses"] else None
    print(json.dumps({
        "output_dir": str(result.output_dir),
        "quantization": s["quantization"],
        "global_step": s["global_step"],
        "first_loss": s["losses"][0] if s["losses"] else None,
        "final_loss": final,
        "eval_loss": s["eval_loss"],
        "tokens_per_second": s["tokens_per_second"],
        "resumed_from_checkpoint": s["resumed_from_checkpoint"],
    }, indent=2))
    return 0
