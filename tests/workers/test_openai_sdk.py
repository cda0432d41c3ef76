"""The official openai SDK drives the simulator: proof that the wire protocol is faithful."""

from __future__ import annotations

import openai
import pytest

from workers.simulated import SimConfig, start_in_thread


@pytest.fixture(scope="module")
def sim():
    with start_in_thread(SimConfig(model_name="sim-sdk")) as running:
        yield running


def _client(url: str, **kw) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key=kw.pop("api_key", "sk-unused"), max_retries=0, timeout=10, **kw)


def test_chat_completions(sim):
    with _client(sim.url) as client:
        r = client.chat.completions.create(model="sim-sdk", messages=[{"role": "user", "content": "hi there"}],
                                           max_tokens=50, n=2)
    assert [c.message.content for c in r.choices] == ["Echo: hi there"] * 2
    assert r.choices[0].finish_reason == "stop" and r.usage.prompt_tokens == 2
    assert r.object == "chat.completion"


def test_completions_with_stop_and_length(sim):
    with _client(sim.url) as client:
        r = client.completions.create(model="sim-sdk", prompt="alpha beta gamma", max_tokens=100, stop=["beta"])
        assert r.choices[0].text == "Echo: alpha " and r.choices[0].finish_reason == "stop"
        r = client.completions.create(model="sim-sdk", prompt="alpha beta gamma", max_tokens=3)
        assert r.choices[0].finish_reason == "length" and r.usage.completion_tokens == 3


def test_models_list(sim):
    with _client(sim.url) as client:
        assert [m.id for m in client.models.list()] == ["sim-sdk"]


def test_rate_limit_error():
    with start_in_thread(SimConfig(rpm=60)) as running, _client(running.url) as client:
        client.completions.create(model="m", prompt="x", max_tokens=2)
        with pytest.raises(openai.RateLimitError) as info:
            client.completions.create(model="m", prompt="x", max_tokens=2)
        assert info.value.status_code == 429
        assert float(info.value.response.headers["retry-after-ms"]) > 0
        assert running.stats()["status"] == {"200": 1, "429": 1}


def test_auth_error():
    with start_in_thread(SimConfig(api_key="sk-good")) as running:
        with _client(running.url, api_key="sk-bad") as client, pytest.raises(openai.AuthenticationError):
            client.models.list()
        with _client(running.url, api_key="sk-good") as client:
            assert client.models.list().data


async def test_async_client(sim):
    async with openai.AsyncOpenAI(base_url=sim.url, api_key="k", max_retries=0, timeout=10) as client:
        r = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "yo"}])
    assert r.choices[0].message.content == "Echo: yo"
