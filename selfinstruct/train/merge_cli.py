"""`selfinstruct merge --adapter DIR --out DIR`: write merged full weights for plain transformers."""

from __future__ import annotations

import argparse

from selfinstruct.errors import ConfigError

__all__ = ["add_arguments", "run"]

_DTYPES = ("float32", "bfloat16", "float16")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--adapter", required=True, metavar="DIR", help="output_dir of `selfinstruct train`")
    parser.add_argument("--out", required=True, metavar="DIR", help="where the merged model and tokenizer go")
    parser.add_argument("--base", default=None, metavar="MODEL",
                        help="base model (default: base_model_name_or_path from adapter_config.json)")
    parser.add_argument("--dtype", default="float32", help=f"dtype of the merged weights: {', '.join(_DTYPES)}")


def run(args: argparse.Namespace) -> int:
    if args.dtype not in _DTYPES:
        raise ConfigError(f"--dtype must be one of {_DTYPES}, got {args.dtype!r}")
    from selfinstruct.train.merge import merge_adapter

    out = merge_adapter(args.adapter, args.out, base=args.base, dtype=args.dtype)
    print(f"merged model written to {out}")
    return 0
