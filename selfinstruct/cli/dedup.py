"""``selfinstruct dedup``: filter JSON/JSONL files of records by near-duplicate instruction text.

    selfinstruct dedup INPUT... --out OUTPUT [--field instruction] [--threshold 0.7]
                       [--seeds FILE] [--exact] [--rejects FILE] [--redis-url URL]
                       [--ray [--ray-address ADDR]] [--untokenizable keep|reject] [--stats FILE]

Several inputs are filtered as one stream, file after file.  Kept records are
written unchanged, in input order: for JSONL input the original line bytes are
copied; for a JSON array each record is re-serialised (same keys, order and
values).  Rejected records go to ``--rejects`` with an added
``_dedup: {reason, max_score, most_similar, matched}``, where ``matched`` names
the kept record (or seed) it matched best: file, line and text.

How it decides (always the exact greedy Self-Instruct rule; the summary and
``--stats`` say which engine ran):

* default: selfinstruct.dedup.greedy, exact candidates by length and prefix filtering;
* ``--ray``: the same decisions computed on a Ray cluster (selfinstruct.dedup.distributed),
  a local one unless ``--ray-address`` names one;
* ``--exact``: brute force over the whole pool (slow; for checking the others);
* ``--redis-url``: the streaming MinHash-LSH filter sharing its index through Redis.

Standard library only at import time.  The filter's own settings are
``ConfigFlag`` rows on ``dedup.*`` keys of ``DedupConfig``.
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
    parser.add_argument("input", metavar="INPUT", nargs="+",
                        help="JSON array or JSONL files of records, filtered as one stream in the order given")
    parser.add_argument("--out", required=True, metavar="OUTPUT", help="JSONL file for the kept records")
    parser.add_argument("--field", default="instruction", help="record field holding the text (default: instruction)")
    parser.add_argument("--seeds", metavar="FILE",
                        help="JSONL seed tasks (an 'instruction' field) pre-loaded into the pool")
    parser.add_argument("--exact", action="store_true",
                        help="brute-force exact filter (slow; for checking the fast one)")
    parser.add_argument("--rejects", metavar="FILE",
                        help="JSONL file for rejected records, with _dedup details and the kept record matched")
    parser.add_argument("--ray", action="store_true",
                        help="compute the decisions on a Ray cluster (a local one without --ray-address)")
    parser.add_argument("--ray-address", metavar="ADDR",
                        help="Ray cluster to join (e.g. 10.0.0.5:6379 or auto); implies --ray")
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
    import os

    from selfinstruct.config import table_from_dotted
    from selfinstruct.dedup import DedupConfig, ExactRougeFilter, NearDuplicateFilter
    from selfinstruct.io import dumps_line, iter_jsonl, read_json_records, write_text_atomic

    use_ray = args.ray or bool(args.ray_address)
    engines = [name for name, on in (("--exact", args.exact), ("--redis-url", args.redis_url), ("--ray", use_ray))
               if on]
    if len(engines) > 1:
        raise ConfigError(f"{' and '.join(engines)} cannot be combined (each is a different way to decide)")
    settings = table_from_dotted(dotted_overrides(args, args._flags)).get("dedup", {})
    config = DedupConfig(**settings, storage="redis" if args.redis_url else "memory")
    sources: list[tuple[str, int, dict[str, Any], bytes | None]] = []  # (file, line, record, raw line)
    for path in args.input:
        records = read_json_records(path)
        raw = _raw_lines(path)
        sources.extend((path, line, rec, None if raw is None else raw[line]) for line, rec in records)
    texts = _texts_of(sources, args.field)
    seeds = _texts(args.seeds, list(iter_jsonl(args.seeds)), "instruction") if args.seeds else []
    labels = [(args.seeds, n) for n, _ in iter_jsonl(args.seeds)] if args.seeds else []
    labels += [(path, line) for path, line, _, _ in sources]

    start = time.perf_counter()
    if use_ray:
        # Ray reads these when it starts: no usage reporting, and (local clusters) no auth token file.
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        if not args.ray_address:
            os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        from selfinstruct.dedup.distributed import RayOptions, ray_dedup

        cpus = os.cpu_count() or 1
        result = ray_dedup(args.input, field=args.field, seeds=seeds, config=config,
                           options=RayOptions(address=args.ray_address, num_cpus=None if args.ray_address else cpus,
                                              partitions=max(2, cpus), blocks=max(2, cpus)))
        method: dict[str, Any] = {"method": "ray", "address": args.ray_address or "local",
                                  "threshold": config.threshold, "edges": result.edges}
        verdicts = _from_result(result, seeds, texts, labels)
    elif args.exact or args.redis_url:
        filt = ExactRougeFilter(config) if args.exact else NearDuplicateFilter(config)
        filt.add_many(seeds)
        decisions = filt.check_and_add_many(texts)
        method = ({"method": "exact", "source": "requested", "threshold": config.threshold} if args.exact
                  else filt.plan.as_dict())
        verdicts = _from_decisions(decisions, seeds, texts, labels)
    else:
        from selfinstruct.dedup.greedy import greedy_dedup

        result = greedy_dedup(texts, seeds=seeds, config=config)
        method = {"method": "prefix", "threshold": config.threshold, "candidates": result.candidates,
                  "edges": result.edges, "chunk_seconds": [round(x, 3) for x in result.chunk_seconds]}
        verdicts = _from_result(result, seeds, texts, labels)
    elapsed = time.perf_counter() - start

    kept, rejected, untokenizable = [], [], []
    for (path, line, record, raw), text, (keep, unreadable, details) in zip(sources, texts, verdicts):
        if unreadable:
            untokenizable.append({"input": path, "line": line, "text": text})
        if keep:
            kept.append(raw if raw is not None else dumps_line(record))
        else:
            reason = "untokenizable" if unreadable else "rouge_l_similar"
            rejected.append(dumps_line({**record, "_dedup": {"reason": reason, **details}}))
    write_text_atomic(args.out, b"".join(kept))
    if args.rejects:
        write_text_atomic(args.rejects, b"".join(rejected))

    if untokenizable:
        shown = "; ".join(f"{u['input']}:{u['line']}: {_clip(u['text'])!r}" for u in untokenizable[:_EXAMPLES])
        print(f"dedup: warning: {len(untokenizable)} of {len(texts)} texts have no [a-z0-9] token, so ROUGE-L "
              f"cannot compare them ({'kept' if config.untokenizable == 'keep' else 'rejected'}; "
              f"--untokenizable {'reject' if config.untokenizable == 'keep' else 'keep'} to change): {shown}",
              file=sys.stderr)
    if args.stats:
        write_text_atomic(args.stats, dumps_line({
            "input": args.input, "records": len(texts), "kept": len(kept), "rejected": len(rejected),
            "seeds": len(seeds), "threshold": config.threshold, "dedup_method": method,
            "untokenizable": {"count": len(untokenizable), "policy": config.untokenizable,
                              "examples": untokenizable[:_EXAMPLES]},
            "seconds": round(elapsed, 3)}))
    rate = len(texts) / elapsed if elapsed > 0 else float("inf")
    print(f"dedup ({_how(method, config.threshold)}): {len(kept)} kept, {len(rejected)} rejected of {len(texts)} "
          f"(pool started with {len(seeds)} seeds; {len(untokenizable)} untokenizable) in {elapsed:.2f} s, "
          f"{rate:,.0f} items/s", file=sys.stderr)
    return 0


def _how(method: dict[str, Any], threshold: float) -> str:
    if method["method"] == "prefix":
        return "exact candidates: length + prefix filter"
    if method["method"] == "ray":
        return f"Ray cluster at {method['address']}, exact candidates"
    # Why a plan differs from the configured banding is logged by the filter as a warning.
    return {"requested": "exact", "fallback": f"exact: no affordable LSH banding at threshold {threshold:g}",
            "derived": f"LSH {method.get('bands')}x{method.get('rows')} derived for threshold {threshold:g}",
            "configured": f"LSH {method.get('bands')}x{method.get('rows')}"}[method["source"]]


def _texts_of(sources: list[tuple[str, int, dict[str, Any], bytes | None]], field: str) -> list[str]:
    out = []
    for path, line, record, _ in sources:
        out.extend(_texts(path, [(line, record)], field))
    return out


def _matched(labels: list[tuple[str, int]], texts: list[str], index: int) -> dict[str, Any]:
    path, line = labels[index]
    return {"input": path, "line": line, "text": texts[index]}


def _from_result(result: Any, seeds: list[str], texts: list[str],
                 labels: list[tuple[str, int]]) -> list[tuple[bool, bool, dict[str, Any]]]:
    """(keep, untokenizable, _dedup details) per text, from a greedy engine's arrays."""
    everything = seeds + texts
    out = []
    for i, (keep, unreadable, match, score) in enumerate(zip(result.keep.tolist(), result.untokenizable.tolist(),
                                                            result.match.tolist(), result.score.tolist())):
        details: dict[str, Any] = {"max_score": score, "most_similar": {}}
        if not keep and match >= 0:
            details["most_similar"] = {everything[j]: s for j, s in result.matches.get(i, [])}
            details["matched"] = _matched(labels, everything, match)
        out.append((keep, unreadable, details))
    return out


def _from_decisions(decisions: list[Any], seeds: list[str], texts: list[str],
                    labels: list[tuple[str, int]]) -> list[tuple[bool, bool, dict[str, Any]]]:
    """The same, from a filter's Decisions: the matched record is the first kept one with the best text."""
    everything = seeds + texts
    first_kept: dict[str, int] = {}
    for i, t in enumerate(seeds):
        first_kept.setdefault(t, i)
    out = []
    for i, d in enumerate(decisions):
        details: dict[str, Any] = {"max_score": d.max_score, "most_similar": d.most_similar}
        if d.keep:
            first_kept.setdefault(texts[i], len(seeds) + i)
        elif d.most_similar and next(iter(d.most_similar)) in first_kept:  # (not if another process's text)
            details["matched"] = _matched(labels, everything, first_kept[next(iter(d.most_similar))])
        out.append((d.keep, d.untokenizable, details))
    return out
