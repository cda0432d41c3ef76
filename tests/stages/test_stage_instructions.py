"""Stage 1: the Table 5 prompt (exact text), sampling, params, and the robust list parser."""

from __future__ import annotations

import random

import pytest

from selfinstruct.errors import ConfigError
from selfinstruct.stages import (
    CLF_INSTRUCTION_HEADER,
    INSTRUCTION_HEADER,
    InstructionPromptBuilder,
    InstructionPromptConfig,
    SeedTask,
    instruction_params,
    normalize_instruction,
    parse_instruction_list,
    render_instruction_prompt,
)


def _seed(i: int, clf: bool = False) -> SeedTask:
    return SeedTask(id=f"s{i}", name=f"n{i}", instruction=f"Seed instruction number {i}", instances=(),
                    is_classification=clf)


SEEDS = [_seed(i, clf=i % 3 == 0) for i in range(20)]


def test_render_exact_text():
    p = render_instruction_prompt(["Sort  the\nlist:", "Explain gravity", "Name a fruit::"])
    assert p.text == (
        "Come up with a series of tasks:\n"
        "1. Sort the list\n"
        "2. Explain gravity\n"
        "3. Name a fruit\n"
        "4."
    )
    assert p.messages is None and p.endpoint == "completions"
    assert p.request_fields() == {"prompt": p.text, "params": p.params}


def test_render_classification_header_and_chat():
    p = render_instruction_prompt(["Is it spam?"], classification=True, endpoint="chat")
    assert p.text == CLF_INSTRUCTION_HEADER + "1. Is it spam?\n2."
    assert p.endpoint == "chat"
    system, user = p.messages
    assert system["role"] == "system" and "N. task" in system["content"]
    assert user == {"role": "user", "content": p.text}
    assert user["content"].startswith(CLF_INSTRUCTION_HEADER)
    assert p.request_fields()["messages"] == p.messages and "prompt" not in p.request_fields()


def test_params_original_and_chat():
    comp = instruction_params("completions")
    assert comp == {"max_tokens": 1024, "temperature": 0.7, "top_p": 0.5, "presence_penalty": 2,
                    "frequency_penalty": 0, "stop": ["\n\n", "\n16", "16.", "16 ."], "n": 1}
    comp["stop"].append("x")  # a fresh dict each time: mutation must not leak
    assert instruction_params("completions")["stop"] == ["\n\n", "\n16", "16.", "16 ."]
    assert "stop" not in instruction_params("chat")
    with pytest.raises(ConfigError, match="endpoint"):
        instruction_params("embeddings")


def test_builder_exact_text_for_fixed_rng():
    pool = ["Machine task alpha", "Machine task beta", "Machine task gamma"]
    builder = InstructionPromptBuilder(SEEDS)
    # The original's order of draws: machine sample, seed sample, one shuffle.
    ref = random.Random(7)
    expected = ref.sample(pool, 2) + ref.sample([s.instruction for s in SEEDS], 6)
    ref.shuffle(expected)
    text = INSTRUCTION_HEADER + "".join(f"{i}. {x}\n" for i, x in enumerate(expected, 1)) + "9."
    assert builder.build(random.Random(7), pool).text == text
    assert builder.build(random.Random(7), pool).text == text  # deterministic


@pytest.mark.parametrize("pool_size, n_machine", [(0, 0), (1, 1), (2, 2), (50, 2)])
def test_builder_fills_from_seeds_while_pool_is_small(pool_size, n_machine):
    pool = [f"Machine task {i}" for i in range(pool_size)]
    picked = InstructionPromptBuilder(SEEDS).sample(random.Random(1), pool)
    assert len(picked) == 8 and len(set(picked)) == 8
    assert sum(p.startswith("Machine") for p in picked) == n_machine


def test_builder_classification_only_uses_clf_seeds():
    cfg = InstructionPromptConfig(classification_only=True)
    builder = InstructionPromptBuilder(SEEDS, cfg)
    clf = {s.instruction for s in SEEDS if s.is_classification}
    picked = builder.sample(random.Random(3), [])
    assert set(picked) <= clf and len(picked) == len(clf)  # 7 clf seeds < 8 wanted
    assert builder.build(random.Random(3)).text.startswith(CLF_INSTRUCTION_HEADER)
    with pytest.raises(ConfigError, match="classification"):
        InstructionPromptBuilder([_seed(1)], cfg)


def test_builder_config_validation():
    with pytest.raises(ConfigError):
        InstructionPromptConfig(num_prompt_instructions=2, num_machine_instructions=3)
    with pytest.raises(ConfigError):
        InstructionPromptConfig(endpoint="nope")


@pytest.mark.parametrize("raw, expected", [
    ("  explain SQL   joins\n to a child ", "Explain SQL joins to a child"),
    ("iPhone tips for beginners", "IPhone tips for beginners"),
    ("", ""),
])
def test_normalize_keeps_case_except_first_letter(raw, expected):
    assert normalize_instruction(raw) == expected


def test_original_completion_format():
    text = (" Write a poem about cats.\n10. Explain SQL joins\n   to a child.\n11 . Summarize the text in"
            " one sentence.\n12. translate the sentence into French")
    got = parse_instruction_list(text, first_number=9, finish_reason="stop")
    assert got.instructions == ["Write a poem about cats.", "Explain SQL joins to a child.",
                                "Summarize the text in one sentence.", "Translate the sentence into French"]
    assert not got.dropped_for_length


