"""Kappa and interval arithmetic against hand-computed tables and published worked examples."""

from __future__ import annotations

import math

import pytest

from selfinstruct.review.stats import Rating, cohen_kappa, fleiss_kappa, majority, summarize, wilson
from selfinstruct.review.templates import PAPER, Criterion

YES_NO = [Criterion(name="ok", question="ok?")]


def pairs(table: dict[tuple[object, object], int]) -> list[tuple[object, object]]:
    return [key for key, count in table.items() for _ in range(count)]


# Wikipedia, "Cohen's kappa", worked example: 50 grant proposals read by raters A and B.
# Both yes 20, A yes/B no 5, A no/B yes 10, both no 15: p_o = 0.7, p_e = 0.5*0.6 + 0.5*0.4 = 0.5, kappa = 0.4.
WIKIPEDIA_COHEN = {("yes", "yes"): 20, ("yes", "no"): 5, ("no", "yes"): 10, ("no", "no"): 15}


@pytest.mark.parametrize("table, expected", [
    (WIKIPEDIA_COHEN, 0.4),
    # perfect agreement over two categories
    ({(True, True): 7, (False, False): 3}, 1.0),
    # chance agreement: p_o = 0.5 = p_e (each rater says yes half the time, independently)
    ({(True, True): 1, (True, False): 1, (False, True): 1, (False, False): 1}, 0.0),
    # complete disagreement with balanced marginals: p_o = 0, p_e = 0.5
    ({(True, False): 5, (False, True): 5}, -1.0),
    # by hand, 3 categories: p_o = (40+30)/100 = 0.7; A says 1/2/3 50/30/20 times, B 60/40/0: p_e = 0.42
    ({(1, 1): 40, (2, 2): 30, (1, 2): 10, (2, 1): 0, (3, 1): 20}, (0.7 - (0.6*0.5 + 0.4*0.3 + 0)) / (1 - 0.42)),
])
def test_cohen_kappa(table, expected):
    assert cohen_kappa(pairs(table)) == pytest.approx(expected, abs=1e-12)


def test_cohen_kappa_undefined_when_chance_agreement_is_certain():
    assert cohen_kappa([(True, True)] * 5) is None
    assert cohen_kappa([]) is None


# Wikipedia, "Fleiss' kappa", worked example: 10 subjects, 14 raters, 5 categories.
# Published: P-bar = 0.378, P_e = 0.213, kappa = 0.210.
WIKIPEDIA_FLEISS = [
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
]


def test_fleiss_wikipedia_example():
    assert round(fleiss_kappa(WIKIPEDIA_FLEISS), 3) == 0.210


@pytest.mark.parametrize("table, expected", [
    ([[3, 0], [0, 3], [3, 0], [0, 3]], 1.0),                         # perfect agreement
    # by hand: each row P_i = (4+1-3)/6 = 1/3; shares 0.5/0.5 so P_e = 0.5; kappa = (1/3-1/2)/(1/2) = -1/3
    ([[2, 1], [1, 2], [2, 1], [1, 2]], -1 / 3),
    # by hand: rows (3,0),(2,1): P = (1 + 1/3)/2 = 2/3; shares 5/6, 1/6: P_e = 26/36; kappa = (2/3-26/36)/(10/36)
    ([[3, 0], [2, 1]], (2 / 3 - 26 / 36) / (10 / 36)),
])
def test_fleiss_hand_tables(table, expected):
    assert fleiss_kappa(table) == pytest.approx(expected, abs=1e-12)


def test_fleiss_two_raters_chance_agreement_is_zero():
    # With 2 raters Fleiss' P_e uses pooled shares; a 2x2 table with independent 50/50 raters gives about 0.
    table = [[2, 0], [1, 1], [1, 1], [0, 2]]  # items: YY, YN, NY, NN
    assert fleiss_kappa(table) == pytest.approx(0.0, abs=1e-12)


def test_fleiss_rejects_uneven_rows():
    with pytest.raises(ValueError):
        fleiss_kappa([[2, 1], [1, 1]])


