"""`selfinstruct sample`: a random sample of a run as CSV for manual quality rating (the paper's 200-item study)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from selfinstruct.commands.common import COUNT, SEED
from selfinstruct.runfiles import INSTANCES

RATING_COLUMNS = ("valid_instruction", "appropriate_input", "correct_output", "notes")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    parser.add_argument("--n", type=COUNT, default=200, help="how many instances to sample (default 200)")
    parser.add_argument("--out", type=Path, required=True, metavar="raters.csv")
    parser.add_argument("--seed", type=SEED, default=0)


def run(args: argparse.Namespace) -> int:
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
