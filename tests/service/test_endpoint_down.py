"""A job whose endpoint is down: `running` with endpoint_down_since, the selfinstruct_endpoint_up gauge, and
`failed` with the outage message once the run gives up after max_outage.
"""

from __future__ import annotations

import asyncio
import time

from selfinstruct.engine.shutdown import Shutdown
from selfinstruct.engine.stats import EngineStats
from selfinstruct.errors import EndpointDown
from selfinstruct.service.manager import JobManager, LiveJob, _run_end
from selfinstruct.service.metrics import build_registry, render
from selfinstruct.service.states import end_state
from selfinstruct.service.store import JobStore


async def test_a_running_job_shows_when_its_endpoint_went_down(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite3").open()
    try:
        manager = JobManager(store, tmp_path / "jobs", environ={})
        rec = store.add({"num_instructions": 5}, state="running")
        stats = EngineStats(model="sim")
        never = asyncio.get_running_loop().create_future()
        task = asyncio.ensure_future(never)
        manager.live[rec.id] = LiveJob(id=rec.id, task=task, shutdown=Shutdown(), stats=stats, prices=None)
        manager.stats[rec.id] = stats
        registry = build_registry(manager)

        view = manager.view(store.get(rec.id))
        assert view["state"] == "running" and view["endpoint_down_since"] is None
        assert f'selfinstruct_endpoint_up{{job="{rec.id}"}} 1.0' in render(registry).decode()

        stats.endpoint_down_since = time.time() - 42
        view = manager.view(store.get(rec.id))
        assert view["state"] == "running"
        assert view["endpoint_down_since"] == time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                            time.gmtime(stats.endpoint_down_since))
        assert view["stats"]["endpoint_up"] is False
        assert f'selfinstruct_endpoint_up{{job="{rec.id}"}} 0.0' in render(registry).decode()
        task.cancel()
    finally:
        store.close()


async def test_a_run_that_gives_up_after_max_outage_fails_the_job_with_the_message():
    async def run() -> None:
        raise EndpointDown("http://127.0.0.1:9/v1/completions: the endpoint has been down for 600 s (since "
                           "2026-01-01T00:00:00Z), longer than max_outage 600 s. Nothing is lost: rerun (or "
                           "resume the job) to continue where it stopped", down_since=0.0, duration=600.0)

    task = asyncio.ensure_future(run())
    await asyncio.gather(task, return_exceptions=True)
    state, error = end_state(_run_end("job-1", task, None), None)
    assert state == "failed"
    assert "down for 600 s" in error and "resume" in error
