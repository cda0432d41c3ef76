"""Review templates: the built-ins, custom ones from the service's TOML, and the answer check."""

from __future__ import annotations

import pytest

from selfinstruct.errors import ConfigError
from selfinstruct.review.sampling import Item, item_id, sample_items
from selfinstruct.review.templates import BUILTIN, AnswerError, check_answers, passes
from selfinstruct.service.config import load_service_file


def test_builtins():
    assert BUILTIN["paper"].names == ("valid_instruction", "appropriate_input", "correct_output")
    assert BUILTIN["selfbehave"].names == ("essential", "singular", "complete", "integrous")
    assert {c.scale for t in BUILTIN.values() for c in t.criteria} == {"yes_no"}


def test_custom_template_from_service_toml(tmp_path):
    path = tmp_path / "service.toml"
    path.write_text('[review_templates.style]\ncriteria = [\n'
                    '  {name = "fluent", question = "Fluent?", scale = "1-5"},\n'
                    '  {name = "safe", question = "Safe?"},\n]\n')
    template = load_service_file(path)["review_templates"]["style"]
    assert [(c.name, c.scale) for c in template.criteria] == [("fluent", "1-5"), ("safe", "yes_no")]


@pytest.mark.parametrize("toml, needle", [
    ('[review_templates.paper]\ncriteria = [{name = "a", question = "q"}]\n', "built-in"),
    ('[review_templates.x]\ncriteria = []\n', "review_templates.x.criteria must be a non-empty list"),
    ('[review_templates.x]\ncriteria = [{name = "A b", question = "q"}]\n', "criteria[0].name"),
    ('[review_templates.x]\ncriteria = [{name = "a", question = ""}]\n', "criteria[0].question"),
    ('[review_templates.x]\ncriteria = [{name = "a", question = "q", scale = "1-10"}]\n', "criteria[0].scale"),
    ('[review_templates.x]\ncriteria = [{name = "a", question = "q", weight = 2}]\n', "unknown key 'weight'"),
    ('[review_templates.x]\ncriteria = [{name = "a", question = "q"}, {name = "a", question = "r"}]\n', "unique"),
    ('[review_templates.x]\nquestions = 1\n', "exactly one key"),
    ('review_templates = 3\n', "review_templates must be a table"),
    ('[review_templates.x]\ncriteria = [{name = "note", question = "q"}]\n', "column of the ratings CSV"),
])
def test_bad_custom_templates_name_file_and_key(tmp_path, toml, needle):
    path = tmp_path / "service.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as info:
        load_service_file(path)
    assert str(path) in str(info.value) and needle in str(info.value)


def test_answers_and_passes():
    criteria = (*BUILTIN["paper"].criteria[:1], *load_five_point())
    assert check_answers(criteria, {"valid_instruction": False, "fluent": 4}) == {"valid_instruction": False,
                                                                                   "fluent": 4}
    for answers, field in [({"valid_instruction": 1, "fluent": 4}, "answers.valid_instruction"),
                           ({"valid_instruction": True, "fluent": True}, "answers.fluent"),
                           ({"valid_instruction": True, "fluent": 0}, "answers.fluent"),
                           ({"valid_instruction": True}, "answers.fluent"), ([], "answers")]:
        with pytest.raises(AnswerError) as info:
            check_answers(criteria, answers)
        assert info.value.field == field
    assert [passes("1-5", v) for v in range(1, 6)] == [False, False, False, True, True]
    assert passes("yes_no", True) and not passes("yes_no", False)


def load_five_point():
    from selfinstruct.review.templates import Criterion

    return (Criterion(name="fluent", question="?", scale="1-5"),)


def test_sample_is_reproducible_and_independent_of_order():
    items = [Item(id=item_id(f"i{n}", "", str(n)), instruction=f"i{n}", input="", output=str(n)) for n in range(50)]
    first = sample_items(items, 10, seed=7)
    assert sample_items(list(reversed(items)), 10, seed=7) == first   # file order does not matter
    assert sample_items(items + items[:5], 10, seed=7) == first       # nor repeated rows
    assert sample_items(items, 10, seed=8) != first
    assert len({i.id for i in first}) == 10 and sample_items(items, 500, seed=1).__len__() == 50
    assert item_id("a\x00", "b", "") != item_id("a", "\x00b", "")


def test_the_example_service_config_has_a_custom_template_and_the_selfbehave_seeds():
    from pathlib import Path

    from selfinstruct.service.spec import validate_spec

    examples = Path(__file__).resolve().parents[2] / "examples"
    settings = load_service_file(examples / "service.toml")
    assert [c.scale for c in settings["review_templates"]["style"].criteria] == ["1-5", "yes_no"]
    spec = validate_spec({"backend": "local-vllm", "model": "Qwen/Qwen2.5-7B",
                          "seed_tasks": "selfbehave_seed_tasks.jsonl"},
                         backends=settings["backends"], seeds_dir=settings["seeds_dir"])
    assert spec["seed_tasks"] == "selfbehave_seed_tasks.jsonl"
