"""Write a run directory from the store: the original's file names and fields, each file replaced atomically.

The store is the truth; these files are views of it, rewritten whole at the end
of a run (and on interruption), so they are always consistent with each other
and never hold a duplicate or a torn line.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from selfinstruct.engine.store import CheckpointStore
from selfinstruct.io import write_json_atomic, write_jsonl_atomic
from selfinstruct.stages.base import Instance
from selfinstruct.stages.prepare import ALPACA_FILENAME, PrepareConfig, prepare_finetuning

__all__ = ["export_run", "write_finetuning", "RUN_FILES"]

RUN_FILES = {
    "instructions": "machine_generated_instructions.jsonl",
    "classification": "is_clf_or_not.jsonl",
    "instances": "machine_generated_instances.jsonl",
    "rejects": "rejects.jsonl",
    "stats": "stats.json",
    "finetuning": "finetuning",
}


def write_finetuning(ft_dir: Path, exports: Any) -> None:
    """Write the four fine-tuning files; a GPT-3 file from an earlier export (other row count) is removed."""
    ft_dir.mkdir(parents=True, exist_ok=True)
    for name, rows in exports.files().items():
        if name == ALPACA_FILENAME:
            write_json_atomic(ft_dir / name, rows)
        else:
            write_jsonl_atomic(ft_dir / name, rows)
    for old in ft_dir.glob("gpt3_finetuning_data_*.jsonl"):
        if old.name != exports.gpt3_filename:
            old.unlink()


def _with_model(meta: dict[str, Any], models: dict[str, str]) -> dict[str, Any]:
    """Add the model that answered ``meta["request_id"]`` (rows say which model made them)."""
    model = models.get(meta.get("request_id"))
    return {**meta, "model": model} if model else meta


def export_run(store: CheckpointStore, out_dir: Path, *, seeds: list[Any], prepare: PrepareConfig, seed: int,
               stats: dict[str, Any]) -> dict[str, Any]:
    """Rewrite every run file from the store; return a summary of what was written."""
    instructions = [data for _, data in store.records("instruction")]
    labels = {data["instruction"]: data for _, data in store.records("clf")}
    instances = {data["instruction"]: data for _, data in store.records("instances")}
    models = store.result_models()

    write_jsonl_atomic(out_dir / RUN_FILES["instructions"], (
        {"instruction": d["instruction"], "most_similar": d["most_similar"],
         "avg_similarity_score": d["avg_similarity_score"],
         "avg_similarity_is_estimate": d.get("avg_similarity_is_estimate", True),
         "metadata": _with_model(d["metadata"], models), "request_idx": d["request_idx"]} for d in instructions))
    write_jsonl_atomic(out_dir / RUN_FILES["classification"], (
        {"instruction": d["instruction"], "is_classification": labels[d["instruction"]]["is_classification"]}
        for d in instructions if d["instruction"] in labels))
    ordered = [instances[d["instruction"]] for d in instructions if d["instruction"] in instances]
    write_jsonl_atomic(out_dir / RUN_FILES["instances"], (
        {"instruction": r["instruction"], "is_classification": r["is_classification"],
         "raw_instances": r["raw_instances"], "instance_metadata": _with_model(r["instance_metadata"], models),
         "instances": r["instances"]} for r in ordered))
    write_jsonl_atomic(out_dir / RUN_FILES["rejects"], (data for _, data in store.records("reject")))

    tasks = [(r["instruction"], [Instance(i["input"], i["output"]) for i in r["instances"]])
             for r in ordered if r["instances"]]
    exports = prepare_finetuning(tasks, rng=random.Random(seed), config=prepare, seeds=seeds)
    write_finetuning(out_dir / RUN_FILES["finetuning"], exports)
    summary = {
        "instructions": len(instructions),
        "classified": len(labels),
        "classification_tasks": sum(1 for v in labels.values() if v["is_classification"]),
        "instructions_with_instances": len(tasks),
        "training_rows": len(exports.all_generated),
        "gpt3_file": exports.gpt3_filename,
    }
    write_json_atomic(out_dir / RUN_FILES["stats"], {**stats, "export": summary})
    return summary
