"""Stage 1b: every instruction-filter reason code, word boundaries, and the configuration."""

from __future__ import annotations

import pytest

from selfinstruct.errors import ConfigError
from selfinstruct.stages import FilterResult, InstructionFilter, InstructionFilterConfig

DEFAULT = InstructionFilter()


@pytest.mark.parametrize("text, reason", [
    ("", "empty"),
    ("   \n ", "empty"),
    ("Sort three numbers", "too_short"),               # 3 words
    ("Sort these three numbers", None),                # 4 words
    (" ".join(["word"] * 150), None),
    (" ".join(["word"] * 151), "too_long"),
    ("Describe the image in detail please", "blacklist:image"),
    ("Describe these IMAGES in detail please", "blacklist:images"),
    ("Make a graph of the sales numbers", "blacklist:graph"),
    ("Summarize the graphs of the report", "blacklist:graphs"),
    ("Take a picture of the sunset now", "blacklist:picture"),
    ("Sort the pictures by their date", "blacklist:pictures"),
    ("Open the file and count lines", "blacklist:file"),
    ("Merge the two files into one", "blacklist:files"),
    ("Read the map and find routes", "blacklist:map"),
    ("Compare the maps of both cities", "blacklist:maps"),
    ("Draw a cat sitting on a wall", "blacklist:draw"),
    ("Plot the temperature over the week", "blacklist:plot"),
    ("Go to the nearest bakery and buy bread", "blacklist:go to"),
    ("Tell me where to go  to buy bread", "blacklist:go to"),
    ("Explain the mapping between keys and values", None),  # "mapping" is not "map"
    ("It is good to know your neighbours", None),             # "good to" is not "go to"
    ("Describe the plotline of the novel", None),
    ("List profile settings a user can change", None),
    # The original's rule exactly: inst.startswith("Write a program").
    ("Write a program that sorts a list", "write_a_program"),
    ("Write a programme review for the festival", "write_a_program"),
    ("Write a programmer's job advert for a bank", "write_a_program"),
    ("write a program that sorts a list", None),               # case-sensitive
    ("Write a  program that sorts a list", None),              # the exact spacing
    ("WRITE A PROGRAM that sorts a list", None),
    ("Explain how to write a program in Python", None),       # only at the start
    ('"Quote a famous line from Hamlet"', "starts_with_punctuation"),
    ("#hashtag ideas for a bakery launch", "starts_with_punctuation"),
    ("Écrire une lettre à mon ami demain", "starts_with_non_ascii"),
    ("\u4e2d\u6587 write a sentence in Chinese please", "starts_with_non_ascii"),
    ("Explain the difference between weather and climate.", None),
])
def test_default_reasons(text, reason):
    got = DEFAULT.check(text)
    assert got == (FilterResult(True, None) if reason is None else FilterResult(False, reason))
    assert DEFAULT(text) == got


@pytest.mark.parametrize("text, rejected", [
    ("Write a program that sorts a list", True),
    ("write a  program that sorts a list", True),
    ("WRITE A\tPROGRAM that sorts a list", True),
    ("Write a program, then explain it line by line", True),
    ("Write a programme review for the festival", False),       # "program" as a whole word
    ("Write a programmer's job advert for a bank", False),
    ("Explain how to write a program in Python", False),
])
def test_word_boundary_rule_is_an_option(text, rejected):
    flt = InstructionFilter(InstructionFilterConfig(write_a_program_rule="word_boundary"))
    assert flt.check(text) == (FilterResult(False, "write_a_program") if rejected else FilterResult(True, None))


def test_write_a_program_rule_from_toml_and_bad_values(tmp_path):
    from selfinstruct.pipeline import build_generate_config

    assert InstructionFilterConfig().write_a_program_rule == "original"
    table = {"endpoint": {"api_base": "http://127.0.0.1:1/v1", "model": "m"},
             "filters": {"write_a_program_rule": "word_boundary"}}
    assert build_generate_config(table, out_dir=tmp_path).filters.write_a_program_rule == "word_boundary"
    table["filters"]["write_a_program_rule"] = "fuzzy"
    with pytest.raises(ConfigError, match="write_a_program_rule"):
        build_generate_config(table, out_dir=tmp_path, source="gen.toml")


def test_first_matching_reason_wins():
    assert DEFAULT.check("Draw").reason == "too_short"
    assert DEFAULT.check("Write a program to draw a cat").reason == "blacklist:draw"


def test_alpaca_extras_and_extra_words():
    text = "Compose music for a short film"
    assert DEFAULT.check(text).ok
    assert InstructionFilter(InstructionFilterConfig(use_alpaca_extras=True)).check(text).reason == "blacklist:music"
    cfg = InstructionFilterConfig(extra_blacklist=("user story",))
    assert InstructionFilter(cfg).check("Rewrite the User  Story as Gherkin").reason == "blacklist:user story"
    cfg = InstructionFilterConfig(blacklist=(), reject_write_a_program=False)
    assert InstructionFilter(cfg).check("Write a program to draw images").ok


def test_word_limits_are_configurable():
    f = InstructionFilter(InstructionFilterConfig(min_words=2, max_words=3))
    assert f.check("Sort").reason == "too_short"
    assert f.check("Sort numbers").ok
    assert f.check("Sort these numbers now").reason == "too_long"


@pytest.mark.parametrize("kwargs", [{"min_words": 5, "max_words": 4}, {"min_words": -1},
                                    {"extra_blacklist": ("",)}])
def test_bad_config(kwargs):
    with pytest.raises(ConfigError):
        InstructionFilterConfig(**kwargs)
