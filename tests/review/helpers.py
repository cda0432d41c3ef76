"""A real daemon with one finished job on the simulated endpoint, for the review API and page tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from service.helpers import Daemon, job_spec, sim_backend, to_toml


def daemon_with_job(tmp_path: Path, sim_url: str, *, port: int | None = None, config: dict[str, Any] | None = None,
                    extra_toml: str = "", num_instructions: int = 24) -> tuple[Daemon, str]:
    """Start ``selfinstruct serve`` with the simulator as backend "sim", run one job to the end; (daemon, job id).

    ``extra_toml`` is appended to the service config as written (the helper's TOML writer has no inline tables).
    """
    table = {"backends": {"sim": sim_backend(sim_url, rpm=6000, max_concurrency=8)}, **(config or {})}
    path = tmp_path / "review-service.toml"
    path.write_text(to_toml(table) + extra_toml)
    daemon = Daemon(tmp_path / "state", port=port, args=("--config", str(path))).start()
    job = daemon.submit(job_spec(num_instructions=num_instructions))
    daemon.wait_state(job, ("done",), timeout=120)
    return daemon, job
