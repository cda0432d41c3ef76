"""The web dashboard: server-rendered pages over the job API (jobs, one job, data browser) and their shared layout.

    GET /                        the jobs page
    GET /ui/jobs-table           its table, as an HTML fragment (the page's live refresh)
    GET /ui/jobs/{id}            one job: numbers, charts, endpoint health, result files
    GET /ui/jobs/{id}/live       its moving part, as an HTML fragment
    GET /ui/jobs/{id}/data       the data browser (?view=accepted|rejected&q=&reason=&page=)
    POST /login, /logout         set or clear the session cookie (``auth``)

Only our own HTML, CSS and JavaScript; nothing is fetched from anywhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from selfinstruct.service.dashboard import auth
from selfinstruct.service.dashboard.data import data_page
from selfinstruct.service.dashboard.job import job_live, job_page
from selfinstruct.service.dashboard.jobs import jobs_page, jobs_table
from selfinstruct.service.dashboard.series import SeriesBook
from selfinstruct.service.dashboard.state import MANAGER, SERIES

__all__ = ["add_dashboard"]


def add_dashboard(app: web.Application, *, token: str | None, sample_interval: float = 2.0) -> None:
    """Register the pages on ``app`` (whose ``MANAGER`` is set) and sample its jobs while it serves."""
    app[SERIES] = SeriesBook(app[MANAGER], interval=sample_interval)
    if token:
        app[auth.TOKEN] = token
    app.router.add_get("/", jobs_page)
    app.router.add_get("/ui/jobs-table", jobs_table)
    app.router.add_get("/ui/jobs/{id}", job_page)
    app.router.add_get("/ui/jobs/{id}/live", job_live)
    app.router.add_get("/ui/jobs/{id}/data", data_page)
    app.router.add_post("/login", auth.login)
    app.router.add_post("/logout", auth.logout)
    app.cleanup_ctx.append(_sampling)


async def _sampling(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.get_running_loop().create_task(app[SERIES].run(), name="dashboard-series")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
