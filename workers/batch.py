"""The worker that speaks the OpenAI Files and Batches API: upload a JSONL file, create, poll, cancel, download.

Routes (relative to ``api_base``, which ends in ``/v1`` as for the official SDK):
``POST /files`` (multipart, ``purpose=batch``), ``GET /files/{id}/content``,
``POST /batches``, ``GET /batches/{id}``, ``GET /batches`` (to find a batch made
from a file when a crash lost its id), ``POST /batches/{id}/cancel``.

Key hygiene is the online worker's: the key goes only to ``api_base``, and a
redirect is never followed (3xx -> ``FatalEndpointError`` naming the URL). Every
failure is translated once, here and in ``workers.http``, into ``selfinstruct.errors``
types whose messages name the URL and the HTTP status, never the key.

``input_lines`` builds a batch input line (``custom_id``, ``method``, ``url``,
``body``) from a ``Request``; ``split_lines`` cuts lines into files that respect
the per-file limits (50,000 requests and 200 MB by default).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import aiohttp
import orjson

from selfinstruct.errors import (
    AuthError,
    FatalEndpointError,
    MalformedResponse,
    RateLimited,
    RequestError,
    ServerError,
)
from workers.headers import parse_retry_after
from workers.http import error_detail, exchange
from workers.openai import EndpointConfig, OpenAIWorker

__all__ = ["BatchWorker", "TERMINAL", "batch_url", "split_lines", "MAX_FILE_REQUESTS", "MAX_FILE_BYTES"]

MAX_FILE_REQUESTS = 50_000
MAX_FILE_BYTES = 200 * 1024 * 1024
TERMINAL = ("completed", "failed", "expired", "cancelled")
_BATCH_URLS = {"chat": "/v1/chat/completions", "completions": "/v1/completions"}


def batch_url(endpoint: str) -> str:
    """The ``url`` of every line and the ``endpoint`` of the batch, for an endpoint kind."""
    return _BATCH_URLS[endpoint]


def split_lines(lines: list[tuple[str, bytes]], *, max_requests: int = MAX_FILE_REQUESTS,
                max_bytes: int = MAX_FILE_BYTES) -> list[list[tuple[str, bytes]]]:
    """``(custom_id, line)`` pairs cut, in order, into files of at most ``max_requests`` lines and ``max_bytes``
    bytes (a single line larger than ``max_bytes`` still gets a file of its own: the server judges it)."""
    files: list[list[tuple[str, bytes]]] = []
    current: list[tuple[str, bytes]] = []
    size = 0
    for cid, line in lines:
        n = len(line) + 1
        if current and (len(current) >= max_requests or size + n > max_bytes):
            files.append(current)
            current, size = [], 0
        current.append((cid, line))
        size += n
    if current:
        files.append(current)
    return files


class BatchWorker:
    """Files and Batches calls against one OpenAI-compatible ``api_base``; builds lines with the online body."""

    def __init__(self, config: EndpointConfig, api_key: str | None = None, *, timeout: float = 600.0):
        self.config = config
        self.api_base = config.api_base.rstrip("/")
        self.endpoint_url = self.api_base + "/batches"
        self._key = api_key or None
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=min(timeout, config.connect_timeout))
        self._session: aiohttp.ClientSession | None = None
        self._headers = dict(config.extra_headers)
        if self._key:
            self._headers["Authorization"] = f"Bearer {self._key}"
        # The same JSON body an online call would send (model, resolved params, prompt or messages).
        self._bodies = OpenAIWorker(config)

    def __repr__(self) -> str:  # the key stays out of logs and tracebacks
        return f"BatchWorker(api_base={self.api_base!r}, model={self.config.model!r})"

    def input_line(self, request: Any) -> bytes:
        """One input line for ``request`` (its params already resolved)."""
        return orjson.dumps({"custom_id": request.id, "method": "POST", "url": batch_url(self.config.endpoint),
                             "body": self._bodies.build_body(request)})

    # -- the API ---------------------------------------------------------------------
    async def upload(self, lines: Iterable[bytes], *, filename: str) -> str:
        """``POST /files`` with ``purpose=batch``; the new file's id."""
        form = aiohttp.FormData()
        form.add_field("purpose", "batch")
        form.add_field("file", b"".join(line + b"\n" for line in lines), filename=filename,
                       content_type="application/jsonl")
        obj = await self._call("POST", "/files", data=form)
        return _field(obj, "id", self.api_base + "/files")

    async def create(self, file_id: str, *, window: str, metadata: dict[str, str] | None = None) -> dict[str, Any]:
        """``POST /batches`` for an uploaded file; the batch object."""
        body = {"input_file_id": file_id, "endpoint": batch_url(self.config.endpoint), "completion_window": window}
        if metadata:
            body["metadata"] = metadata
        return await self._call("POST", "/batches", json_body=body)

    async def retrieve(self, batch_id: str) -> dict[str, Any]:
        return await self._call("GET", f"/batches/{batch_id}")

    async def cancel(self, batch_id: str) -> dict[str, Any]:
        return await self._call("POST", f"/batches/{batch_id}/cancel")

    async def find_by_file(self, file_id: str, *, pages: int = 20) -> dict[str, Any] | None:
        """The batch created from ``file_id``, if the server has one (``GET /batches``, newest first)."""
        after: str | None = None
        for _ in range(pages):
            query = "?limit=100" + (f"&after={after}" if after else "")
            obj = await self._call("GET", "/batches" + query)
            data = obj.get("data") if isinstance(obj.get("data"), list) else []
            for batch in data:
                if isinstance(batch, dict) and batch.get("input_file_id") == file_id:
                    return batch
            if not obj.get("has_more") or not data:
                return None
            after = data[-1].get("id")
        return None

    async def content(self, file_id: str) -> list[dict[str, Any]]:
        """``GET /files/{id}/content``: the file's JSONL lines as objects."""
        url = f"{self.api_base}/files/{file_id}/content"
        raw = await self._call("GET", f"/files/{file_id}/content", raw=True)
        out = []
        for n, line in enumerate(raw.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise MalformedResponse(f"{url}: line {n} is not JSON", endpoint=url, status=200) from exc
            if not isinstance(obj, dict) or not isinstance(obj.get("custom_id"), str):
                raise MalformedResponse(f"{url}: line {n} has no custom_id", endpoint=url, status=200)
            out.append(obj)
        return out

    # -- HTTP --------------------------------------------------------------------------
    async def _call(self, method: str, path: str, *, data: Any = None, json_body: Any = None,
                    raw: bool = False) -> Any:
        session = self._session
        if session is None:
            session = self._session = aiohttp.ClientSession(trust_env=False, skip_auto_headers=("User-Agent",))
        url = self.api_base + path
        headers = dict(self._headers)
        if json_body is not None:
            data = orjson.dumps(json_body)
            headers["Content-Type"] = "application/json"
        status, body, resp_headers = await exchange(session, method, url, label=f"{method} {url}", data=data,
                                                    headers=headers, timeout=self._timeout)
        if not 200 <= status < 300:
            raise self._error(method, url, status, body, resp_headers)
        if raw:
            return body
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise MalformedResponse(f"{method} {url}: HTTP {status} with a body that is not JSON", endpoint=url,
                                    status=status) from exc
        if not isinstance(obj, dict):
            raise MalformedResponse(f"{method} {url}: HTTP {status} with a body that is not an object",
                                    endpoint=url, status=status)
        return obj

    def _error(self, method: str, url: str, status: int, raw: bytes, headers: Any) -> RequestError:
        _, detail = error_detail(raw, self._key)
        msg = f"{method} {url}: HTTP {status}" + (f": {detail}" if detail else "")
        if status == 429:
            return RateLimited(msg, endpoint=url, status=429, retry_after=parse_retry_after(headers))
        if 300 <= status < 400:
            return FatalEndpointError(f"{method} {url}: HTTP {status} redirect not followed (the API key goes "
                                      f"only to the configured api_base)", endpoint=url, status=status)
        if status in (408, 409) or status >= 500:
            return ServerError(msg, endpoint=url, status=status, retry_after=parse_retry_after(headers))
        if status in (401, 403):
            return AuthError(f"{method} {url}: HTTP {status}: authentication failed (check the API key)",
                             endpoint=url, status=status)
        return FatalEndpointError(msg, endpoint=url, status=status)

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def _field(obj: dict[str, Any], name: str, url: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or not value:
        raise MalformedResponse(f"{url}: answer without {name!r}", endpoint=url, status=200)
    return value
