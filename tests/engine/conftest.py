"""Fixtures for engine tests: a real simulated endpoint on 127.0.0.1 and request files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from workers.simulated import SimConfig, start_in_thread

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def sim():
    """Start a simulated endpoint with the given SimConfig fields; stopped at teardown."""
    running = []

    def start(**kwargs):
        server = start_in_thread(SimConfig(**kwargs))
        running.append(server)
        return server

    yield start
    for server in running:
        server.stop()


def write_requests(path: Path, n: int, *, chat_every: int = 0, params: dict | None = None) -> list[dict]:
    rows = []
    for i in range(n):
        row = {"id": f"req-{i:05d}"}
        prompt = f"Say something about item {i}"
        if chat_every and i % chat_every == 0:
            row["messages"] = [{"role": "user", "content": prompt}]
        else:
            row["prompt"] = prompt
        if params:
            row["params"] = params
        rows.append(row)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def read_output(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def cli(*args: str, env: dict | None = None, **kwargs) -> subprocess.Popen:
    """Start `selfinstruct ...` as a real process (so it can be signalled or killed)."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "selfinstruct", *args], cwd=REPO, env=full_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)
