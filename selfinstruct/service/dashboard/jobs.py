"""The jobs page: every job's state, progress against its target with an ETA, req/s, 429s and cost, with
pause/resume/cancel buttons and a form that submits a job to a configured backend.

The table is rendered here, once; the page's script re-fetches it as an HTML
fragment (``/ui/jobs-table``) every two seconds and swaps it in, so the
numbers move without a reload. Buttons and the form call the JSON API
(``POST /jobs``, ``POST /jobs/{id}/ACTION``) with ``fetch``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from selfinstruct.service.backends import public_view
from selfinstruct.service.dashboard.layout import esc, page, respond
from selfinstruct.service.dashboard.state import MANAGER, SERIES
from selfinstruct.service.states import action_target

__all__ = ["jobs_page", "jobs_table", "duration", "money"]

ACTIONS = ("pause", "resume", "cancel")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def money(value: Any) -> str:
    return f"${value:.4f}" if isinstance(value, (int, float)) else "–"


def _row(view: dict[str, Any], eta: float | None) -> str:
    job_id, state, stats, progress = view["id"], view["state"], view["stats"], view["progress"]
    accepted, target = progress["accepted_instructions"], progress["target_instructions"]
    fraction = progress["fraction"] or 0.0
    buttons = "".join(
        f'<button data-action="{a}" data-job="{esc(job_id)}"'
        f'{"" if action_target(a, state) is not None else " disabled"}>{a.capitalize()}</button> '
        for a in ACTIONS)
    rps = stats.get("requests_per_s") if view["active"] else None
    down = " <span class=down title='endpoint down'>● endpoint down</span>" if view["endpoint_down_since"] else ""
    return (f'<tr id="job-{esc(job_id)}" data-state="{esc(state)}">'
            f'<td><a class=mono href="/ui/jobs/{esc(job_id)}">{esc(job_id)}</a></td>'
            f'<td><span class="state state-{esc(state)}">{esc(state)}</span>{down}</td>'
            f'<td>{esc(str(view["spec"].get("backend", "")))}</td>'
            f'<td class=mono>{esc(str(stats.get("model") or view["spec"].get("model") or ""))}</td>'
            f'<td><div class=progress-text>{accepted} / {target} accepted ({fraction:.0%})</div>'
            f'<div class=bar><span style="width:{fraction * 100:.1f}%"></span></div></td>'
            f'<td class=num>{duration(eta) if view["active"] else "–"}</td>'
            f'<td class=num>{rps if rps is not None else "–"}</td>'
            f'<td class=num>{stats.get("rate_limited_429", 0)}</td>'
            f'<td class=num>{money(stats.get("cost_usd_estimate"))}</td>'
            f"<td>{buttons}</td></tr>")


def table_html(request: web.Request) -> str:
    manager, series = request.app[MANAGER], request.app[SERIES]
    rows = [_row(manager.view(rec), series.eta(rec.id)) for rec in reversed(manager.store.all())]
    head = "".join(f"<th{' class=num' if n else ''}>{h}</th>" for h, n in (
        ("Job", 0), ("State", 0), ("Backend", 0), ("Model", 0), ("Progress", 0), ("ETA", 1), ("req/s", 1),
        ("429s", 1), ("Cost", 1), ("", 0)))
    body = "".join(rows) or '<tr><td colspan=10 class=muted>No jobs yet: submit one below.</td></tr>'
    return f"<table id=jobs><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _form(request: web.Request) -> str:
    backends = [public_view(b) for _, b in sorted(request.app[MANAGER].backends.items())]
    if not backends:
        return ("<p class=muted>No backends are configured, so no job can run: start the service with "
                "<span class=mono>--config service.toml</span> ([backends.NAME] tables) or "
                "<span class=mono>--backend NAME=URL</span>.</p>")
    options = "".join(f'<option value="{esc(b["name"])}">{esc(b["name"])} – {esc(b["api_base"])}</option>'
                      for b in backends)
    models = sorted({m for b in backends for m in (b["models"] or ())})
    model_list = "".join(f'<option value="{esc(m)}">' for m in models)
    return (f'<form id=submit class=inline><label>Backend<select name=backend>{options}</select></label>'
            f'<label>Model<input name=model list=models required value="{esc(models[0]) if models else ""}">'
            f"<datalist id=models>{model_list}</datalist></label>"
            f"<label>Instructions<input name=num_instructions type=number min=1 value=100 required></label>"
            f"<label>Seed<input name=seed type=number value=0></label>"
            f"<button class=primary type=submit>Submit job</button></form>"
            f"<p id=submit-msg class=msg></p>")


_SCRIPT = """
async function refresh() {
  try {
    const r = await fetch('/ui/jobs-table', {credentials: 'same-origin'});
    if (r.ok) { document.getElementById('jobs-wrap').innerHTML = await r.text(); }
  } catch (e) { /* the daemon restarts: try again at the next tick */ }
}
async function api(method, path, body) {
  const r = await fetch(path, {method, credentials: 'same-origin',
    headers: {'Content-Type': 'application/json'}, body: body === undefined ? undefined : JSON.stringify(body)});
  const data = await r.json().catch(() => ({}));
  if (!r.ok) { throw new Error(data.error || ('HTTP ' + r.status)); }
  return data;
}
document.getElementById('jobs-wrap').addEventListener('click', async (ev) => {
  const b = ev.target.closest('button[data-action]');
  if (!b) { return; }
  b.disabled = true;
  try { await api('POST', '/jobs/' + b.dataset.job + '/' + b.dataset.action); }
  catch (e) { alert(e.message); }
  refresh();
});
const form = document.getElementById('submit');
if (form) {
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const msg = document.getElementById('submit-msg');
    const spec = {kind: 'generate', backend: form.backend.value, model: form.model.value,
                  num_instructions: Number(form.num_instructions.value), seed: Number(form.seed.value)};
    try {
      const job = await api('POST', '/jobs', spec);
      msg.className = 'msg'; msg.textContent = 'submitted job ' + job.id;
    } catch (e) { msg.className = 'msg error'; msg.textContent = e.message; }
    refresh();
  });
}
setInterval(refresh, 2000);
"""


async def jobs_page(request: web.Request) -> web.Response:
    body = (f"<h1>Jobs</h1><div id=jobs-wrap>{table_html(request)}</div>"
            f"<h2>Submit a job</h2><div class=card>{_form(request)}</div>")
    return respond(page("Jobs", body, script=_SCRIPT, nav="/"))


async def jobs_table(request: web.Request) -> web.Response:
    return respond(table_html(request))
