"""Task loading (validation with file:line) and the prediction record shape."""

from __future__ import annotations

import pytest
from conftest import TASKS_FILE, write_jsonl

from selfinstruct.errors import InputError
from selfinstruct.evaluate.tasks import DEFAULT_TASKS_PATH, load_tasks, prediction_record
from selfinstruct.formats import user_content


def test_vendored_tasks_load():
    tasks = load_tasks()
    assert DEFAULT_TASKS_PATH == TASKS_FILE
    assert len(tasks) == 252
    assert len({t.motivation_app for t in tasks}) == 71
    assert len({t.id for t in tasks}) == 252


@pytest.mark.parametrize(("record", "message"), [
    ({"motivation_app": "A", "instruction": "x", "instances": [{"input": "", "output": "y"}]}, "'id'"),
    ({"id": "a", "instruction": "  ", "instances": [{"input": "", "output": "y"}]}, "'instruction' is empty"),
    ({"id": "a", "instruction": "x", "instances": []}, "'instances'"),
    ({"id": "a", "instruction": "x", "instances": [{"input": 3, "output": "y"}]}, "instances[0].input"),
    ({"id": "a", "instruction": "x", "instances": [{"input": "", "output": ""}]}, "instances[0].output"),
    ({"id": "a", "motivation_app": 5, "instruction": "x", "instances": [{"output": "y"}]}, "motivation_app"),
])
def test_bad_task_names_file_and_line(tmp_path, record, message):
    good = {"id": "ok", "instruction": "x", "instances": [{"input": "", "output": "y"}]}
    path = write_jsonl(tmp_path / "t.jsonl", [good, record])
    with pytest.raises(InputError) as err:
        load_tasks(path)
    assert f"{path}:2:" in str(err.value)
    assert message in str(err.value)


def test_duplicate_id_and_bad_json(tmp_path):
    rec = {"id": "a", "instruction": "x", "instances": [{"input": "", "output": "y"}]}
    with pytest.raises(InputError, match="duplicate id"):
        load_tasks(write_jsonl(tmp_path / "d.jsonl", [rec, rec]))
    bad = tmp_path / "b.jsonl"
    bad.write_text('{"id": "a"\n')
    with pytest.raises(InputError, match=r"b\.jsonl:1:"):
        load_tasks(bad)


def test_multi_instance_task_yields_one_task_per_instance(tmp_path):
    rec = {"id": "a", "motivation_app": "App", "instruction": " Do it. ",
           "instances": [{"input": "1", "output": "one"}, {"input": "2", "output": "two"}]}
    tasks = load_tasks(write_jsonl(tmp_path / "m.jsonl", [rec]))
    assert [t.id for t in tasks] == ["a#0", "a#1"]
    assert [t.target for t in tasks] == ["one", "two"]
    assert tasks[0].instruction == "Do it."


def test_prediction_record_fields(small_tasks):
    task = load_tasks(small_tasks)[0]
    rec = prediction_record(task, "  Sure, see you there.\n")
    assert set(rec) == {"id", "motivation_app", "prompt", "instruction", "input", "response", "target"}
    assert rec["response"] == "Sure, see you there."
    assert rec["target"] == task.target  # the human-written output, not another model's
    assert rec["prompt"] == user_content(task.instruction, task.input)
    assert rec["id"] == "t0" and rec["motivation_app"] == "Gmail"
