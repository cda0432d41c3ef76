"""The SQLite checkpoint store: group commit, idempotent upserts, records, reopen, disk errors."""

import asyncio
import sqlite3

import pytest

from selfinstruct.engine.store import CheckpointStore
from selfinstruct.errors import StorageError


@pytest.mark.parametrize("synchronous", ["NORMAL", "FULL"])   # writer on the loop / writer thread
async def test_results_are_committed_and_survive_reopen(tmp_path, synchronous):
    path = tmp_path / "state.sqlite3"
    store = await CheckpointStore(path, synchronous=synchronous).open()
    futs = [store.put_result(f"r{i}", {"id": f"r{i}"}, {"text": f"t{i}", "finish_reason": "stop", "usage": {}}, 1)
            for i in range(500)]
    await asyncio.gather(*futs)
    assert store.commits < 500            # group commit: fewer transactions than results
    await store.put_failed("bad", {"id": "bad"}, "ServerError: boom", 8)
    await store.close()

    # A plain sqlite3 connection sees everything that was acknowledged.
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT COUNT(*) FROM results WHERE status=1").fetchone()[0] == 500
    conn.close()

    store = await CheckpointStore(path).open()
    assert store.get_response("r7")["text"] == "t7"
    assert store.get_response("bad") is None
    assert store.done_ids(["r1", "r2", "bad", "nope"]) == {"r1", "r2"}
    assert store.counts() == {"done": 500, "failed": 1}
    assert store.failed_rows()[0]["error"] == "ServerError: boom"
    await store.close()


async def test_put_is_idempotent_and_failed_never_overwrites_done(tmp_path):
    store = await CheckpointStore(tmp_path / "s.sqlite3").open()
    await store.put_result("a", None, {"text": "first"}, 1)
    await store.put_result("a", None, {"text": "second"}, 2)
    await store.put_failed("a", None, "late failure", 3)
    assert store.get_response("a")["text"] == "first"
    # A failed request that later succeeds becomes done.
    await store.put_failed("b", None, "err", 8)
    await store.put_result("b", None, {"text": "ok"}, 1)
    assert store.get_response("b")["text"] == "ok"
    assert store.counts() == {"done": 2, "failed": 0}
    await store.close()


async def test_records_keep_insertion_order_across_reopen(tmp_path):
    path = tmp_path / "s.sqlite3"
    store = await CheckpointStore(path).open()
    for key in ["c", "a", "b"]:
        await store.submit(lambda conn, key=key: store.write_record(conn, "inst", key, {"k": key}))
    await store.submit(lambda conn: store.write_record(conn, "inst", "a", {"k": "a2"}))  # update keeps place
    await store.close()
    store = await CheckpointStore(path).open()
    assert store.records("inst") == [("c", {"k": "c"}), ("a", {"k": "a2"}), ("b", {"k": "b"})]
    await store.submit(lambda conn: store.write_record(conn, "inst", "d", {"k": "d"}))
    assert [k for k, _ in store.records("inst")][-1] == "d"
    assert store.count_records("inst") == 4
    await store.close()


@pytest.mark.parametrize("synchronous", ["NORMAL", "FULL"])
async def test_a_failing_operation_fails_alone(tmp_path, synchronous):
    store = await CheckpointStore(tmp_path / "s.sqlite3", synchronous=synchronous).open()

    def bad(conn):
        raise ValueError("bad op")

    ok1 = store.put_result("x", None, {"text": "1"}, 1)
    bad_fut = store.submit(bad)
    ok2 = store.put_result("y", None, {"text": "2"}, 1)
    await ok1
    await ok2
    with pytest.raises(ValueError):
        await bad_fut
    assert store.done_ids(["x", "y"]) == {"x", "y"}
    await store.close()


async def test_unwritable_location_is_a_storage_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StorageError) as info:
        await CheckpointStore(blocker / "state.sqlite3").open()
    assert "file" in str(info.value)


async def test_corrupt_state_file_is_a_storage_error(tmp_path):
    path = tmp_path / "state.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageError) as info:
        await CheckpointStore(path).open()
    assert str(path) in str(info.value)
