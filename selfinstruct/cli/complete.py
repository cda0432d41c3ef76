"""`selfinstruct complete`: resumable, rate-limited batch completion of a JSONL file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from selfinstruct.cli import sections
from selfinstruct.cli.common import (INTERVAL, SECONDS, add_batch_arguments, add_endpoint_arguments,
                                     add_limit_arguments, read_api_keys, replica_overrides)
from selfinstruct.cli.flags import ConfigFlag, add_config_flags, dotted_overrides

INFERRED_ENDPOINT = "default: chat when the first request has messages, else completions"
# The run's own settings: CompleteConfig fields given to build_complete_config, not keys of the --config TOML.
RUN_FLAGS = [
    ConfigFlag("--drain-timeout", "complete.drain_timeout", sections.complete, type=SECONDS),
    ConfigFlag("--progress-interval", "complete.progress_interval", sections.complete, type=INTERVAL),
    ConfigFlag("--allow-changes", "complete.allow_changes", sections.complete, const=True),
    ConfigFlag("--duplicate-ids", "complete.duplicate_ids", sections.complete, choices=("error", "first")),
]


def add_complete_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, metavar="INPUT.jsonl",
                        help='one request per line: {"id", "prompt"} or {"id", "messages"}, optional "params"')
    parser.add_argument("--out", type=Path, required=True, metavar="OUTPUT.jsonl",
                        help='one line per current input id: {"id", "text", "finish_reason", "usage", "model"}; '
                             'must not be the input, the state or the --config file')
    flags = add_endpoint_arguments(parser, required=True, endpoint_note=INFERRED_ENDPOINT)
    flags += add_limit_arguments(parser)
    flags += add_batch_arguments(parser)
    parser.set_defaults(_flags=flags)
    parser.add_argument("--state", type=Path, default=None, metavar="PATH",
                        help="SQLite state file (default: OUTPUT.state.sqlite3 next to OUTPUT); rerun to resume")
    parser.add_argument("--config", type=Path, default=None, metavar="FILE.toml",
                        help="TOML with [endpoint], [limits], [retry], [prices], [batch] tables; flags override it")
    add_config_flags(parser, RUN_FLAGS)


def run_complete(args: argparse.Namespace) -> int:
    from selfinstruct.config import load_toml, table_from_dotted, with_overrides
    from selfinstruct.complete import build_complete_config, run_complete as complete
    from selfinstruct.net import split_key_source
    from selfinstruct.engine.outputs import refuse_overlaps

    if args.config is not None:
        refuse_overlaps({"output": args.out, **({"state file": args.state} if args.state else {})},
                        {"config file": args.config})
    source = str(args.config) if args.config else "<flags>"
    flags = replica_overrides(dotted_overrides(args, args._flags))
    table = with_overrides(load_toml(args.config), flags, source=source)
    settings = table_from_dotted(dotted_overrides(args, RUN_FLAGS)).get("complete", {})  # unset: field defaults
    config = build_complete_config(
        table, input_path=args.input, output_path=args.out, source=source, state_path=args.state, **settings)
    key_env, _ = split_key_source(table.get("endpoint", {}))
    api_key = read_api_keys(key_env, config.endpoint)
    result = complete(config, api_key=api_key)
    s = result.stats
    print(f"complete: {s['done']} done ({s['cached']} from state), {result.failed} failed, "
          f"{s['requests_per_s']} req/s, {s['rate_limited_429']} x 429, {s['retries']} retries, "
          f"{s['elapsed_s']:.1f}s -> {args.out}", file=sys.stderr)
    if result.failed:
        print(f"complete: {result.failed} request(s) failed permanently; see {config.failed_path}", file=sys.stderr)
    if result.interrupted:
        print("complete: interrupted; rerun the same command to resume", file=sys.stderr)
    return result.exit_code
