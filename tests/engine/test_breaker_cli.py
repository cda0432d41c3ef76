"""The circuit breaker end to end, through the real CLI against real sockets on 127.0.0.1.

- an endpoint that never answers ends `generate` and `complete` with exit 2, naming the URL;
- an outage mid-run is waited out with few calls, and costs no request its attempts;
- an outage longer than --max-outage stops the run with exit 3, and a rerun resumes.
"""

from __future__ import annotations

import re
import socket
import time

import pytest

from tests.engine.conftest import cli, read_output, wait_for_lines, write_requests


def _closed_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port



@pytest.mark.timeout(120)
def test_generate_and_complete_against_a_closed_port_exit_2_naming_the_url(tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    inp = tmp_path / "in.jsonl"
    write_requests(inp, 50)
    started = time.monotonic()
    procs = {
        "complete": cli("complete", str(inp), "--out", str(tmp_path / "out.jsonl"), "--api-base", url,
                        "--model", "sim"),
        "generate": cli("generate", "--out", str(tmp_path / "run"), "--api-base", url, "--model", "sim",
                        "--num-instructions", "20"),
    }
    for name, proc in procs.items():
        _, err = proc.communicate(timeout=90)
        elapsed = time.monotonic() - started
        assert proc.returncode == 2, (name, err)
        assert elapsed < 60, (name, elapsed)
        assert f"{url}/" in err and "has not answered" in err, (name, err)
        assert "Traceback" not in err, (name, err)


@pytest.mark.timeout(120)
def test_an_endpoint_answering_503_to_everything_is_unreachable(sim, tmp_path):
    server = sim(p_503=1.0)
    inp = tmp_path / "in.jsonl"
    write_requests(inp, 10)
    started = time.monotonic()
    proc = cli("complete", str(inp), "--out", str(tmp_path / "out.jsonl"), "--api-base", server.url,
               "--model", "sim", "--max-concurrency", "4")
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 2, err
    assert time.monotonic() - started < 30 + 5  # the run's own bound, plus interpreter start-up
    assert server.url in err and "HTTP 503" in err
    # one probe per interval, not a storm: the first calls, then probes at ~1, 3, 7 s
    assert server.stats(with_ids=False)["requests"] <= 20


@pytest.mark.timeout(180)
def test_an_outage_mid_run_is_waited_out_with_few_calls_and_no_failed_request(sim, tmp_path):
    server = sim(latency_ms=20)
    inp = tmp_path / "in.jsonl"
    rows = write_requests(inp, 90)
    out = tmp_path / "out.jsonl"
    # 10 requests per second: the run takes ~9 s of sending, so a 20 s outage lands in the middle.
    proc = cli("complete", str(inp), "--out", str(out), "--api-base", server.url, "--model", "sim",
               "--rpm", "600", "--max-concurrency", "8", "--max-attempts", "3")
    wait_for_lines(out, 20, proc)
    server.outage(20)
    outage_started = time.monotonic()
    time.sleep(20)
    during = server.stats(with_ids=False)["outage"]
    assert during["calls"] >= 1  # the run did reach the endpoint during the outage
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert time.monotonic() - outage_started >= 20
    got = read_output(out)
    assert sorted(r["id"] for r in got) == sorted(r["id"] for r in rows)   # every id exactly once
    failed = tmp_path / "out.failed.jsonl"
    assert not failed.exists() or failed.read_text() == ""
    assert server.stats(with_ids=False)["outage"]["calls"] <= 60
    assert "not answering" in err and "answers again" in err


@pytest.mark.timeout(180)
def test_an_outage_longer_than_max_outage_exits_3_and_a_rerun_resumes(sim, tmp_path):
    server = sim(latency_ms=20)
    inp = tmp_path / "in.jsonl"
    rows = write_requests(inp, 60)
    out = tmp_path / "out.jsonl"
    args = ("complete", str(inp), "--out", str(out), "--api-base", server.url, "--model", "sim",
            "--rpm", "600", "--max-concurrency", "4", "--max-outage", "3")
    proc = cli(*args)
    wait_for_lines(out, 10, proc)
    server.outage(600)
    started = time.monotonic()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    assert time.monotonic() - started < 3 + 10
    assert re.search(r"down for [34] s", err) and "rerun" in err and server.url in err, err
    assert "Traceback" not in err
    before = read_output(out)
    assert 10 <= len(before) < 60
    assert len({r["id"] for r in before}) == len(before)

    server.outage(0)
    proc = cli(*args)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    got = read_output(out)
    assert sorted(r["id"] for r in got) == sorted(r["id"] for r in rows)
    assert f"{len(before)} from state" in err


def test_max_outage_comes_from_the_flag_or_the_retry_table(tmp_path):
    from selfinstruct.cli import build_parser
    from selfinstruct.cli.generate import config_from_args
    from selfinstruct.config import build
    from selfinstruct.engine.retry import RetryConfig
    from selfinstruct.errors import ConfigError

    toml = tmp_path / "run.toml"
    toml.write_text('[retry]\nmax_outage = 45\n')
    parser = build_parser()
    base = ["generate", "--out", str(tmp_path / "run"), "--api-base", "http://127.0.0.1:9/v1", "--model", "m"]
    assert config_from_args(parser.parse_args(base)).retry.max_outage == 600
    assert config_from_args(parser.parse_args([*base, "--config", str(toml)])).retry.max_outage == 45
    assert config_from_args(parser.parse_args([*base, "--config", str(toml), "--max-outage", "7"])).retry.max_outage == 7
    for command in (["complete", "in.jsonl", "--out", "o.jsonl", "--api-base", "http://x/v1", "--model", "m"],
                    ["predict", "--api-base", "http://x/v1", "--model", "m", "--out", "p.jsonl"]):
        assert parser.parse_args([*command, "--max-outage", "9"]).max_outage == 9
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ConfigError, match="max_outage"):
            build(RetryConfig, {"max_outage": bad}, section="retry")
