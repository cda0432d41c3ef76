"""`selfinstruct demo`: the whole pipeline against the built-in simulated endpoint, in-process, offline, no key."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from selfinstruct.commands.common import COUNT, RPM, float_flag
from selfinstruct.config import MAX_SECONDS
from selfinstruct.runfiles import CLASSIFICATION, FINETUNING, INSTANCES, INSTRUCTIONS, REJECTS, STATS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("runs/demo"), metavar="DIR", help="run directory")
    parser.add_argument("--num-instructions", type=COUNT, default=150, help="instructions to accept (default 150)")
    parser.add_argument("--endpoint", choices=["chat", "completions"], default="completions")
    parser.add_argument("--latency-ms", type=float_flag(0, MAX_SECONDS * 1000), default=20.0,
                        help="simulated latency per call")
    parser.add_argument("--rpm", type=RPM, default=6000.0, help="simulated endpoint's limit (the engine is told it)")


def run(args: argparse.Namespace) -> int:
    from selfinstruct.pipeline.config import build_generate_config
    from selfinstruct.pipeline.generate import run_generate
    from selfinstruct.commands.generate import report
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
        result = run_generate(config)
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
