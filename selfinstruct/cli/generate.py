"""`selfinstruct generate`, `demo` and `sample`: run the Self-Instruct pipeline, try it offline, sample a run.

Every setting flag is a ``ConfigFlag`` row below: it overrides one ``section.key``
of the same TOML ``--config`` takes, and its help comes from that config field.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from selfinstruct.cli import sections
from selfinstruct.cli.common import COUNT, RPM, SECONDS, SEED, add_endpoint_arguments, add_limit_arguments, float_flag, \
    read_api_keys, replica_overrides
from selfinstruct.cli.common import add_batch_arguments
from selfinstruct.cli.flags import ConfigFlag, add_config_flags, dotted_overrides
from selfinstruct.config import MAX_SECONDS
from selfinstruct.runfiles import CLASSIFICATION, FINETUNING, INSTANCES, INSTRUCTIONS, REJECTS, STATS


SEED_TASKS_FLAG = ConfigFlag("--seed-tasks", "generation.seed_tasks", sections.generation, metavar="FILE")
SEED_FLAG = ConfigFlag("--seed", "generation.seed", sections.generation, type=SEED)
GENERATION_FLAGS = [
    SEED_TASKS_FLAG,
    ConfigFlag("--num-instructions", "generation.num_instructions", sections.generation, type=COUNT),
    ConfigFlag("--classification-only", "prompt.classification_only", sections.prompt, const=True),
    ConfigFlag("--include-seed-tasks", "export.include_seed_tasks", sections.export, const=True),
    ConfigFlag("--max-instances-per-task", "export.max_instances_per_task", sections.export, type=COUNT),
    SEED_FLAG,
    ConfigFlag("--drain-timeout", "generation.drain_timeout", sections.generation, type=SECONDS, metavar="SECONDS"),
]
CONFIG_HELP = ("TOML with every setting ([endpoint], [limits], [retry], [generation], [prompt], [filters], "
               "[dedup], [export], [prices], [batch]); flags override it")


def add_allow_changes_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--allow-changes", action="store_true",
                        help="resume even though the model, endpoint kind, default parameters, seed file or prompt "
                             "mode differ from the state's (the change is recorded); without it such a resume exits 2")


def add_generate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, metavar="RUN_DIR", help="run directory (rerun to resume)")
    flags = add_endpoint_arguments(parser) + add_limit_arguments(parser)
    flags += add_batch_arguments(parser)
    group = parser.add_argument_group("generation")
    add_config_flags(group, GENERATION_FLAGS)
    group.add_argument("--config", type=Path, default=None, metavar="FILE.toml", help=CONFIG_HELP)
    add_allow_changes_argument(parser)
    parser.set_defaults(_flags=flags + GENERATION_FLAGS)


def _table(args: argparse.Namespace, extra_table: dict | None) -> dict:
    """``--config``'s tables, then ``extra_table``, then the flags given."""
    from selfinstruct.config import load_toml, merge, with_overrides

    source = str(args.config) if args.config else "<flags>"
    table = merge(load_toml(args.config), extra_table or {})
    return with_overrides(table, replica_overrides(dotted_overrides(args, args._flags)), source=source)


def config_from_args(args: argparse.Namespace, *, extra_table: dict | None = None):
    """The run's GenerateConfig (the key's variable is split off: ``api_key_from_args``)."""
    from selfinstruct.engine.outputs import require_run_dir
    from selfinstruct.net import split_key_source
    from selfinstruct.pipeline.config import build_generate_config

    source = str(args.config) if args.config else "<flags>"
    require_run_dir(args.out)
    table = _table(args, extra_table)
    _, table["endpoint"] = split_key_source(table.get("endpoint", {}))
    return build_generate_config(table, out_dir=args.out, source=source)


def api_key_from_args(args: argparse.Namespace, config) -> str | None | tuple[str | None, ...]:
    """The key, read here, at the edge, from the variable --api-key-env or [endpoint] api_key_env names."""
    from selfinstruct.net import split_key_source

    key_env, _ = split_key_source(_table(args, None).get("endpoint", {}))
    return read_api_keys(key_env, config.endpoint)


def report(result, out: Path) -> None:
    e = result.export
    s = result.stats
    print(f"generate: {e.get('instructions', 0)} instructions accepted "
          f"({e.get('classification_tasks', 0)} classification), {e.get('instructions_with_instances', 0)} with "
          f"instances, {e.get('training_rows', 0)} training rows; {s['calls']} calls, "
          f"{s['rate_limited_429']} x 429, {s['elapsed_s']:.1f}s", file=sys.stderr)
    rejects = s.get("rejects_by_reason", {})
    if rejects:
        top = ", ".join(f"{k}={v}" for k, v in sorted(rejects.items(), key=lambda kv: -kv[1])[:8])
        print(f"generate: rejects: {top}", file=sys.stderr)
    if result.interrupted:
        print("generate: interrupted; rerun the same command to resume", file=sys.stderr)
    if result.stalled:
        print("generate: stopped: the endpoint's answers stopped adding new instructions", file=sys.stderr)
    print(f"generate: run directory {out}", file=sys.stderr)


