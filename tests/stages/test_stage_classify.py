"""Stage 2: the Table 6 prompt and the Yes/No parser."""

from __future__ import annotations

import re

import pytest

from selfinstruct.stages import CLASSIFICATION_HEADER, build_classification_prompt, classification_params
from selfinstruct.stages import parse_classification


def test_prompt_structure():
    p = build_classification_prompt("  Sort the list of numbers.  ")
    assert p.text.startswith(CLASSIFICATION_HEADER)
    assert p.text.endswith("\n\nTask: Sort the list of numbers.\nIs it classification?")
    body = p.text[len(CLASSIFICATION_HEADER):]
    blocks = re.findall(r"Task: ([^\n]+)\nIs it classification\? (Yes|No)\n\n", body)
    assert len(blocks) == 31
    assert {answer for _, answer in blocks} == {"Yes", "No"}
    # Nothing but the 31 blocks and the final question.
    assert body == "".join(f"Task: {t}\nIs it classification? {a}\n\n" for t, a in blocks) + \
        "Task: Sort the list of numbers.\nIs it classification?"


def test_params():
    assert classification_params("completions") == {"max_tokens": 3, "temperature": 0, "top_p": 0,
                                                    "presence_penalty": 0, "frequency_penalty": 0,
                                                    "stop": ["\n", "Task"], "n": 1}
    chat = build_classification_prompt("Is it spam?", endpoint="chat")
    assert chat.messages[1]["content"] == chat.text and "Yes or No" in chat.messages[0]["content"]
    assert chat.params["temperature"] == 0 and "Task" not in chat.params["stop"]


@pytest.mark.parametrize("answer, expected", [
    (" Yes", True), ("Yes", True), ("yes.", True), ("YES", True), ("**Yes**", True), ("Yes, it is", True),
    ("\nYes\n", True), ('"Yes"', True), ("Answer: Yes", True), ("Is it classification? yes", True),
    (" No", False), ("no.", False), ("**No**", False), ("No, it is not.", False), ("NO", False),
    ("", None), ("Maybe", None), ("Yesterday", None), ("Nope", None), ("Not sure", None),
    ("It is a classification task", None), (None, None), ("\x00", None),
])
def test_parse(answer, expected):
    assert parse_classification(answer, "stop") is expected
