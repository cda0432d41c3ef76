"""The `selfinstruct analyze` command: the paper's statistics and figures for a generation run directory.

Only the standard library is imported at module level.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from selfinstruct.commands.common import int_flag

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR",
                        help="generation run folder (holds machine_generated_instructions.jsonl)")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for summary.json and PNGs")
    parser.add_argument("--seed-tasks", type=Path, default=None, metavar="FILE",
                        help="seed tasks for the ROUGE-L overlap histogram (default: the vendored data/seed_tasks.jsonl)")
    parser.add_argument("--no-seed-rouge", action="store_true", help="skip the ROUGE-L-against-seeds statistics")
    parser.add_argument("--no-plots", action="store_true", help="write summary.json only")
    parser.add_argument("--workers", type=int_flag(1, 4096, also=(-1,)), default=1,
                        help="threads for the ROUGE-L matrix (-1 = all cores)")


def run(args: argparse.Namespace) -> int:
    from selfinstruct.errors import ConfigError
    from selfinstruct.analyze.run import DEFAULT_SEED_TASKS, AnalyzeConfig, analyze_run

    if args.workers == 0 or args.workers < -1:
        raise ConfigError(f"--workers must be >= 1 or -1, got {args.workers}")
    cfg = AnalyzeConfig(
        run_dir=args.run_dir, out_dir=args.out, plots=not args.no_plots, workers=args.workers,
        seed_tasks=None if args.no_seed_rouge else (args.seed_tasks or DEFAULT_SEED_TASKS),
    )
    summary = analyze_run(cfg)
    c = summary["counts"]
    share = "-" if c["classification_share"] is None else f"{c['classification_share']:.1%}"
    empty = "-" if c["empty_input_share"] is None else f"{c['empty_input_share']:.1%}"
    print(f"instructions {c['instructions']}  classification {share}  instances {c['instances']}  "
          f"empty input {empty}  rejects {summary['rejects']['total']}")
    if "seed_rouge_l" in summary:
        print(f"ROUGE-L to the most similar seed: median {summary['seed_rouge_l']['median']:.3f}")
    print(f"summary: {args.out / 'summary.json'}")
    return 0
