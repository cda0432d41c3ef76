"""The bearer-token gate for the API and the dashboard: a header or the dashboard's cookie, and the login page.

With a token set, every route but ``/healthz`` needs ``Authorization: Bearer
TOKEN`` or the ``selfinstruct_session`` cookie. A browser without either gets
the login page (status 401); its script sends the token once as a bearer header
to ``POST /login``, which answers with the cookie: ``HttpOnly`` (no script
reads it) and ``SameSite=Strict`` (no other site's page makes the browser send
it, so a cookie-carrying request always comes from our own pages). ``Secure``
is left off: the daemon speaks plain http on loopback, and a Secure cookie
would never be sent back.

The cookie holds an HMAC of the token, not the token: it opens this daemon's
pages and API but cannot be replayed as the bearer token of another client
configured with it, and a changed token invalidates every cookie.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web

from selfinstruct.service.dashboard.layout import esc, page, respond

__all__ = ["COOKIE", "OPEN_PATHS", "auth_middleware", "session_value", "login", "logout"]

COOKIE = "selfinstruct_session"
OPEN_PATHS = frozenset({"/healthz"})
TOKEN = web.AppKey("token", str)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def session_value(token: str) -> str:
    return hmac.new(token.encode(), b"selfinstruct dashboard session", hashlib.sha256).hexdigest()


def _wants_html(request: web.Request) -> bool:
    return request.method == "GET" and "text/html" in request.headers.get("Accept", "")


def authorized(request: web.Request, token: str) -> bool:
    given = request.headers.get("Authorization", "").encode()
    if hmac.compare_digest(given, f"Bearer {token}".encode()):
        return True
    cookie = request.cookies.get(COOKIE, "").encode()
    return hmac.compare_digest(cookie, session_value(token).encode())


def auth_middleware(token: str, reply: Callable[..., web.Response]) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def check_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in OPEN_PATHS or authorized(request, token):
            return await handler(request)
        if _wants_html(request):
            return respond(_login_page(request.path_qs), status=401, headers={"WWW-Authenticate": "Bearer"})
        return reply(401, "missing or wrong bearer token (or dashboard session cookie)",
                     headers={"WWW-Authenticate": "Bearer"})

    return check_token


async def login(request: web.Request) -> web.Response:
    """Reached only with the right bearer token (the middleware checks it): set the session cookie."""
    response = web.json_response({"status": "ok"})
    token = request.app.get(TOKEN)
    if token:
        response.set_cookie(COOKIE, session_value(token), path="/", httponly=True, samesite="Strict")
    return response


async def logout(request: web.Request) -> web.Response:
    response = web.json_response({"status": "ok"})
    response.del_cookie(COOKIE, path="/")
    return response


_LOGIN_SCRIPT = """
document.getElementById('login').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const form = ev.target, msg = document.getElementById('msg');
  const r = await fetch('/login', {method: 'POST', credentials: 'same-origin',
    headers: {'Content-Type': 'application/json', 'Authorization': 'Bearer ' + form.token.value}, body: '{}'});
  if (r.ok) { location.replace(form.dataset.next); return; }
  msg.textContent = 'wrong token'; msg.className = 'msg error';
});
"""


def _login_page(next_path: str) -> str:
    target = next_path if next_path.startswith("/") and not next_path.startswith("//") else "/"
    body = (f"<h1>Sign in</h1><div class=card><p>This service is protected by a token "
            f"(<span class=mono>selfinstruct serve --token-env</span>). Enter it once; "
            f"the browser keeps a session cookie for this address.</p>"
            f'<form id=login class=inline data-next="{esc(target)}"><label>Token'
            f'<input type=password name=token autocomplete=current-password required autofocus></label>'
            f'<button class=primary type=submit>Sign in</button></form><p id=msg class=msg></p></div>')
    return page("Sign in", body, script=_LOGIN_SCRIPT)
