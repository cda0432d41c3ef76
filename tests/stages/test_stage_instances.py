"""Stage 3: the Table 7/8 prompts, both answer formats (completion and chat styles), and instance filters."""

from __future__ import annotations

import re

import pytest

from selfinstruct.stages import (
    INPUT_FIRST_HEADER,
    OUTPUT_FIRST_HEADER,
    Instance,
    build_instance_prompt,
    check_instance,
    filter_instances,
    instance_params,
    parse_input_first,
    parse_instances,
    parse_output_first,
    process_instances,
)


@pytest.mark.parametrize("is_clf, header, n_min", [(False, INPUT_FIRST_HEADER, 8), (True, OUTPUT_FIRST_HEADER, 6)])
def test_prompt_structure(is_clf, header, n_min):
    p = build_instance_prompt(" Tell me a joke. ", is_classification=is_clf)
    assert p.text.startswith(header)
    assert p.text.endswith("\n\nTask: Tell me a joke.\n")
    demos = re.findall(r"^Task: ", p.text, flags=re.M)
    assert n_min + 1 <= len(demos) <= 13
    marker = "Class label: " if is_clf else "Output:"
    # Every demo shows the format the parser reads.
    for block in p.text[len(header):].split("\n\nTask: ")[:-1]:
        assert marker in block
    assert p.messages is None


def test_params_and_chat():
    assert instance_params("completions", is_classification=False) == {
        "max_tokens": 350, "temperature": 0, "top_p": 0, "presence_penalty": 1.5, "frequency_penalty": 0,
        "stop": ["Example 6", "Task:"], "n": 1}
    assert instance_params("completions", is_classification=True)["max_tokens"] == 300
    assert instance_params("completions", is_classification=True, max_instances=3)["stop"][0] == "Example 4"
    chat = build_instance_prompt("Tell me a joke.", is_classification=True, endpoint="chat")
    assert chat.messages[1] == {"role": "user", "content": chat.text}
    assert "Class label" in chat.messages[0]["content"]
    assert "Task:" not in chat.params["stop"]


INPUT_FIRST_CASES = [
    # the original format, several examples with a field label (kept) and "Input:" (stripped)
    ("Example 1\nSentence: The cat sat.\nOutput: Le chat s'est assis.\nExample 2\nInput: Good morning.\n"
     "Output: Bonjour.",
     [Instance("Sentence: The cat sat.", "Le chat s'est assis."), Instance("Good morning.", "Bonjour.")]),
    # no input needed
    ("Output:\n- Apples\n- Pears", [Instance("", "- Apples\n- Pears")]),
    ("Output: 42", [Instance("", "42")]),
    # an example without "Output:" is all output
    ("Example 1\nThe answer is blue.", [Instance("", "The answer is blue.")]),
    # numbered labels and a second pair run together: keep the first output
    ("Example 1\nInput 1: 2+2\nOutput 1: 4\nInput 2: 3+3\nOutput 2: 6", [Instance("2+2", "4")]),
    # "Example 1." with a dot
    ("Example 1.\nQuestion: Why?\nOutput: Because.", [Instance("Question: Why?", "Because.")]),
    # nothing recognisable
    ("Just some words with no format", []),
    ("", []),
    # chat: preamble, bold labels, code fence, echoed task, sign-off, an invented next task
    ("Sure! Here are some examples:\n\n**Example 1**\nSentence: Hi there.\n**Output:** Salut.\n\n"
     "**Example 2**\nSentence: Thanks.\n**Output:** Merci.\n\nI hope these help!",
     [Instance("Sentence: Hi there.", "Salut."), Instance("Sentence: Thanks.", "Merci.")]),
    ("Task: Translate to French.\nExample 1\nSentence: Yes.\nOutput: Oui.", [Instance("Sentence: Yes.", "Oui.")]),
    ("```\nExample 1\nSentence: No.\nOutput: Non.\n```", [Instance("Sentence: No.", "Non.")]),
    ("Example 1\nSentence: Cat.\nOutput: Chat.\n\nTask: Name a colour.\nOutput: Red",
     [Instance("Sentence: Cat.", "Chat.")]),
]


