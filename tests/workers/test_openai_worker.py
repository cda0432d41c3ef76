"""OpenAIWorker against the real simulated endpoint: success shapes and every error translation."""

from __future__ import annotations

import asyncio
import time

import pytest

from selfinstruct.errors import (
    AuthError,
    ConfigError,
    ContextLengthExceeded,
    FatalEndpointError,
    MalformedResponse,
    RateLimited,
    ServerError,
    TransientNetworkError,
)
from workers import EndpointConfig, OpenAIWorker, Request
from workers.simulated import SimConfig


async def test_completions_success_with_n_and_defaults(serve, worker_for):
    async with serve() as (sim, url):
        w = worker_for(url, max_tokens=5, n=1)
        try:
            r = await w.send(Request(id="a", prompt="one two three four five six seven", params={"n": 3}))
            assert len(r.choices) == 3
            assert all(c.finish_reason == "length" for c in r.choices)  # echo longer than 5 tokens
            assert r.usage["prompt_tokens"] == 7 and r.usage["completion_tokens"] == 15
            r2 = await w.send(Request(id="b", prompt="hi"), max_tokens=200)
            assert r2.text == "Echo: hi" and r2.finish_reason == "stop"
            assert r2.model == "sim-test"
        finally:
            await w.aclose()
        assert sim.stats()["calls_per_id"] == {"a": 1, "b": 1}


async def test_chat_success_and_prompt_wrapping(serve, worker_for):
    async with serve() as (sim, url):
        w = worker_for(url, endpoint="chat", max_tokens=50)
        try:
            r = await w.send(Request(id="c", messages=[{"role": "system", "content": "sys"},
                                                       {"role": "user", "content": "hello"}]))
            assert r.text.startswith("Echo: ") and r.text.endswith("hello")
            r2 = await w.send(Request(id="d", prompt="plain prompt"))  # wrapped as one user turn
            assert r2.text == "Echo: plain prompt"
        finally:
            await w.aclose()


def test_body_precedence_and_chat_only_requests():
    w = OpenAIWorker(EndpointConfig(api_base="http://127.0.0.1:1/v1", model="m",
                                    defaults={"max_tokens": 10, "temperature": 0.7}), None, max_connections=1)
    body = w.build_body(Request(id="x", prompt="p", params={"max_tokens": 20, "stop": ["\n"]}), max_tokens=5)
    assert body == {"model": "m", "max_tokens": 5, "temperature": 0.7, "stop": ["\n"], "prompt": "p"}
    assert w.build_body(Request(id="y", prompt="p", params={"max_tokens": 20}))["max_tokens"] == 20
    with pytest.raises(ConfigError):
        w.build_body(Request(id="z", messages=[{"role": "user", "content": "x"}]))
    assert w.endpoint_url == "http://127.0.0.1:1/v1/completions"


@pytest.mark.parametrize("kwargs", [
    {"api_base": "127.0.0.1:8000/v1"}, {"endpoint": "embeddings"}, {"model": ""},
    {"defaults": {"prompt": "x"}}, {"connect_timeout": 0}, {"extra_headers": {"X": 1}},
])
def test_endpoint_config_validation(kwargs):
    base = {"api_base": "http://127.0.0.1:8000/v1", "model": "m"}
    with pytest.raises(ConfigError):
        EndpointConfig(**{**base, **kwargs})


async def test_auth_error_never_shows_the_key(serve, worker_for):
    async with serve(SimConfig(api_key="sk-right-key")) as (_, url):
        good, bad = worker_for(url, key="sk-right-key"), worker_for(url, key="sk-wrong-key-123")
        try:
            assert (await good.send(Request(id="ok", prompt="x"))).text == "Echo: x"
            with pytest.raises(AuthError) as info:
                await bad.send(Request(id="no", prompt="x"))
            assert "sk-wrong-key-123" not in str(info.value) and "sk-wrong-key-123" not in repr(bad)
            assert info.value.status == 401 and url in str(info.value)
        finally:
            await good.aclose()
            await bad.aclose()


