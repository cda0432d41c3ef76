"""Helpers for engine tests: request files, output reading, the CLI as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


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


def wait_for_lines(path: Path, n: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    """Wait until ``path`` has ``n`` lines, failing at once if ``proc`` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().count("\n") >= n:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError(f"{path} never reached {n} lines")
