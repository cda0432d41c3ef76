"""The fast filter equals --exact at every threshold, and texts ROUGE-L cannot read are reported, not hidden."""

from __future__ import annotations

import json
import logging

import pytest

from selfinstruct.cli import main
from selfinstruct.dedup import DedupConfig, ExactRougeFilter, NearDuplicateFilter
from selfinstruct.dedup.filters import pair_recall
from selfinstruct.dedup.banding import (
    EXACT_COST,
    MAX_BANDS,
    MAX_PERM,
    MISS_BOUND,
    band_miss_probability,
    plan_banding,
)
from selfinstruct.rouge import tokenize
from selfinstruct.errors import ConfigError

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7, 0.9, 0.0, 0.05, 0.55, 0.6, 0.65, 0.69, 1.0])
def test_same_decisions_as_exact_at_any_threshold(varied_2000, threshold):
    config = DedupConfig(threshold=threshold)
    fast = NearDuplicateFilter(config)
    got = fast.check_and_add_many(varied_2000)
    want = ExactRougeFilter(config).check_and_add_many(varied_2000)
    assert [g.keep for g in got] == [w.keep for w in want]
    assert [g.untokenizable for g in got] == [w.untokenizable for w in want]
    for g, w in zip(got, want):
        if not w.keep:
            assert g.max_score == w.max_score
    rejected = sum(not w.keep for w in want)
    # Both sides of the threshold are exercised: the corpus has pairs just above and below each one.
    if threshold < 1.0:
        assert 100 <= rejected <= 1980
    else:
        assert rejected == 0  # F never exceeds 1
    no_tokens = [t for t in varied_2000 if not tokenize(t)]
    assert len(no_tokens) >= 9  # the corpus's CJK, Arabic, Cyrillic, Hangul, emoji and dash-only texts
    assert [t for t, g in zip(varied_2000, got) if g.untokenizable] == no_tokens


def test_plan_per_threshold():
    defaults = {"bands": 200, "rows": 4, "min_band_hits": 2, "num_perm": 800}
    for t in (0.7, 0.75, 0.9, 1.0):
        plan = plan_banding(t, **defaults)
        assert (plan.method, plan.source, plan.bands, plan.rows, plan.min_band_hits) == (
            "lsh", "configured", 200, 4, 2)
        assert plan.worst_case_miss <= MISS_BOUND
    for t in (0.55, 0.6, 0.65, 0.69):
        plan = plan_banding(t, **defaults)
        assert (plan.method, plan.source) == ("lsh", "derived")
        assert plan.relative_cost <= EXACT_COST
        assert plan.worst_case_miss == band_miss_probability(plan.jaccard_floor, plan.bands, plan.rows,
                                                             plan.min_band_hits) <= MISS_BOUND
        assert plan.num_perm == plan.bands * plan.rows <= MAX_PERM and plan.bands <= MAX_BANDS
        # the configured banding really would break the bound here
        assert band_miss_probability(plan.jaccard_floor, 200, 4, 2) > MISS_BOUND
        assert "would miss" in plan.reason
    for t in (0.0, 0.1, 0.3, 0.4, 0.5):
        plan = plan_banding(t, **defaults)
        assert (plan.method, plan.source) == ("exact", "fallback")
        assert "exactly" in plan.reason
    # A configured banding that already meets the bound is kept, even below 0.7.
    wide = plan_banding(0.5, bands=400, rows=2, min_band_hits=1, num_perm=800)
    assert (wide.method, wide.source, wide.bands, wide.rows) == ("lsh", "configured", 400, 2)


def test_derived_banding_finds_every_pair_above_the_threshold(varied_2000):
    """Not just the same decisions: at 0.55, every pool text scoring above it is an LSH candidate."""
    config = DedupConfig(threshold=0.55)
    fast, exact = NearDuplicateFilter(config), ExactRougeFilter(config)
    assert fast.plan.source == "derived"
    found = total = 0
    for text in varied_2000[:1200]:
        above, hit = pair_recall(fast, exact, text)
        total += above
        found += hit
        assert exact.check_and_add(text).keep == fast.check_and_add(text).keep
    assert total > 200
    assert found == total


