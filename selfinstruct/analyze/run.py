"""Read a generation run directory, compute its statistics, write summary.json and the figures.

Only ``machine_generated_instructions.jsonl`` is required; every other file of a
run is optional (a run stopped early may lack the instance files), and a
missing one simply leaves its statistics out.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfinstruct.analyze.stats import RunRecords, is_classification_label, summarize_run, word_count
from selfinstruct.errors import InputError
from selfinstruct.extras import require_extra
from selfinstruct.io import iter_jsonl, write_json_atomic
from selfinstruct.runfiles import INSTRUCTIONS, RunDir
from selfinstruct.stages.seeds import default_seed_path

__all__ = ["AnalyzeConfig", "load_run", "analyze_run", "DEFAULT_SEED_TASKS"]

log = logging.getLogger(__name__)

DEFAULT_SEED_TASKS = default_seed_path()


@dataclass(frozen=True, kw_only=True, slots=True)
class AnalyzeConfig:
    run_dir: Path = field(metadata={"help": "generation run folder (holds machine_generated_instructions.jsonl)"})
    out_dir: Path = field(metadata={"help": "folder for summary.json and PNGs"})
    seed_tasks: Path | None = field(default=DEFAULT_SEED_TASKS, metadata={
        "help": "seed tasks for the ROUGE-L overlap histogram; None skips the ROUGE-L-against-seeds statistics"})
    plots: bool = field(default=True, metadata={"help": "draw the PNG figures"})
    workers: int = field(default=1, metadata={"help": "threads for the ROUGE-L matrix (-1 = all cores)"})


def _str_field(rec: dict, key: str, path: Path, line: int) -> str:
    value = rec.get(key)
    if not isinstance(value, str):
        raise InputError(f"field {key!r} must be a string", path=str(path), line=line)
    return value


def _optional(path: Path) -> bool:
    if path.is_file():
        return True
    log.info("analyze: %s not found; its statistics are left out", path)
    return False


def load_run(run_dir: Path) -> RunRecords:
    """The records an analysis needs; InputError if the instructions file is missing or malformed."""
    run = RunDir(run_dir)
    instr_path = run.instructions
    if not run_dir.is_dir():
        raise InputError("run directory not found", path=str(run_dir))
    if not instr_path.is_file():
        raise InputError(f"not a generation run: {INSTRUCTIONS} is missing", path=str(run_dir))
    instructions = [_str_field(rec, "instruction", instr_path, line) for line, rec in iter_jsonl(instr_path)]

    classification: list[bool | None] = []
    clf_path = run.classification
    if _optional(clf_path):
        classification = [is_classification_label(rec.get("is_classification")) for _, rec in iter_jsonl(clf_path)]

    instances: list[tuple[str, str, str]] = []
    flat = run.all_generated
    nested = run.instances
    if flat.is_file():
        for line, rec in iter_jsonl(flat):
            instances.append((_str_field(rec, "instruction", flat, line), str(rec.get("input") or ""),
                              _str_field(rec, "output", flat, line)))
    elif _optional(nested):
        for line, rec in iter_jsonl(nested):
            instruction = _str_field(rec, "instruction", nested, line)
            items = rec.get("instances") or []
            if not isinstance(items, list):
                raise InputError("field 'instances' must be a list", path=str(nested), line=line)
            instances += [(instruction, str(i.get("input") or ""), str(i.get("output") or ""))
                          for i in items if isinstance(i, dict)]

    rejects: list[tuple[str, str]] = []
    rej_path = run.rejects
    if _optional(rej_path):
        rejects = [(str(rec.get("stage", "?")), str(rec.get("reason", "?"))) for _, rec in iter_jsonl(rej_path)]

    stats = None
    stats_path = run.stats
    if _optional(stats_path):
        try:
            stats = json.loads(stats_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"invalid JSON: {exc}", path=str(stats_path)) from exc
    return RunRecords(instructions=instructions, classification=classification, instances=instances,
                      rejects=rejects, stats=stats)


def _seed_instructions(path: Path) -> list[str]:
    return [_str_field(rec, "instruction", path, line) for line, rec in iter_jsonl(path)]


def analyze_run(cfg: AnalyzeConfig) -> dict[str, Any]:
    """Write ``summary.json`` (and PNGs) into ``cfg.out_dir``; return the summary."""
    import dataclasses

    import numpy as np

    from selfinstruct.rouge import max_rouge_l

    rec = load_run(cfg.run_dir)
    require_extra("eval", "rapidfuzz", "rouge_score", *(("matplotlib",) if cfg.plots else ()))
    if cfg.seed_tasks is not None and rec.instructions:
        seeds = _seed_instructions(cfg.seed_tasks)
        best, _ = max_rouge_l(rec.instructions, seeds, use_stemmer=False, workers=cfg.workers)
        rec = dataclasses.replace(rec, seed_max_rouge=best)
    summary = summarize_run(rec)
    summary["run_dir"] = str(cfg.run_dir)
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    if cfg.plots:
        from selfinstruct.analyze.plots import write_run_plots

        summary["figures"] = [Path(p).name for p in write_run_plots(
            cfg.out_dir,
            instruction_words=[word_count(t) for t in rec.instructions],
            input_words=[word_count(i) for _, i, _ in rec.instances if i.strip()],
            output_words=[word_count(o) for _, _, o in rec.instances],
            seed_rouge=None if rec.seed_max_rouge is None else np.asarray(rec.seed_max_rouge),
            leading_words=summary["leading_words"],
            rejects=summary["rejects"]["by_stage_reason"],
        )]
    write_json_atomic(cfg.out_dir / "summary.json", summary)
    return summary
