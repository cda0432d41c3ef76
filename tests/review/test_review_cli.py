"""`selfinstruct review` offline, the SelfBehave data as a ready review, and the SelfBehave seeds as a seed file."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from selfinstruct.cli import main
from selfinstruct.review.sampling import read_items, run_items, sample_items
from selfinstruct.review.stats import summarize
from selfinstruct.review.table import read_ratings_csv
from selfinstruct.review.templates import SELFBEHAVE

REPO = Path(__file__).resolve().parents[2]
HIGH = REPO / "data" / "selfbehave" / "high_quality_generated_instances.jsonl"
SEEDS = REPO / "examples" / "selfbehave_seed_tasks.jsonl"

HAND_MADE = """item,rater,valid,score,note
a,ann,yes,5,
a,bob,yes,4,looks fine
b,ann,no,2,
b,bob,yes,3,
c,ann,no,1,
c,bob,no,2,
d,ann,yes,4,
"""


def test_summary_of_a_hand_made_csv(tmp_path, capsys):
    path = tmp_path / "ratings.csv"
    path.write_text(HAND_MADE)
    assert main(["review", "summary", str(path), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    # valid: a pass, b tie (no majority: fails), c fail, d pass (single rater) -> 2 of 4
    assert got["criteria"]["valid"]["pass_rate"] == 0.5 and got["criteria"]["valid"]["n"] == 4
    # score (pass >= 4): a (5,4) pass, b (2,3) fail, c fail, d (4) pass -> 2 of 4; all valid: a and d
    assert got["criteria"]["score"]["pass_rate"] == 0.5 and got["all_valid_rate"] == 0.5
    # ann vs bob on valid over a, b, c: (y,y) (n,y) (n,n): p_o = 2/3, p_e = 1/3*2/3 + 2/3*1/3 = 4/9 -> 0.4
    assert got["cohen_kappa"]["ann|bob"]["valid"] == pytest.approx(0.4)
    assert got["cohen_n"] == {"ann|bob": 3}
    assert main(["review", "summary", str(path)]) == 0
    text = capsys.readouterr().out
    assert "all criteria valid" in text and "50.0%" in text and "Cohen's kappa ann & bob (3 items): valid 0.400" in text


@pytest.mark.parametrize("content, where, needle", [
    ("item,rater,valid\na,ann,maybe\n", ":2:", "'maybe'"),
    ("item,rater,valid,score\na,ann,yes,4\nb,bob,yes,\n", ":3:", "no answer for 'score'"),
    ("item,valid\na,yes\n", ":1:", "no 'rater' column"),
    ("item,rater,valid\na,ann,yes\nb,ann,3\n", ":3:", "mixes"),
    ("item,rater,valid\na,ann,yes,extra\n", ":2:", "4 fields"),
    ("item,rater,valid\n,ann,yes\n", ":2:", "empty 'item'"),
    ("item,rater,note\na,ann,x\n", ":1:", "no criterion column"),
    ("", "", "empty file"),
    ("item,rater,valid\na,ann,\n", "", "no rated rows"),
])
def test_bad_csv_names_file_and_line(tmp_path, capsys, content, where, needle):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    assert main(["review", "summary", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}{where}" in err and needle in err and "Traceback" not in err


def test_missing_file_exits_2(tmp_path, capsys):
    assert main(["review", "summary", str(tmp_path / "nope.csv")]) == 2
    assert "nope.csv: file not found" in capsys.readouterr().err


def test_selfbehave_data_as_a_ready_review(tmp_path, capsys):
    """A rating sheet of the Mixtral-generated SelfBehave data with the selfbehave template, rated, summarised."""
    sheet = tmp_path / "sheet.csv"
    assert main(["review", "sample", str(HIGH), "--size", "12", "--seed", "286", "--template", "selfbehave",
                 "--out", str(sheet)]) == 0
    rows = list(csv.DictReader(io.StringIO(sheet.read_text())))
    expected = sample_items(read_items(HIGH), 12, 286)
    assert [r["item"] for r in rows] == [i.id for i in expected]
    assert rows[0]["instruction"] == expected[0].instruction and "gherkin" in rows[0]["instruction"].lower()
    assert list(rows[0])[:6] == ["item", "rater", "essential", "singular", "complete", "integrous"]
    # An unrated sheet has nothing to summarise yet.
    assert main(["review", "summary", str(sheet)]) == 2
    capsys.readouterr()
    # Two raters fill it in: one row per rater and item.
    filled = []
    for i, row in enumerate(rows):
        for rater, flip in (("r1", 0), ("r2", 1)):
            answers = {c: "yes" if (i + j + flip * (i % 3 == 0)) % 4 else "no" for j, c in enumerate(SELFBEHAVE.names)}
            filled.append({**row, "rater": rater, **answers})
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(filled)
    sheet.write_text(buf.getvalue())
    assert main(["review", "summary", str(sheet), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    criteria, ratings = read_ratings_csv(sheet.read_text(), path=str(sheet))
    assert [c.name for c in criteria] == list(SELFBEHAVE.names)
    assert got == json.loads(json.dumps(summarize(criteria, ratings)))
    assert got["items_rated"] == 12 and got["raters"] == ["r1", "r2"] and set(got["cohen_kappa"]["r1|r2"]) == {
        "essential", "singular", "complete", "integrous"}


def test_generate_accepts_the_selfbehave_seed_file(tmp_path, sim):
    server = sim(latency_ms=1)
    run = tmp_path / "run"
    assert main(["generate", "--seed-tasks", str(SEEDS), "--api-base", server.url, "--model", "sim",
                 "--num-instructions", "5", "--include-seed-tasks", "--out", str(run)]) == 0
    stats = json.loads((run / "stats.json").read_text())
    assert stats["accepted_instructions"] >= 5
    # The seeds' Gherkin scenarios reach the training export, so the file was read as the run's seeds.
    alpaca = json.loads((run / "finetuning" / "alpaca.json").read_text())
    assert sum("gherkin" in row["instruction"].lower() for row in alpaca) == 175
    # A rating sheet of the run: the generated rows only (the seeds are not reviewed), sampled as the service does.
    sheet = tmp_path / "sheet.csv"
    assert main(["review", "sample", str(run), "--size", "3", "--seed", "9", "--out", str(sheet)]) == 0
    rows = list(csv.DictReader(io.StringIO(sheet.read_text())))
    assert [r["item"] for r in rows] == [i.id for i in sample_items(run_items(run), 3, 9)]
    assert not any("gherkin" in r["instruction"].lower() for r in rows)


def test_run_items_before_the_first_export(tmp_path):
    """A running job has no training export yet: its instances file gives the items."""
    (tmp_path / "machine_generated_instances.jsonl").write_text(
        json.dumps({"instruction": "Add.", "instances": [{"input": "1 2", "output": "3"},
                                                        {"input": "2 2", "output": "4"}]}) + "\n"
        + json.dumps({"instruction": "Greet.", "instances": []}) + "\n")
    items = run_items(tmp_path)
    assert [(i.instruction, i.input, i.output) for i in items] == [("Add.", "1 2", "3"), ("Add.", "2 2", "4")]
    assert run_items(tmp_path / "nothing") == []
