"""Generated answers for every parser: junk never raises, and lists/instances rendered in any
supported style parse back to the same items."""

from __future__ import annotations

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from selfinstruct.stages import (
    Instance,
    parse_classification,
    parse_input_first,
    parse_instruction_list,
    parse_output_first,
)
from selfinstruct.stages._markup import is_preamble, is_refusal, is_sign_off

SETTINGS = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=9)
ITEM = st.lists(WORD, min_size=4, max_size=12).map(lambda ws: " ".join([ws[0].capitalize(), *ws[1:]]))

JUNK_PIECES = st.sampled_from([
    "1.", "2)", "**3.**", "Task 4:", "- ", "* ", "\n", "\n\n", "```", "Here are tasks:", "I hope this helps!",
    "Example 1", "Output:", "Input:", "Class label:", "Task:", ":", "**", "Yes", "No", "\u00e9", "\u200b", "\t",
    "16.", "9.", "\r\n", "Sure!",
])
JUNK = st.one_of(st.text(max_size=300), st.lists(st.one_of(JUNK_PIECES, st.text(max_size=12)), max_size=40)
                 .map("".join))
FINISH = st.sampled_from([None, "stop", "length", "content_filter"])


@SETTINGS
@given(JUNK, FINISH, st.one_of(st.none(), st.integers(1, 20)))
def test_instruction_parser_never_raises(text, finish, first_number):
    got = parse_instruction_list(text, first_number=first_number, finish_reason=finish)
    assert all(isinstance(x, str) and x and "\n" not in x and x == x.strip() for x in got.instructions)
    assert len(set(got.instructions)) == len(got.instructions)


@SETTINGS
@given(JUNK, FINISH)
def test_other_parsers_never_raise(text, finish):
    assert parse_classification(text, finish) in (True, False, None)
    for parse in (parse_input_first, parse_output_first):
        assert all(isinstance(i, Instance) for i in parse(text, finish))


STYLES = [
    lambda n, x: f"{n}. {x}",
    lambda n, x: f"{n}) {x}",
    lambda n, x: f"**{n}.** {x}",
    lambda n, x: f"{n}. **{x}**",
    lambda n, x: f"Task {n}: {x}",
    lambda n, x: f"- {x}",
    lambda n, x: f"* {x}",
]


def _clean(lines):
    for line in lines:
        assume(not (is_preamble(line) or is_sign_off(line) or is_refusal(line)))


@SETTINGS
@given(
    items=st.lists(ITEM, min_size=1, max_size=12, unique_by=str.lower),
    style=st.sampled_from(STYLES),
    start=st.sampled_from([1, 9]),
    gap=st.sampled_from(["\n", "\n\n"]),
    preamble=st.sampled_from(["", "Here are more tasks:\n", "Sure! Here are some new tasks:\n\n"]),
    sign_off=st.sampled_from(["", "\n\nI hope these help!", "\nLet me know if you need more."]),
    fence=st.booleans(),
    wrap=st.data(),
)
def test_chat_lists_round_trip(items, style, start, gap, preamble, sign_off, fence, wrap):
    rendered = []
    for n, item in enumerate(items, start=start):
        words = item.split()
        cut = wrap.draw(st.integers(0, len(words) - 1))
        if cut and style not in (STYLES[3],):  # "**item**" cannot be wrapped without breaking the bold
            head, tail = " ".join(words[:cut]), " ".join(words[cut:])
            _clean([tail])
            rendered.append(style(n, head) + "\n   " + tail)
        else:
            rendered.append(style(n, item))
    body = gap.join(rendered)
    text = preamble + ("```\n" + body + "\n```" if fence else body) + sign_off
    got = parse_instruction_list(text, first_number=None, finish_reason="stop")
    assert got.instructions == items


@SETTINGS
@given(items=st.lists(ITEM, min_size=1, max_size=7, unique_by=str.lower))
def test_completion_continuations_round_trip(items):
    _clean([items[0]])
    text = " " + items[0] + "".join(f"\n{n}. {x}" for n, x in enumerate(items[1:], start=10))
    assert parse_instruction_list(text, first_number=9, finish_reason="stop").instructions == items


TEXT = st.lists(WORD, min_size=1, max_size=8).map(" ".join)
FIELD = st.sampled_from(["Sentence", "Paragraph", "Question", "Email", "Review"])


@SETTINGS
@given(pairs=st.lists(st.tuples(st.one_of(st.none(), FIELD), TEXT, TEXT), min_size=1, max_size=5),
       bold=st.booleans())
def test_input_first_round_trip(pairs, bold):
    blocks = []
    for k, (field_name, inp, out) in enumerate(pairs, start=1):
        label = "Input" if field_name is None else field_name
        out_label = "**Output:**" if bold else "Output:"
        blocks.append(f"Example {k}\n{label}: {inp}\n{out_label} {out}")
    got = parse_input_first("\n".join(blocks), "stop")
    # The original keeps a generic field label in the input and strips only "Input:".
    assert got == [Instance(inp if f is None else f"{f}: {inp}", out) for f, inp, out in pairs]
    assert parse_input_first("\n".join(blocks), "length") == got[:-1]


@SETTINGS
@given(pairs=st.lists(st.tuples(TEXT, st.one_of(st.just(""), TEXT)), min_size=1, max_size=5),
       field_name=FIELD)
def test_output_first_round_trip(pairs, field_name):
    text = "\n".join(f"Class label: {label}" + (f"\n{field_name}: {inp}" if inp else "") for label, inp in pairs)
    got = parse_output_first(text, "stop")
    assert got == [Instance(f"{field_name}: {inp}" if inp else "", label) for label, inp in pairs]