async def test_rate_limited_carries_retry_after_and_limits(serve, worker_for):
    async with serve(SimConfig(rpm=60)) as (_, url):  # bucket depth: one request
        w = worker_for(url)
        try:
            first = await w.send(Request(id="1", prompt="x"))
            assert first.rate_limits.limit_requests == 60 and first.rate_limits.remaining_requests == 0
            with pytest.raises(RateLimited) as info:
                await w.send(Request(id="2", prompt="x"))
            assert 0.5 < info.value.retry_after <= 1.0
            assert info.value.rate_limits.limit_requests == 60
            assert info.value.status == 429
        finally:
            await w.aclose()


@pytest.mark.parametrize("fault, status", [("p_500", 500), ("p_503", 503)])
async def test_server_errors(serve, worker_for, fault, status):
    async with serve(SimConfig(**{fault: 1.0})) as (_, url):
        w = worker_for(url)
        try:
            with pytest.raises(ServerError) as info:
                await w.send(Request(id="s", prompt="x"))
            assert info.value.status == status
        finally:
            await w.aclose()


async def test_dropped_connection_is_transient(serve, worker_for):
    async with serve(SimConfig(p_drop=1.0)) as (sim, url):
        w = worker_for(url)
        try:
            with pytest.raises(TransientNetworkError):
                await asyncio.wait_for(w.send(Request(id="d", prompt="x")), 10)
        finally:
            await w.aclose()
        assert sim.stats()["faults"] == {"drop": 1}


async def test_hang_times_out_promptly(serve, worker_for):
    async with serve(SimConfig(p_hang=1.0)) as (_, url):
        w = worker_for(url)
        try:
            start = time.monotonic()
            with pytest.raises(TransientNetworkError, match="timed out after 0.3s"):
                await asyncio.wait_for(w.send(Request(id="h", prompt="x"), timeout=0.3), 10)
            assert time.monotonic() - start < 5  # bounded by the 0.3 s timeout, not the hour-long hang
        finally:
            await w.aclose()


async def test_malformed_body(serve, worker_for):
    async with serve(SimConfig(p_malformed=1.0, seed=3)) as (_, url):
        w = worker_for(url)
        try:
            for i in range(4):  # both flavours: truncated JSON and garbage
                with pytest.raises(MalformedResponse):
                    await w.send(Request(id=f"m{i}", prompt="x"))
        finally:
            await w.aclose()


async def test_context_length_exceeded(serve, worker_for):
    async with serve(SimConfig(max_context=20)) as (_, url):
        w = worker_for(url, endpoint="chat")
        try:
            with pytest.raises(ContextLengthExceeded):
                await w.send(Request(id="c", prompt="a b c d e"), max_tokens=16)
            assert (await w.send(Request(id="c", prompt="a b c d e"), max_tokens=15)).choices
        finally:
            await w.aclose()


async def test_wrong_path_is_fatal(serve, worker_for):
    async with serve() as (_, url):
        w = worker_for(url.removesuffix("/v1"))  # forgot the /v1
        try:
            with pytest.raises(FatalEndpointError) as info:
                await w.send(Request(id="p", prompt="x"))
            assert info.value.status == 404 and not isinstance(info.value, AuthError)
            assert "/completions" in str(info.value)
        finally:
            await w.aclose()


async def test_connection_refused_is_transient():
    w = OpenAIWorker(EndpointConfig(api_base="http://127.0.0.1:9/v1", model="m"), None, max_connections=1)
    try:
        with pytest.raises(TransientNetworkError):
            await w.send(Request(id="r", prompt="x"), timeout=5)
    finally:
        await w.aclose()


async def test_many_concurrent_requests_share_the_pool(serve, worker_for):
    async with serve() as (sim, url):
        w = worker_for(url)
        try:
            rs = await asyncio.gather(*(w.send(Request(id=f"q{i}", prompt=f"n{i}")) for i in range(300)))
        finally:
            await w.aclose()
        assert [r.text for r in rs] == [f"Echo: n{i}" for i in range(300)]
        stats = sim.stats()
        assert stats["requests"] == 300 and stats["max_calls_per_id"] == 1
