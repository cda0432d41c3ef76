"""A state written before fingerprints and request hashes resumes: old answers are kept, a changed one is re-asked."""

from __future__ import annotations

import json
import sqlite3

import pytest

from tests.engine.conftest import cli, read_output

OLD_SCHEMA = """
CREATE TABLE results (id TEXT PRIMARY KEY, status INTEGER NOT NULL, request BLOB, response BLOB, error TEXT,
                      attempts INTEGER NOT NULL DEFAULT 0, done_seq INTEGER);
CREATE TABLE records (kind TEXT NOT NULL, key TEXT NOT NULL, seq INTEGER NOT NULL, data BLOB NOT NULL,
                      PRIMARY KEY (kind, key));
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@pytest.mark.timeout(120)
def test_a_state_from_before_hashes_resumes_and_re_asks_only_the_changed_request(sim, tmp_path):
    server = sim()
    requests = [{"id": f"r{i}", "prompt": f"question {i}", "params": {"max_tokens": 16, "temperature": 0}}
                for i in range(3)]
    out = tmp_path / "out.jsonl"
    lines = b""
    with sqlite3.connect(tmp_path / "out.state.sqlite3") as conn:
        conn.executescript(OLD_SCHEMA)
        for seq, req in enumerate(requests, start=1):
            # Key order differs from the input file: the hash must not depend on it.
            stored = {"params": {"temperature": 0, "max_tokens": 16}, "prompt": req["prompt"], "id": req["id"]}
            answer = {"text": f"old answer {seq}", "finish_reason": "stop", "usage": {}}
            conn.execute("INSERT INTO results VALUES(?,?,?,?,NULL,1,?)",
                         (req["id"], 1, json.dumps(stored).encode(), json.dumps(answer).encode(), seq))
            lines += json.dumps({"id": req["id"], **answer}).encode() + b"\n"
        out.write_bytes(lines)
        conn.execute("INSERT INTO meta VALUES('export.seq', '3')")
        conn.execute("INSERT INTO meta VALUES('export.size', ?)", (str(len(lines)),))
    requests[1]["prompt"] = "a changed question"
    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in requests))
    proc = cli("complete", str(inp), "--out", str(out), "--api-base", server.url, "--model", "sim")
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, err
    assert server.stats()["requests"] == 1
    got = {r["id"]: r for r in read_output(out)}
    assert [got[f"r{i}"]["text"] for i in range(3)] == ["old answer 1", "Echo: a changed question", "old answer 3"]
    assert "model" not in got["r0"] and got["r1"]["model"] == "sim"
