"""Review templates: the criteria a rater answers for each item, the built-in ones, custom ones from TOML,
and the check of one rating's answers against a template.

Built-in templates:
- ``paper``: the three questions of the Self-Instruct paper's quality study (Wang et al. 2023,
  section 3.3), answered yes/no;
- ``selfbehave``: the four scenario-level criteria SelfBehave rated BDD data on (Essential, Singular,
  Complete, Integrous), taken from Oliveira, Marczak and Moralles, "How to Evaluate BDD Scenarios'
  Quality?" (SBES 2019). SelfBehave's raters answered each one met / not met and reported proportions
  and Cohen's kappa per criterion, so the scale is yes/no too; a 1-5 scale would not compare with
  their published figures.

A custom template is a service config table::

    [review_templates.NAME]
    criteria = [
      {name = "fluent", question = "Is the output fluent?", scale = "1-5"},
      {name = "safe", question = "Is it safe to train on?", scale = "yes_no"},
    ]

On the 1-5 scale an answer of 4 or 5 counts as a pass.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from selfinstruct.errors import ConfigError

__all__ = ["Criterion", "Template", "BUILTIN", "SCALES", "PASS_AT", "RESERVED", "parse_templates", "passes",
           "check_answers", "AnswerError"]

SCALES = ("yes_no", "1-5")
PASS_AT = 4  # on the 1-5 scale, 4 and 5 pass
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
# The ratings CSV's own columns (selfinstruct.review.table): a criterion of that name could not be read back.
RESERVED = ("review", "item", "rater", "note", "updated", "instruction", "input", "output")


class AnswerError(ValueError):
    """A rating's answers do not fit the template; ``field`` names the offending key (e.g. ``answers.valid``)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True, kw_only=True)
class Criterion:
    name: str
    question: str
    scale: str = "yes_no"

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "question": self.question, "scale": self.scale}


@dataclass(frozen=True, kw_only=True)
class Template:
    name: str
    criteria: tuple[Criterion, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.criteria)


PAPER = Template(name="paper", criteria=(
    Criterion(name="valid_instruction",
              question="Does the instruction describe a valid task?"),
    Criterion(name="appropriate_input",
              question="Is the input appropriate for the instruction?"),
    Criterion(name="correct_output",
              question="Is the output a correct and acceptable response to the instruction and input?"),
))

SELFBEHAVE = Template(name="selfbehave", criteria=(
    Criterion(name="essential",
              question="Essential: would removing any step hurt the understanding of the scenario "
                       "(no step is superfluous)?"),
    Criterion(name="singular",
              question="Singular: do the title's single action and outcome match what the scenario does?"),
    Criterion(name="complete",
              question="Complete: are all the details needed to follow and understand the steps present?"),
    Criterion(name="integrous",
              question="Integrous: does it respect Gherkin's rules (Given, then When, then Then; Given for "
                       "pre-conditions, When for actions, Then for verifications)?"),
))

BUILTIN: dict[str, Template] = {PAPER.name: PAPER, SELFBEHAVE.name: SELFBEHAVE}


def _criterion(raw: Any, where: str) -> Criterion:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a table with name, question and scale")
    unknown = set(raw) - {"name", "question", "scale"}
    if unknown:
        raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r} (known keys: name, question, scale)")
    name, question, scale = raw.get("name"), raw.get("question"), raw.get("scale", "yes_no")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"{where}.name must be lower-case letters, digits and '_' (at most 40, starting with a "
                          f"letter), got {name!r}")
    if name in RESERVED:
        raise ConfigError(f"{where}.name {name!r} is a column of the ratings CSV; choose another name "
                          f"(reserved: {', '.join(RESERVED)})")
    if not isinstance(question, str) or not question.strip():
        raise ConfigError(f"{where}.question must be a non-empty string")
    if scale not in SCALES:
        raise ConfigError(f"{where}.scale must be one of {', '.join(SCALES)}, got {scale!r}")
    return Criterion(name=name, question=question.strip(), scale=scale)


def parse_templates(table: Any, *, source: str) -> dict[str, Template]:
    """The ``[review_templates.NAME]`` tables of a service config, checked; errors name the file and key."""
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: review_templates must be a table of [review_templates.NAME] tables")
    out: dict[str, Template] = {}
    for name, body in table.items():
        where = f"{source}: review_templates.{name}"
        if not _NAME.match(name):
            raise ConfigError(f"{where}: a template name is lower-case letters, digits and '_'")
        if name in BUILTIN:
            raise ConfigError(f"{where}: {name!r} is a built-in template; choose another name")
        if not isinstance(body, dict) or set(body) != {"criteria"}:
            raise ConfigError(f"{where} must hold exactly one key, criteria = [{{name, question, scale}}, ...]")
        raw = body["criteria"]
        if not isinstance(raw, list) or not raw:
            raise ConfigError(f"{where}.criteria must be a non-empty list of tables")
        criteria = tuple(_criterion(c, f"{where}.criteria[{i}]") for i, c in enumerate(raw))
        names = [c.name for c in criteria]
        if len(set(names)) != len(names):
            raise ConfigError(f"{where}.criteria: criterion names must be unique, got {names}")
        out[name] = Template(name=name, criteria=criteria)
    return out


def passes(scale: str, value: bool | int) -> bool:
    """Whether one answer counts as a pass: yes, or 4-5 on the 1-5 scale."""
    return value is True if scale == "yes_no" else value >= PASS_AT


def check_answers(criteria: tuple[Criterion, ...], answers: Any) -> dict[str, bool | int]:
    """A rating's answers, one per criterion, each of the criterion's scale; AnswerError naming the field."""
    if not isinstance(answers, Mapping):
        raise AnswerError("answers", "must be an object {CRITERION: answer}")
    known = {c.name for c in criteria}
    for key in answers:
        if key not in known:
            raise AnswerError(f"answers.{key}",
                              f"not a criterion of this review (criteria: {', '.join(sorted(known))})")
    out: dict[str, bool | int] = {}
    for c in criteria:
        if c.name not in answers:
            raise AnswerError(f"answers.{c.name}", "missing: every criterion needs an answer")
        value = answers[c.name]
        if c.scale == "yes_no":
            if not isinstance(value, bool):
                raise AnswerError(f"answers.{c.name}", f"must be true or false, got {value!r}")
        elif isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
            raise AnswerError(f"answers.{c.name}", f"must be a whole number from 1 to 5, got {value!r}")
        out[c.name] = value
    return out
