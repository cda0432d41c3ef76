"""The review API over real HTTP against a real daemon: create, rate, replace, summarise, export, restart."""

from __future__ import annotations

import csv
import io
import json

import pytest

from selfinstruct.cli import main
from selfinstruct.review.sampling import run_items, sample_items
from selfinstruct.review.stats import wilson

from .helpers import daemon_with_job

CUSTOM = """
[review_templates.fluency]
criteria = [
  {name = "fluent", question = "Is the output fluent?", scale = "1-5"},
  {name = "safe", question = "Is it safe to train on?", scale = "yes_no"},
]
"""


@pytest.fixture
def served(tmp_path, sim):
    daemon, job = daemon_with_job(tmp_path, sim(latency_ms=1, seed=3).url, extra_toml=CUSTOM)
    yield daemon, job
    daemon.stop()


def test_review_workflow_and_restart(served, tmp_path, capsys):
    daemon, job = served
    status, review = daemon.call("POST", f"/jobs/{job}/reviews", {"size": 6, "seed": 11})
    assert status == 201, review
    assert [c["name"] for c in review["criteria"]] == ["valid_instruction", "appropriate_input", "correct_output"]
    assert all(c["scale"] == "yes_no" for c in review["criteria"])
    items = review["items"]
    assert len(items) == 6 and len({i["id"] for i in items}) == 6
    assert set(items[0]) == {"id", "instruction", "input", "output"}
    # The items are the job's accepted data, sampled as the pure function does it.
    expected = sample_items(run_items(daemon.state_dir / "jobs" / job), 6, 11)
    assert [i["id"] for i in items] == [i.id for i in expected]

    # Same size and seed: same items; another seed: another sample.
    assert daemon.call("POST", f"/jobs/{job}/reviews", {"size": 6, "seed": 11})[1]["items"] == items
    assert daemon.call("POST", f"/jobs/{job}/reviews", {"size": 6, "seed": 12})[1]["items"] != items
    rid = review["id"]
    assert daemon.call("GET", f"/reviews/{rid}") == (200, review)

    def rate(rater, item, ok, note=None):
        body = {"rater": rater, "item": items[item]["id"],
                "answers": {"valid_instruction": True, "appropriate_input": True, "correct_output": ok}}
        if note is not None:
            body["note"] = note
        return daemon.call("POST", f"/reviews/{rid}/ratings", body)

    assert rate("ann", 0, False)[0] == 201
    status, body = rate("ann", 0, True, note="fixed my mind")  # replaces the first
    assert status == 200 and body["replaced"] is True
    for i, ok in enumerate([True, False, True]):
        rate("bob", i, ok)
    rate("ann", 1, False)
    rate("ann", 2, True)
    rate("cy", 0, True), rate("cy", 1, True), rate("cy", 2, False)

    status, summary = daemon.call("GET", f"/reviews/{rid}/summary")
    assert status == 200
    assert summary["raters"] == ["ann", "bob", "cy"]
    # correct_output by item: i0 (T,T,T) pass; i1 (F,F,T) fail; i2 (T,T,F) pass -> 2 of 3
    out = summary["criteria"]["correct_output"]
    assert out["pass_rate"] == pytest.approx(2 / 3) and out["n"] == 3
    assert out["ci"] == pytest.approx(list(wilson(2, 3)))
    assert summary["all_valid_rate"] == pytest.approx(2 / 3)
    # ann vs bob on correct_output: (T,T) (F,F) (T,T): perfect agreement
    assert summary["cohen_kappa"]["ann|bob"]["correct_output"] == pytest.approx(1.0)
    assert set(summary["cohen_kappa"]) == {"ann|bob", "ann|cy", "bob|cy"}
    assert "correct_output" in summary["fleiss_kappa"] and summary["fleiss_n"] == 3

    status, text = daemon.call("GET", f"/reviews/{rid}/ratings.csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert status == 200 and len(rows) == 9  # one row per rating; ann's first answer on item 0 was replaced
    ann0 = next(r for r in rows if r["rater"] == "ann" and r["item"] == items[0]["id"])
    assert (ann0["correct_output"], ann0["note"], ann0["instruction"]) == ("yes", "fixed my mind",
                                                                            items[0]["instruction"])
    # The offline command computes the same figures from the exported CSV.
    exported = tmp_path / "ratings.csv"
    exported.write_text(text)
    assert main(["review", "summary", str(exported), "--json"]) == 0
    offline = json.loads(capsys.readouterr().out)
    for key in ("criteria", "all_valid_rate", "all_valid_ci", "raters", "cohen_kappa", "cohen_n", "fleiss_kappa",
                "fleiss_n", "items_rated", "ratings"):
        assert offline[key] == summary[key], key
    status, text = daemon.call("GET", f"/reviews/{rid}/ratings.jsonl")
    lines = [json.loads(line) for line in text.splitlines()]
    assert status == 200 and len(lines) == 9 and {ln["review"] for ln in lines} == {rid}

    # Ratings are durable: SIGKILL the daemon, start it again, everything is still there.
    daemon.kill()
    daemon.start()
    assert daemon.call("GET", f"/reviews/{rid}/summary") == (200, summary)
    assert daemon.call("GET", f"/reviews/{rid}") == (200, review)
    status, listing = daemon.call("GET", f"/jobs/{job}/reviews")
    assert status == 200 and [r["id"] for r in listing["reviews"]][0] == rid
    assert listing["reviews"][0]["n_ratings"] == 9


def test_templates_and_validation(served):
    daemon, job = served
    status, review = daemon.call("POST", f"/jobs/{job}/reviews", {"size": 3, "seed": 0, "template": "selfbehave"})
    assert status == 201
    assert [c["name"] for c in review["criteria"]] == ["essential", "singular", "complete", "integrous"]
    status, custom = daemon.call("POST", f"/jobs/{job}/reviews", {"size": 2, "seed": 0, "template": "fluency"})
    assert status == 201
    assert custom["criteria"][0] == {"name": "fluent", "question": "Is the output fluent?", "scale": "1-5"}
    rid, item = custom["id"], custom["items"][0]["id"]

    def bad(path, body, field):
        status, answer = daemon.call("POST", path, body)
        assert status == 400, answer
        assert answer["field"] == field and field in answer["error"]

    bad(f"/jobs/{job}/reviews", {"size": 0, "seed": 1}, "size")
    bad(f"/jobs/{job}/reviews", {"size": True}, "size")
    bad(f"/jobs/{job}/reviews", {"size": 3, "seed": -1}, "seed")
    bad(f"/jobs/{job}/reviews", {"size": 3, "template": "nope"}, "template")
    bad(f"/jobs/{job}/reviews", {"size": 3, "sized": 3}, "sized")
    good = {"fluent": 4, "safe": True}
    bad(f"/reviews/{rid}/ratings", {"item": item, "answers": good}, "rater")
    bad(f"/reviews/{rid}/ratings", {"rater": "a|b", "item": item, "answers": good}, "rater")
    bad(f"/reviews/{rid}/ratings", {"rater": "a", "item": "zzz", "answers": good}, "item")
    bad(f"/reviews/{rid}/ratings", {"rater": "a", "item": item, "answers": {"fluent": 6, "safe": True}},
        "answers.fluent")
    bad(f"/reviews/{rid}/ratings", {"rater": "a", "item": item, "answers": {"fluent": 3, "safe": "yes"}},
        "answers.safe")
    bad(f"/reviews/{rid}/ratings", {"rater": "a", "item": item, "answers": {"fluent": 3}}, "answers.safe")
    bad(f"/reviews/{rid}/ratings", {"rater": "a", "item": item, "answers": {**good, "x": 1}}, "answers.x")
    bad(f"/reviews/{rid}/ratings", {"rater": "a", "item": item, "answers": good, "note": 3}, "note")
    assert daemon.call("POST", f"/reviews/{rid}/ratings", {"rater": "a", "item": item, "answers": good})[0] == 201
    # 1-5: a 4 passes
    assert daemon.call("GET", f"/reviews/{rid}/summary")[1]["criteria"]["fluent"]["pass_rate"] == 1.0
    assert daemon.call("GET", "/reviews/nope")[0] == 404
    assert daemon.call("GET", "/reviews/nope/summary")[0] == 404
    assert daemon.call("POST", "/jobs/nope/reviews", {"size": 3})[0] == 404
    # Writes go through the service's hygiene like every other route: JSON only.
    assert daemon.call("POST", f"/reviews/{rid}/ratings", raw=b"rater=a",
                       headers={"Content-Type": "application/x-www-form-urlencoded"})[0] == 415


def test_token_guards_review_routes(tmp_path, sim):
    token = "review-token-0123456789"
    daemon, job = daemon_with_job(tmp_path, sim(latency_ms=1).url, num_instructions=5)
    daemon.stop()
    daemon.args = (*daemon.args, "--token-env", "REVIEW_TOKEN")
    daemon.env["REVIEW_TOKEN"] = token
    daemon.token = token
    try:
        daemon.start()
        status, review = daemon.call("POST", f"/jobs/{job}/reviews", {"size": 2})
        assert status == 201
        for method, path in [("GET", "/reviews"), ("GET", f"/reviews/{review['id']}"),
                             ("GET", f"/reviews/{review['id']}/rate"), ("GET", f"/reviews/{review['id']}/summary"),
                             ("GET", f"/reviews/{review['id']}/ratings.csv"),
                             ("POST", f"/jobs/{job}/reviews")]:
            assert daemon.call(method, path, {"size": 2} if method == "POST" else None, token="")[0] == 401, path
    finally:
        daemon.stop()


def test_pages_allow_only_this_origin_and_their_own_script(served):
    import urllib.request

    daemon, job = served
    rid = daemon.call("POST", f"/jobs/{job}/reviews", {"size": 2})[1]["id"]
    for path in ("/reviews", f"/reviews/{rid}/rate"):
        with urllib.request.urlopen(daemon.base + path, timeout=30) as resp:
            csp = resp.headers["Content-Security-Policy"]
            html = resp.read().decode()
        assert resp.headers["Content-Type"].startswith("text/html")
        assert "default-src 'none'" in csp and "connect-src 'self'" in csp and "script-src 'sha256-" in csp
        assert "http" not in csp and "src=" not in html  # no external script, style, font or image
        assert html.count("<script>") == 1
    assert 'data-review="' + rid + '"' in html
