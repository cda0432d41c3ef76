"""/metrics counters count this process's events from zero; job totals stay in the job's stats.

Runs the pipeline library directly (no service job specs): each ``EngineStats``
object stands for one process, as the service keeps one per job per process.
"""

from __future__ import annotations

import asyncio

import pytest

from selfinstruct.engine import EngineStats
from selfinstruct.pipeline import build_generate_config, generate_async
from selfinstruct.service.metrics import job_metrics
from workers.simulated import SimConfig, start_in_thread

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def endpoint():
    with start_in_thread(SimConfig(latency_ms=2, seed=3), port=0) as running:
        yield running


def _samples(stats: dict[str, EngineStats]) -> dict[tuple[str, tuple[str, ...]], float]:
    out = {}
    for family in job_metrics(stats):
        for sample in family.samples:
            out[(sample.name, tuple(v for k, v in sorted(sample.labels.items()) if k != "job"))] = sample.value
    return out


def _counters(samples: dict) -> dict:
    return {k: v for k, v in samples.items() if k[0].endswith("_total")}


def test_a_resumed_job_starts_its_counters_at_zero_in_a_new_process(endpoint, tmp_path):
    server = endpoint
    config = build_generate_config({"endpoint": {"api_base": server.url, "model": "sim"},
                                    "generation": {"num_instructions": 30}}, out_dir=tmp_path / "run")
    first = EngineStats()
    assert asyncio.run(generate_async(config, stats=first)).exit_code == 0
    totals = dict(first.extra["rejects_by_reason"])
    assert sum(totals.values()) > 0  # the simulator's answers do get rejected
    got = _samples({"job": first})
    rejected = {k[1]: v for k, v in got.items() if k[0] == "selfinstruct_rejected_total"}
    assert rejected == {tuple(reversed(key.split(":", 1))): n for key, n in totals.items()}  # (reason, stage)
    assert got[("selfinstruct_requests_total", ("ok",))] == first.done - first.cached > 0

    # Same process again (a pause/resume in one service process): nothing new happens, nothing is added.
    assert asyncio.run(generate_async(config, stats=first)).exit_code == 0
    assert _counters(_samples({"job": first})) == _counters(got)

    # A new process resumes the finished job: every counter starts at zero...
    second = EngineStats()
    assert asyncio.run(generate_async(config, stats=second)).exit_code == 0
    fresh = _samples({"job": second})
    nonzero = {k: v for k, v in _counters(fresh).items() if v and k != ("selfinstruct_requests_total", ("cached",))}
    assert nonzero == {}
    # ...except requests answered from the checkpoint, which this process did replay.
    assert fresh[("selfinstruct_requests_total", ("cached",))] == second.cached
    # ...while the job's own stats keep the totals over its whole life.
    assert second.extra["rejects_by_reason"] == totals
    assert second.extra["accepted_instructions"] == 30
    assert fresh[("selfinstruct_accepted_instructions", ())] == 30  # a gauge: the job's state


def test_counters_read_the_process_share_of_rejects():
    stats = EngineStats(done=5, cached=2, calls=4)
    stats.extra.update({"rejects_by_reason": {"instruction:rouge_l_similar": 9, "instance:empty": 1},
                        "rejects_this_process": {"instruction:rouge_l_similar": 3}})
    got = _samples({"j": stats})
    assert got[("selfinstruct_rejected_total", ("rouge_l_similar", "instruction"))] == 3
    assert ("selfinstruct_rejected_total", ("empty", "instance")) not in got
    assert got[("selfinstruct_requests_total", ("ok",))] == 3
    assert got[("selfinstruct_requests_total", ("cached",))] == 2
    assert got[("selfinstruct_http_calls_total", ())] == 4
