"""The `selfinstruct` command line: a thin layer that parses flags, calls the library, maps errors to exit codes.

Each subcommand lives in its own module that exposes two functions:

    add_arguments(parser: argparse.ArgumentParser) -> None
    run(args: argparse.Namespace) -> int          # the exit code

Those modules import only the standard library at top level, so `selfinstruct
--help` and `selfinstruct complete` start fast; heavy libraries (torch,
transformers, datasketch, rich) are imported inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from selfinstruct.errors import (
    EXIT_FATAL,
    EXIT_INTERRUPTED,
    EXIT_SOME_FAILED,
    ConfigError,
    EndpointDown,
    InputError,
    SelfInstructError,
)

# (name, module, one-line help). Order is the order shown in --help.
COMMANDS: list[tuple[str, str, str]] = [
    ("demo", "selfinstruct.commands.demo", "run the whole pipeline against the built-in simulated endpoint (offline, no key)"),
    ("generate", "selfinstruct.commands.generate", "generate Self-Instruct data against an OpenAI-compatible endpoint (resumable)"),
    ("complete", "selfinstruct.commands.complete", "rate-limited, resumable batch completion of a JSONL file"),
    ("simulate", "selfinstruct.commands.simulate", "serve the simulated OpenAI-compatible endpoint on 127.0.0.1"),
    ("bootstrap", "selfinstruct.commands.steps", "step 1 of the original flow: generate instructions"),
    ("classify", "selfinstruct.commands.steps", "step 2 of the original flow: identify classification tasks"),
    ("instances", "selfinstruct.commands.steps", "step 3 of the original flow: generate instances"),
    ("prepare", "selfinstruct.commands.steps", "step 4 of the original flow: filter and export fine-tuning data"),
    ("sample", "selfinstruct.commands.sample", "export a random sample of a run for manual quality rating"),
    ("dedup", "selfinstruct.dedup.cli", "near-duplicate filter (MinHash-LSH + exact ROUGE-L) over a JSON/JSONL file"),
    ("train", "selfinstruct.train.cli", "QLoRA fine-tuning (needs the 'train' extra)"),
    ("merge", "selfinstruct.train.merge_cli", "merge a LoRA adapter into full weights (needs the 'train' extra)"),
    ("predict", "selfinstruct.evaluate.predict_cli", "answer the evaluation tasks with a local or API model"),
    ("evaluate", "selfinstruct.evaluate.cli", "BLEU / ROUGE-L / BERTScore report over prediction files"),
    ("analyze", "selfinstruct.evaluate.analyze_cli", "statistics and plots of a generation run"),
    ("serve", "selfinstruct.service.cli", "long-running generation service with an HTTP job API"),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="selfinstruct",
        description="Fast, crash-safe Self-Instruct: generate, filter, train, evaluate.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, module_name, help_text in COMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            # A command whose module is not installed (an optional area) is left out,
            # but a missing dependency *inside* one of our modules is a real bug.
            if exc.name and exc.name.startswith("selfinstruct"):
                continue
            raise
        p = sub.add_parser(name, help=help_text, description=help_text)
        add = getattr(module, f"add_{name}_arguments", None) or module.add_arguments
        add(p)
        runner = getattr(module, f"run_{name}", None) or module.run
        p.set_defaults(_run=runner)
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
