"""`selfinstruct evaluate` end to end (without BERTScore): outputs, shapes, errors."""

from __future__ import annotations

import csv
import json

import pytest
from conftest import BASELINES_DIR, read_jsonl, write_jsonl

from selfinstruct.cli import main

METRIC_KEYS = {"bleu", "sentence_bleu", "rouge_l", "bertscore_f1", "bertscore_f1_rescaled", "n", "ci", "coverage"}


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
        assert m["coverage"] == {"predicted": 252, "tasks": 252, "share": 1.0}
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
    assert "- Coverage: every model predicted all 252 tasks." in text


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


def test_duplicate_ids_are_refused_naming_file_and_line(small_tasks, tmp_path, capsys):
    rows = [{"id": "t0", "response": "a", "target": "b"}, {"id": "t1", "response": "c", "target": "d"},
            {"id": "t0", "response": "e", "target": "b"}]
    preds = write_jsonl(tmp_path / "dup_predictions.jsonl", rows)
    out = tmp_path / "o"
    assert main(["evaluate", "--predictions", str(preds), "--tasks", str(small_tasks), "--no-bertscore",
                 "--no-plots", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{preds}:3: duplicate prediction for task 't0' (first at line 1)" in err
    assert "Traceback" not in err and not (out / "metrics.json").exists()


def test_a_baseline_file_listed_twice_over_is_refused(tmp_path, capsys):
    """Every prediction twice, without ids: the second copy joins by instruction text and is caught."""
    lines = (BASELINES_DIR / "davinci_predictions.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    doubled = tmp_path / "twice_predictions.jsonl"
    doubled.write_text("".join(lines + lines), encoding="utf-8")
    assert main(["evaluate", "--predictions", str(doubled), "--no-bertscore", "--no-plots",
                 "--out", str(tmp_path / "o")]) == 2
    assert f"{doubled}:{len(lines) + 1}: duplicate prediction for task" in capsys.readouterr().err


def test_partial_file_is_compared_on_shared_tasks_with_a_coverage_warning(tmp_path, capsys, caplog):
    from selfinstruct.evaluate.tasks import load_tasks

    tasks = load_tasks()
    picked = [tasks[5], tasks[40], tasks[200]]
    preds = write_jsonl(tmp_path / "mine_predictions.jsonl", [
        {"id": t.id, "instruction": t.instruction, "response": t.target, "target": t.target} for t in picked])
    out = tmp_path / "rep"
    assert main(["evaluate", "--predictions", str(preds), "--baselines", "--no-bertscore", "--no-plots",
                 "--bootstrap", "50", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics) == 9
    assert {name: m["n"] for name, m in metrics.items()} == dict.fromkeys(metrics, 3)
    assert metrics["mine"]["coverage"] == {"predicted": 3, "tasks": 252, "share": round(3 / 252, 6)}
    assert metrics["davinci"]["coverage"]["predicted"] == 252
    assert metrics["mine"]["rouge_l"] == 1.0  # it answered with the targets
    rows = read_jsonl(out / "per_task.jsonl")
    assert {r["id"] for r in rows} == {t.id for t in picked} and len(rows) == 9 * 3
    # davinci's score is its score on those 3 tasks, not on all 252
    davinci = [r["rouge_l"] for r in rows if r["model"] == "davinci"]
    assert metrics["davinci"]["rouge_l"] == pytest.approx(sum(davinci) / 3, abs=1e-5)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "mine: predicted 3 of 252 tasks (1.2% coverage)" in warnings
    assert any("scored on the 3 tasks all of them predicted" in w for w in warnings)
    report = (out / "report.md").read_text()
    assert "Coverage differs: every model is scored on the 3 tasks all of them predicted" in report
    assert "`mine` 3/252 (1.2%)" in report
    assert "mine" in capsys.readouterr().out


def test_files_with_no_shared_task_exit_2(small_tasks, tmp_path, capsys):
    a = write_jsonl(tmp_path / "a_predictions.jsonl", [{"id": "t0", "response": "x", "target": "y"}])
    b = write_jsonl(tmp_path / "b_predictions.jsonl", [{"id": "t1", "response": "x", "target": "y"}])
    assert main(["evaluate", "--predictions", str(a), str(b), "--tasks", str(small_tasks), "--no-bertscore",
                 "--no-plots", "--out", str(tmp_path / "o")]) == 2
    assert "share no task" in capsys.readouterr().err