def run_generate(args: argparse.Namespace) -> int:
    from selfinstruct.pipeline.generate import run_generate as generate

    config = config_from_args(args)
    api_key = api_key_from_args(args, config)
    result = generate(config, api_key=api_key, allow_changes=args.allow_changes)
    report(result, args.out)
    return result.exit_code


# -- demo ------------------------------------------------------------------------------------------------------------

def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("runs/demo"), metavar="DIR", help="run directory")
    parser.add_argument("--num-instructions", type=COUNT, default=150, help="instructions to accept (default 150)")
    parser.add_argument("--endpoint", choices=["chat", "completions"], default="completions")
    parser.add_argument("--latency-ms", type=float_flag(0, MAX_SECONDS * 1000), default=20.0,
                        help="simulated latency per call")
    parser.add_argument("--rpm", type=RPM, default=6000.0, help="simulated endpoint's limit (the engine is told it)")


def run_demo(args: argparse.Namespace) -> int:
    from selfinstruct.pipeline.config import build_generate_config
    from selfinstruct.pipeline.generate import run_generate as generate
    from workers.simulated import SimConfig, start_in_thread

    sim = SimConfig(latency_ms=args.latency_ms, rpm=args.rpm, seed=7)
    with start_in_thread(sim) as server:
        print(f"demo: simulated endpoint at {server.url} (loopback, no key)", file=sys.stderr)
        table = {
            "endpoint": {"api_base": server.url, "model": "simulated-davinci", "endpoint": args.endpoint},
            "limits": {"rpm": args.rpm, "max_concurrency": 32},
            "generation": {"num_instructions": args.num_instructions, "progress_interval": 2.0},
        }
        config = build_generate_config(table, out_dir=args.out, source="demo")
        result = generate(config)
    report(result, args.out)
    ft = args.out / FINETUNING
    print("\nWhat was written:", file=sys.stderr)
    for name, what in [
        (INSTRUCTIONS, "accepted instructions with their nearest neighbours"),
        (CLASSIFICATION, "classification labels"),
        (INSTANCES, "raw and parsed instances"),
        (REJECTS, "every rejected item with its reason"),
        (STATS, "run statistics"),
    ]:
        print(f"  {args.out / name}  ({what})", file=sys.stderr)
    for path in sorted(ft.glob("*")):
        print(f"  {path}", file=sys.stderr)
    return result.exit_code


# -- sample ----------------------------------------------------------------------------------------------------------

RATING_COLUMNS = ("valid_instruction", "appropriate_input", "correct_output", "notes")


def add_sample_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    parser.add_argument("--n", type=COUNT, default=200, help="how many instances to sample (default 200)")
    parser.add_argument("--out", type=Path, required=True, metavar="raters.csv")
    parser.add_argument("--seed", type=SEED, default=0)


def run_sample(args: argparse.Namespace) -> int:
    """A random sample of a run as CSV for manual quality rating (the paper's 200-item study)."""
    import csv
    import io
    import random

    from selfinstruct.errors import ConfigError, InputError
    from selfinstruct.io import iter_jsonl, write_text_atomic

    if args.n < 1:
        raise ConfigError("--n must be at least 1")
    path = args.run_dir / INSTANCES
    if not path.exists():
        raise InputError("not found; is this a generate run directory?", path=str(path))
    rows = []
    for line, obj in iter_jsonl(path):
        for inst in obj.get("instances") or []:
            rows.append({"instruction": obj.get("instruction", ""), "is_classification": obj.get("is_classification"),
                         "input": inst.get("input", ""), "output": inst.get("output", "")})
    if not rows:
        raise InputError("no instances to sample", path=str(path))
    picked = random.Random(args.seed).sample(rows, min(args.n, len(rows)))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["id", "instruction", "is_classification", "input", "output",
                                             *RATING_COLUMNS])
    writer.writeheader()
    for i, row in enumerate(picked, start=1):
        writer.writerow({"id": i, **row, **{c: "" for c in RATING_COLUMNS}})
    write_text_atomic(args.out, buf.getvalue())
    print(f"sample: {len(picked)} of {len(rows)} instances -> {args.out} "
          f"(rate {', '.join(RATING_COLUMNS[:3])} as yes/no)", file=sys.stderr)
    return 0
