"""Stage 4: the four export formats, the per-task cap, seeds, and the training-row validity check."""

from __future__ import annotations

import json
import random

import pytest

from selfinstruct.errors import ConfigError
from selfinstruct.formats import to_messages
from selfinstruct.stages import Instance, PrepareConfig, SeedTask, is_valid_training_row, prepare_finetuning
from selfinstruct.stages.prepare import gpt3_finetuning_rows, sample_task_instances, TrainingExample

WITH_INPUT = [
    ("{instruction}\nInput: {input}\nOutput:", " {output}<|endoftext|>"),
    ("{instruction}\n\nInput: {input}\n\nOutput:", " {output}<|endoftext|>"),
    ("Task: {instruction}\nInput: {input}\nOutput:", " {output}<|endoftext|>"),
    ("{instruction}\n\n{input}\n\nOutput:", " {output}<|endoftext|>"),
    ("{instruction}\n\n{input}\n\n", "{output}<|endoftext|>"),
    ("{instruction}\n{input}\n\n", "{output}<|endoftext|>"),
    ("Task: {instruction}\n\n{input}\n\n", "{output}<|endoftext|>"),
]
WITHOUT_INPUT = [
    ("{instruction} Output:", " {output}<|endoftext|>"),
    ("{instruction}\nOutput:", " {output}<|endoftext|>"),
    ("{instruction}\n\nOutput:", " {output}<|endoftext|>"),
    ("{instruction}\n", "{output}<|endoftext|>"),
    ("{instruction}\n\n", "{output}<|endoftext|>"),
    ("Task: {instruction}\n\n", "{output}<|endoftext|>"),
]

TASKS = [
    ("Translate the sentence into French.", [Instance(f"Sentence: line {i}", f"Ligne {i}") for i in range(8)]),
    ("Tell me a fun fact about space.", [Instance("", "Venus spins backwards."), Instance("", "Space is quiet.")]),
    ("Classify the review as positive or negative.", [Instance("Great phone!", "Positive")]),
    ("A task whose instances were all filtered.", []),
]
SEEDS = [SeedTask(id="s0", name="n", instruction="Name a colour.", instances=(Instance("", "Blue"),),
                  is_classification=False)]


def test_all_generated_caps_at_five_per_task():
    ex = prepare_finetuning(TASKS, rng=random.Random(0))
    rows = ex.all_generated
    assert all(set(r) == {"instruction", "input", "output"} for r in rows)
    per_task = {t: sum(r["instruction"] == t for r in rows) for t, _ in TASKS}
    assert per_task == {TASKS[0][0]: 5, TASKS[1][0]: 2, TASKS[2][0]: 1, TASKS[3][0]: 0}
    source = {(t, i.input, i.output) for t, insts in TASKS for i in insts}
    assert all((r["instruction"], r["input"], r["output"]) in source for r in rows)
    assert prepare_finetuning(TASKS, rng=random.Random(0)) == ex  # seeded: reproducible


def test_sample_task_instances_is_a_subset_without_repeats():
    insts = [Instance(str(i), str(i + 1)) for i in range(9)]
    got = sample_task_instances(insts, random.Random(5), 5)
    assert len(got) == 5 and len(set(got)) == 5 and set(got) <= set(insts)


def test_seeds_go_to_training_formats_only():
    cfg = PrepareConfig(include_seed_tasks=True)
    ex = prepare_finetuning(TASKS, rng=random.Random(1), config=cfg, seeds=SEEDS)
    assert not any(r["instruction"] == "Name a colour." for r in ex.all_generated)
    assert {"instruction": "Name a colour.", "input": "", "output": "Blue"} in ex.alpaca
    assert len(ex.alpaca) == len(ex.all_generated) + 1 == len(ex.messages)
    without = prepare_finetuning(TASKS, rng=random.Random(1), seeds=SEEDS)
    assert len(without.alpaca) == len(without.all_generated)


