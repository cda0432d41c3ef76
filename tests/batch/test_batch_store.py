"""The store's batch records: one open batch per request id, and a batch closes with its answers or not at all."""

from __future__ import annotations

import pytest

from selfinstruct.engine.store import CheckpointStore
from selfinstruct.engine.store_batches import ClosedItem

ANSWER = {"text": "hi", "finish_reason": "stop", "usage": {}}


def items(*ids):
    return [({"id": rid, "prompt": f"p {rid}"}, f'{{"custom_id": "{rid}"}}'.encode()) for rid in ids]


async def test_a_request_is_in_one_open_batch_at_most(tmp_path):
    store = await CheckpointStore(tmp_path / "s.sqlite3").open()
    try:
        key = await store.record_batch("/v1/completions", items("a", "b"))
        with pytest.raises(ValueError, match="'b' is already in an open batch"):
            await store.record_batch("/v1/completions", items("c", "b"))
        assert [r.key for r in store.batches()] == [key]          # the refused batch left nothing behind
        await store.batch_uploaded(key, "file-1")
        await store.batch_created(key, {"id": "batch-1", "status": "in_progress",
                                        "request_counts": {"total": 2}})
        row = store.batches(open_only=True)[0]
        assert (row.file_id, row.batch_id, row.state, row.items) == ("file-1", "batch-1", "created", 2)
        assert sorted(store.open_batch_ids()) == ["a", "b"]
        await store.close_batch(key, {"status": "completed"}, [ClosedItem("a", "done", ANSWER),
                                                               ClosedItem("b", "error", attempts=1)])
        assert store.batches(open_only=True) == [] and store.open_batch_ids() == []
        assert store.batch_errors(["a", "b"]) == {"b": 1}
        second = await store.record_batch("/v1/completions", items("b"))   # closed: it may go again
        assert store.batch_items(second) == items("b")
    finally:
        await store.close()


async def test_closing_commits_answers_records_and_outcomes_together_or_not_at_all(tmp_path):
    store = await CheckpointStore(tmp_path / "s.sqlite3").open()
    try:
        key = await store.record_batch("/v1/completions", items("a", "b"))

        def broken(conn):
            raise ValueError("derived record failed")

        with pytest.raises(ValueError, match="derived record failed"):
            await store.close_batch(key, {"status": "completed"}, [ClosedItem("a", "done", ANSWER),
                                                                   ClosedItem("b", "done", ANSWER, then=broken)])
        assert store.get_response("a") is None and store.batches(open_only=True)[0].key == key

        def derived(conn):
            store.write_record(conn, "note", "b", {"ok": True})

        assert await store.close_batch(key, {"status": "completed"},
                                       [ClosedItem("a", "done", ANSWER), ClosedItem("b", "done", ANSWER, then=derived)
                                        ]) == 2
        assert store.get_response("a") == ANSWER and store.records("note") == [("b", {"ok": True})]
        assert store.batches()[0].state == "closed"
    finally:
        await store.close()
