"""One HTTP exchange with an OpenAI-compatible server, with what can go wrong in it translated once.

Shared by the online worker (``workers.openai``) and the Batch API worker
(``workers.batch``), so two rules are written in one place: a redirect is never
followed (it would carry the Authorization header to wherever the server points;
each caller turns the 3xx into ``FatalEndpointError``), and aiohttp's timeouts,
connection failures and unreadable HTTP messages become ``selfinstruct.errors``
types. ``error_detail`` reads an error body's message with the key masked.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson

from selfinstruct.errors import MalformedResponse, TransientNetworkError
from workers.headers import error_message

__all__ = ["exchange", "error_detail"]


async def exchange(session: aiohttp.ClientSession, method: str, url: str, *, label: str, data: Any,
                   headers: dict[str, str], timeout: aiohttp.ClientTimeout,
                   timed_out: str = "timed out") -> tuple[int, bytes, Any]:
    """``(status, body, headers)`` of one request, whatever the status; errors name ``label`` (the caller's
    prefix: the URL, or the method and URL) and say ``timed_out`` on a timeout."""
    try:
        # Never follow a redirect: it would carry the Authorization header to wherever the server points.
        async with session.request(method, url, data=data, headers=headers, timeout=timeout,
                                   allow_redirects=False) as resp:
            return resp.status, await resp.read(), resp.headers
    except asyncio.TimeoutError as exc:
        raise TransientNetworkError(f"{label}: {timed_out}", endpoint=url) from exc
    except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
        raise TransientNetworkError(f"{label}: connection failed ({type(exc).__name__})", endpoint=url) from exc
    except aiohttp.ClientResponseError as exc:  # the HTTP message itself could not be parsed
        raise MalformedResponse(f"{label}: unreadable HTTP response ({exc.status})", endpoint=url,
                                status=exc.status or None) from exc


def error_detail(raw: bytes, key: str | None) -> tuple[Any, str]:
    """An error body as the server sent it (parsed JSON, or its first 500 bytes as text) and its message
    on one line of at most 300 characters, with ``key`` masked: servers may echo part of it back."""
    try:
        body: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = raw[:500].decode("utf-8", "replace")
    detail = " ".join(error_message(body).split())[:300]
    if key and key in detail:
        detail = detail.replace(key, "***")
    return body, detail
