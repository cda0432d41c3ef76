"""The synthetic LM: determinism, the four Self-Instruct prompt shapes, limits, and diversity."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from rouge_score import rouge_scorer

from workers.simulated import instances
from workers.simulated.lm import (
    CLASSIFY_HEADER,
    INPUT_FIRST_HEADER,
    OUTPUT_FIRST_HEADER,
    answer,
    apply_limits,
    count_tokens,
    prompt_kind,
)

SEEDS = [json.loads(line)["instruction"]
         for line in (Path(__file__).resolve().parents[2] / "data/seed_tasks.jsonl").read_text().splitlines()]
STOPS = ["\n\n", "\n16", "16.", "16 ."]


def instruction_prompt(offset: int, header: str = "Come up with a series of tasks:") -> str:
    chosen = [SEEDS[(offset * 8 + i) % len(SEEDS)] for i in range(8)]
    return header + "\n" + "".join(f"{i}. {t}\n" for i, t in enumerate(chosen, 1)) + "9."


def split_items(text: str) -> list[str]:
    # The pipeline's parse: the answer continues item 9, then "\n10. ..." and so on.
    return [s.strip() for s in re.split(r"\n\d+\s?\. ", text) if s.strip()]


def test_count_tokens_and_limits():
    assert count_tokens("Hello, world! It's 3pm.") == 9  # Hello , world ! It ' s 3pm .
    assert apply_limits("a b c d e", None, 3) == ("a b c", "length")
    assert apply_limits("a b c\n\nd e", ["\n\n", "c"], 100) == ("a b ", "stop")
    assert apply_limits("a b c d e", ["d"], 2) == ("a b", "length")  # length wins when it comes first
    assert apply_limits("short", [], 5) == ("short", "stop")


def test_same_input_same_answer_and_temperature_zero():
    p = instruction_prompt(1)
    assert answer(p, max_tokens=1024, stop=STOPS) == answer(p, max_tokens=1024, stop=STOPS)
    assert answer(p, max_tokens=1024, n=2)[0] != answer(p, max_tokens=1024, n=2)[1]
    greedy = answer(p, max_tokens=1024, n=3, temperature=0)
    assert greedy[0] == greedy[1] == greedy[2]


@pytest.mark.parametrize("text, kind", [
    (instruction_prompt(0), "instructions"),
    ("Come up with a series of classification tasks. Try to specify labels.\n1. x\n2.", "instructions"),
    (CLASSIFY_HEADER + "\n\nTask: Classify the review.\nIs it classification?", "classify"),
    (INPUT_FIRST_HEADER + "\n\nTask: Sort the list.\n", "input_first"),
    (OUTPUT_FIRST_HEADER + "\n\nTask: Classify the review.\n", "output_first"),
    ("What is the capital of France?", "echo"),
])
def test_prompt_kind(text, kind):
    assert prompt_kind(text) == kind


def test_instruction_continuation_shape():
    text, finish = answer(instruction_prompt(2), max_tokens=1024, stop=STOPS)[0]
    assert text.startswith(" ") and finish in ("stop", "length")
    numbers = [int(n) for n in re.findall(r"\n(\d+)\. ", text)]
    assert numbers == list(range(10, 10 + len(numbers))) and max(numbers) <= 15
    assert "\n16" not in text


def test_chat_prompt_gets_a_full_numbered_list():
    prompt = ("You write tasks.\n\nCome up with a series of tasks:\n1. Say hi.\n2. Name a color.\n"
              "Continue the list with new, diverse tasks.")
    text, _ = answer(prompt, max_tokens=1024, stop=["\n16"])[0]
    assert text.startswith("3. ")


def test_instruction_answers_mix_in_flaws_and_run_out_of_tokens():
    items, finishes = [], []
    for k in range(200):
        text, finish = answer(instruction_prompt(k), max_tokens=300, stop=STOPS)[0]
        items += split_items(text)
        finishes.append(finish)
    blacklist = re.compile(r"\b(image|images|graph|graphs|picture|pictures|file|files|map|maps|draw|plot|go to)\b",
                           re.IGNORECASE)
    flawed = sum(1 for t in items if blacklist.search(t) or t.startswith("Write a program")
                 or len(t.split()) <= 3 or not t[0].isascii() or not t[0].isalpha())
    assert 0.08 < flawed / len(items) < 0.4
    assert 0.01 < finishes.count("length") / len(finishes) < 0.15
    classification = sum(instances.is_classification(t) for t in items) / len(items)
    assert 0.1 < classification < 0.4


def test_instructions_are_diverse_under_rouge_l():
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    items = []
    for k in range(30):  # 30 prompts x 7 items: ~20k ROUGE-L pairs, a few seconds
        items += split_items(answer(instruction_prompt(k), max_tokens=1024, stop=STOPS)[0][0])
    unique = list(dict.fromkeys(items))
    assert len(unique) / len(items) > 0.95
    kept: list[str] = []
    for inst in unique:
        if all(scorer.score(k, inst)["rougeL"].fmeasure < 0.7 for k in kept):
            kept.append(inst)
    assert len(kept) / len(unique) > 0.6, (len(kept), len(unique))


@pytest.mark.parametrize("task, expected", [
    ("Classify the sentiment of the following tweet as positive, negative or neutral.", " Yes"),
    ("Determine whether the given statement about volcanoes is true or false.", " Yes"),
    ("Write a haiku about autumn.", " No"),
    ("Give me five tips for saving money on groceries.", " No"),
])
def test_classification_identification(task, expected):
    prompt = (CLASSIFY_HEADER + "\n\nTask: Is this spam?\nIs it classification? Yes\n\n"
              f"Task: {task}\nIs it classification?")
    assert answer(prompt, max_tokens=3)[0] == (expected, "stop")


def test_input_first_examples_parse():
    task = "Find the sum of the given list of numbers."
    text, finish = answer(f"{INPUT_FIRST_HEADER}\n\nTask: Say hi.\nOutput: hi\n\nTask: {task}\n", max_tokens=500)[0]
    assert finish == "stop"
    blocks = re.split(r"Example \d+\n", text)[1:]
    assert 2 <= len(blocks) <= 6
    for block in blocks:
        m = re.match(r"Input: (.*)\nOutput: (.*)", block.strip())
        assert m, block
    good = [b for b in blocks if re.match(r"Input: ([\d, ]+)\nOutput: (\d+)$", b.strip())]
    for b in good:
        nums, total = re.match(r"Input: ([\d, ]+)\nOutput: (\d+)$", b.strip()).groups()
        if nums.strip() != total:
            assert sum(int(x) for x in nums.split(",")) == int(total)


def test_input_free_task_gets_output_only():
    text, _ = answer(f"{INPUT_FIRST_HEADER}\n\nTask: Write a haiku about coffee culture.\n", max_tokens=500)[0]
    assert text.startswith("Output: ") and "Input:" not in text


def test_output_first_uses_the_listed_labels():
    task = "Classify the sentiment of the following movie review as positive, negative or neutral."
    text, _ = answer(f"{OUTPUT_FIRST_HEADER}\n\nTask: {task}\n", max_tokens=500)[0]
    labels = re.findall(r"Class label: (.*)\nInput: .+", text)
    assert labels == ["Positive", "Negative", "Neutral"]


def test_instance_flaws_occur_sometimes():
    task = "Summarize the following paragraph in three sentences."
    texts = [answer(f"{INPUT_FIRST_HEADER}\n\nTask: {task}\n{i}", max_tokens=800)[0][0] for i in range(300)]
    flawed = 0
    for text in texts:
        pairs = re.findall(r"Input: (.*)\nOutput: (.*)", text)
        if any(i == o or not o.strip() or o.endswith(":") for i, o in pairs) or len(set(pairs)) < len(pairs) \
                or len({i for i, _ in pairs}) < len(pairs):
            flawed += 1
    assert 0.02 < flawed / len(texts) < 0.25


def test_echo_and_speed_shape():
    assert answer("hello", max_tokens=100) == [("Echo: hello", "stop")]
    assert answer("x" * 500, max_tokens=1000)[0][0] == "Echo: " + "x" * 200
