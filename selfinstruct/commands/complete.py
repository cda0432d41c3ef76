"""`selfinstruct complete`: resumable, rate-limited batch completion of a JSONL file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from selfinstruct.commands.common import (
    add_endpoint_arguments,
    add_limit_arguments,
    endpoint_overrides,
    limit_overrides,
    INTERVAL,
    SECONDS,
    read_api_key,
    retry_overrides,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, metavar="INPUT.jsonl",
                        help='one request per line: {"id", "prompt"} or {"id", "messages"}, optional "params"')
    parser.add_argument("--out", type=Path, required=True, metavar="OUTPUT.jsonl",
                        help='one line per current input id: {"id", "text", "finish_reason", "usage", "model"}; '
                             'must not be the input, the state or the --config file')
    add_endpoint_arguments(parser, default_endpoint=None)
    add_limit_arguments(parser)
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


def run(args: argparse.Namespace) -> int:
    from selfinstruct.config import build, check_keys, load_toml, merge, table_of
    from selfinstruct.complete import CompleteConfig, infer_endpoint, run_complete
    from selfinstruct.engine.retry import RetryConfig
    from selfinstruct.engine.stats import PriceTable
    from selfinstruct.engine.throttle import LimitsConfig
    from selfinstruct.net import split_key_source
    from workers.openai import EndpointConfig

    from selfinstruct.engine.outputs import refuse_overlaps

    source = str(args.config) if args.config else "<flags>"
    if args.config is not None:
        refuse_overlaps({"output": args.out, **({"state file": args.state} if args.state else {})},
                        {"config file": args.config})
    table = load_toml(args.config)
    check_keys(table, {"endpoint", "limits", "retry", "prices"}, source=source)
    table = {name: table_of(table, name, source=source) for name in table}
    key_env, ep_table = split_key_source(merge(table.get("endpoint", {}), endpoint_overrides(args)))
    if ep_table.get("endpoint") is None:
        ep_table["endpoint"] = infer_endpoint(args.input)
    endpoint = build(EndpointConfig, ep_table, source=source, section="endpoint")
    limits = build(LimitsConfig, merge(table.get("limits", {}), limit_overrides(args)), source=source, section="limits")
    retry = build(RetryConfig, merge(table.get("retry", {}), retry_overrides(args)), source=source, section="retry")
    prices = PriceTable.from_table(table.get("prices", {}), source=source)
    api_key = read_api_key(key_env, endpoint.api_base)
    config = CompleteConfig(input_path=args.input, output_path=args.out, state_path=args.state, endpoint=endpoint,
                            limits=limits, retry=retry, drain_timeout=args.drain_timeout,
                            progress_interval=args.progress_interval, prices=prices,
                            allow_changes=args.allow_changes, duplicate_ids=args.duplicate_ids)
    result = run_complete(config, api_key=api_key)
    s = result.stats
    print(f"complete: {s['done']} done ({s['cached']} from state), {result.failed} failed, "
          f"{s['requests_per_s']} req/s, {s['rate_limited_429']} x 429, {s['retries']} retries, "
          f"{s['elapsed_s']:.1f}s -> {args.out}", file=sys.stderr)
    if result.failed:
        print(f"complete: {result.failed} request(s) failed permanently; see {config.failed_path}", file=sys.stderr)
    if result.interrupted:
        print("complete: interrupted; rerun the same command to resume", file=sys.stderr)
    return result.exit_code
