"""`selfinstruct complete`: resumable, rate-limited batch completion of a JSONL file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from selfinstruct.cli.common import INTERVAL, SECONDS, add_endpoint_arguments, add_limit_arguments, read_api_key
from selfinstruct.cli.flags import dotted_overrides

INFERRED_ENDPOINT = "default: chat when the first request has messages, else completions"


def add_complete_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, metavar="INPUT.jsonl",
                        help='one request per line: {"id", "prompt"} or {"id", "messages"}, optional "params"')
    parser.add_argument("--out", type=Path, required=True, metavar="OUTPUT.jsonl",
                        help='one line per current input id: {"id", "text", "finish_reason", "usage", "model"}; '
                             'must not be the input, the state or the --config file')
    flags = add_endpoint_arguments(parser, required=True, endpoint_note=INFERRED_ENDPOINT)
    flags += add_limit_arguments(parser)
    parser.set_defaults(_flags=flags)
    parser.add_argument("--state", type=Path, default=None, metavar="PATH",
                        help="SQLite state file (default: OUTPUT.state.sqlite3 next to OUTPUT); rerun to resume")
    parser.add_argument("--config", type=Path, default=None, metavar="FILE.toml",
                        help="TOML with [endpoint], [limits], [retry], [prices] tables; flags override it")
    parser.add_argument("--drain-timeout", type=SECONDS, default=30.0,
                        help="seconds to let in-flight requests finish after SIGINT/SIGTERM")
    parser.add_argument("--progress-interval", type=INTERVAL, default=5.0,
                        help="seconds between progress lines when stderr is not a TTY")
    parser.add_argument("--allow-changes", action="store_true",
                        help="resume even though the model, endpoint kind or default parameters differ from the "
                             "state's (the change is recorded in the state); without it such a resume exits 2")
    parser.add_argument("--duplicate-ids", choices=["error", "first"], default="error",
                        help="an id on more than one input line: 'error' (default, exit 2 listing them) or "
                             "'first' (keep each id's first line)")


def run_complete(args: argparse.Namespace) -> int:
    from selfinstruct.config import load_toml, with_overrides
    from selfinstruct.complete import build_complete_config, run_complete as complete
    from selfinstruct.net import split_key_source
    from selfinstruct.engine.outputs import refuse_overlaps

    if args.config is not None:
        refuse_overlaps({"output": args.out, **({"state file": args.state} if args.state else {})},
                        {"config file": args.config})
    source = str(args.config) if args.config else "<flags>"
    table = with_overrides(load_toml(args.config), dotted_overrides(args, args._flags), source=source)
    config = build_complete_config(
        table, input_path=args.input, output_path=args.out, source=source,
        state_path=args.state, drain_timeout=args.drain_timeout, progress_interval=args.progress_interval,
        allow_changes=args.allow_changes, duplicate_ids=args.duplicate_ids)
    key_env, _ = split_key_source(table.get("endpoint", {}))
    api_key = read_api_key(key_env, config.endpoint.api_base)
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
