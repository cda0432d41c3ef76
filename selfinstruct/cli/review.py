"""``selfinstruct review``: manual review figures offline.

    selfinstruct review summary RATINGS.csv [--json] [--out FILE]
    selfinstruct review sample DATA --out SHEET.csv [--size 200] [--seed 0] [--template paper|selfbehave]

``summary`` computes what the service's ``/reviews/{rid}/summary`` shows (pass
rates with 95% Wilson intervals, the all-valid share, Cohen's and Fleiss' kappa)
from an exported ``ratings.csv`` or a hand-made one: columns ``item``, ``rater``
and one per criterion (yes/no or 1-5). ``sample`` writes a rating sheet of a
seeded sample of a run directory or an instruction/input/output JSONL file: fill
in ``rater`` and the criterion columns (one row per rater and item) and feed it
to ``summary``. The same data, size and seed give the service's items.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from selfinstruct.cli.common import SEED, int_flag
from selfinstruct.errors import ConfigError, InputError

SIZE = int_flag(1, 10_000)
_BUILTIN_TEMPLATES = ("paper", "selfbehave")  # selfinstruct.review.templates.BUILTIN, without importing it here


def add_review_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("summary", "sample"),
                        help="summary: figures of a ratings CSV; sample: a rating sheet of a seeded sample")
    parser.add_argument("path", metavar="FILE", help="summary: the ratings CSV; sample: a run directory or a "
                                                     "JSONL file of instruction/input/output rows")
    parser.add_argument("--out", type=Path, metavar="FILE",
                        help="sample: the rating sheet to write (required); summary: also write the JSON here")
    parser.add_argument("--json", action="store_true", help="summary: print the figures as JSON")
    parser.add_argument("--size", type=SIZE, default=200, help="sample: how many items (default 200)")
    parser.add_argument("--seed", type=SEED, default=0, help="sample: the sampling seed (default 0)")
    parser.add_argument("--template", choices=_BUILTIN_TEMPLATES, default="paper",
                        help="sample: the criteria columns of the sheet (default paper)")


def run_review(args: argparse.Namespace) -> int:
    return _summary(args) if args.action == "summary" else _sample(args)


def _summary(args: argparse.Namespace) -> int:
    import orjson

    from selfinstruct.io import write_text_atomic
    from selfinstruct.review.stats import summarize
    from selfinstruct.review.table import read_ratings_csv

    path = Path(args.path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError("file not found", path=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", path=str(path)) from exc
    criteria, ratings = read_ratings_csv(text, path=str(path))
    if not ratings:
        raise InputError("no rated rows (every criterion column is blank)", path=str(path))
    summary = summarize(criteria, ratings)
    data = orjson.dumps(summary, option=orjson.OPT_INDENT_2) + b"\n"
    if args.out is not None:
        write_text_atomic(args.out, data)
    if args.json:
        sys.stdout.write(data.decode())
    else:
        sys.stdout.write(render(str(path), [c.name for c in criteria], summary))
    return 0


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _kappa(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def render(source: str, names: list[str], s: dict) -> str:
    """The summary as a plain-text table."""
    width = max(len("all criteria valid"), *(len(n) for n in names))
    lines = [f"{source}: {s['ratings']} ratings of {s['items_rated']} items by {len(s['raters'])} rater(s): "
             f"{', '.join(s['raters'])}",
             f"{'criterion':<{width}}  {'pass rate':>9}  {'95% interval':>17}  {'items':>5}"]
    rows = [(n, s["criteria"][n]["pass_rate"], s["criteria"][n]["ci"], s["criteria"][n]["n"]) for n in names]
    rows.append(("all criteria valid", s["all_valid_rate"], s["all_valid_ci"], s["items_rated"]))
    for name, rate, ci, n in rows:
        interval = f"{_pct(ci[0])} - {_pct(ci[1])}" if ci else "n/a"
        lines.append(f"{name:<{width}}  {_pct(rate):>9}  {interval:>17}  {n:>5}")
    for pair, by in s["cohen_kappa"].items():
        lines.append(f"Cohen's kappa {pair.replace('|', ' & ')} ({s['cohen_n'][pair]} items): "
                     + ", ".join(f"{n} {_kappa(by[n])}" for n in names))
    if "fleiss_kappa" in s:
        lines.append(f"Fleiss' kappa, all {len(s['raters'])} raters ({s['fleiss_n']} items): "
                     + ", ".join(f"{n} {_kappa(s['fleiss_kappa'][n])}" for n in names))
    return "\n".join(lines) + "\n"


def _sample(args: argparse.Namespace) -> int:
    import csv
    import io

    from selfinstruct.io import write_text_atomic
    from selfinstruct.review.sampling import read_items, run_items, sample_items
    from selfinstruct.review.templates import BUILTIN

    if args.out is None:
        raise ConfigError("review sample needs --out SHEET.csv")
    path = Path(args.path)
    items = run_items(path) if path.is_dir() else read_items(path)
    if not items:
        raise InputError("no items to sample (no accepted instruction/input/output rows)", path=str(path))
    picked = sample_items(items, args.size, args.seed)
    names = list(BUILTIN[args.template].names)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["item", "rater", *names, "note", "instruction", "input", "output"])
    for item in picked:
        writer.writerow([item.id, "", *("" for _ in names), "", item.instruction, item.input, item.output])
    write_text_atomic(args.out, buf.getvalue())
    print(f"review sample: {len(picked)} of {len(set(i.id for i in items))} items -> {args.out} "
          f"(fill in rater and {', '.join(names)} as yes/no, one row per rater and item; then "
          f"`selfinstruct review summary {args.out}`)", file=sys.stderr)
    return 0
