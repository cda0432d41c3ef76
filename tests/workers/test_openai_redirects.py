"""OpenAIWorker never follows a redirect: the key would go to wherever the server points."""

from __future__ import annotations

import pytest
from aiohttp import web

from selfinstruct.errors import FatalEndpointError
from workers import Request


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirect_is_a_fatal_error_and_the_target_gets_nothing(worker_for, status):
    seen: dict[str, list[str | None]] = {"origin": [], "target": []}

    async def target(request: web.Request) -> web.Response:
        seen["target"].append(request.headers.get("Authorization"))
        return web.json_response({"choices": [{"text": "stolen", "finish_reason": "stop"}]})

    async def origin(request: web.Request) -> web.Response:
        seen["origin"].append(request.headers.get("Authorization"))
        return web.Response(status=status, headers={"Location": "/elsewhere/v1/completions"})

    app = web.Application()
    app.router.add_post("/v1/completions", origin)
    app.router.add_route("*", "/elsewhere/v1/completions", target)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        w = worker_for(f"http://127.0.0.1:{port}/v1", key="sk-redirect-test")
        try:
            with pytest.raises(FatalEndpointError) as err:
                await w.send(Request(id="r", prompt="hi"))
        finally:
            await w.aclose()
        message = str(err.value)
        assert f"http://127.0.0.1:{port}/v1/completions: HTTP {status} redirect" in message
        assert "/elsewhere/v1/completions" in message and "not followed" in message
        assert err.value.status == status
    finally:
        await runner.cleanup()
    assert seen == {"origin": ["Bearer sk-redirect-test"], "target": []}
