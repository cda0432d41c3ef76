"""The `selfinstruct complete` client processes that the replica and shared-limits benchmarks start, and their ids.

Both benchmarks run the real CLI as a separate process against `selfinstruct
simulate` processes, so they start it the same way (this checkout's code,
progress lines off, stderr kept for the result) and check exactly-once the
same way (the ids in its output file).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from engine_bench import PY, REPO


def start_complete(inp: Path, out: Path, *flags: str) -> subprocess.Popen:
    """``selfinstruct complete inp --out out --model sim --progress-interval 3600 *flags``, stderr piped."""
    cmd = [PY, "-m", "selfinstruct", "complete", str(inp), "--out", str(out), "--model", "sim",
           "--progress-interval", "3600", *flags]
    return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=str(REPO)))


def output_ids(out: Path) -> list[str]:
    """The ``id`` of every line of an output file, in order (repeats kept)."""
    return [json.loads(line)["id"] for line in out.read_text().splitlines()]
