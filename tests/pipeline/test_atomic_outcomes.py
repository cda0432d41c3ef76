"""A SIGKILL at any moment leaves no answer without the records derived from it (they commit together)."""

from __future__ import annotations

import signal
import sqlite3
import time

import pytest

from tests.engine.conftest import cli

# Done answers whose derived records are missing: a generation answer without its processed mark,
# a label or instances answer without its record (keyed by the request id after the prefix).
ORPHANS = """
SELECT id FROM results WHERE status=1 AND (
    (substr(id, 1, 4)='gen-' AND id NOT IN (SELECT key FROM records WHERE kind='processed'))
 OR (substr(id, 1, 4)='clf-' AND substr(id, 5) NOT IN (SELECT key FROM records WHERE kind='clf'))
 OR (substr(id, 1, 5)='inst-' AND substr(id, 6) NOT IN (SELECT key FROM records WHERE kind='instances')))
"""


@pytest.mark.timeout(180)
def test_sigkill_leaves_every_committed_answer_with_its_records(sim, tmp_path):
    server = sim(latency_ms=20)
    run = tmp_path / "run"
    proc = cli("generate", "--out", str(run), "--api-base", server.url, "--model", "sim", "--num-instructions", "400",
               "--max-concurrency", "16")
    state = run / "state.sqlite3"
    deadline = time.monotonic() + 120
    n = 0
    while n < 30 and time.monotonic() < deadline:
        time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        try:
            conn = sqlite3.connect(state)
            n = conn.execute("SELECT COUNT(*) FROM records WHERE kind='instances'").fetchone()[0]
            conn.close()
        except sqlite3.Error:
            continue
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    conn = sqlite3.connect(state)
    try:
        assert conn.execute(ORPHANS).fetchall() == []
        accepted = conn.execute("SELECT SUM(json_extract(data, '$.accepted')) FROM records "
                                "WHERE kind='processed'").fetchone()[0]
        assert accepted == conn.execute("SELECT COUNT(*) FROM records WHERE kind='instruction'").fetchone()[0]
    finally:
        conn.close()
