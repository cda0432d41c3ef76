"""The token gate over every registered route (API, dashboard, and whatever else build_app registers), the
session cookie, and the Origin rule for the dashboard's own writes, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import re
from http.cookies import SimpleCookie

import aiohttp
import pytest
from aiohttp import web

from selfinstruct.service.app import build_app
from selfinstruct.service.dashboard.auth import COOKIE, session_value
from selfinstruct.service.hygiene import HostPolicy
from selfinstruct.service.manager import JobManager
from selfinstruct.service.store import JobStore

TOKEN = "dash-token-0123456789abcdef"
# A value for each path parameter a route may have; any other parameter gets "x".
PARAMS = {"action": "pause", "id": "nosuchjob", "rid": "nosuchreview"}


@pytest.fixture
async def served(tmp_path):
    """build_app with a token, served by aiohttp on 127.0.0.1 (a real socket), and a client session."""
    store = JobStore(tmp_path / "service.sqlite3").open()
    manager = JobManager(store, tmp_path / "jobs", environ={})
    hosts = HostPolicy(bound_host="127.0.0.1")
    app = build_app(manager, hosts=hosts, token=TOKEN)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    hosts.port = port
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield app, f"http://127.0.0.1:{port}", session
    await runner.cleanup()
    store.close()


def _paths(app: web.Application) -> list[tuple[str, str]]:
    """(method, a concrete path) for every route the app registered."""
    out = []
    for route in app.router.routes():
        if route.method == "HEAD":
            continue
        info = route.resource.get_info()
        if "path" in info:
            path = info["path"]
        else:
            path = re.sub(r"\{(\w+)(?::[^}]*)?\}", lambda m: PARAMS.get(m.group(1), "x"), info["formatter"])
        out.append((route.method, path))
    return out


async def _status(session, method, base, path, headers=None):
    headers = {"Content-Type": "application/json", **(headers or {})} if method != "GET" else (headers or {})
    async with session.request(method, base + path, data=b"{}" if method != "GET" else None,
                               headers=headers, allow_redirects=False) as resp:
        await resp.read()
        return resp.status


async def test_every_route_but_healthz_needs_the_token_or_the_cookie(served):
    app, base, session = served
    routes = _paths(app)
    assert {("GET", "/"), ("GET", "/jobs"), ("POST", "/jobs"), ("GET", "/ui/jobs/nosuchjob/data"),
            ("POST", "/login")} <= set(routes)  # the walk sees API and dashboard routes alike
    good_cookie = {"Cookie": f"{COOKIE}={session_value(TOKEN)}"}
    for method, path in routes:
        if path == "/healthz":
            assert await _status(session, method, base, path) == 200
            continue
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Cookie": f"{COOKIE}=wrong"},
                        {"Cookie": f"{COOKIE}={TOKEN}"},  # the raw token is not a session value
                        {"Accept": "text/html"}):
            assert await _status(session, method, base, path, headers) == 401, (method, path, headers)
        # With either credential the request gets past the gate: whatever it answers, it is not 401.
        assert await _status(session, method, base, path, {"Authorization": f"Bearer {TOKEN}"}) != 401, path
        assert await _status(session, method, base, path, good_cookie) != 401, (method, path)


async def test_a_browser_gets_the_login_form_then_an_httponly_strict_cookie(served):
    _, base, session = served
    async with session.get(base + "/ui/jobs/x/data", headers={"Accept": "text/html"}) as resp:
        html = await resp.text()
        assert resp.status == 401 and "<form id=login" in html and 'data-next="/ui/jobs/x/data"' in html
        assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
    async with session.post(base + "/login", data=b"{}", headers={"Content-Type": "application/json",
                                                                   "Authorization": "Bearer nope"}) as resp:
        assert resp.status == 401 and "Set-Cookie" not in resp.headers
    async with session.post(base + "/login", data=b"{}", headers={"Content-Type": "application/json",
                                                                   "Authorization": f"Bearer {TOKEN}"}) as resp:
        assert resp.status == 200
        raw = resp.headers["Set-Cookie"]
    morsel = SimpleCookie(raw)[COOKIE]
    assert morsel["httponly"] and morsel["samesite"] == "Strict" and morsel["path"] == "/"
    assert TOKEN not in raw and morsel.value == session_value(TOKEN)
    async with session.get(base + "/", headers={"Cookie": f"{COOKIE}={morsel.value}"}) as resp:
        assert resp.status == 200 and "<h1>Jobs</h1>" in await resp.text()
    async with session.post(base + "/logout", data=b"{}", headers={"Content-Type": "application/json",
                                                                    "Cookie": f"{COOKIE}={morsel.value}"}) as resp:
        assert resp.status == 200 and f"{COOKIE}=\"\"" in resp.headers["Set-Cookie"]


async def test_a_cookie_write_from_another_origin_or_as_a_form_is_refused(served):
    _, base, session = served
    cookie = {"Cookie": f"{COOKIE}={session_value(TOKEN)}"}
    host = base.removeprefix("http://")
    # Another site's page: its Origin is refused before anything else (SameSite=Strict also keeps the cookie
    # home, but the daemon does not rely on the browser alone).
    assert await _status(session, "POST", base, "/jobs", {**cookie, "Origin": "http://evil.example"}) == 403
    # A plain HTML form can only send form or text bodies: the JSON-only API refuses them.
    async with session.post(base + "/jobs", data=b"backend=sim", headers={
            **cookie, "Content-Type": "application/x-www-form-urlencoded", "Origin": f"http://{host}"}) as resp:
        assert resp.status == 415
    # Our own page's fetch: same origin, JSON; past Origin and type checks into spec validation (no backends).
    assert await _status(session, "POST", base, "/jobs", {**cookie, "Origin": f"http://{host}"}) == 400
    # A page served from another port of this machine is another origin.
    other = f"http://127.0.0.1:{int(host.rsplit(':', 1)[1]) + 1}"
    assert await _status(session, "POST", base, "/jobs", {**cookie, "Origin": other}) == 403
