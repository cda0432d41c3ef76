"""Replica routing: the choice rule as a table, then `complete` over several simulated replicas on 127.0.0.1.

The full-size figures (four replicas of 1,500 RPM, 2,000 requests, one killed
after 5 s) are benchmarks/replica_bench.py's; these runs are small and assert
correctness and the spread over replicas, never wall-clock time.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import pytest

from selfinstruct.complete import CompleteConfig, complete_async
from selfinstruct.config import build, load_toml
from selfinstruct.engine import LimitsConfig, RetryConfig, Throttle
from selfinstruct.engine.breaker import CircuitBreaker
from selfinstruct.engine.replicas import Replica, ReplicaConfig, choose, replica_labels
from selfinstruct.errors import ConfigError
from workers import EndpointConfig

from .conftest import cli, read_output, write_requests


def _replica(label: str, *, outstanding: int = 0, rpm: float | None = None, window: int = 64,
             down: bool = False) -> Replica:
    throttle = Throttle(LimitsConfig(rpm=rpm, max_concurrency=window))
    if rpm:
        throttle._start(0.0)   # the pacer exists once the throttle has been used
    breaker = CircuitBreaker()
    breaker.open = down
    r = Replica(label, None, throttle, breaker)
    r.outstanding = outstanding
    return r


@pytest.mark.parametrize("replicas, avoid, expected", [
    # fewest outstanding when the rates are equal
    ([("a", 5, 600, False), ("b", 2, 600, False), ("c", 9, 600, False)], None, "b"),
    # relative to the pacing rate: 10 outstanding at 20 req/s beats 3 at 2 req/s
    ([("slow", 3, 120, False), ("fast", 10, 1200, False)], None, "fast"),
    # a down replica is never chosen, however idle
    ([("down", 0, 600, True), ("busy", 30, 600, False)], None, "busy"),
    # a request avoids the replica its last attempt failed on, when another is healthy
    ([("a", 0, 600, False), ("b", 5, 600, False)], "a", "b"),
    ([("a", 0, 600, False), ("b", 5, 600, True)], "a", "a"),
    # every replica down: none
    ([("a", 0, 600, True), ("b", 0, 600, True)], None, None),
])
def test_choose_picks_the_least_loaded_healthy_replica(replicas, avoid, expected):
    built = {name: _replica(name, outstanding=n, rpm=rpm, down=down) for name, n, rpm, down in replicas}
    picked = choose(list(built.values()), built.get(avoid) if avoid else None)
    assert (picked.label if picked else None) == expected


def test_replica_labels_drop_credentials_and_number_repeats():
    assert replica_labels(["http://u:secret@10.0.0.1:8000/v1/", "http://10.0.0.1:8000/v1", "https://x.org/v1"]) == [
        "http://10.0.0.1:8000/v1", "http://10.0.0.1:8000/v1#2", "https://x.org/v1"]


def test_toml_replicas_are_checked_and_api_base_must_be_one_of_them(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text('[endpoint]\napi_base = "http://127.0.0.1:1/v1"\nmodel = "m"\n'
                    '[[endpoint.replicas]]\napi_base = "http://127.0.0.1:1/v1"\nrpm = 600\n'
                    '[[endpoint.replicas]]\napi_base = "http://127.0.0.1:2/v1"\napi_key_env = "KEY_TWO"\n')
    endpoint = build(EndpointConfig, load_toml(toml)["endpoint"], source=str(toml), section="endpoint")
    assert [r.api_base for r in endpoint.replicas] == ["http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1"]
    base = LimitsConfig(rpm=60, max_concurrency=8)
    assert endpoint.replicas[0].limits(base).rpm == 600 and endpoint.replicas[1].limits(base) == base
    assert endpoint.replicas[1].api_key_env == "KEY_TWO"
    with pytest.raises(ConfigError, match="must be one of endpoint.replicas"):
        EndpointConfig(api_base="http://127.0.0.1:3/v1", model="m", replicas=({"api_base": "http://127.0.0.1:1/v1"},))
    with pytest.raises(ConfigError, match=r"replicas\[0\].*unknown key 'rmp'"):
        EndpointConfig(api_base="http://127.0.0.1:1/v1", model="m",
                       replicas=({"api_base": "http://127.0.0.1:1/v1", "rmp": 5},))
    with pytest.raises(ConfigError, match="http:// or https://"):
        ReplicaConfig(api_base="ftp://x/v1")


@pytest.mark.timeout(60)
def test_complete_spreads_requests_over_repeated_api_base(sim, tmp_path):
    servers = [sim(latency_ms=20, rpm=3000, seed=i) for i in range(3)]
    inp = tmp_path / "in.jsonl"
    write_requests(inp, 300)
    out = tmp_path / "out.jsonl"
    args = ["complete", str(inp), "--out", str(out), "--model", "sim", "--rpm", "3000", "--progress-interval", "3600"]
    for s in servers:
        args += ["--api-base", s.url]
    proc = cli(*args)
    _, err = proc.communicate(timeout=50)
    assert proc.returncode == 0, err
    ids = [row["id"] for row in read_output(out)]
    assert len(ids) == len(set(ids)) == 300
    stats = json.loads((tmp_path / "out.stats.json").read_text())
    per = stats["replicas"]
    assert sorted(per) == sorted(replica_labels([s.url for s in servers]))
    served = [s.stats(with_ids=False)["status"].get("200", 0) for s in servers]
    assert sum(served) == 300
    for s, label in zip(servers, replica_labels([s.url for s in servers])):
        # the client's per-replica counts are the servers' own
        assert per[label]["answered"] == s.stats(with_ids=False)["status"].get("200", 0)
    # each replica carried a fair share (equal limits and latency: about a third each)
    assert min(served) >= 60, served
    assert stats["calls"] == sum(r["calls"] for r in per.values())


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_a_killed_replica_is_drained_and_the_survivors_answer_everything_once(sim, tmp_path):
    servers = [sim(latency_ms=20, seed=i) for i in range(3)]
    inp = tmp_path / "in.jsonl"
    write_requests(inp, 600)
    out = tmp_path / "out.jsonl"
    replicas = tuple(ReplicaConfig(api_base=s.url) for s in servers)
    config = CompleteConfig(
        input_path=inp, output_path=out,
        endpoint=EndpointConfig(api_base=servers[0].url, model="sim", replicas=replicas),
        limits=LimitsConfig(rpm=1800, max_concurrency=16),
        retry=RetryConfig(max_attempts=4, backoff_base=0.05, backoff_max=0.2),
        handle_signals=False, progress_interval=3600)
    task = asyncio.create_task(complete_async(config))
    # kill the first replica once the run is well under way: connections refused from then on
    while not (tmp_path / "out.state.sqlite3").exists() or servers[0].stats(with_ids=False)["requests"] < 40:
        await asyncio.sleep(0.02)
    await asyncio.to_thread(servers[0].stop)
    result = await task
    assert result.exit_code == 0 and result.failed == 0
    rows = read_output(out)
    counts = Counter(row["id"] for row in rows)
    assert len(counts) == 600 and set(counts.values()) == {1}
    per = result.stats["replicas"]
    labels = replica_labels([s.url for s in servers])
    dead, survivors = per[labels[0]], [per[label] for label in labels[1:]]
    assert dead["up"] is False and dead["errors"] >= 1
    # the survivors took the load: together everything the dead one did not answer, and each a real share
    assert dead["answered"] + sum(s["answered"] for s in survivors) == 600
    assert all(s["answered"] > dead["answered"] for s in survivors)
    assert all(s["up"] for s in survivors)


def test_one_api_base_writes_no_replica_stats(sim, tmp_path):
    server = sim(latency_ms=0)
    inp = tmp_path / "in.jsonl"
    write_requests(inp, 20)
    out = tmp_path / "out.jsonl"
    proc = cli("complete", str(inp), "--out", str(out), "--api-base", server.url, "--model", "sim")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "replicas" not in json.loads((tmp_path / "out.stats.json").read_text())
