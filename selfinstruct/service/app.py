"""The HTTP API (aiohttp): jobs, their result files, health, metrics, and the bearer-token gate.

    GET  /healthz                      always open, even with a token
    GET  /metrics                      Prometheus text
    GET  /backends                     {"backends": [...]}: names, api_base, models, limits (never keys)
    POST /jobs                         {"kind": "generate", "backend": NAME, ...settings} -> 201 {"id": ...}
    GET  /jobs                         {"jobs": [...]}
    GET  /jobs/{id}                    {"id", "state", "progress", "stats", "error", ...}
    POST /jobs/{id}/pause|resume|cancel
    GET  /jobs/{id}/output             {"files": [...]}; ?file=NAME streams one file of the run directory
    GET  /, /ui/...                    the dashboard's HTML pages (``selfinstruct.service.dashboard``)
    POST /login, /logout               the dashboard's session cookie (``dashboard.auth``)

With a token, every route but /healthz needs it as a bearer header or as the
dashboard's session cookie (``dashboard.auth``).

Errors are JSON ``{"error": message}`` with 400 (bad spec, bad file name),
401 (token), 403 (foreign Origin), 404 (no such job or file), 409 (action not
valid in this state), 413 (body too large), 415 (a write that is not JSON) and
421 (foreign Host); see ``hygiene`` for the last four.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from selfinstruct.errors import ConfigError, InputError
from selfinstruct.runfiles import STATE
from selfinstruct.service.backends import public_view
from selfinstruct.service.config import DEFAULT_MAX_BODY
from selfinstruct.service.dashboard import add_dashboard
from selfinstruct.service.dashboard.auth import auth_middleware
from selfinstruct.service.dashboard.state import MANAGER
from selfinstruct.service.hygiene import HostPolicy, hygiene_middleware
from selfinstruct.service.manager import Conflict, JobManager, UnknownJob
from selfinstruct.service.metrics import build_registry, render
from selfinstruct.service.reviews import add_review_routes
from selfinstruct.service.spec import validate_spec

__all__ = ["build_app", "result_path", "BadFileName"]

_REGISTRY = web.AppKey("registry", object)
_PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class BadFileName(ValueError):
    """A requested result file name that leaves the run directory or names the checkpoint."""


def result_path(run_dir: Path, name: str) -> Path:
    """The file ``name`` inside ``run_dir``; BadFileName for anything that could reach outside it."""
    if not name or "\x00" in name or "\\" in name:
        raise BadFileName("file must be a relative path inside the job's run directory")
    rel = Path(name)
    if not rel.parts or rel.is_absolute() or ".." in rel.parts:
        raise BadFileName(f"file must be a relative path inside the job's run directory, got {name!r}")
    if rel.parts[0].startswith(STATE):  # the checkpoint and its -wal, -shm and .lock companions
        raise BadFileName(f"{name!r} is the job's checkpoint database, not a result file")
    root = run_dir.resolve()
    path = (root / rel).resolve()  # follows symlinks, so a link out of the directory is caught too
    if not path.is_relative_to(root):
        raise BadFileName(f"file {name!r} resolves outside the job's run directory")
    return path


def _json(data: Any, status: int = 200, **kwargs: Any) -> web.Response:
    return web.Response(body=orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS), status=status,
                        content_type="application/json", **kwargs)


def _error(status: int, message: str, **kwargs: Any) -> web.Response:
    return _json({"error": message}, status=status, **kwargs)


@web.middleware
async def _errors_middleware(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
    try:
        return await handler(request)
    except UnknownJob as exc:
        return _error(404, str(exc))
    except Conflict as exc:
        return _error(409, str(exc))


async def healthz(request: web.Request) -> web.Response:
    manager = request.app[MANAGER]
    return _json({"status": "ok", "running_jobs": len(manager.live)})


async def metrics(request: web.Request) -> web.Response:
    body = render(request.app[_REGISTRY])  # type: ignore[arg-type]
    return web.Response(body=body, headers={"Content-Type": _PROMETHEUS_TYPE})


async def submit_job(request: web.Request) -> web.Response:
    raw = await request.read()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return _error(400, f"the body is not valid JSON: {exc}")
    manager = request.app[MANAGER]
    try:
        spec = validate_spec(body, backends=manager.backends, seeds_dir=manager.seeds_dir)
    except (ConfigError, InputError) as exc:
        return _error(400, str(exc))
    rec = manager.submit(spec)
    return _json({"id": rec.id, "state": rec.state}, status=201, headers={"Location": f"/jobs/{rec.id}"})


async def list_backends(request: web.Request) -> web.Response:
    backends = request.app[MANAGER].backends
    return _json({"backends": [public_view(b) for _, b in sorted(backends.items())]})


async def list_jobs(request: web.Request) -> web.Response:
    manager = request.app[MANAGER]
    return _json({"jobs": [manager.view(rec) for rec in manager.store.all()]})


async def get_job(request: web.Request) -> web.Response:
    manager = request.app[MANAGER]
    return _json(manager.view(manager.get(request.match_info["id"])))


async def job_action(request: web.Request) -> web.Response:
    manager = request.app[MANAGER]
    rec = manager.act(request.match_info["id"], request.match_info["action"])
    return _json(manager.view(rec))


async def job_output(request: web.Request) -> web.StreamResponse:
    manager = request.app[MANAGER]
    run_dir = manager.run_dir(request.match_info["id"])
    name = request.query.get("file")
    if name is None:
        files = sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*")
                       if p.is_file() and not p.name.startswith(STATE)) if run_dir.is_dir() else []
        return _json({"files": files})
    try:
        path = result_path(run_dir, name)
    except BadFileName as exc:
        return _error(400, str(exc))
    if not path.is_file():
        return _error(404, f"no file {name!r} in the job's run directory (yet: a running job's files are "
                           f"refreshed every export_interval seconds, 5 by default)")
    return web.FileResponse(path, headers={"Content-Disposition": f'attachment; filename="{path.name}"'})


def build_app(manager: JobManager, *, hosts: HostPolicy, token: str | None = None, origins: tuple[str, ...] = (),
              max_body: int = DEFAULT_MAX_BODY, review_templates: dict[str, Any] | None = None) -> web.Application:
    middlewares = [hygiene_middleware(hosts, origins=origins, max_body=max_body, reply=_error)]
    if token:
        middlewares.append(auth_middleware(token, _error))
    app = web.Application(middlewares=[*middlewares, _errors_middleware], client_max_size=max_body)
    app[MANAGER] = manager
    app[_REGISTRY] = build_registry(manager)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/backends", list_backends)
    app.router.add_post("/jobs", submit_job)
    app.router.add_get("/jobs", list_jobs)
    app.router.add_get("/jobs/{id}", get_job)
    app.router.add_post("/jobs/{id}/{action:pause|resume|cancel}", job_action)
    app.router.add_get("/jobs/{id}/output", job_output)
    add_dashboard(app, token=token)
    add_review_routes(app, review_templates)  # /jobs/{id}/reviews, /reviews/*: see service.reviews
    return app
