"""Invariants a finished run directory must satisfy, checked with the reference rouge_score."""

from __future__ import annotations

import json
from pathlib import Path

from rouge_score import rouge_scorer

from selfinstruct.stages.filters import InstructionFilter
from selfinstruct.stages.prepare import is_valid_training_row

REPO = Path(__file__).resolve().parents[2]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def seed_instructions() -> list[str]:
    return [r["instruction"] for r in read_jsonl(REPO / "data/seed_tasks.jsonl")]


def assert_greedy_rouge_invariant(instructions: list[str], threshold: float = 0.7) -> None:
    """In file order, no instruction scores above ``threshold`` against the seeds or any earlier one."""
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    pool = seed_instructions()
    for inst in instructions:
        for prev in pool:
            score = scorer.score(prev, inst)["rougeL"].fmeasure
            assert score <= threshold, (inst, prev, score)
        pool.append(inst)


def assert_run_is_valid(run: Path, *, target: int) -> dict:
    instructions = [r["instruction"] for r in read_jsonl(run / "machine_generated_instructions.jsonl")]
    assert len(instructions) == target
    assert len(set(instructions)) == len(instructions)
    flt = InstructionFilter()
    for inst in instructions:
        assert flt.check(inst).ok, inst
    assert_greedy_rouge_invariant(instructions)
    labels = read_jsonl(run / "is_clf_or_not.jsonl")
    assert [r["instruction"] for r in labels] == instructions     # every instruction classified, once
    instances = read_jsonl(run / "machine_generated_instances.jsonl")
    with_instances = sum(1 for r in instances if r["instances"])
    assert with_instances >= 0.9 * target
    rows = read_jsonl(run / "finetuning/all_generated_instances.jsonl")
    assert rows and all(is_valid_training_row(r) for r in rows)
    msgs = read_jsonl(run / "finetuning/messages.jsonl")
    assert len(msgs) == len(rows)
    assert json.loads((run / "finetuning/alpaca.json").read_text())
    return {"instructions": instructions, "with_instances": with_instances}
