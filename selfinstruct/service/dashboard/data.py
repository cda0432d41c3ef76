"""The data browser of one job: accepted instructions with their classification and instances, paged and
searchable, and rejected items filterable by reason, each with its nearest accepted neighbour by ROUGE-L.

Plain GET pages (the search is a GET form), read from the run directory as it
is on disk at each request, so they work while the job runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from urllib.parse import urlencode

from aiohttp import web

from selfinstruct.service.dashboard.layout import esc, page, respond
from selfinstruct.service.dashboard.runview import Accepted, Page, RejectRow, RunView
from selfinstruct.service.dashboard.state import MANAGER

__all__ = ["data_page", "PAGE_SIZE"]

PAGE_SIZE = 25


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _pager(base: str, params: dict[str, str], shown: Page) -> str:
    def link(n: int, label: str) -> str:
        return f'<a href="{esc(base + "?" + urlencode({**params, "page": n}))}">{label}</a>'

    prev = link(shown.page - 1, "← previous") if shown.page > 1 else "<span class=muted>← previous</span>"
    nxt = link(shown.page + 1, "next →") if shown.page < shown.pages else "<span class=muted>next →</span>"
    return (f"<div class=pager>{prev}<span>page {shown.page} of {shown.pages} · "
            f"<span id=total>{shown.total}</span> items</span>{nxt}</div>")


def _accepted_row(a: Accepted) -> str:
    label = {True: "classification", False: "generation", None: "not classified yet"}[a.is_classification]
    instances = "".join(
        f'<li><span class=muted>input:</span> <pre>{esc(str(i.get("input", "")) or "(none)")}</pre>'
        f'<span class=muted>output:</span> <pre>{esc(str(i.get("output", "")))}</pre></li>'
        for i in a.instances) or "<li class=muted>no instances yet</li>"
    return (f"<tr class=accepted><td class=instruction>{esc(a.instruction)}</td><td>{label}</td>"
            f"<td><details><summary>{len(a.instances)}</summary><ul class=small>{instances}</ul></details></td></tr>")


def _reject_row(r: RejectRow) -> str:
    neighbour = esc(r.neighbour) if r.neighbour else "<span class=muted>–</span>"
    score = f"{r.rouge_l:.3f}" if r.rouge_l is not None else "–"
    if r.pool_neighbour is not None:
        at = f"{r.pool_rouge_l:.3f}" if r.pool_rouge_l is not None else "?"
        neighbour += (f'<div class="small muted">when rejected: {at} against '
                      f"<q>{esc(r.pool_neighbour)}</q> (pool, seeds included)</div>")
    return (f"<tr class=rejected><td><span class=mono>{esc(r.stage)}:{esc(r.reason)}</span></td>"
            f"<td>{_text(r.text)}</td><td>{neighbour}</td><td class=num>{score}</td></tr>")


def _text(text: str, limit: int = 300) -> str:
    """A long text (a whole cut-off answer) folds away after ``limit`` characters."""
    if not text:
        return "<pre>(empty)</pre>"
    if len(text) <= limit:
        return f"<pre>{esc(text)}</pre>"
    return f"<details><summary><pre>{esc(text[:limit])}…</pre></summary><pre>{esc(text)}</pre></details>"


async def data_page(request: web.Request) -> web.Response:
    manager = request.app[MANAGER]
    job_id = request.match_info["id"]
    rec = manager.get(job_id)
    # Parsing a large run's files and scoring ROUGE-L take a while: off the event loop, which runs the jobs.
    body = await asyncio.to_thread(_body, RunView(manager.run_dir(job_id)), job_id, rec.state, request.query)
    return respond(page(f"Data of job {job_id}", body))


def _body(run: RunView, job_id: str, state: str, q: Mapping[str, str]) -> str:
    view = "rejected" if q.get("view") == "rejected" else "accepted"
    query, reason, number = q.get("q", ""), q.get("reason", ""), _int(q.get("page"), 1)
    base = f"/ui/jobs/{job_id}/data"
    tabs = " · ".join(f'<a href="{esc(base)}?view={v}"{" class=current" if v == view else ""}>{v}</a>'
                      for v in ("accepted", "rejected"))
    search = (f'<form class=inline method=get action="{esc(base)}"><input type=hidden name=view value={view}>'
              f'<label>Search<input name=q value="{esc(query)}" placeholder="words in the text"></label>')
    if view == "accepted":
        shown = run.accepted(query=query, page=number, size=PAGE_SIZE)
        rows = "".join(_accepted_row(a) for a in shown.items)
        table = ("<table id=data><thead><tr><th>Instruction</th><th>Type</th><th>Instances</th></tr></thead>"
                 f"<tbody>{rows or '<tr><td colspan=3 class=muted>nothing matches (yet)</td></tr>'}</tbody></table>")
        params = {"view": view, "q": query}
    else:
        reasons = run.reject_reasons()
        options = "".join(f'<option value="{esc(r)}"{" selected" if r == reason else ""}>{esc(r)} ({n})</option>'
                          for r, n in sorted(reasons.items()))
        search += f'<label>Reason<select name=reason><option value="">all</option>{options}</select></label>'
        shown = run.rejected(reason=reason, query=query, page=number, size=PAGE_SIZE)
        rows = "".join(_reject_row(r) for r in shown.items)
        table = ("<table id=data><colgroup><col style='width:20%'><col style='width:38%'><col style='width:35%'>"
                 "<col style='width:7%'></colgroup><thead><tr><th>Reason</th><th>Rejected text</th>"
                 "<th>Nearest accepted instruction</th><th class=num>ROUGE-L</th></tr></thead>"
                 f"<tbody>{rows or '<tr><td colspan=4 class=muted>nothing matches (yet)</td></tr>'}</tbody></table>")
        params = {"view": view, "q": query, "reason": reason}
    search += "<button type=submit>Show</button></form>"
    running = (" The job is running: its files are rewritten every few seconds; reload to see more."
               if state == "running" else "")
    return (f'<h1>Data of job <a class=mono href="/ui/jobs/{esc(job_id)}">{esc(job_id)}</a></h1>'
            f"<p>{tabs}</p><p class='small muted'>Read from the run directory's files.{running}</p>"
            f"<div class=card>{search}</div>{_pager(base, params, shown)}{table}{_pager(base, params, shown)}")
