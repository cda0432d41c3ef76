"""`selfinstruct generate`: the Self-Instruct pipeline against an OpenAI-compatible endpoint (rerun to resume)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from selfinstruct.commands.common import COUNT, SEED, add_endpoint_arguments, add_limit_arguments, read_api_key


def add_generation_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("generation")
    g.add_argument("--seed-tasks", default=None, metavar="FILE",
                   help="seed tasks JSONL (default: the vendored 175 tasks, data/seed_tasks.jsonl)")
    g.add_argument("--num-instructions", type=COUNT, default=None, help="instructions to accept (default 100)")
    g.add_argument("--classification-only", action="store_true", default=None,
                   help="generate classification tasks only, from the classification seeds")
    g.add_argument("--include-seed-tasks", action="store_true", default=None,
                   help="add the seed tasks to the fine-tuning files")
    g.add_argument("--max-instances-per-task", type=COUNT, default=None, help="instances exported per task (default 5)")
    g.add_argument("--seed", type=SEED, default=None, help="random seed (default 42)")
    g.add_argument("--config", type=Path, default=None, metavar="FILE.toml",
                   help="TOML with every setting ([endpoint], [limits], [retry], [generation], [prompt], "
                        "[filters], [dedup], [export], [prices]); flags override it")


def add_allow_changes_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--allow-changes", action="store_true",
                        help="resume even though the model, endpoint kind, default parameters, seed file or prompt "
                             "mode differ from the state's (the change is recorded); without it such a resume exits 2")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, metavar="RUN_DIR", help="run directory (rerun to resume)")
    add_endpoint_arguments(parser, required=False)
    add_limit_arguments(parser)
    add_generation_arguments(parser)
    add_allow_changes_argument(parser)


def flat_overrides(args: argparse.Namespace) -> dict:
    keys = ["api_base", "model", "endpoint", "api_key_env", "rpm", "tpm", "max_concurrency", "timeout",
            "max_attempts", "max_outage", "num_instructions", "seed_tasks", "seed", "classification_only", "include_seed_tasks",
            "max_instances_per_task"]
    return {k: getattr(args, k, None) for k in keys}


def _table(args: argparse.Namespace, extra_table: dict | None) -> dict:
    from selfinstruct.config import load_toml, merge
    from selfinstruct.pipeline.config import table_from_flat

    table = merge(load_toml(args.config), extra_table or {})
    return merge(table, table_from_flat(flat_overrides(args)))


def config_from_args(args: argparse.Namespace, *, extra_table: dict | None = None):
    from selfinstruct.engine.outputs import require_run_dir
    from selfinstruct.net import split_key_source
    from selfinstruct.pipeline.config import build_generate_config

    source = str(args.config) if args.config else "<flags>"
    require_run_dir(args.out)
    table = _table(args, extra_table)
    _, table["endpoint"] = split_key_source(table.get("endpoint", {}))
    return build_generate_config(table, out_dir=args.out, source=source)


def api_key_from_args(args: argparse.Namespace, config) -> str | None:
    """The key, read here, at the edge, from the variable --api-key-env or [endpoint] api_key_env names."""
    from selfinstruct.net import split_key_source

    key_env, _ = split_key_source(_table(args, None).get("endpoint", {}))
    return read_api_key(key_env, config.endpoint.api_base)


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


def run(args: argparse.Namespace) -> int:
    from selfinstruct.pipeline.generate import run_generate

    config = config_from_args(args)
    api_key = api_key_from_args(args, config)
    result = run_generate(config, api_key=api_key, allow_changes=args.allow_changes)
    report(result, args.out)
    return result.exit_code