# Newcombe (1998), "Two-sided confidence intervals for the single proportion: comparison of seven methods",
# Statistics in Medicine 17:857-872, Table II, method 3 (Wilson score, no continuity correction).
@pytest.mark.parametrize("k, n, lo, hi", [
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0000, 0.1611),
    (1, 29, 0.0061, 0.1718),
])
def test_wilson_newcombe_examples(k, n, lo, hi):
    got = wilson(k, n)
    assert got is not None
    assert round(got[0], 4) == lo and round(got[1], 4) == hi


def test_wilson_by_hand():
    z2 = 1.959963984540054 ** 2
    assert wilson(10, 10) == pytest.approx((10 / (10 + z2), 1.0))      # all pass: lower bound n/(n+z^2)
    lo, hi = wilson(5, 10)
    assert lo + hi == pytest.approx(1.0) and hi - 0.5 == pytest.approx(
        1.959963984540054 / (1 + z2 / 10) * math.sqrt(0.025 + z2 / 400))
    assert wilson(0, 0) is None


@pytest.mark.parametrize("votes, expected", [
    ([True], True), ([False], False), ([True, False], False), ([True, True, False], True), ([], False),
])
def test_majority_and_ties(votes, expected):
    assert majority(votes) is expected


def test_summary_by_hand():
    yes = {"valid_instruction": True, "appropriate_input": True, "correct_output": True}
    bad_output = {**yes, "correct_output": False}
    ratings = [
        Rating(rater="ann", item="i1", answers=yes), Rating(rater="bob", item="i1", answers=yes),
        Rating(rater="ann", item="i2", answers=bad_output), Rating(rater="bob", item="i2", answers=yes),
        Rating(rater="ann", item="i3", answers=bad_output), Rating(rater="bob", item="i3", answers=bad_output),
        Rating(rater="ann", item="i4", answers=yes),  # a single rater's answer is the item's verdict
    ]
    s = summarize(PAPER.criteria, ratings)
    assert s["raters"] == ["ann", "bob"] and s["items_rated"] == 4 and s["ratings"] == 7
    assert s["criteria"]["valid_instruction"]["pass_rate"] == 1.0
    # correct_output: i1 pass, i2 tie (no majority: fails), i3 fail, i4 pass -> 2 of 4
    out = s["criteria"]["correct_output"]
    assert (out["pass_rate"], out["n"], out["ci"]) == (0.5, 4, list(wilson(2, 4)))
    assert s["all_valid_rate"] == 0.5
    # ann vs bob on i1..i3 correct_output: (T,T),(F,T),(F,F): p_o = 2/3, p_e = 1/3*2/3 + 2/3*1/3 = 4/9
    assert s["cohen_kappa"]["ann|bob"]["correct_output"] == pytest.approx((2 / 3 - 4 / 9) / (1 - 4 / 9))
    assert s["cohen_kappa"]["ann|bob"]["valid_instruction"] is None  # everyone said yes: undefined
    assert s["cohen_n"] == {"ann|bob": 3}
    assert "fleiss_kappa" not in s


def test_summary_fleiss_and_five_point_scale():
    crit = [Criterion(name="fluent", question="?", scale="1-5")]
    ratings = [Rating(rater=r, item=i, answers={"fluent": v})
               for i, row in {"a": (5, 4, 4), "b": (1, 2, 5), "c": (3, 3, 3)}.items()
               for r, v in zip(("x", "y", "z"), row)]
    s = summarize(crit, ratings)
    # verdicts (pass >= 4): a 3 passes, b 1 pass of 3, c none -> 1 of 3
    assert s["criteria"]["fluent"]["pass_rate"] == pytest.approx(1 / 3)
    table = [[0, 0, 0, 2, 1], [1, 1, 0, 0, 1], [0, 0, 3, 0, 0]]
    assert s["fleiss_kappa"]["fluent"] == pytest.approx(fleiss_kappa(table))
    assert s["fleiss_n"] == 3


def test_second_rating_by_same_rater_replaces_first():
    s = summarize(YES_NO, [Rating(rater="a", item="1", answers={"ok": False}),
                           Rating(rater="a", item="1", answers={"ok": True})])
    assert s["criteria"]["ok"]["pass_rate"] == 1.0 and s["ratings"] == 1
