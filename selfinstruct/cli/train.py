"""`selfinstruct train` (one QLoRA fine-tune from a TOML config and flags) and `merge` (adapter -> full weights).

Each override flag is a ``ConfigFlag`` on a ``section.key`` of the training
config (selfinstruct.train.config); torch and friends load inside ``run_train``.

Under torchrun or ``accelerate launch`` (RANK and WORLD_SIZE set) every process
runs ``train``: log lines carry the rank, ranks other than 0 log warnings only,
and only rank 0 prints the result.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import warnings

from selfinstruct.cli import sections
from selfinstruct.cli.common import float_flag, int_flag
from selfinstruct.cli.flags import ConfigFlag, add_config_flags, dotted_overrides
from selfinstruct.config import INT64_MAX
from selfinstruct.errors import ConfigError


TRAIN_FLAGS = [
    ConfigFlag("--model", "model.name", sections.model),
    ConfigFlag("--data", "data.path", sections.data),
    ConfigFlag("--output-dir", "training.output_dir", sections.training),
    ConfigFlag("--max-steps", "training.max_steps", sections.training, type=int_flag(1, INT64_MAX, also=(-1,))),
    ConfigFlag("--num-epochs", "training.num_epochs", sections.training, type=float_flag(0, 1e6, lo_open=True)),
    ConfigFlag("--learning-rate", "training.learning_rate", sections.training, type=float_flag(0, 10, lo_open=True)),
    ConfigFlag("--lora-r", "lora.r", sections.lora, type=int_flag(1, 65_536)),
    ConfigFlag("--max-length", "training.max_length", sections.training, type=int_flag(1, 10_000_000)),
    ConfigFlag("--no-4bit", "model.load_in_4bit", sections.model, const=False,
               note="train LoRA on the full-precision base instead"),
    ConfigFlag("--no-fallback-template", "model.fallback_chat_template", sections.model, const=False,
               note="fail if the model has no chat template instead of using ChatML"),
    ConfigFlag("--no-resume", "training.resume", sections.training, const=False,
               note="start fresh even if output_dir holds a checkpoint"),
]


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    from selfinstruct.train.config import config_keys_help

    parser.epilog = config_keys_help()
    parser.add_argument("--config", metavar="TOML", help="training config (see configs/qlora-qwen2.5-0.5b.toml)")
    add_config_flags(parser, TRAIN_FLAGS)
    parser.set_defaults(_flags=TRAIN_FLAGS)


def _label_ranks(environ: dict[str, str]) -> None:
    """Prefix log lines with the rank under a launcher; quiet the replicas, which repeat what rank 0 says."""
    world = int(environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return
    rank = environ.get("RANK", "?")
    fmt = f"[rank {rank}/{world}] %(asctime)s %(levelname)s %(name)s: %(message)s"
    for handler in logging.getLogger().handlers:
        handler.setFormatter(logging.Formatter(fmt))
    if rank != "0":
        logging.getLogger().setLevel(max(logging.getLogger().level, logging.WARNING))
        # the same deprecation notices and progress bars as rank 0, once per process
        warnings.simplefilter("ignore", FutureWarning)
        import datasets
        from transformers.utils import logging as hf_logging

        datasets.disable_progress_bars()
        hf_logging.disable_progress_bar()


def _close_process_group() -> None:
    """Tear down the launcher's process group once every rank is done (nccl warns at exit otherwise)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def run_train(args: argparse.Namespace) -> int:
    from selfinstruct.train.config import load_train_config

    config = load_train_config(args.config, dotted_overrides(args, args._flags))
    _label_ranks(dict(os.environ))
    from selfinstruct.train.trainer import train  # heavy: torch, transformers, trl, peft

    result = train(config)
    _close_process_group()
    if result.rank != 0:
        return 0
    s = result.summary
    final = s["losses"][-1] if s["losses"] else None
    print(json.dumps({
        "output_dir": str(result.output_dir),
        "quantization": s["quantization"],
        "global_step": s["global_step"],
        "world_size": s["world_size"],
        "global_batch_size": s["global_batch_size"],
        "first_loss": s["losses"][0] if s["losses"] else None,
        "final_loss": final,
        "eval_loss": s["eval_loss"],
        "tokens_per_second": s["tokens_per_second"],
        "resumed_from_checkpoint": s["resumed_from_checkpoint"],
    }, indent=2))
    return 0


# -- merge -----------------------------------------------------------------------------------------------------------

_DTYPES = ("float32", "bfloat16", "float16")


def add_merge_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--adapter", required=True, metavar="DIR", help="output_dir of `selfinstruct train`")
    parser.add_argument("--out", required=True, metavar="DIR", help="where the merged model and tokenizer go")
    parser.add_argument("--base", default=None, metavar="MODEL",
                        help="base model (default: base_model_name_or_path from adapter_config.json)")
    parser.add_argument("--dtype", default="float32", help=f"dtype of the merged weights: {', '.join(_DTYPES)}")


def run_merge(args: argparse.Namespace) -> int:
    if args.dtype not in _DTYPES:
        raise ConfigError(f"--dtype must be one of {_DTYPES}, got {args.dtype!r}")
    from selfinstruct.train.merge import merge_adapter

    out = merge_adapter(args.adapter, args.out, base=args.base, dtype=args.dtype)
    print(f"merged model written to {out}")
    return 0
