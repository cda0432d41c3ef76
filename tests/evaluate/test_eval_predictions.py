"""Reading prediction files and joining them to the tasks (by id, position or instruction text)."""

from __future__ import annotations

import pytest
from conftest import BASELINES_DIR, write_jsonl

from selfinstruct.errors import InputError
from selfinstruct.evaluate.predictions import load_predictions, model_name_from_path
from selfinstruct.evaluate.tasks import load_tasks


@pytest.mark.parametrize(("name", "expected"), [
    ("text-davinci-003_predictions.jsonl", "text-davinci-003"),
    ("/a/b/qwen-0.5b-si_predictions.jsonl", "qwen-0.5b-si"),
    ("preds.jsonl", "preds"),
    ("my_predictions_v2.jsonl", "my_predictions_v2"),
])
def test_model_name(name, expected):
    assert model_name_from_path(name) == expected


def test_vendored_baseline_joins_by_position():
    tasks = load_tasks()
    preds = load_predictions(BASELINES_DIR / "text-davinci-003_predictions.jsonl", tasks)
    assert preds.name == "text-davinci-003"
    assert len(preds.pairs) == 252
    assert [p.motivation_app for p in preds.pairs] == [t.motivation_app for t in tasks]
    assert [p.id for p in preds.pairs] == [t.id for t in tasks]
    # the raw file has a leading space on responses; pairs are stripped
    assert all(p.response == p.response.strip() and p.target == p.target.strip() for p in preds.pairs)


def test_join_by_id_text_and_unknown(small_tasks, tmp_path):
    tasks = load_tasks(small_tasks)
    path = write_jsonl(tmp_path / "x_predictions.jsonl", [
        {"id": "t4", "instruction": "whatever", "response": " a ", "target": "b"},          # by id
        {"instruction": "Classify the review as positive or negative.", "response": "Negative"},  # text; target from task
        {"instruction": "Not a task", "response": "r", "target": "t"},                      # unmatched
    ])
    preds = load_predictions(path, tasks)
    assert [p.motivation_app for p in preds.pairs] == ["Notion", "Yelp", "unknown"]
    assert preds.pairs[0].response == "a"
    assert preds.pairs[1].target == "Negative"
    assert preds.pairs[1].id == "t2"


def test_missing_target_without_task_is_an_error(small_tasks, tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [{"instruction": "Not a task", "response": "r"}])
    with pytest.raises(InputError, match=r"p\.jsonl:1: no 'target'"):
        load_predictions(path, load_tasks(small_tasks))


def test_response_must_be_a_string(small_tasks, tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [{"id": "t0", "response": 5, "target": "x"}])
    with pytest.raises(InputError, match=r"p\.jsonl:1: field 'response'"):
        load_predictions(path, load_tasks(small_tasks))
