"""``selfinstruct dedup``: records kept byte for byte, rejects explained, bad input named by file:line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfinstruct.cli import main

SEED = "Write a poem about the sea and the sky."


@pytest.fixture
def files(tmp_path: Path):
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text(json.dumps({"id": "s1", "instruction": SEED}) + "\n")
    lines = [
        '{"instruction": "Write a poem about the sea and the sky!", "n": 1.50, "u": "caf\\u00e9"}',  # seed dup
        '{"id": 2, "instruction": "Summarize the article in two sentences.", "big": 123456789012345678901}',
        '{"id": 3, "instruction": "Summarize the article in two short sentences.", "extra": [1, {"a": null}]}',
        '',
        '{"id": 4, "instruction": "Translate the sentence into French.",   "spaces":  true}',
        '{"id": 5, "instruction": "", "note": "empty text is kept"}',
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(lines) + "\n")
    return tmp_path, seeds, src, lines


@pytest.mark.parametrize("exact", [False, True])
def test_kept_records_are_byte_identical_and_rejects_explained(files, capsys, exact):
    tmp, seeds, src, lines = files
    out, rej = tmp / "out.jsonl", tmp / "rej.jsonl"
    argv = ["dedup", str(src), "--out", str(out), "--seeds", str(seeds), "--rejects", str(rej)]
    assert main(argv + (["--exact"] if exact else [])) == 0
    assert out.read_text().splitlines() == [lines[1], lines[4], lines[5]]
    rejected = [json.loads(x) for x in rej.read_text().splitlines()]
    assert [r.get("id") for r in rejected] == [None, 3]
    assert rejected[0]["_dedup"]["max_score"] > 0.7
    assert list(rejected[0]["_dedup"]["most_similar"]) == [SEED]
    assert rejected[1]["extra"] == [1, {"a": None}]
    err = capsys.readouterr().err
    assert "3 kept, 2 rejected of 5" in err and "items/s" in err


def test_json_array_input_and_other_field(tmp_path):
    src = tmp_path / "in.json"
    src.write_text(json.dumps([{"prompt": "Name three colours."}, {"prompt": "Name three colours!"},
                               {"prompt": "Tell me a joke about cats."}]))
    out = tmp_path / "out.jsonl"
    assert main(["dedup", str(src), "--out", str(out), "--field", "prompt"]) == 0
    assert [json.loads(x)["prompt"] for x in out.read_text().splitlines()] == [
        "Name three colours.", "Tell me a joke about cats."]


def test_threshold_flag(files):
    tmp, seeds, src, _ = files
    out = tmp / "out.jsonl"
    assert main(["dedup", str(src), "--out", str(out), "--threshold", "0.99"]) == 0
    assert len(out.read_text().splitlines()) == 5  # nothing in the file is that close to anything before it


@pytest.mark.parametrize("line, message", [
    ('{"text": "no instruction here"}', "in.jsonl:2: record has no 'instruction' field"),
    ('{"instruction": 42}', "in.jsonl:2: field 'instruction' is int"),
    ('{"instruction": "broken', "in.jsonl:2: invalid JSON"),
])
def test_bad_records_name_file_and_line(tmp_path, capsys, line, message):
    src = tmp_path / "in.jsonl"
    src.write_text('{"instruction": "fine"}\n' + line + "\n")
    assert main(["dedup", str(src), "--out", str(tmp_path / "o.jsonl")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o.jsonl").exists()


def test_bad_flags_exit_2(files, capsys):
    tmp, _, src, _ = files
    assert main(["dedup", str(src), "--out", str(tmp / "o.jsonl"), "--threshold", "2"]) == 2
    assert "threshold" in capsys.readouterr().err
    assert main(["dedup", str(tmp / "missing.jsonl"), "--out", str(tmp / "o.jsonl")]) == 2
    assert "missing.jsonl" in capsys.readouterr().err
