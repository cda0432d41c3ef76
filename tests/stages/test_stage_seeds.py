"""Seed files: validation errors naming file:line, the vendored default, and the BDD example."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from selfinstruct.errors import InputError
from selfinstruct.stages import InstructionFilter, default_seed_path, load_seed_tasks
from selfinstruct.stages.instances import filter_instances

REPO = Path(__file__).resolve().parents[2]
GOOD = {"id": "t1", "name": "n", "instruction": "Do the thing.", "instances": [{"input": "", "output": "ok"}],
        "is_classification": False}


def _write(tmp_path: Path, lines: list[str]) -> Path:
    p = tmp_path / "seeds.jsonl"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


@pytest.mark.parametrize("bad, message", [
    ("{not json", "invalid JSON"),
    ('["a list"]', "expected a JSON object"),
    (json.dumps({"id": "x"}), "missing key 'instruction'"),
    (json.dumps({"id": "x", "instruction": "  "}), "'instruction' must be a non-empty string"),
    (json.dumps({"id": "x", "instruction": 5}), "'instruction' must be a non-empty string"),
    (json.dumps({"id": "x", "instruction": "Do.", "instances": {"input": "a"}}), "'instances' must be a list"),
    (json.dumps({"id": "x", "instruction": "Do.", "instances": ["a"]}), "instances[0] must be an object"),
    (json.dumps({"id": "x", "instruction": "Do.", "instances": [{"input": "a"}]}), "instances[0].output"),
    (json.dumps({"id": "x", "instruction": "Do.", "instances": [{"input": 1, "output": "b"}]}),
     "instances[0].input"),
    (json.dumps({"id": "x", "instruction": "Do.", "is_classification": "yes"}), "'is_classification' must be"),
    (json.dumps({"id": ["x"], "instruction": "Do."}), "'id' must be"),
    (json.dumps({"id": "x", "name": 3, "instruction": "Do."}), "'name' must be"),
    (json.dumps(GOOD), "duplicate id 't1' (first seen on line 1)"),
])
def test_errors_name_file_and_line(tmp_path, bad, message):
    # line 2 is blank (skipped), the bad record is on line 3
    path = _write(tmp_path, [json.dumps(GOOD), "", bad])
    with pytest.raises(InputError) as info:
        load_seed_tasks(path)
    assert info.value.path == str(path) and info.value.line == 3
    assert str(info.value).startswith(f"{path}:3: ") and message in str(info.value)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_seed_tasks(tmp_path / "nope.jsonl")
    with pytest.raises(InputError, match="no seed tasks"):
        load_seed_tasks(_write(tmp_path, [""]))


def test_defaults(tmp_path):
    path = _write(tmp_path, [json.dumps({"instruction": "Do the thing."}), json.dumps({"id": 7, "instruction": "B"})])
    a, b = load_seed_tasks(path)
    assert (a.id, a.name, a.instances, a.is_classification) == ("seed_line_1", "", (), False)
    assert b.id == "7"


def test_vendored_seed_file_and_packaged_copy():
    path = default_seed_path()
    assert path == REPO / "data" / "seed_tasks.jsonl"
    tasks = load_seed_tasks(path)
    assert len(tasks) == 175 and any(t.is_classification for t in tasks)
    assert all(t.instances for t in tasks)
    packaged = REPO / "selfinstruct" / "templates" / "seed_tasks.jsonl"
    assert packaged.read_bytes() == path.read_bytes()


def test_default_path_from_another_working_directory(tmp_path):
    code = ("from selfinstruct.stages import default_seed_path, load_seed_tasks; "
            "print(len(load_seed_tasks(default_seed_path())))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == "175"


def test_bdd_example_loads_and_passes_the_filters():
    tasks = load_seed_tasks(REPO / "examples" / "bdd_seed_tasks.jsonl")
    assert 15 <= len(tasks) <= 20
    clf = [t for t in tasks if t.is_classification]
    assert clf and len(clf) < len(tasks)
    assert any("Given" in t.instruction and "When" in t.instruction and "Then" in t.instruction for t in clf)
    assert any("Scenario" in i.output for t in tasks for i in t.instances)
    f = InstructionFilter()
    for t in tasks:
        assert f.check(t.instruction).ok, t.instruction
        assert filter_instances(t.instances).kept == list(t.instances), t.name


def test_default_path_falls_back_to_the_packaged_copy(tmp_path):
    import shutil
    shutil.copytree(REPO / "selfinstruct", tmp_path / "pkg" / "selfinstruct",
                    ignore=shutil.ignore_patterns("__pycache__"))
    code = ("from selfinstruct.stages import default_seed_path, load_seed_tasks; p = default_seed_path(); "
            "print(p); print(len(load_seed_tasks(p)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(tmp_path / "pkg"), "PATH": "/usr/bin:/bin"})
    path, count = out.stdout.split()
    assert path == str(tmp_path / "pkg" / "selfinstruct" / "templates" / "seed_tasks.jsonl")
    assert count == "175"
