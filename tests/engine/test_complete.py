"""`selfinstruct complete` end to end over real loopback HTTP against the simulated endpoint."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time

from tests.engine.conftest import cli, read_output, wait_for_lines, write_requests


def run_cli(*args, env=None, timeout=120):
    proc = cli(*args, env=env)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def test_complete_answers_every_id_once(sim, tmp_path):
    server = sim(latency_ms=5)
    inp = tmp_path / "in.jsonl"
    rows = write_requests(inp, 300, params={"max_tokens": 64})
    out = tmp_path / "nested" / "out.jsonl"      # missing folders are created
    code, _, err = run_cli("complete", str(inp), "--out", str(out), "--api-base", server.url, "--model", "sim",
                           "--max-concurrency", "32")
    assert code == 0, err
    got = read_output(out)
    assert sorted(r["id"] for r in got) == sorted(r["id"] for r in rows)
    by_id = {r["id"]: r for r in got}
    for row in rows:
        prompt = row.get("prompt") or row["messages"][0]["content"]
        answer = by_id[row["id"]]
        assert answer["text"] == f"Echo: {prompt}"
        assert answer["finish_reason"] == "stop"
        assert answer["usage"]["total_tokens"] > 0
    stats = json.loads((tmp_path / "nested" / "out.stats.json").read_text())
    assert stats["done"] == 300 and stats["failed"] == 0
    assert (tmp_path / "nested" / "out.state.sqlite3").exists()
    assert (tmp_path / "nested" / "out.failed.jsonl").read_text() == ""

    # Rerunning resumes: nothing is requested again, output unchanged.
    before = server.stats(with_ids=False)["requests"]
    code, _, err = run_cli("complete", str(inp), "--out", str(out), "--api-base", server.url, "--model", "sim")
    assert code == 0, err
    assert server.stats(with_ids=False)["requests"] == before
    assert sorted(r["id"] for r in read_output(out)) == sorted(r["id"] for r in rows)


def test_chat_lines_pick_the_chat_endpoint_and_prompt_lines_mix_in(sim, tmp_path):
    server = sim()
    inp = tmp_path / "in.jsonl"
    write_requests(inp, 30, chat_every=2)      # line 1 has messages -> chat
    out = tmp_path / "out.jsonl"
    code, _, err = run_cli("complete", str(inp), "--out", str(out), "--api-base", server.url, "--model", "sim")
    assert code == 0, err
    assert len(read_output(out)) == 30
    # Forcing completions makes a messages line an input error naming it.
    code, _, err = run_cli("complete", str(inp), "--out", str(tmp_path / "o2.jsonl"), "--api-base", server.url,
                           "--model", "sim", "--endpoint", "completions")
    assert code == 2 and f"{inp}:1" in err


def test_faults_and_a_hidden_rate_limit_lose_nothing(sim, tmp_path):
    # The endpoint's true limit is half of what the client is told.
    server = sim(latency_ms=20, rpm=1800, p_500=0.05, p_503=0.03, p_drop=0.03, p_malformed=0.02, p_hang=0.01,
                 hang_seconds=60, seed=3)
    inp = tmp_path / "in.jsonl"
    rows = write_requests(inp, 300, params={"max_tokens": 32})
    out = tmp_path / "out.jsonl"
    code, _, err = run_cli("complete", str(inp), "--out", str(out), "--api-base", server.url, "--model", "sim",
                           "--rpm", "3600", "--timeout", "2", "--max-concurrency", "32", timeout=180)
    assert code == 0, err
    got = read_output(out)
    assert len(got) == 300
    assert {r["id"] for r in got} == {r["id"] for r in rows}
    for r in got:
        assert r["text"] == f"Echo: Say something about item {int(r['id'][4:])}"
    stats = server.stats()
    assert sum(stats["faults"].values()) > 0
    # The hidden limit was hit (the client was told twice the real rate) and every 429 was absorbed.
    assert stats["status"].get("429", 0) > 0, stats["status"]
    calls_per_request = stats["requests"] / 300
    assert calls_per_request < 1.6, stats


def test_wrong_key_fails_fast_and_never_leaks(sim, tmp_path):
    server = sim(api_key="the-right-key")
    inp = tmp_path / "in.jsonl"
    write_requests(inp, 50)
    out = tmp_path / "out.jsonl"
    secret = "sk-wrong-SECRET-value-123"
    t0 = time.monotonic()
    code, stdout, stderr = run_cli("complete", str(inp), "--out", str(out), "--api-base", server.url,
                                   "--model", "sim", "--api-key-env", "MY_KEY", env={"MY_KEY": secret})
    assert code == 2
    assert time.monotonic() - t0 < 30
    assert "401" in stderr and server.url.rsplit("/v1", 1)[0] in stderr
    for text in (stdout, stderr):
        assert secret not in text
    for path in tmp_path.iterdir():
        assert secret.encode() not in path.read_bytes(), path
    # Only a handful of calls were made before the run stopped (no retries of a 401).
    assert server.stats(with_ids=False)["requests"] <= 64


def test_missing_key_for_remote_endpoint_is_a_config_error(tmp_path):
    inp = tmp_path / "in.jsonl"
    write_requests(inp, 1)
    env = {k: v for k, v in os.environ.items() if k != "NO_SUCH_KEY_VAR"}
    code, _, err = run_cli("complete", str(inp), "--out", str(tmp_path / "o.jsonl"), "--api-base",
                           "https://api.example.invalid/v1", "--model", "m", "--api-key-env", "NO_SUCH_KEY_VAR",
                           env=env)
    assert code == 2
    assert "NO_SUCH_KEY_VAR" in err


def test_bad_input_line_names_file_and_line(sim, tmp_path):
    server = sim()
    inp = tmp_path / "in.jsonl"
    inp.write_text('{"id": "a", "prompt": "x"}\n{"id": "b", "prompt": "y"}\n{"id": "c"}\n')
    code, _, err = run_cli("complete", str(inp), "--out", str(tmp_path / "o.jsonl"), "--api-base", server.url,
                           "--model", "sim")
    assert code == 2
    assert f"{inp}:3" in err and "prompt" in err
    inp.write_text('{"id": "a", "prompt": "x"}\nnot json\n')
    code, _, err = run_cli("complete", str(inp), "--out", str(tmp_path / "o2.jsonl"), "--api-base", server.url,
                           "--model", "sim")
    assert code == 2 and f"{inp}:2" in err


def test_context_length_shrinks_max_tokens_or_fails_that_request(sim, tmp_path):
    server = sim(max_context=200)
    inp = tmp_path / "in.jsonl"
    rows = [{"id": "fits-after-shrink", "prompt": "short prompt", "params": {"max_tokens": 400}},
            {"id": "never-fits", "prompt": "word " * 400, "params": {"max_tokens": 16}},
            {"id": "fine", "prompt": "hello", "params": {"max_tokens": 16}}]
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out.jsonl"
    code, _, err = run_cli("complete", str(inp), "--out", str(out), "--api-base", server.url, "--model", "sim")
    assert code == 3, err
    assert {r["id"] for r in read_output(out)} == {"fits-after-shrink", "fine"}
    failed = read_output(tmp_path / "out.failed.jsonl")
    assert [f["id"] for f in failed] == ["never-fits"]
    assert "ContextLengthExceeded" in failed[0]["error"]


def test_exhausted_attempts_go_to_failed_file_with_exit_3(sim, tmp_path):
    # A garbled 200 is retried but proves the endpoint is up (a 5xx on every call would be an
    # unreachable endpoint instead: exit 2, see test_breaker_cli.py).
    server = sim(p_malformed=1.0)
    inp = tmp_path / "in.jsonl"
    write_requests(inp, 3)
    out = tmp_path / "out.jsonl"
    code, _, err = run_cli("complete", str(inp), "--out", str(out), "--api-base", server.url, "--model", "sim",
                           "--max-attempts", "2")
    assert code == 3, err
    failed = read_output(tmp_path / "out.failed.jsonl")
    assert sorted(f["id"] for f in failed) == ["req-00000", "req-00001", "req-00002"]
    assert all(f["attempts"] == 2 and "MalformedResponse" in f["error"] for f in failed)
    assert server.stats(with_ids=False)["requests"] == 6



def test_two_sigkills_then_restart_is_exactly_once(sim, tmp_path):
    server = sim(latency_ms=30)
    inp = tmp_path / "in.jsonl"
    rows = write_requests(inp, 600)
    out = tmp_path / "out.jsonl"
    args = ("complete", str(inp), "--out", str(out), "--api-base", server.url, "--model", "sim",
            "--max-concurrency", "16")
    for target in (100, 300):
        proc = cli(*args)
        wait_for_lines(out, target, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    code, _, err = run_cli(*args)
    assert code == 0, err
    got = read_output(out)
    ids = [r["id"] for r in got]
    assert len(ids) == len(set(ids)) == 600
    assert set(ids) == {r["id"] for r in rows}
    calls = server.stats()["calls_per_id"]
    re_requests = sum(c - 1 for c in calls.values())
    # Only what was in flight at each kill can be asked again: at most the concurrency cap per kill.
    assert re_requests <= 2 * 16, re_requests
    # The state agrees with the output.
    conn = sqlite3.connect(tmp_path / "out.state.sqlite3")
    assert conn.execute("SELECT COUNT(*) FROM results WHERE status=1").fetchone()[0] == 600
    conn.close()


def test_sigint_drains_and_exits_resumable(sim, tmp_path):
    server = sim(latency_ms=50)
    inp = tmp_path / "in.jsonl"
    write_requests(inp, 2000)
    out = tmp_path / "out.jsonl"
    args = ("complete", str(inp), "--out", str(out), "--api-base", server.url, "--model", "sim",
            "--max-concurrency", "8")
    proc = cli(*args)
    wait_for_lines(out, 20, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "resume" in err
    partial = read_output(out)
    assert 20 <= len(partial) < 2000
    assert len({r["id"] for r in partial}) == len(partial)
    assert server.stats(with_ids=False)["in_flight"] == 0     # drained, nothing abandoned on the wire
    code, _, err = run_cli(*args, timeout=180)
    assert code == 0, err
    final = read_output(out)
    assert len(final) == len({r["id"] for r in final}) == 2000


def test_torn_output_tail_is_repaired_on_resume(sim, tmp_path):
    server = sim()
    inp = tmp_path / "in.jsonl"
    write_requests(inp, 50)
    out = tmp_path / "out.jsonl"
    args = ("complete", str(inp), "--out", str(out), "--api-base", server.url, "--model", "sim")
    code, _, err = run_cli(*args)
    assert code == 0, err
    with open(out, "ab") as fh:           # a crash mid-append leaves half a line
        fh.write(b'{"id": "req-00003", "te')
    code, _, err = run_cli(*args)
    assert code == 0, err
    got = read_output(out)                 # parses: no torn line
    assert len(got) == 50 and len({r["id"] for r in got}) == 50


def test_bad_price_table_names_the_model_and_file(sim, tmp_path):
    server = sim()
    inp = tmp_path / "in.jsonl"
    write_requests(inp, 1)
    cfg = tmp_path / "c.toml"
    cfg.write_text('[prices."my-model"]\ninput = 0.3\n')
    code, _, err = run_cli("complete", str(inp), "--out", str(tmp_path / "o.jsonl"), "--api-base", server.url,
                           "--model", "sim", "--config", str(cfg))
    assert code == 2
    assert "my-model" in err and str(cfg) in err
