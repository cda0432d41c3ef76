"""The store's typed queries: what the pipeline, the live export and `complete`'s output protocol read."""

from __future__ import annotations

from selfinstruct.engine.store import CheckpointStore, DoneRow
from selfinstruct.engine.store_reads import read_snapshot


async def _store(tmp_path):
    store = await CheckpointStore(tmp_path / "s.sqlite3").open()
    store.row_model = "m"
    for rid in ("gen-000000", "gen-000001", "clf-x"):
        await store.put_result(rid, {"id": rid, "meta": {"n": rid}}, {"text": rid.upper()}, 1)
    await store.put_failed("gen-000002", {"id": "gen-000002"}, "boom", 3)
    await store.submit(lambda conn: store.write_record(conn, "processed", "gen-000000", {"accepted": 1}))
    return store


async def test_result_ids_and_answers_without_their_record(tmp_path):
    store = await _store(tmp_path)
    assert sorted(store.result_ids("gen-")) == ["gen-000000", "gen-000001", "gen-000002"]
    assert store.result_ids("gen_") == []            # a prefix, not a LIKE pattern
    assert store.answers_without_record("gen-", "processed") == [
        ({"id": "gen-000001", "meta": {"n": "gen-000001"}}, {"text": "GEN-000001"})]
    await store.close()


async def test_done_rows_since_and_forget(tmp_path):
    store = await _store(tmp_path)
    rows = await store.submit(lambda conn: list(CheckpointStore.iter_done_since(conn, 1)))
    assert rows == [DoneRow("gen-000001", {"text": "GEN-000001"}, "m", 2), DoneRow("clf-x", {"text": "CLF-X"}, "m", 3)]
    await store.submit(lambda conn: CheckpointStore.set_meta(conn, "export.seq", 2))
    assert await store.submit(lambda conn: CheckpointStore.read_meta(conn, "export.seq")) == "2"
    assert await store.submit(lambda conn: CheckpointStore.read_meta(conn, "nope", "0")) == "0"
    # Forgetting only ids done after the exported sequence (or never done) needs no rewrite.
    assert not await store.submit(lambda conn: CheckpointStore.forget_ids(conn, ["clf-x", "gen-000002"],
                                                                          exported_through=2))
    assert await store.submit(lambda conn: CheckpointStore.forget_ids(conn, ["gen-000001"], exported_through=2))
    assert sorted(store.result_ids("")) == ["gen-000000"]
    await store.close()


async def test_read_snapshot_skips_an_unchanged_state(tmp_path):
    store = await _store(tmp_path)
    await store.submit(lambda conn: store.write_record(conn, "instruction", "k", {"instruction": "x"}))
    snap = read_snapshot(store.path, ("instruction", "clf"))
    assert snap.records == {"instruction": [("k", {"instruction": "x"})], "clf": []}
    assert snap.models == {"gen-000000": "m", "gen-000001": "m", "clf-x": "m"}
    assert read_snapshot(store.path, ("instruction",), unless_seq=snap.newest_seq) is None
    await store.submit(lambda conn: store.write_record(conn, "clf", "k", {"instruction": "x"}))
    assert read_snapshot(store.path, ("clf",), unless_seq=snap.newest_seq).newest_seq > snap.newest_seq
    await store.close()