def _matches_a_template(row: dict) -> bool:
    for prompt_t, completion_t in WITH_INPUT + WITHOUT_INPUT:
        head = prompt_t.split("{instruction}")[0]
        if not row["prompt"].startswith(head) or not row["completion"].endswith("<|endoftext|>"):
            continue
        for instruction, insts in TASKS + [("Name a colour.", list(SEEDS[0].instances))]:
            for inst in insts:
                for inp in {inst.input, inst.input.split(":", 1)[-1].strip()}:
                    if (prompt_t.format(instruction=instruction, input=inp) == row["prompt"]
                            and completion_t.format(output=inst.output) == row["completion"]
                            and (("{input}" in prompt_t) == bool(inp))):
                        return True
    return False


def test_gpt3_rows_use_only_the_original_templates():
    ex = prepare_finetuning(TASKS, rng=random.Random(2), config=PrepareConfig(include_seed_tasks=True),
                            seeds=SEEDS)
    assert ex.gpt3 and all(set(r) == {"prompt", "completion"} for r in ex.gpt3)
    assert all(_matches_a_template(r) for r in ex.gpt3)
    assert ex.gpt3_filename == f"gpt3_finetuning_data_{len(ex.gpt3)}.jsonl"
    assert len({(r["prompt"], r["completion"]) for r in ex.gpt3}) == len(ex.gpt3)


def test_gpt3_templates_file_is_the_original_list():
    from selfinstruct.stages.templates import finetuning_templates
    t = finetuning_templates()
    assert list(t["with_input"]) == WITH_INPUT and list(t["without_input"]) == WITHOUT_INPUT


def test_gpt3_field_label_stripping():
    ex = [TrainingExample("Translate it.", "Sentence: Hello\n\nworld", "Bonjour")]
    never = gpt3_finetuning_rows(ex, rng=random.Random(0), strip_field_label_prob=0.0)
    always = gpt3_finetuning_rows(ex, rng=random.Random(0), strip_field_label_prob=1.0)
    assert "Sentence: Hello\n\nworld" in never[0]["prompt"]
    assert "Sentence" not in always[0]["prompt"] and "Hello\nworld" in always[0]["prompt"]
    two_labels = [TrainingExample("Compare.", "A: one\nB: two", "Same")]
    assert "A: one\nB: two" in gpt3_finetuning_rows(two_labels, rng=random.Random(0),
                                                    strip_field_label_prob=1.0)[0]["prompt"]


def test_alpaca_and_messages_rows():
    ex = prepare_finetuning(TASKS, rng=random.Random(3))
    assert ex.alpaca == ex.all_generated
    json.dumps(ex.alpaca)  # a plain JSON list
    assert [m["messages"] for m in ex.messages] == [to_messages(r["instruction"], r["input"], r["output"])
                                                    for r in ex.alpaca]
    files = ex.files()
    assert set(files) == {"all_generated_instances.jsonl", ex.gpt3_filename, "alpaca.json", "messages.jsonl"}
    assert all(is_valid_training_row(r) for name in ("alpaca.json", "messages.jsonl") for r in files[name])


@pytest.mark.parametrize("row, ok", [
    ({"instruction": "Do it.", "input": "", "output": "Done."}, True),
    ({"instruction": "Do it.", "output": "Done."}, True),
    ({"instruction": " ", "input": "", "output": "Done."}, False),
    ({"instruction": "Do it.", "input": "", "output": ""}, False),
    ({"instruction": "Do it.", "input": "same", "output": "same"}, False),
    ({"instruction": "Do it.", "input": "Text:", "output": "x"}, False),
    ({"instruction": "Do it.", "input": "x", "output": "Result:"}, False),
    ({"instruction": "Do it.", "input": 3, "output": "x"}, False),
    ({"instruction": None, "input": "", "output": "x"}, False),
    ("not a row", False),
    ({"messages": to_messages("Do it.", "", "Done.")}, True),
    ({"messages": to_messages("Do it.", "", " ")}, False),
    ({"messages": [{"role": "user", "content": "x"}]}, False),
])
def test_is_valid_training_row(row, ok):
    assert is_valid_training_row(row) is ok


@pytest.mark.parametrize("kwargs", [{"max_instances_per_task": 0}, {"strip_field_label_prob": 1.5}])
def test_bad_config(kwargs):
    with pytest.raises(ConfigError):
        PrepareConfig(**kwargs)
