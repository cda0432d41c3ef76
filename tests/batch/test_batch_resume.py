"""The durability rule at its crash points: a batch recorded before upload, uploaded but not created, or created
but with its id lost, is resolved on the next run without ever putting an id in two batches. Also cancel and auto."""

from __future__ import annotations

import asyncio
import json
import signal
import time

import pytest

from selfinstruct.engine.store import CheckpointStore
from tests.engine.conftest import cli, read_output, write_requests
from workers.base import Request, resolve_params
from workers.batch import BatchWorker
from workers.openai import EndpointConfig


def run_cli(*args, timeout=120):
    proc = cli(*args)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def complete_args(server, inp, out, mode="batch"):
    return ("complete", str(inp), "--out", str(out), "--api-base", server.url, "--model", "sim",
            "--mode", mode, "--batch-poll-interval", "0.05")


async def crash_at(server, state, rows, step: str) -> str | None:
    """Do what a run does up to ``step`` (record, upload, create), then stop as a crash would; the file id."""
    worker = BatchWorker(EndpointConfig(api_base=server.url, model="sim", endpoint="completions"))
    store = await CheckpointStore(state).open()
    try:
        requests = [Request(id=r["id"], prompt=r["prompt"]) for r in rows]
        items = [(r.to_json(), worker.input_line(Request(id=r.id, prompt=r.prompt, params=resolve_params({}, {}))))
                 for r in requests]
        key = await store.record_batch("/v1/completions", items)
        if step == "record":
            return None
        file_id = await worker.upload([line for _, line in items], filename=f"{key}.jsonl")
        await store.batch_uploaded(key, file_id)
        if step == "create":
            await worker.create(file_id, window="24h")     # created on the server; its id never recorded
        return file_id
    finally:
        await store.close()
        await worker.aclose()


@pytest.mark.parametrize("step", ["record", "upload", "create"])
def test_a_batch_interrupted_before_its_id_was_recorded_is_resolved_once(sim, tmp_path, step):
    server = sim(batch_seconds=0.1)
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    rows = write_requests(inp, 40)
    file_id = asyncio.run(crash_at(server, tmp_path / "out.state.sqlite3", rows, step))
    code, _, err = run_cli(*complete_args(server, inp, out))
    assert code == 0, err
    assert sorted(r["id"] for r in read_output(out)) == [r["id"] for r in rows]
    batches = server.stats(with_ids=False)["batch"]["submitted"]
    assert len(batches) == 1                                 # one batch ever: adopted, re-used or created once
    assert batches[0]["custom_ids"] == [r["id"] for r in rows]
    if file_id is not None:
        assert batches[0]["file_id"] == file_id              # the uploaded file is re-used, never uploaded again
    assert server.stats(with_ids=False)["requests"] == 0


def start_until_submitted(server, inp, out):
    """``complete`` started in batch mode, returned once its first batch is on the server (within 30 s)."""
    proc = cli(*complete_args(server, inp, out))
    deadline = time.monotonic() + 30
    while not server.stats(with_ids=False)["batch"]["submitted"]:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return proc


def test_a_cancelled_batch_keeps_its_answers_and_resubmits_only_the_unfinished(sim, tmp_path):
    server = sim(batch_seconds=1.0)
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    rows = write_requests(inp, 100)
    proc = start_until_submitted(server, inp, out)
    time.sleep(0.4)
    first = server.stats(with_ids=False)["batch"]["submitted"][0]

    async def cancel() -> dict:
        worker = BatchWorker(EndpointConfig(api_base=server.url, model="sim"))
        try:
            return await worker.cancel(first["batch_id"])
        finally:
            await worker.aclose()

    cancelled = asyncio.run(cancel())
    assert cancelled["status"] == "cancelled"
    finished = cancelled["request_counts"]["completed"]
    assert 0 < finished < 100
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert sorted(r["id"] for r in read_output(out)) == [r["id"] for r in rows]
    second = server.stats(with_ids=False)["batch"]["submitted"][1]
    assert second["custom_ids"] == first["custom_ids"][finished:]


def test_auto_mode_sends_the_failed_tail_online(sim, tmp_path):
    server = sim(batch_seconds=0.1, batch_p_fail=0.05, seed=11)
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    rows = write_requests(inp, 300)
    code, _, err = run_cli(*complete_args(server, inp, out, mode="auto"))
    assert code == 0, err
    assert sorted(r["id"] for r in read_output(out)) == [r["id"] for r in rows]
    stats = server.stats()
    assert len(stats["batch"]["submitted"]) == 1             # one batch, then the tail online
    batch = server.sim.batches.batches[stats["batch"]["submitted"][0]["batch_id"]]
    failed = {json.loads(line)["custom_id"] for line in server.sim.batches.files[batch["error_file_id"]].splitlines()}
    assert 0 < len(failed) <= 32
    assert set(stats["calls_per_id"]) == failed and stats["requests"] == len(failed)
    run = json.loads((tmp_path / "out.stats.json").read_text())
    assert run["mode"] == "auto" and run["batch"]["online_tail"] == len(failed)


def test_a_batch_that_fails_validation_is_closed_and_its_items_go_again(sim, tmp_path):
    server = sim(batch_seconds=0.1)
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    rows = write_requests(inp, 20)

    async def record_a_bad_file() -> None:
        store = await CheckpointStore(tmp_path / "out.state.sqlite3").open()
        try:   # lines a server refuses: the wrong url for the batch's endpoint
            items = [({"id": r["id"], "prompt": r["prompt"]},
                      json.dumps({"custom_id": r["id"], "method": "POST", "url": "/v1/embeddings",
                                  "body": {"model": "sim", "input": r["prompt"]}}).encode()) for r in rows]
            await store.record_batch("/v1/completions", items)
        finally:
            await store.close()

    asyncio.run(record_a_bad_file())
    code, _, err = run_cli(*complete_args(server, inp, out))
    assert code == 0, err
    assert sorted(r["id"] for r in read_output(out)) == [r["id"] for r in rows]
    first, second = server.stats(with_ids=False)["batch"]["submitted"]
    assert server.sim.batches.batches[first["batch_id"]]["status"] == "failed"
    assert second["custom_ids"] == first["custom_ids"]
    run = json.loads((tmp_path / "out.stats.json").read_text())
    assert run["batch"]["items_error"] == 20 and run["batch"]["items_done"] == 20


def test_sigterm_leaves_the_batch_in_flight_and_the_rerun_collects_it(sim, tmp_path):
    server = sim(batch_seconds=2.0)
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    rows = write_requests(inp, 50)
    proc = start_until_submitted(server, inp, out)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err                       # interrupted at once, not after the batch
    assert "rerun the same command to resume" in err
    code, _, err = run_cli(*complete_args(server, inp, out))
    assert code == 0, err
    assert sorted(r["id"] for r in read_output(out)) == [r["id"] for r in rows]
    assert len(server.stats(with_ids=False)["batch"]["submitted"]) == 1   # collected, not submitted again