def test_length_drops_whole_answer_or_only_the_last():
    text = " First task here now\n10. Second task here now\n11. Third task cut o"
    got = parse_instruction_list(text, first_number=9, finish_reason="length")
    assert got.instructions == [] and got.dropped_for_length
    got = parse_instruction_list(text, first_number=9, finish_reason="length", drop_all_on_length=False)
    assert got.instructions == ["First task here now", "Second task here now"]
    assert not got.dropped_for_length and "Third task cut o" in got.discarded


ITEMS = ["Write a haiku about autumn leaves.", "Classify the email as spam or not spam.",
         "Give me three tips for better sleep."]


@pytest.mark.parametrize("answer", [
    "1. Write a haiku about autumn leaves.\n2. Classify the email as spam or not spam.\n"
    "3. Give me three tips for better sleep.",
    "9) Write a haiku about autumn leaves.\n10) Classify the email as spam or not spam.\n"
    "11) Give me three tips for better sleep.",
    "**1.** Write a haiku about autumn leaves.\n**2.** Classify the email as spam or not spam.\n"
    "**3.** Give me three tips for better sleep.",
    "1. **Write a haiku about autumn leaves.**\n2. **Classify the email** as spam or not spam.\n"
    "3. Give me three tips for **better sleep**.",
    "Task 1: Write a haiku about autumn leaves.\nTask 2: Classify the email as spam or not spam.\n"
    "**Task 3:** Give me three tips for better sleep.",
    "- Write a haiku about autumn leaves.\n- Classify the email as spam or not spam.\n"
    "- Give me three tips for better sleep.",
    "* Write a haiku about autumn leaves.\n* Classify the email as spam or not spam.\n"
    "* Give me three tips for better sleep.",
    "Sure! Here are some more tasks:\n\n9. Write a haiku about autumn leaves.\n\n10. Classify the email as spam"
    " or not spam.\n\n11. Give me three tips for better sleep.\n\nI hope these help!",
    "Here are more tasks:\n1. Write a haiku about autumn leaves.\n2. Classify the email as spam or not spam.\n"
    "3. Give me three tips for better sleep.\nLet me know if you need more.",
    "```\n1. Write a haiku about autumn leaves.\n2. Classify the email\n   as spam or not spam.\n"
    "3. Give me three tips for better sleep.\n```",
    "1. **Poetry:** Write a haiku about autumn leaves.\n2. **Email triage** - Classify the email as spam or not"
    " spam.\n3. \"Give me three tips for better sleep.\"",
    "Write a haiku about autumn leaves.\n10. Classify the email as spam or not spam.\n"
    "11. Give me three tips for better sleep.",
    "1. Write a haiku about autumn leaves.\n2. Classify the email as spam or not spam.\n\nSome commentary here"
    " about the list.\n3. Give me three tips for better sleep.",
    "1. **Poetry**\n   Write a haiku about autumn leaves.\n2. Task: Classify the email as spam or not spam.\n"
    "3. **Sleep** - Give me three tips for better sleep.",
    "1. Write a haiku about autumn leaves.\r\n2. Classify the email as spam or not spam.\r\n"
    "3. Give me three tips for better sleep.\r\n",
])
def test_chat_variants(answer):
    got = parse_instruction_list(answer, first_number=None, finish_reason="stop")
    assert got.instructions == ITEMS


def test_numbered_list_keeps_bullet_lines_as_part_of_an_item():
    text = " Sort the fruits by colour:\n- apple\n- banana\n10. Name three rivers in Africa."
    got = parse_instruction_list(text, first_number=9)
    assert got.instructions == ["Sort the fruits by colour: - apple - banana", "Name three rivers in Africa."]


@pytest.mark.parametrize("answer", [
    "", "   \n\n  ", "I'm sorry, but I can't help with that.", "Here are the tasks:",
    "\x00\x01\x02", "1.\n2.\n3.", "**\n**", "- \n* ", None,
])
def test_garbage_gives_nothing(answer):
    assert parse_instruction_list(answer, first_number=None).instructions == []


def test_duplicates_within_an_answer_are_dropped():
    got = parse_instruction_list("1. Same task twice here\n2. same task twice here\n3. Other task here ok")
    assert got.instructions == ["Same task twice here", "Other task here ok"]
    assert got.discarded == ["Same task twice here"]


def test_decimal_numbers_are_not_markers():
    got = parse_instruction_list(" Convert 2.5 kg to pounds\n10. Add 3.5 and\n2.5 together", first_number=9)
    assert got.instructions == ["Convert 2.5 kg to pounds", "Add 3.5 and 2.5 together"]


@pytest.mark.parametrize("line, is_chatter", [
    ("Sure! Here are some more tasks:", True), ("Certainly.", True), ("Here are 7 new instructions", True),
    ("Okay!", True), ("Below is the continuation of the list:", True),
    ("Here is a paragraph about whales; summarize it.", False), ("Great ideas for a team lunch", False),
    ("Sort the list of numbers.", False),
])
def test_preamble_recognition(line, is_chatter):
    from selfinstruct.stages._markup import is_preamble
    assert is_preamble(line) is is_chatter


def test_continuation_that_starts_like_a_preamble_is_kept():
    text = " Here is a paragraph about whales; summarize it.\n10. Name three rivers in Africa."
    assert parse_instruction_list(text, first_number=9).instructions == [
        "Here is a paragraph about whales; summarize it.", "Name three rivers in Africa."]


def test_collapse_ws_matches_the_originals_regex_on_every_whitespace_char():
    import re
    import sys

    from selfinstruct.stages.base import collapse_ws
    spaces = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace() or re.match(r"\s", chr(c))]
    assert len(spaces) > 20
    for ch in spaces:
        text = f"{ch}a{ch}{ch}b {ch}"
        assert collapse_ws(text) == re.sub(r"\s+", " ", text).strip()
