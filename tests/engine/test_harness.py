"""The run harness on its own: the exit-code table, closing in `finally`, the lock, the fingerprint, and `ask`."""

from __future__ import annotations

import pytest

from selfinstruct.engine.harness import RunHarness, RunSettings, exit_code
from selfinstruct.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_SOME_FAILED, ConfigError
from workers.base import DEFAULT_MAX_TOKENS, Choice, Request, Response
from workers.openai import EndpointConfig

pytestmark = pytest.mark.timeout(30)


class EchoWorker:
    """Answers every request at once and remembers the parameters it was given."""

    endpoint_url = "http://127.0.0.1:1/v1/completions"

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict]] = []
        self.closed = False

    async def send(self, request, *, max_tokens=None, timeout=None):
        assert max_tokens == request.params["max_tokens"]
        self.sent.append((request.id, dict(request.params)))
        return Response(choices=(Choice(f"ok {request.prompt}", "stop"),))

    async def aclose(self) -> None:
        self.closed = True


def _settings(tmp_path, **kw):
    endpoint = EndpointConfig(api_base="http://127.0.0.1:1/v1", model="m", defaults=kw.pop("defaults", {}))
    return RunSettings(state=tmp_path / "state.sqlite3", owner="the run", endpoint=endpoint, handle_signals=False,
                       progress_interval=3600, live_progress=False, **kw)


@pytest.mark.parametrize(("interrupted", "incomplete", "code"), [
    (False, False, EXIT_OK),
    (False, True, EXIT_SOME_FAILED),
    (True, False, EXIT_INTERRUPTED),
    (True, True, EXIT_INTERRUPTED),   # an interrupted run is resumable: that is what its code says
])
def test_exit_code_table(interrupted, incomplete, code):
    assert exit_code(interrupted=interrupted, incomplete=incomplete) == code


async def test_ask_answers_once_with_params_resolved_once(tmp_path):
    worker = EchoWorker()
    requests = [Request(id="a", prompt="x"), Request(id="b", prompt="y", params={"max_tokens": 9, "n": 1})]
    async with RunHarness(_settings(tmp_path, defaults={"temperature": 0.0}), worker=worker) as run:
        assert await run.ask(requests) is False
    assert dict(worker.sent) == {"a": {"max_tokens": DEFAULT_MAX_TOKENS, "temperature": 0.0},
                                 "b": {"max_tokens": 9, "n": 1, "temperature": 0.0}}
    assert not worker.closed                     # the caller's worker is the caller's to close
    async with RunHarness(_settings(tmp_path, defaults={"temperature": 0.0}), worker=worker) as run:
        assert await run.ask(requests) is False
        assert run.stats.cached == 2
    assert len(worker.sent) == 2                 # resumed: nothing asked again


async def test_a_failing_body_still_gets_its_final_write_and_everything_closes(tmp_path):
    calls = []

    async def body():
        raise RuntimeError("boom")

    async def final():
        calls.append("final")

    run = RunHarness(_settings(tmp_path), worker=EchoWorker())
    with pytest.raises(RuntimeError, match="boom"):
        async with run:
            await run.drive(body, final=final)
    assert calls == ["final"]
    assert not run.store._open                   # closed in `finally`
    # The lock was released: the same state opens again.
    async with RunHarness(_settings(tmp_path), worker=EchoWorker()):
        pass


async def test_the_lock_keeps_a_second_run_out_and_a_failed_start_releases_it(tmp_path):
    async with RunHarness(_settings(tmp_path), worker=EchoWorker()):
        with pytest.raises(ConfigError, match="the run: in use by another selfinstruct run"):
            async with RunHarness(_settings(tmp_path), worker=EchoWorker()):
                pass
    async with RunHarness(_settings(tmp_path, fingerprint={"model": "a"}), worker=EchoWorker()) as run:
        await run.ask([Request(id="r", prompt="p")])
    with pytest.raises(ConfigError, match="other settings"):
        async with RunHarness(_settings(tmp_path, fingerprint={"model": "b"}), worker=EchoWorker()):
            pass
    async with RunHarness(_settings(tmp_path, fingerprint={"model": "b"}, allow_changes=True), worker=EchoWorker()):
        pass
