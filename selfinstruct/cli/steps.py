"""The original's four step commands (`bootstrap`, `classify`, `instances`, `prepare`) for users migrating from it.

Each runs the same streaming pipeline restricted to one stage, on the same run
directory and state, so the steps can be mixed with `generate`. `classify` and
`instances` also accept a run directory written by the original scripts: its
machine_generated_instructions.jsonl (and is_clf_or_not.jsonl) are imported.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from selfinstruct.cli import sections
from selfinstruct.cli.common import COUNT, add_endpoint_arguments, add_limit_arguments
from selfinstruct.cli.flags import ConfigFlag, add_config_flags
from selfinstruct.cli.generate import (
    GENERATION_FLAGS,
    SEED_FLAG,
    SEED_TASKS_FLAG,
    add_allow_changes_argument,
)

_SEEDS = [dataclasses.replace(SEED_TASKS_FLAG, option="--seed-tasks-path", aliases=("--seed-tasks",),
                              dest="seed_tasks"), SEED_FLAG]
_BOOTSTRAP = [
    ConfigFlag("--num-instructions-to-generate", "generation.num_instructions", sections.generation, type=COUNT,
               aliases=("--num-instructions",), dest="num_instructions"),
    ConfigFlag("--use-clf-seed-tasks-only", "prompt.classification_only", sections.prompt, const=True,
               aliases=("--classification-only",), dest="classification_only"),
]
_PREPARE = [flag for flag in GENERATION_FLAGS if flag.target.startswith("export.")]
from selfinstruct.runfiles import FINETUNING, INSTANCES, STATE


def _common(parser: argparse.ArgumentParser, *, requests: bool = True) -> list[ConfigFlag]:
    parser.add_argument("--batch-dir", "--out", dest="out", type=Path, required=True, metavar="RUN_DIR",
                        help="run directory shared by the steps")
    parser.add_argument("--config", type=Path, default=None, metavar="FILE.toml", help="same TOML as generate")
    add_config_flags(parser, _SEEDS)
    if not requests:
        return _SEEDS
    flags = add_endpoint_arguments(parser) + add_limit_arguments(parser)
    add_allow_changes_argument(parser)
    return _SEEDS + flags


def add_bootstrap_arguments(parser: argparse.ArgumentParser) -> None:
    flags = _common(parser)
    add_config_flags(parser, _BOOTSTRAP)
    parser.set_defaults(_flags=flags + _BOOTSTRAP)


def add_classify_arguments(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(_flags=_common(parser))


def add_instances_arguments(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(_flags=_common(parser))


def add_prepare_arguments(parser: argparse.ArgumentParser) -> None:
    flags = _common(parser, requests=False)
    add_config_flags(parser, _PREPARE)
    parser.set_defaults(_flags=flags + _PREPARE)


def _run_stage(args: argparse.Namespace, stage: str) -> int:
    from selfinstruct.cli.generate import api_key_from_args, config_from_args, report
    from selfinstruct.pipeline.generate import run_generate

    extra = {"generation": {"stages": [stage], "import_run_files": stage != "generate"}}
    config = config_from_args(args, extra_table=extra)
    api_key = api_key_from_args(args, config)
    result = run_generate(config, api_key=api_key, allow_changes=args.allow_changes)
    report(result, args.out)
    return step_exit_code(result, stage)


def step_exit_code(result, stage: str) -> int:
    """A single step is done when its own stage is done: the other stages' gaps are expected (exit 0), but
    a request of its own that used up its attempts is not (exit 3, like generate; a rerun retries it)."""
    from selfinstruct.errors import EXIT_OK, EXIT_SOME_FAILED

    if stage == "generate" or result.exit_code != EXIT_SOME_FAILED or result.stalled:
        return result.exit_code
    return EXIT_SOME_FAILED if result.stats.get("failed", 0) else EXIT_OK


def run_bootstrap(args: argparse.Namespace) -> int:
    return _run_stage(args, "generate")


def run_classify(args: argparse.Namespace) -> int:
    return _run_stage(args, "classify")


def run_instances(args: argparse.Namespace) -> int:
    return _run_stage(args, "instances")


def prepare_settings(args: argparse.Namespace):
    """(PrepareConfig, seed, seed_tasks) from ``--config`` ([export], [generation]) with the flags winning."""
    from selfinstruct.cli.flags import dotted_overrides
    from selfinstruct.config import build, check_keys, load_toml, merge, table_from_dotted, table_of
    from selfinstruct.pipeline.config import TOP_LEVEL_TABLES, GenerationConfig
    from selfinstruct.stages.prepare import PrepareConfig

    source = str(args.config) if args.config else "<flags>"
    table = load_toml(args.config)
    check_keys(table, set(TOP_LEVEL_TABLES) | {"out"}, source=source)
    flags = table_from_dotted(dotted_overrides(args, args._flags))
    export = merge(table_of(table, "export", source=source), flags.get("export", {}))
    generation = merge(table_of(table, "generation", source=source), flags.get("generation", {}))
    gen = build(GenerationConfig, generation, source=source, section="generation")
    return build(PrepareConfig, export, source=source, section="export"), gen.seed, gen.seed_tasks


def run_prepare(args: argparse.Namespace) -> int:
    from selfinstruct.engine.outputs import require_run_dir
    from selfinstruct.engine.runlock import lock_file, state_lock_path

    require_run_dir(args.out)
    if not args.out.is_dir():
        return _prepare(args)   # fails naming the missing instances file; nothing to lock, nothing created
    # The same lock as generate and the other steps: never rewrite the files under a running step.
    with lock_file(state_lock_path(args.out / STATE),
                   in_use=f"{args.out}: in use by another selfinstruct run",
                   hint="wait for it to finish, or choose another --batch-dir"):
        return _prepare(args)


def _prepare(args: argparse.Namespace) -> int:
    import random

    from selfinstruct.errors import InputError
    from selfinstruct.io import iter_jsonl
    from selfinstruct.pipeline.export import write_finetuning
    from selfinstruct.stages.base import Instance
    from selfinstruct.stages.prepare import prepare_finetuning
    from selfinstruct.stages.seeds import default_seed_path, load_seed_tasks

    config, seed, seed_tasks = prepare_settings(args)
    path = args.out / INSTANCES
    if not path.exists():
        raise InputError("not found: run `selfinstruct instances` (or `generate`) first", path=str(path))
    tasks = []
    for line, obj in iter_jsonl(path):
        if "instruction" not in obj or not isinstance(obj.get("instances"), list):
            raise InputError('expected "instruction" and an "instances" list', path=str(path), line=line)
        tasks.append((obj["instruction"], [Instance(str(i.get("input", "")), str(i.get("output", "")))
                                           for i in obj["instances"]]))
    seeds = load_seed_tasks(seed_tasks or default_seed_path())
    exports = prepare_finetuning([t for t in tasks if t[1]], rng=random.Random(seed), config=config, seeds=seeds)
    ft = args.out / FINETUNING
    write_finetuning(ft, exports)
    print(f"prepare: {len(exports.all_generated)} generated rows, {len(exports.gpt3)} training rows -> {ft}",
          file=sys.stderr)
    return 0