def test_a_changed_plan_is_logged_and_exposed(caplog):
    with caplog.at_level(logging.WARNING, logger="selfinstruct.dedup.filters"):
        assert NearDuplicateFilter(DedupConfig(threshold=0.7)).plan.source == "configured"
        assert caplog.records == []
        low = NearDuplicateFilter(DedupConfig(threshold=0.3))
    assert low.plan.method == "exact"
    assert len(caplog.records) == 1 and "threshold 0.3" in caplog.records[0].getMessage()


def test_exact_fallback_cannot_share_a_redis_index():
    with pytest.raises(ConfigError, match="threshold = 0.3 needs the exact filter"):
        NearDuplicateFilter(DedupConfig(threshold=0.3, storage="redis", redis_url="redis://127.0.0.1:1/0"))


@pytest.mark.parametrize("cls", [NearDuplicateFilter, ExactRougeFilter])
@pytest.mark.parametrize("threshold", [0.3, 0.7])
def test_untokenizable_texts_are_flagged_and_follow_the_policy(cls, threshold):
    texts = ["Write a poem about the sea.", "写一首关于大海的诗。", "写一首关于大海的诗。", "اكتب قصيدة", "",
             "Write a poem about the sea!"]
    kept = cls(DedupConfig(threshold=threshold)).check_and_add_many(texts)
    assert [d.untokenizable for d in kept] == [False, True, True, True, True, False]
    assert [d.keep for d in kept] == [True, True, True, True, True, False]
    rejecting = cls(DedupConfig(threshold=threshold, untokenizable="reject"))
    dropped = rejecting.check_and_add_many(texts)
    assert [d.keep for d in dropped] == [True, False, False, False, False, False]
    assert len(rejecting) == 1
    assert rejecting.check("日本語").untokenizable and not rejecting.check("日本語").keep


def test_cli_reports_method_and_untokenizable(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    rows = ["Write a poem about the sea.", "请把这句话翻译成英文。", "Write a short poem about the sea.",
            "Summarize the article.", "😀😀😀"]
    src.write_text("".join(json.dumps({"id": i, "instruction": t}, ensure_ascii=False) + "\n"
                           for i, t in enumerate(rows)))
    out, rej, stats = tmp_path / "out.jsonl", tmp_path / "rej.jsonl", tmp_path / "stats.json"
    argv = ["dedup", str(src), "--out", str(out), "--rejects", str(rej), "--stats", str(stats), "--threshold", "0.3"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "2 of 5 texts have no [a-z0-9] token" in err and f"{src}:2: '请把这句话翻译成英文。'" in err
    assert "dedup (exact candidates: length + prefix filter)" in err
    report = json.loads(stats.read_text())
    assert report["dedup_method"]["method"] == "prefix" and report["dedup_method"]["edges"] >= 1
    assert report["untokenizable"]["count"] == 2 and report["untokenizable"]["policy"] == "keep"
    assert report["untokenizable"]["examples"] == [{"input": str(src), "line": 2, "text": rows[1]},
                                                   {"input": str(src), "line": 5, "text": rows[4]}]
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == [0, 1, 3, 4]

    assert main(argv + ["--untokenizable", "reject", "--threshold", "0.7"]) == 0
    err = capsys.readouterr().err
    assert "(rejected; --untokenizable keep to change)" in err
    rejected = [json.loads(x) for x in rej.read_text().splitlines()]
    assert [(r["id"], r["_dedup"]["reason"]) for r in rejected] == [
        (1, "untokenizable"), (2, "rouge_l_similar"), (4, "untokenizable")]
    assert rejected[1]["_dedup"]["matched"] == {"input": str(src), "line": 1, "text": rows[0]}
