"""`selfinstruct analyze` on a synthetic run directory: paper statistics, robustness to missing files."""

from __future__ import annotations

import json

import pytest
from conftest import RUN_INSTRUCTIONS, read_jsonl
from rouge_score import rouge_scorer

from selfinstruct.analyze.run import DEFAULT_SEED_TASKS, AnalyzeConfig, analyze_run
from selfinstruct.analyze.stats import is_classification_label, leading_word
from selfinstruct.cli import main
from selfinstruct.errors import InputError


@pytest.mark.parametrize(("text", "word"), [
    ("Write a poem.", "write"),
    ("  \"Given\" a list", "given"),
    ("- List eight facts", "list"),
    ("...", None),
    ("", None),
])
def test_leading_word(text, word):
    assert leading_word(text) == word


@pytest.mark.parametrize(("value", "label"), [
    (True, True), (False, False), ("Yes", True), (" no ", False), ("true", True), ("maybe", None), (None, None),
])
def test_classification_labels(value, label):
    assert is_classification_label(value) is label


def test_summary_of_synthetic_run(run_dir, tmp_path, capsys):
    out = tmp_path / "analysis"
    assert main(["analyze", str(run_dir), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    instances = read_jsonl(run_dir / "finetuning" / "all_generated_instances.jsonl")

    c = summary["counts"]
    assert c["instructions"] == len(RUN_INSTRUCTIONS)
    assert c["classification_instructions"] == 2 and c["classification_share"] == pytest.approx(2 / 6)
    assert c["instances"] == len(instances)
    empty = sum(1 for r in instances if not r["input"].strip())
    assert c["instances_with_empty_input"] == empty
    assert c["empty_input_share"] == pytest.approx(empty / len(instances), abs=1e-6)
    assert c["instructions_with_instances"] == 4

    lengths = summary["lengths_words"]
    assert lengths["instruction"]["max"] == max(len(t.split()) for t in RUN_INSTRUCTIONS)
    assert lengths["non_empty_input"]["n"] == len(instances) - empty
    assert lengths["output"]["min"] == 1

    words = {d["word"]: d["count"] for d in summary["leading_words"]}
    assert words["write"] == 2 and words["classify"] == 1

    assert summary["rejects"]["total"] == 4
    assert summary["rejects"]["by_stage_reason"] == {"instruction:rouge_l_similar": 2,
                                                     "instruction:blacklist:image": 1,
                                                     "instance:ends_with_colon": 1}
    assert summary["run_stats"] == {"done": 10, "failed": 0}

    seeds = [json.loads(line)["instruction"] for line in DEFAULT_SEED_TASKS.read_text().splitlines()]
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    brute = [max(scorer.score(s, t)["rougeL"].fmeasure for s in seeds) for t in RUN_INSTRUCTIONS]
    hist = summary["seed_rouge_l"]["histogram"]
    assert sum(hist["counts"]) == len(RUN_INSTRUCTIONS) and len(hist["edges"]) == 11
    assert summary["seed_rouge_l"]["mean"] == pytest.approx(sum(brute) / len(brute), abs=1e-6)

    for png in ("lengths.png", "seed_rouge_l.png", "leading_words.png", "rejects.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    assert "instructions 6" in capsys.readouterr().out


def test_only_the_instructions_file_is_required(run_dir, tmp_path):
    for name in ("is_clf_or_not.jsonl", "rejects.jsonl", "stats.json", "machine_generated_instances.jsonl",
                 "finetuning/all_generated_instances.jsonl"):
        (run_dir / name).unlink()
    summary = analyze_run(AnalyzeConfig(run_dir=run_dir, out_dir=tmp_path / "o", seed_tasks=None, plots=True))
    assert summary["counts"]["instructions"] == 6
    assert summary["counts"]["instances"] == 0 and summary["counts"]["classification_share"] is None
    assert "seed_rouge_l" not in summary and "run_stats" not in summary
    assert summary["figures"] == ["lengths.png", "leading_words.png"]


def test_nested_instances_file_is_used_without_the_flat_export(run_dir, tmp_path):
    (run_dir / "finetuning" / "all_generated_instances.jsonl").unlink()
    summary = analyze_run(AnalyzeConfig(run_dir=run_dir, out_dir=tmp_path / "o", seed_tasks=None, plots=False))
    assert summary["counts"]["instances"] == 7


def test_missing_instructions_file_is_an_input_error(run_dir, tmp_path, capsys):
    (run_dir / "machine_generated_instructions.jsonl").unlink()
    with pytest.raises(InputError, match="machine_generated_instructions.jsonl is missing"):
        analyze_run(AnalyzeConfig(run_dir=run_dir, out_dir=tmp_path / "o"))
    assert main(["analyze", str(run_dir), "--out", str(tmp_path / "o")]) == 2
    assert main(["analyze", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == 2
    assert "run directory not found" in capsys.readouterr().err


def test_malformed_line_names_file_and_line(run_dir, tmp_path):
    path = run_dir / "rejects.jsonl"
    path.write_text(path.read_text() + "{oops\n")
    with pytest.raises(InputError, match=r"rejects\.jsonl:5:"):
        analyze_run(AnalyzeConfig(run_dir=run_dir, out_dir=tmp_path / "o", seed_tasks=None, plots=False))
