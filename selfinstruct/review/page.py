"""The review pages' HTML: pick or create a review of a job, and rate its items one at a time.

Server-rendered; the behaviour is our own small script (``script.SCRIPT``), inline.
Nothing is loaded from another host: no CDN, no web fonts (the service sends a
Content-Security-Policy that lets the browser fetch only from this origin and run
only that script). Every value from the data is escaped here, and the script only
ever sets text, never HTML.

Each page is a body (review CSS, markup, and an ``#review-app`` element whose
``data-*`` say which page it is) plus the script, in the dashboard's shared shell
(``page(title, body, script=SCRIPT)`` of ``service.dashboard.layout``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

from selfinstruct.review.script import SCRIPT

__all__ = ["list_page", "rate_page", "SCRIPT"]

# What the review pages need beyond a page shell's own CSS.
_REVIEW_STYLE = """<style>
#review-app section{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:.8rem 1rem;margin-bottom:1rem}
#review-app pre{white-space:pre-wrap;word-break:break-word;background:#f2f4f7;padding:.5rem;border-radius:4px;
margin:.2rem 0 .6rem;max-height:16rem;overflow:auto}
#review-app pre:empty::before{content:"(empty)";color:#889}
.crit{display:flex;align-items:center;gap:.6rem;padding:.35rem .4rem;border-radius:4px}
.crit.current{outline:2px solid #3b6fd8;background:#eef3ff}.crit .q{flex:1}
.crit button{min-width:2.4rem}.crit button.on{background:#3b6fd8;color:#fff;border-color:#3b6fd8}
kbd{border:1px solid #aab2bd;border-radius:3px;padding:0 .25rem;font-size:.85em;background:#fff}
.status{min-height:1.3em}.status.error{color:#b00020}
</style>"""


def _app(page: str, inner: str, **data: str) -> str:
    attrs = "".join(f' data-{k}="{escape(v)}"' for k, v in {"page": page, **data}.items())
    return f'{_REVIEW_STYLE}<div id="review-app"{attrs}>{inner}</div>'


def list_page(jobs: Sequence[tuple[str, str, str]], reviews: Iterable[Mapping[str, Any]],
              templates: Sequence[str]) -> str:
    """The body of the page to pick a review to rate, or create one (a seeded sample of a job's accepted items)."""
    job_options = "".join(
        f'<option value="{escape(j)}">{escape(j)} ({escape(state)}{", " + escape(model) if model else ""})</option>'
        for j, state, model in reversed(jobs))
    template_options = "".join(f'<option value="{escape(t)}"{" selected" if t == "paper" else ""}>{escape(t)}</option>'
                               for t in templates)
    rows = "".join(
        f'<tr><td><a href="/reviews/{escape(r["id"])}/rate">{escape(r["id"])}</a></td><td>{escape(r["job"])}</td>'
        f'<td>{escape(r["template"])}</td><td>{r["n_items"]}</td><td>{r["seed"]}</td><td>{r["n_ratings"]}</td>'
        f'<td><a href="/reviews/{escape(r["id"])}/ratings.csv">CSV</a> · '
        f'<a href="/reviews/{escape(r["id"])}/ratings.jsonl">JSONL</a></td></tr>'
        for r in reversed(list(reviews)))
    table = (f"<table id=\"reviews\"><tr><th>review</th><th>job</th><th>template</th><th>items</th><th>seed</th>"
             f"<th>ratings</th><th>export</th></tr>{rows}</table>" if rows
             else '<p class="muted">No reviews yet.</p>')
    body = f"""<h1>Reviews</h1>
<section><h2>New review</h2>
<form id="create">
<label>Job <select name="job" required>{job_options}</select></label>
<label>Items <input name="size" type="number" min="1" max="10000" value="20" required></label>
<label>Seed <input name="seed" type="number" min="0" value="0" required></label>
<label>Template <select name="template">{template_options}</select></label>
<button type="submit">Create</button></form>
<p class="muted">The same job data, size and seed always sample the same items.</p>
<p id="create-status" class="status"></p></section>
<section><h2>Reviews</h2>{table}</section>"""
    return _app("reviews", body)


def rate_page(review_id: str, job: str, template: str) -> str:
    """The body of the page to rate one item at a time, with the summary of every rater's answers below."""
    body = f"""<h1>Review {escape(review_id)}</h1>
<p class="muted">Job {escape(job)} · template {escape(template)} ·
<a href="/reviews/{escape(review_id)}/ratings.csv">ratings.csv</a> ·
<a href="/reviews/{escape(review_id)}/ratings.jsonl">ratings.jsonl</a></p>
<section id="who"><form id="rater-form"><label>Your name <input id="rater" name="rater" maxlength="100" required
autocomplete="name"></label> <button type="submit">Start rating</button></form></section>
<section id="rating" hidden>
<p><strong id="position"></strong> <span id="item-id" class="muted"></span> <span id="done" class="muted"></span></p>
<h3>Instruction</h3><pre id="instruction"></pre><h3>Input</h3><pre id="input"></pre>
<h3>Output</h3><pre id="output"></pre>
<div id="criteria"></div>
<p><label>Note (optional)<br><textarea id="note" rows="2" cols="80" maxlength="4000"></textarea></label></p>
<p><button id="back" type="button">&larr; Back</button>
<button id="next" type="button">Save &amp; next &rarr;</button></p>
<p id="status" class="status"></p>
<p class="muted">Keys: <kbd>y</kbd>/<kbd>n</kbd> or <kbd>1</kbd>-<kbd>5</kbd> answer the highlighted criterion,
<kbd>&uarr;</kbd>/<kbd>&darr;</kbd> move between criteria, <kbd>Enter</kbd> or <kbd>&rarr;</kbd> save and go on,
<kbd>&larr;</kbd> go back, <kbd>Esc</kbd> leaves the note field.</p></section>
<section><h2>Summary</h2><div id="summary"><p class="muted">Loading...</p></div>
<p class="muted">Pass: yes, or 4-5 on a 1-5 scale. Each item's verdict is its raters' majority (a tie does not
pass); intervals are 95% Wilson intervals. Cohen's kappa per pair of raters over the items both rated; Fleiss'
kappa over the items all raters rated, with 3 raters or more.</p></section>"""
    return _app("rate", body, review=review_id)
