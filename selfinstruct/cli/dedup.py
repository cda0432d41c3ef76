"""``selfinstruct dedup``: filter a JSON/JSONL file of records by near-duplicate instruction text.

    selfinstruct dedup INPUT --out OUTPUT [--field instruction] [--threshold 0.7]
                       [--seeds FILE] [--exact] [--rejects FILE] [--redis-url URL]
                       [--untokenizable keep|reject] [--stats FILE]

Kept records are written unchanged, in input order: for JSONL input the original
line bytes are copied; for a JSON array each record is re-serialised (same keys,
order and values).  Rejected records go to ``--rejects`` with an added
``_dedup: {reason, max_score, most_similar}``.  The summary on stderr (and
``--stats``) says how the threshold was served (LSH banding or exact) and how
many texts had no token ROUGE-L can compare.  Standard library only at import time.
The filter's own settings are ``ConfigFlag`` rows on ``dedup.*`` keys of ``DedupConfig``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from selfinstruct.cli import sections
from selfinstruct.cli.common import float_flag
from selfinstruct.cli.flags import ConfigFlag, add_config_flags, dotted_overrides
from selfinstruct.errors import ConfigError, InputError


DEDUP_FLAGS = [
    ConfigFlag("--threshold", "dedup.threshold", sections.dedup, type=float_flag(0, 1)),
    ConfigFlag("--redis-url", "dedup.redis_url", sections.dedup, metavar="URL",
               note="shares the LSH index with other generators"),
    ConfigFlag("--redis-prefix", "dedup.redis_prefix", sections.dedup),
    ConfigFlag("--untokenizable", "dedup.untokenizable", sections.dedup, choices=("keep", "reject"),
               note="e.g. only Chinese, Arabic, emoji"),
]


def add_dedup_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="INPUT", help="JSON array or JSONL file of records")
    parser.add_argument("--out", required=True, metavar="OUTPUT", help="JSONL file for the kept records")
    parser.add_argument("--field", default="instruction", help="record field holding the text (default: instruction)")
    parser.add_argument("--seeds", metavar="FILE",
                        help="JSONL seed tasks (an 'instruction' field) pre-loaded into the pool")
    parser.add_argument("--exact", action="store_true",
                        help="brute-force exact filter (slow; for checking the fast one)")
    parser.add_argument("--rejects", metavar="FILE", help="JSONL file for rejected records, with _dedup details")
    add_config_flags(parser, DEDUP_FLAGS)
    parser.add_argument("--stats", metavar="FILE",
                        help="JSON file for the run's numbers: counts, method/banding, untokenizable examples")
    parser.set_defaults(_flags=DEDUP_FLAGS)


def _texts(path: str, records: list[tuple[int, dict[str, Any]]], field: str) -> list[str]:
    out = []
    for line, record in records:
        value = record.get(field)
        if value is None:
            raise InputError(f"record has no {field!r} field", path=path, line=line)
        if not isinstance(value, str):
            raise InputError(f"field {field!r} is {type(value).__name__}, expected a string", path=path, line=line)
        out.append(value)
    return out


def _raw_lines(path: str) -> dict[int, bytes] | None:
    """Line number -> original bytes for JSONL input (None for a JSON array)."""
    data = Path(path).read_bytes()
    if data.lstrip()[:1] == b"[":
        return None
    return {n: raw.rstrip(b"\r\n") + b"\n" for n, raw in enumerate(data.splitlines(keepends=True), start=1)}


_EXAMPLES = 5


def _clip(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def run_dedup(args: argparse.Namespace) -> int:
    from selfinstruct.config import table_from_dotted
    from selfinstruct.dedup import DedupConfig, ExactRougeFilter, NearDuplicateFilter
    from selfinstruct.io import dumps_line, iter_jsonl, read_json_records, write_text_atomic

    if args.exact and args.redis_url:
        raise ConfigError("--exact and --redis-url cannot be combined (the exact filter keeps no index)")
    settings = table_from_dotted(dotted_overrides(args, args._flags)).get("dedup", {})
    config = DedupConfig(**settings, storage="redis" if args.redis_url else "memory")
    records = read_json_records(args.input)
    texts = _texts(args.input, records, args.field)
    raw = _raw_lines(args.input)

    filt = ExactRougeFilter(config) if args.exact else NearDuplicateFilter(config)
    if args.seeds:
        seeds = _texts(args.seeds, list(iter_jsonl(args.seeds)), "instruction")
        filt.add_many(seeds)
    n_seeds = len(filt)

    start = time.perf_counter()
    decisions = filt.check_and_add_many(texts)
    elapsed = time.perf_counter() - start

    kept, rejected, untokenizable = [], [], []
    for (line, record), text, decision in zip(records, texts, decisions):
        if decision.untokenizable:
            untokenizable.append({"line": line, "text": text})
        if decision.keep:
            kept.append(raw[line] if raw is not None else dumps_line(record))
        else:
            reason = "untokenizable" if decision.untokenizable else "rouge_l_similar"
            rejected.append(dumps_line({**record, "_dedup": {"reason": reason, "max_score": decision.max_score,
                                                             "most_similar": decision.most_similar}}))
    write_text_atomic(args.out, b"".join(kept))
    if args.rejects:
        write_text_atomic(args.rejects, b"".join(rejected))

    method = ({"method": "exact", "source": "requested", "threshold": config.threshold} if args.exact
              else filt.plan.as_dict())
    if untokenizable:
        shown = "; ".join(f"{args.input}:{u['line']}: {_clip(u['text'])!r}" for u in untokenizable[:_EXAMPLES])
        print(f"dedup: warning: {len(untokenizable)} of {len(texts)} texts have no [a-z0-9] token, so ROUGE-L "
              f"cannot compare them ({'kept' if config.untokenizable == 'keep' else 'rejected'}; "
              f"--untokenizable {'reject' if config.untokenizable == 'keep' else 'keep'} to change): {shown}",
              file=sys.stderr)
    if args.stats:
        write_text_atomic(args.stats, dumps_line({
            "input": args.input, "records": len(texts), "kept": len(kept), "rejected": len(rejected),
            "seeds": n_seeds, "threshold": config.threshold, "dedup_method": method,
            "untokenizable": {"count": len(untokenizable), "policy": config.untokenizable,
                              "examples": untokenizable[:_EXAMPLES]},
            "seconds": round(elapsed, 3)}))
    rate = len(texts) / elapsed if elapsed > 0 else float("inf")
    # Why a plan differs from the configured banding is logged by the filter as a warning.
    how = {"requested": "exact", "fallback": f"exact: no affordable LSH banding at threshold {config.threshold:g}",
           "derived": f"LSH {method.get('bands')}x{method.get('rows')} derived for threshold {config.threshold:g}",
           "configured": f"LSH {method.get('bands')}x{method.get('rows')}"}[method["source"]]
    print(f"dedup ({how}): {len(kept)} kept, {len(rejected)} rejected of {len(texts)} "
          f"(pool started with {n_seeds} seeds; {len(untokenizable)} untokenizable) in {elapsed:.2f} s, "
          f"{rate:,.0f} items/s", file=sys.stderr)
    return 0
