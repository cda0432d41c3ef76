"""`selfinstruct evaluate` end to end (without BERTScore): outputs, shapes, errors."""

from __future__ import annotations

import csv
import json

import pytest
from conftest import BASELINES_DIR, read_jsonl, write_jsonl

from selfinstruct.cli import main

METRIC_KEYS = {"bleu", "sentence_bleu", "rouge_l", "bertscore_f1", "bertscore_f1_rescaled", "n", "ci"}


@pytest.fixture(scope="module")
def baseline_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    assert main(["evaluate", "--baselines", "--no-bertscore", "--bootstrap", "200", "--out", str(out)]) == 0
    return out


def test_baseline_report_files(baseline_report):
    for name in ("metrics.json", "metrics.csv", "per_app.csv", "per_task.jsonl", "settings.json", "report.md",
                 "metrics_ci.png", "per_app_rouge_l.png", "response_lengths.png"):
        path = baseline_report / name
        assert path.is_file() and path.stat().st_size > 0, name
    assert (baseline_report / "metrics_ci.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_metrics_json_shape(baseline_report):
    metrics = json.loads((baseline_report / "metrics.json").read_text())
    names = sorted(p.name.removesuffix("_predictions.jsonl") for p in BASELINES_DIR.glob("*_predictions.jsonl"))
    assert sorted(metrics) == names and len(names) == 8
    for m in metrics.values():
        assert set(m) == METRIC_KEYS
        assert m["n"] == 252
        assert m["bertscore_f1"] is None
        assert 0 <= m["bleu"] <= 100 and 0 <= m["rouge_l"] <= 1
        for key in ("bleu", "sentence_bleu", "rouge_l"):
            low, high = m["ci"][key]
            assert low <= m[key] <= high


def test_per_task_and_per_app(baseline_report):
    rows = read_jsonl(baseline_report / "per_task.jsonl")
    assert len(rows) == 8 * 252
    metrics = json.loads((baseline_report / "metrics.json").read_text())
    mine = [r["rouge_l"] for r in rows if r["model"] == "text-davinci-003"]
    assert sum(mine) / len(mine) == pytest.approx(metrics["text-davinci-003"]["rouge_l"], abs=1e-5)
    with (baseline_report / "per_app.csv").open() as fh:
        apps = [r for r in csv.DictReader(fh) if r["model"] == "davinci"]
    assert len(apps) == 71
    assert sum(int(r["n"]) for r in apps) == 252


def test_report_markdown_lists_all_models_and_the_note(baseline_report):
    text = (baseline_report / "report.md").read_text()
    for name in json.loads((baseline_report / "metrics.json").read_text()):
        assert f"`{name}`" in text
    assert "Best tasks" in text and "Worst tasks" in text
    assert "What these metrics can and cannot say" in text
    assert "![metrics_ci](metrics_ci.png)" in text


def test_own_predictions_with_ids(small_tasks, tmp_path, capsys):
    preds = write_jsonl(tmp_path / "mine_predictions.jsonl", [
        {"id": "t0", "response": "Thank you, I will come.", "target": "Thank you, I will come."},
        {"id": "t2", "response": "Negative", "target": "Negative"},
        {"id": "t3", "response": "Bakery", "target": "Rise and Shine Bakery"},
    ])
    out = tmp_path / "rep"
    code = main(["evaluate", "--predictions", str(preds), "--tasks", str(small_tasks), "--no-bertscore",
                 "--no-plots", "--bootstrap", "50", "--out", str(out)])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics) == ["mine"] and metrics["mine"]["n"] == 3
    assert "mine" in capsys.readouterr().out
    assert not (out / "metrics_ci.png").exists()


@pytest.mark.parametrize("argv_tail", [
    ["--predictions", "{missing}"],
    [],
    ["--predictions", "{bad}"],
])
def test_errors_exit_2(tmp_path, argv_tail, capsys):
    bad = tmp_path / "bad_predictions.jsonl"
    bad.write_text('{"response": "x", "target": "y"}\nnot json\n')
    argv = [a.format(missing=tmp_path / "nope.jsonl", bad=bad) for a in argv_tail]
    assert main(["evaluate", *argv, "--no-bertscore", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "error:" in err


def test_same_model_name_twice_is_an_error(tmp_path, capsys):
    rec = [{"instruction": "x", "response": "a", "target": "b"}]
    a = write_jsonl(tmp_path / "a" / "m_predictions.jsonl", rec)
    b = write_jsonl(tmp_path / "b" / "m_predictions.jsonl", rec)
    assert main(["evaluate", "--predictions", str(a), str(b), "--no-bertscore", "--out", str(tmp_path / "o")]) == 2
    assert "'m'" in capsys.readouterr().err