@pytest.mark.parametrize("text, expected", INPUT_FIRST_CASES)
def test_parse_input_first(text, expected):
    assert parse_input_first(text, "stop") == expected
    assert parse_instances(text, "stop", is_classification=False) == expected
    assert parse_input_first(text, "length") == expected[:-1]


OUTPUT_FIRST_CASES = [
    ("Class label: Positive\nReview: Loved it.\nClass label: Negative\nReview: Broke in a day.",
     [Instance("Review: Loved it.", "Positive"), Instance("Review: Broke in a day.", "Negative")]),
    # no input needed: labels only
    ("Class label: Dolphin\nClass label: Whale", [Instance("", "Dolphin"), Instance("", "Whale")]),
    # multi-line input
    ("Class label: Satisfied\nChat:\n- Agent: Done.\n- Customer: Thanks!",
     [Instance("Chat:\n- Agent: Done.\n- Customer: Thanks!", "Satisfied")]),
    ("no labels here at all", []),
    # chat: bold labels, preamble, other case, sign-off
    ("Here are inputs for each label:\n\n**Class label:** Spam\nEmail: Win a prize!\n**Class label**: Not spam\n"
     "Email: Lunch at noon?\n\nLet me know if you need more.",
     [Instance("Email: Win a prize!", "Spam"), Instance("Email: Lunch at noon?", "Not spam")]),
    ("class label: Yes\nNumber: 7", [Instance("Number: 7", "Yes")]),
]


@pytest.mark.parametrize("text, expected", OUTPUT_FIRST_CASES)
def test_parse_output_first(text, expected):
    assert parse_output_first(text, "stop") == expected
    assert parse_instances(text, None, is_classification=True) == expected
    assert parse_output_first(text, "length") == expected[:-1]


@pytest.mark.parametrize("inst, reason", [
    (Instance("same", "same"), "input_equals_output"),
    (Instance("", ""), "input_equals_output"),
    (Instance("x", ""), "empty_output"),
    (Instance("x", "   "), "empty_output"),
    (Instance("Sentence:", "y"), "ends_with_colon"),
    (Instance("x", "The answer is:"), "ends_with_colon"),
    (Instance("", "fine"), None),
    (Instance("Time: 10:30", "morning"), None),
])
def test_check_instance(inst, reason):
    assert check_instance(inst) == reason


def test_filter_dedups_in_order_and_names_reasons():
    a, b = Instance("1+1", "2"), Instance("", "Hello")
    got = filter_instances([a, Instance("x", ""), b, a, Instance("q:", "r")])
    assert got.kept == [a, b] and got.ok
    assert sorted(r for _, r in got.rejected) == ["duplicate", "empty_output", "ends_with_colon"]


def test_conflicting_outputs_drop_the_task():
    got = filter_instances([Instance("2+2", "4"), Instance("2+2", "5"), Instance("", "x")])
    assert got.kept == [] and got.task_reason == "conflicting_outputs" and not got.ok
    assert [r for _, r in got.rejected] == ["conflicting_outputs"] * 3
    # Empty inputs never conflict (no-input tasks have many valid outputs).
    assert filter_instances([Instance("", "a"), Instance("", "b")]).kept == [Instance("", "a"), Instance("", "b")]


def test_no_instances():
    assert filter_instances([]).task_reason == "no_instances"
    assert filter_instances([Instance("a", "a")]).task_reason == "no_instances"
    got = process_instances("Class label: A\nx:\nClass label: B\ny", "stop", is_classification=True)
    assert got.kept == [Instance("y", "B")] and got.rejected == [(Instance("x:", "A"), "ends_with_colon")]
