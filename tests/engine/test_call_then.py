"""Engine.call(then=): an answer and what the caller derived from it commit in one transaction, or neither does."""

from __future__ import annotations

import sqlite3

import pytest

from selfinstruct.engine import CheckpointStore, Engine, LimitsConfig, RetryConfig, Throttle
from workers.base import Choice, Request, Response


class ScriptedWorker:
    """Answers every request with its prompt upper-cased, and counts the sends."""

    endpoint_url = "scripted://"

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, request: Request, *, max_tokens: int, timeout: float) -> Response:
        self.sent.append(request.id)
        return Response(choices=[Choice((request.prompt or "").upper(), "stop")])

    async def aclose(self) -> None:
        pass


async def _engine(path):
    store = await CheckpointStore(path).open()
    worker = ScriptedWorker()
    return Engine(worker, throttle=Throttle(LimitsConfig()), store=store, retry=RetryConfig(max_attempts=1)), worker


def _derive(store, *, fail: bool = False):
    def then(response: Response):
        def op(conn):
            store.write_record(conn, "derived", "k", {"text": response.text})
            if fail:
                raise ValueError("the derived records cannot be written")
        return op
    return then


def _rows(path):
    conn = sqlite3.connect(path)
    try:
        return (conn.execute("SELECT id FROM results").fetchall(),
                conn.execute("SELECT kind, key FROM records").fetchall())
    finally:
        conn.close()


async def test_answer_and_derived_records_commit_together(tmp_path):
    path = tmp_path / "state.sqlite3"
    engine, worker = await _engine(path)
    commits = engine.store.commits
    response = await engine.call(Request(id="a", prompt="hi"), then=_derive(engine.store))
    assert response.text == "HI"
    assert engine.store.commits == commits + 1          # one transaction for both
    assert _rows(path) == ([("a",)], [("derived", "k")])
    await engine.store.close()


async def test_a_failing_derivation_leaves_neither_answer_nor_records(tmp_path):
    path = tmp_path / "state.sqlite3"
    engine, worker = await _engine(path)
    with pytest.raises(ValueError):
        await engine.call(Request(id="a", prompt="hi"), then=_derive(engine.store, fail=True))
    assert _rows(path) == ([], [])                        # the answer rolled back with its records
    assert engine.store.get_response("a") is None
    # The next run asks again and commits both.
    await engine.call(Request(id="a", prompt="hi"), then=_derive(engine.store))
    assert worker.sent == ["a", "a"]
    assert _rows(path) == ([("a",)], [("derived", "k")])
    await engine.store.close()


async def test_an_answer_already_stored_gets_its_derivation_committed_alone(tmp_path):
    path = tmp_path / "state.sqlite3"
    engine, worker = await _engine(path)
    await engine.call(Request(id="a", prompt="hi"))       # a state from before: the answer without its records
    assert _rows(path) == ([("a",)], [])
    response = await engine.call(Request(id="a", prompt="hi"), then=_derive(engine.store))
    assert response.text == "HI" and worker.sent == ["a"]  # never asked again
    assert _rows(path) == ([("a",)], [("derived", "k")])
    await engine.store.close()
