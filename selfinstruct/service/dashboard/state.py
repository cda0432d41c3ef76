"""The service's keys on the aiohttp app: the job manager (API and dashboard) and the dashboard's time series.

They live here, below both ``service.app`` and the dashboard's pages, so each can import them.
"""

from __future__ import annotations

from aiohttp import web

from selfinstruct.service.dashboard.series import SeriesBook
from selfinstruct.service.manager import JobManager

__all__ = ["MANAGER", "SERIES"]

MANAGER = web.AppKey("manager", JobManager)
SERIES = web.AppKey("dashboard_series", SeriesBook)
