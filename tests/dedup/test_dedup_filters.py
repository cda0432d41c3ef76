"""The fast filter makes exactly the exact filter's decisions, and finds every pair above the threshold."""

from __future__ import annotations

import pytest

from selfinstruct.dedup import Decision, DedupConfig, ExactRougeFilter, NearDuplicateFilter, rouge_l_f
from selfinstruct.dedup.filters import pair_recall


def run(filter_cls, seeds, stream, config=DedupConfig()):
    f = filter_cls(config)
    f.add_many(seeds)
    return f, f.check_and_add_many(stream)


CORPORA = ["eval-vs-seeds", "mutations", "templates", "edge-cases", "synthetic", "no-seeds"]


@pytest.mark.parametrize("name", CORPORA)
def test_same_decisions_as_exact(corpora, name):
    seeds, stream = corpora[name]
    fast, got = run(NearDuplicateFilter, seeds, stream)
    exact, want = run(ExactRougeFilter, seeds, stream)
    differences = [t for t, g, w in zip(stream, got, want) if g.keep != w.keep]
    assert differences == []
    assert len(fast) == len(exact)
    for g, w in zip(got, want):
        assert g.max_score <= w.max_score
        if not w.keep:  # the closest text above the threshold is found, with its exact score
            assert g.max_score == w.max_score
    # The corpora are not trivial: they do reject (human-written eval tasks rarely repeat a seed).
    assert sum(not w.keep for w in want) >= {"eval-vs-seeds": 1, "edge-cases": 5}.get(name, 40)


@pytest.mark.parametrize("name", ["mutations", "templates", "synthetic"])
def test_recall_of_pairs_above_threshold_is_one(corpora, name):
    """Every (query, pool text) pair with ROUGE-L F > 0.7 is an LSH candidate, not just one per query."""
    seeds, stream = corpora[name]
    fast = NearDuplicateFilter()
    fast.add_many(seeds)
    exact = ExactRougeFilter()
    exact.add_many(seeds)
    found = total = 0
    for text in stream:
        above, hit = pair_recall(fast, exact, text)
        total += above
        found += hit
        if exact.check_and_add(text).keep != fast.check_and_add(text).keep:
            pytest.fail(f"decision differs on {text!r}")
    assert total > 50
    assert found == total


def test_decision_fields(seed_texts):
    f = NearDuplicateFilter()
    f.add_many(seed_texts)
    text = seed_texts[3]
    d = f.check(text)
    assert isinstance(d, Decision)
    assert d.keep is False and d.max_score == 1.0
    assert next(iter(d.most_similar)) == text
    scores = list(d.most_similar.values())
    assert 1 <= len(scores) <= 10 and scores == sorted(scores, reverse=True)
    assert all(s == rouge_l_f(text, t) for t, s in d.most_similar.items())
    assert 0.0 < d.avg_similarity_estimate < 0.5


def test_check_does_not_insert_and_check_and_add_does():
    for cls in (NearDuplicateFilter, ExactRougeFilter):
        f = cls()
        f.add("Write a poem about the sea.")
        assert len(f) == 1
        assert f.check("Summarize this article in one sentence.").keep
        assert len(f) == 1
        assert f.check_and_add("Summarize this article in one sentence.").keep
        assert len(f) == 2
        d = f.check_and_add("Summarize this article in a sentence.")
        assert not d.keep and len(f) == 2


def test_threshold_is_exclusive_like_the_original():
    a = "c0 c1 c2 c3 c4 c5 c6 t0 t1 t2"  # m = n = 10, L = 7: F == 0.7 exactly in floats too
    b = "c0 c1 c2 c3 c4 c5 c6 p0 p1 p2"
    assert rouge_l_f(a, b) == 0.7
    for cls in (NearDuplicateFilter, ExactRougeFilter):
        f = cls()
        f.add(a)
        assert f.check(b).keep  # rejected only when max > 0.7
        f2 = cls(DedupConfig(threshold=0.69))
        f2.add(a)
        assert not f2.check(b).keep


def test_empty_pool_and_empty_text():
    for cls in (NearDuplicateFilter, ExactRougeFilter):
        f = cls()
        assert f.check("anything at all") == Decision(True, 0.0, {}, 0.0)
        f.add_many(["", "!!!", "hello world"])
        assert len(f) == 3
        d = f.check("")
        assert d.keep and d.max_score == 0.0 and d.most_similar == {}
        assert f.check_and_add("...").keep  # texts without tokens never collide
        assert len(f) == 4


def test_top_ten_prefers_earlier_pool_items_on_ties():
    pool = [f"alpha beta gamma delta x{i}" for i in range(15)]
    for cls in (NearDuplicateFilter, ExactRougeFilter):
        f = cls()
        f.add_many(pool)
        d = f.check("alpha beta gamma delta zzz")
        assert list(d.most_similar) == pool[:10]
        assert d.keep is False and d.max_score == pytest.approx(0.8)


def test_bulk_add_and_streaming_add_are_equivalent(corpora):
    seeds, stream = corpora["synthetic"]
    a = NearDuplicateFilter(DedupConfig(buffer_items=37))  # many flushes and merges
    for s in seeds:
        a.add(s)
    b = NearDuplicateFilter()
    b.add_many(seeds)
    assert [a.check_and_add(t).keep for t in stream[:600]] == [d.keep for d in b.check_and_add_many(stream[:600])]
