"""The one-job page: its numbers, throughput and acceptance over time, rejects by reason, the endpoint's
health, and links to its result files and data browser.

Everything that moves is in one fragment (``/ui/jobs/{id}/live``) that the
page's script re-fetches every two seconds.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from selfinstruct.runfiles import STATE
from selfinstruct.service.dashboard.charts import bar_chart, line_chart
from selfinstruct.service.dashboard.jobs import duration, money
from selfinstruct.service.dashboard.layout import esc, page, respond
from selfinstruct.service.dashboard.state import MANAGER, SERIES

__all__ = ["job_page", "job_live"]


def _utc(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))


def _health(view: dict[str, Any]) -> str:
    stats = view["stats"]
    errors = ", ".join(f"{esc(str(k))}: {v}" for k, v in sorted((stats.get("errors") or {}).items())) or "none"
    if not view["active"]:
        status = "<span class=muted>not running (no live connection to watch)</span>"
    elif view["endpoint_down_since"]:
        status = (f"<span class=down>● down since {esc(view['endpoint_down_since'])}</span> – the circuit "
                  f"breaker is open; the job waits and probes until the endpoint answers again")
    else:
        status = "<span class=up>● up</span> – circuit breaker closed"
    return (f"<dl class=kv><dt>Endpoint</dt><dd>{status}</dd>"
            f"<dt>Errors by kind</dt><dd class=small>{errors}</dd>"
            f"<dt>Retries</dt><dd>{stats.get('retries', 0)}</dd>"
            f"<dt>429s</dt><dd>{stats.get('rate_limited_429', 0)}</dd>"
            f"<dt>Concurrency window</dt><dd>{stats.get('concurrency_window', '–')}</dd>"
            f"<dt>In flight</dt><dd>{stats.get('in_flight', 0)}</dd></dl>")


def _numbers(view: dict[str, Any], eta: float | None) -> str:
    stats, progress = view["stats"], view["progress"]
    rows = (
        ("State", f'<span class="state state-{esc(view["state"])}">{esc(view["state"])}</span>'),
        ("Accepted", f'<span id=accepted>{progress["accepted_instructions"]} / {progress["target_instructions"]}'
                     f'</span>'),
        ("Classified", progress["classified"]),
        ("With instances", progress["instructions_with_instances"]),
        ("Rejected", progress["rejected"]),
        ("ETA", duration(eta) if view["active"] else "–"),
        ("Requests", f'{stats.get("done", 0)} answered, {stats.get("failed", 0)} failed, '
                     f'{stats.get("calls", 0)} calls'),
        ("req/s · tok/s", f'{stats.get("requests_per_s", "–")} · {stats.get("tokens_per_s", "–")}'),
        ("Tokens", f'{stats.get("prompt_tokens", 0)} prompt, {stats.get("completion_tokens", 0)} completion'),
        ("Cost so far", money(stats.get("cost_usd_estimate"))),
    )
    error = f'<dt>Error</dt><dd class=down>{esc(view["error"])}</dd>' if view["error"] else ""
    return "<dl class=kv>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows) + error + "</dl>"


def live_html(request: web.Request, job_id: str) -> str:
    manager, book = request.app[MANAGER], request.app[SERIES]
    view = manager.view(manager.get(job_id))
    series = book.jobs.get(job_id)
    rates = series.rates() if series else {}
    acceptance = series.acceptance() if series else {}
    rejects = view["stats"].get("rejects_by_reason") or {}
    note = "" if series else ("<p class=small muted>The charts over time cover runs watched by this daemon "
                              "process; this job has not run since it started.</p>")
    return (f"<div class=grid><div class=card><h2>Progress</h2>{_numbers(view, book.eta(job_id))}</div>"
            f"<div class=card><h2>Endpoint health</h2>{_health(view)}</div></div>"
            f"<div class=grid><div class=card><h2>Throughput</h2>"
            f"{line_chart(rates, title='requests and accepted instructions per second')}</div>"
            f"<div class=card><h2>Acceptance</h2>"
            f"{line_chart(acceptance, title='share of produced instructions accepted, percent')}</div></div>"
            f"{note}<div class=card><h2>Rejects by reason</h2>"
            f"{bar_chart(rejects, title='rejected items by stage:reason', width=1100)}</div>")


_SCRIPT = """
const live = document.getElementById('live');
setInterval(async () => {
  try {
    const r = await fetch(live.dataset.src, {credentials: 'same-origin'});
    if (r.ok) { live.innerHTML = await r.text(); }
  } catch (e) { /* try again at the next tick */ }
}, 2000);
"""


async def job_page(request: web.Request) -> web.Response:
    manager = request.app[MANAGER]
    job_id = request.match_info["id"]
    view = manager.view(manager.get(job_id))
    run_dir = manager.run_dir(job_id)
    files = sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*")
                   if p.is_file() and not p.name.startswith(STATE)) if run_dir.is_dir() else []
    links = "".join(f'<li><a class=mono href="/jobs/{esc(job_id)}/output?file={esc(f)}">{esc(f)}</a></li>'
                    for f in files) or "<li class=muted>none yet (a running job writes them every few seconds)</li>"
    spec = view["spec"]
    body = (f'<h1>Job <span class=mono>{esc(job_id)}</span></h1>'
            f'<p class=muted>{esc(str(spec.get("backend", "")))} · <span class=mono>'
            f'{esc(str(spec.get("model", "")))}</span> · created {_utc(view["created"])} · '
            f'runs {view["runs"]} · <a href="/ui/jobs/{esc(job_id)}/data">browse the data</a> · '
            f'<a href="/jobs/{esc(job_id)}">JSON</a></p>'
            f'<div id=live data-src="/ui/jobs/{esc(job_id)}/live">{live_html(request, job_id)}</div>'
            f"<div class=card><h2>Result files</h2><ul>{links}</ul></div>")
    return respond(page(f"Job {job_id}", body, script=_SCRIPT))


async def job_live(request: web.Request) -> web.Response:
    return respond(live_html(request, request.match_info["id"]))
