"""The `selfinstruct` command line: the only code that parses flags, reads the environment and maps errors
to exit codes. Everything below it is library code called with built configs.

``COMMANDS`` is the static command table: each row names a command, its one-line
help and the two functions that serve it,

    add(parser: argparse.ArgumentParser) -> None    # its flags
    run(args: argparse.Namespace) -> int            # the work; returns the exit code

one module per command family (generate, steps, complete, simulate, dedup,
train, evaluate, serve, review). Those modules import only the standard library and our
light modules at top level, so `selfinstruct --help` starts fast; heavy
libraries (torch, transformers, datasketch, rich, aiohttp) load inside ``run``.

Settings flags are ``ConfigFlag`` rows (selfinstruct.cli.flags) that override
one dotted ``section.key`` of the command's config; their help comes from the
config dataclass field.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from typing import NamedTuple

from selfinstruct.cli import complete, dedup, evaluate, generate, review, serve, simulate, steps, train
from selfinstruct.cli.flags import ConfigHelpFormatter
from selfinstruct.errors import (
    EXIT_FATAL,
    EXIT_INTERRUPTED,
    EXIT_SOME_FAILED,
    ConfigError,
    EndpointDown,
    InputError,
    SelfInstructError,
)

__all__ = ["COMMANDS", "Handlers", "build_parser", "main"]


class Handlers(NamedTuple):
    add: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


# (name, one-line help, handlers). Order is the order shown in --help.
COMMANDS: list[tuple[str, str, Handlers]] = [
    ("demo", "run the whole pipeline against the built-in simulated endpoint (offline, no key)",
     Handlers(generate.add_demo_arguments, generate.run_demo)),
    ("generate", "generate Self-Instruct data against an OpenAI-compatible endpoint (resumable)",
     Handlers(generate.add_generate_arguments, generate.run_generate)),
    ("complete", "rate-limited, resumable batch completion of a JSONL file",
     Handlers(complete.add_complete_arguments, complete.run_complete)),
    ("simulate", "serve the simulated OpenAI-compatible endpoint on 127.0.0.1",
     Handlers(simulate.add_simulate_arguments, simulate.run_simulate)),
    ("bootstrap", "step 1 of the original flow: generate instructions",
     Handlers(steps.add_bootstrap_arguments, steps.run_bootstrap)),
    ("classify", "step 2 of the original flow: identify classification tasks",
     Handlers(steps.add_classify_arguments, steps.run_classify)),
    ("instances", "step 3 of the original flow: generate instances",
     Handlers(steps.add_instances_arguments, steps.run_instances)),
    ("prepare", "step 4 of the original flow: filter and export fine-tuning data",
     Handlers(steps.add_prepare_arguments, steps.run_prepare)),
    ("sample", "export a random sample of a run for manual quality rating",
     Handlers(generate.add_sample_arguments, generate.run_sample)),
    ("dedup", "exact near-duplicate filter (greedy ROUGE-L) over JSON/JSONL files, on one node or --ray",
     Handlers(dedup.add_dedup_arguments, dedup.run_dedup)),
    ("train", "QLoRA fine-tuning (needs the 'train' extra)",
     Handlers(train.add_train_arguments, train.run_train)),
    ("merge", "merge a LoRA adapter into full weights (needs the 'train' extra)",
     Handlers(train.add_merge_arguments, train.run_merge)),
    ("predict", "answer the evaluation tasks with a local or API model",
     Handlers(evaluate.add_predict_arguments, evaluate.run_predict)),
    ("evaluate", "BLEU / ROUGE-L / BERTScore report over prediction files",
     Handlers(evaluate.add_evaluate_arguments, evaluate.run_evaluate)),
    ("analyze", "statistics and plots of a generation run",
     Handlers(evaluate.add_analyze_arguments, evaluate.run_analyze)),
    ("serve", "long-running generation service with an HTTP job API",
     Handlers(serve.add_serve_arguments, serve.run_serve)),
    ("review", "manual review figures from a ratings CSV, or a rating sheet of a seeded sample",
     Handlers(review.add_review_arguments, review.run_review)),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="selfinstruct",
        description="Fast, crash-safe Self-Instruct: generate, filter, train, evaluate.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, help_text, handlers in COMMANDS:
        command = sub.add_parser(name, help=help_text, description=help_text, formatter_class=ConfigHelpFormatter)
        handlers.add(command)
        command.set_defaults(_run=handlers.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse's own exit (--help: 0, a bad flag: 2); main returns codes, never exits
        return exc.code if isinstance(exc.code, int) else EXIT_FATAL
    level = logging.WARNING - 10 * min(args.verbose, 2) if args.verbose else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return int(args._run(args) or 0)
    except (ConfigError, InputError) as exc:
        print(f"selfinstruct {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_FATAL
    except EndpointDown as exc:  # resumable, like requests that ran out of attempts
        print(f"selfinstruct {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_SOME_FAILED
    except SelfInstructError as exc:
        print(f"selfinstruct {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_FATAL
    except KeyboardInterrupt:
        print(f"selfinstruct {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
