"""Reading our data outputs into conversations, and the seeded eval split."""

from __future__ import annotations

import json

import pytest

from selfinstruct.errors import InputError
from selfinstruct.formats import user_content
from selfinstruct.train.data import (
    Conversation,
    read_conversations,
    record_to_conversation,
    resolve_data_file,
    split_conversations,
)

U, A = "user", "assistant"


@pytest.mark.parametrize(
    ("record", "prompt", "answer"),
    [
        ({"instruction": "Add.", "input": "2 3", "output": " 5 "}, [(U, user_content("Add.", "2 3"))], "5"),
        ({"instruction": "Say hi.", "input": "", "output": "hi"}, [(U, "Say hi.")], "hi"),
        ({"instruction": "Say hi.", "output": "hi"}, [(U, "Say hi.")], "hi"),
        ({"prompt": "Q?", "completion": "A."}, [(U, "Q?")], "A."),
        ({"prompt": "Task: Q?\nOutput:", "completion": " A.<|endoftext|>"}, [(U, "Task: Q?\nOutput:")], "A."),
        ({"prompt": [{"role": U, "content": "Q?"}], "completion": [{"role": A, "content": "A."}]}, [(U, "Q?")], "A."),
        ({"messages": [{"role": U, "content": "Q?"}, {"role": A, "content": "A."}]}, [(U, "Q?")], "A."),
        (
            {"messages": [{"role": "system", "content": "S"}, {"role": U, "content": "1"},
                          {"role": A, "content": "2"}, {"role": U, "content": "3"}, {"role": A, "content": "4"}]},
            [("system", "S"), (U, "1"), (A, "2"), (U, "3")],
            "4",
        ),
    ],
)
def test_record_formats(record, prompt, answer):
    conv = record_to_conversation(record, source="f:1")
    assert conv is not None
    assert [(m["role"], m["content"]) for m in conv.prompt] == prompt
    assert conv.completion == {"role": A, "content": answer}
    assert conv.messages[-1] == conv.completion


@pytest.mark.parametrize(
    "record",
    [
        {"instruction": "x", "output": ""},
        {"instruction": "", "output": "y"},
        {"instruction": 3, "output": "y"},
        {"prompt": "q", "completion": "  "},
        {"prompt": "q", "completion": "<|endoftext|>"},
        {"messages": [{"role": U, "content": "q"}]},
        {"messages": [{"role": A, "content": "a"}, {"role": U, "content": "q"}]},
        {"messages": [{"role": "robot", "content": "q"}, {"role": A, "content": "a"}]},
        {"messages": [{"role": "system", "content": "s"}, {"role": A, "content": "a"}]},
        {"messages": "not a list"},
        {"text": "plain text"},
    ],
)
def test_records_with_nothing_to_train_on(record):
    assert record_to_conversation(record) is None


def _jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_run_directory_prefers_messages_then_instances(tmp_path):
    run = tmp_path / "run"
    inst = _jsonl(run / "finetuning" / "all_generated_instances.jsonl",
                  [{"instruction": "I", "input": "", "output": "O"}])
    assert resolve_data_file(run) == inst
    msgs = _jsonl(run / "finetuning" / "messages.jsonl",
                  [{"messages": [{"role": U, "content": "Q"}, {"role": A, "content": "M"}]}])
    assert resolve_data_file(run) == msgs
    assert read_conversations(run)[0].completion["content"] == "M"


def test_alpaca_json_array_and_sources(tmp_path):
    path = tmp_path / "alpaca.json"
    path.write_text(json.dumps([{"instruction": "I1", "input": "x", "output": "O1"},
                                {"instruction": "I2", "input": "", "output": ""},
                                {"instruction": "I3", "input": "", "output": "O3"}]))
    convs = read_conversations(path)
    assert [c.completion["content"] for c in convs] == ["O1", "O3"]
    assert convs[1].source == f"{path}:3"


def test_no_usable_rows_names_the_file_and_the_expected_shape(tmp_path):
    path = _jsonl(tmp_path / "bad.jsonl", [{"text": "a"}, {"foo": 1}])
    with pytest.raises(InputError) as info:
        read_conversations(path)
    assert str(path) in str(info.value) and "no usable rows" in str(info.value)
    assert "instruction" in str(info.value) and "messages" in str(info.value)


def test_missing_file_and_empty_run_dir(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_conversations(tmp_path / "nope.jsonl")
    (tmp_path / "emptyrun").mkdir()
    with pytest.raises(InputError, match="finetuning/messages.jsonl"):
        read_conversations(tmp_path / "emptyrun")


def test_malformed_json_names_file_and_line(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text('{"prompt": "a", "completion": "b"}\n{oops\n')
    with pytest.raises(InputError, match=r"broken.jsonl:2"):
        read_conversations(path)


def _convs(n):
    return [Conversation(prompt=({"role": U, "content": str(i)},), completion={"role": A, "content": "a"},
                         source=str(i)) for i in range(n)]


@pytest.mark.parametrize(
    ("n", "fraction", "cap", "max_rows", "n_train", "n_eval"),
    [
        (100, 0.1, 0, 0, 90, 10),
        (100, 0.1, 4, 0, 96, 4),
        (100, 0.0, 0, 0, 100, 0),
        (100, 0.1, 0, 50, 45, 5),
        (5, 0.01, 0, 0, 4, 1),  # a fraction > 0 holds out at least one row
        (1, 0.5, 0, 0, 1, 0),  # but never the only one
    ],
)
def test_split_sizes(n, fraction, cap, max_rows, n_train, n_eval):
    train, evals = split_conversations(_convs(n), eval_fraction=fraction, eval_max_rows=cap,
                                       max_rows=max_rows, seed=1)
    assert (len(train), len(evals)) == (n_train, n_eval)
    assert not {c.source for c in train} & {c.source for c in evals}


def test_split_is_seeded():
    a = split_conversations(_convs(50), eval_fraction=0.2, eval_max_rows=0, max_rows=0, seed=3)
    b = split_conversations(_convs(50), eval_fraction=0.2, eval_max_rows=0, max_rows=0, seed=3)
    c = split_conversations(_convs(50), eval_fraction=0.2, eval_max_rows=0, max_rows=0, seed=4)
    assert a == b and a != c
