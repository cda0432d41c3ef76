"""The worker that speaks the OpenAI HTTP API (chat or completions) over one pooled aiohttp session.

Every failure is translated here, once, into ``selfinstruct.errors`` types, so the
engine decides what to do by type alone. Messages name the endpoint URL and the
HTTP status, never the API key.

``api_base`` is the base the official SDK takes, ending in ``/v1``
(``http://127.0.0.1:8000/v1``, ``https://api.openai.com/v1``); the worker appends
``/chat/completions`` or ``/completions`` and nothing else, so a base without
``/v1`` reaches a path the server does not know (404 -> FatalEndpointError
naming the URL). Redirects are not followed (3xx -> FatalEndpointError naming
the URL, the status and the target), so the key never leaves ``api_base``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from selfinstruct.errors import (
    AuthError,
    ConfigError,
    ContextLengthExceeded,
    FatalEndpointError,
    MalformedResponse,
    RateLimited,
    RequestError,
    ServerError,
)
from workers.base import DEFAULT_MAX_TOKENS, ENDPOINTS, Choice, Request, Response, resolve_params
from workers.headers import is_context_length_error, parse_rate_limit_headers, parse_retry_after
from workers.http import error_detail, exchange

__all__ = ["EndpointConfig", "OpenAIWorker", "parse_body"]

_PATHS = {"chat": "/chat/completions", "completions": "/completions"}


@dataclass(frozen=True, kw_only=True)
class EndpointConfig:
    """Where to send requests and with which default parameters."""

    api_base: str = field(metadata={"help": "base URL ending in /v1, as for the openai SDK"})
    model: str = field(metadata={"help": "model name sent in every request"})
    endpoint: str = field(default="completions", metadata={"help": "'chat' or 'completions'"})
    defaults: dict[str, Any] = field(default_factory=dict, metadata={
        "help": f"default request params (max_tokens, temperature, stop, n ...); a request's own params win, and "
                f"max_tokens is {DEFAULT_MAX_TOKENS} when neither sets it"})
    extra_headers: dict[str, str] = field(default_factory=dict, metadata={"help": "headers added to every request"})
    connect_timeout: float = field(default=10.0, metadata={"help": "seconds to open a connection"})
    request_timeout: float = field(default=600.0,
                                   metadata={"help": "seconds a whole call may take when the caller gives none"})
    replicas: tuple[Any, ...] = field(default=(), metadata={
        "help": "backends serving the same model ([[endpoint.replicas]] with api_base, api_key_env, rpm, tpm, "
                "max_concurrency); requests go to the least loaded healthy one. api_base must be one of them"})

    def __post_init__(self) -> None:
        if not isinstance(self.api_base, str) or not self.api_base.startswith(("http://", "https://")):
            raise ConfigError(f"endpoint.api_base must be an http:// or https:// URL, got {self.api_base!r}")
        if not isinstance(self.model, str) or not self.model:
            raise ConfigError("endpoint.model must be a non-empty string")
        if self.endpoint not in ENDPOINTS:
            raise ConfigError(f"endpoint.endpoint must be one of {ENDPOINTS}, got {self.endpoint!r}")
        if not isinstance(self.defaults, dict):
            raise ConfigError("endpoint.defaults must be a table of request parameters")
        for key in ("model", "messages", "prompt"):
            if key in self.defaults:
                raise ConfigError(f"endpoint.defaults must not set {key!r}")
        if not isinstance(self.extra_headers, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in self.extra_headers.items()):
            raise ConfigError("endpoint.extra_headers must map header names to strings")
        for name in ("connect_timeout", "request_timeout"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0 < value <= 86_400:
                raise ConfigError(f"endpoint.{name} must be a positive number of seconds up to 86400, got {value!r}")
        if self.replicas:
            from selfinstruct.engine.replicas import parse_replicas

            replicas = parse_replicas(self.replicas)
            object.__setattr__(self, "replicas", replicas)   # tables from TOML become ReplicaConfig values
            if self.api_base not in {r.api_base for r in replicas}:
                raise ConfigError(f"endpoint.api_base {self.api_base!r} must be one of endpoint.replicas' api_base "
                                  f"(it names the run's endpoint; requests go to every replica)")

    @property
    def url(self) -> str:
        return self.api_base.rstrip("/") + _PATHS[self.endpoint]


def parse_body(raw: bytes, endpoint: str, url: str) -> tuple[tuple[Choice, ...], dict[str, int], str | None]:
    """Choices, usage and model out of a 200 body; MalformedResponse when it is not the OpenAI shape."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedResponse(f"{url}: HTTP 200 with a body that is not JSON ({len(raw)} bytes)",
                                endpoint=url, status=200) from exc
    choices = obj.get("choices") if isinstance(obj, dict) else None
    if not isinstance(choices, list) or not choices:
        raise MalformedResponse(f"{url}: HTTP 200 without a 'choices' list", endpoint=url, status=200)
    out = []
    try:
        if len(choices) > 1:
            choices = sorted(choices, key=lambda c: c.get("index", 0))
        for c in choices:
            if endpoint == "chat":
                text = c["message"]["content"]
            else:
                text = c["text"]
            out.append(Choice(text or "", c.get("finish_reason"), c.get("logprobs")))
    except (KeyError, TypeError, AttributeError) as exc:
        raise MalformedResponse(f"{url}: HTTP 200 with a choice lacking its text", endpoint=url,
                                status=200) from exc
    usage = obj.get("usage")
    return tuple(out), usage if isinstance(usage, dict) else {}, obj.get("model")


class OpenAIWorker:
    """Sends ``Request`` values to one OpenAI-compatible endpoint and returns ``Response`` values.

    ``api_key`` is the key itself, resolved by the caller at the edge (``selfinstruct.net``);
    it is optional for loopback servers. ``max_connections`` caps the pooled sockets.
    """

    def __init__(self, config: EndpointConfig, api_key: str | None = None, *, max_connections: int = 100):
        if max_connections < 1:
            raise ConfigError(f"max_connections must be >= 1, got {max_connections}")
        self.config = config
        self.endpoint_url = config.url
        self._endpoint = config.endpoint
        self._key = api_key or None
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        self._headers.update(config.extra_headers)
        if self._key:
            self._headers["Authorization"] = f"Bearer {self._key}"

    def __repr__(self) -> str:  # the key stays out of logs and tracebacks
        return f"OpenAIWorker(url={self.endpoint_url!r}, model={self.config.model!r})"

    def _open(self) -> aiohttp.ClientSession:
        # Created lazily: a ClientSession binds to the running loop.
        connector = aiohttp.TCPConnector(limit=self._max_connections, limit_per_host=0, ttl_dns_cache=300)
        self._session = aiohttp.ClientSession(connector=connector, trust_env=False,
                                              skip_auto_headers=("User-Agent",))
        return self._session

    def _timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        t = self._timeouts.get(seconds)
        if t is None:
            # total bounds connect + send + reading the whole body; ceil_threshold
            # keeps aiohttp from rounding short timeouts up to whole seconds.
            t = aiohttp.ClientTimeout(total=seconds, connect=min(seconds, self.config.connect_timeout),
                                      ceil_threshold=max(5.0, seconds + 1.0))
            self._timeouts[seconds] = t
        return t

    def build_body(self, request: Request, max_tokens: int | None = None) -> dict[str, Any]:
        """The JSON body: the model, the request's params over the config's defaults (``resolve_params``;
        the engine's requests come resolved already), then the ``max_tokens`` override."""
        body = {**resolve_params(self.config.defaults, request.params), "model": self.config.model}
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if self._endpoint == "chat":
            if request.messages is not None:
                body["messages"] = request.messages
            else:  # a text prompt sent to a chat model becomes one user turn
                body["messages"] = [{"role": "user", "content": request.prompt or ""}]
        else:
            if request.messages is not None:
                raise ConfigError(f"request {request.id!r} has chat messages but the endpoint is "
                                  f"{self.endpoint_url} (completions)")
            body["prompt"] = request.prompt if request.prompt is not None else ""
        return body

    async def send(self, request: Request, *, max_tokens: int | None = None,
                   timeout: float | None = None) -> Response:
        session = self._session or self._open()
        url = self.endpoint_url
        seconds = self.config.request_timeout if timeout is None else timeout
        headers = {**self._headers, "X-Client-Request-Id": request.id}
        data = orjson.dumps(self.build_body(request, max_tokens))
        status, raw, resp_headers = await exchange(session, "POST", url, label=url, data=data, headers=headers,
                                                   timeout=self._timeout(seconds),
                                                   timed_out=f"timed out after {seconds:g}s")
        if 200 <= status < 300:
            choices, usage, model = parse_body(raw, self._endpoint, url)
            return Response(choices=choices, usage=usage, model=model,
                            rate_limits=parse_rate_limit_headers(resp_headers))
        raise self._error(status, raw, resp_headers)

    def _error(self, status: int, raw: bytes, headers: Any) -> RequestError:
        url = self.endpoint_url
        body, detail = error_detail(raw, self._key)
        msg = f"{url}: HTTP {status}" + (f": {detail}" if detail else "")
        if status == 429:
            limited = RateLimited(msg, endpoint=url, status=429, retry_after=parse_retry_after(headers))
            # What the server said about its buckets, for the engine's limiter to adopt.
            limited.rate_limits = parse_rate_limit_headers(headers)  # type: ignore[attr-defined]
            return limited
        if 300 <= status < 400:
            target = " ".join(str(headers.get("Location", "")).split())[:200]
            return FatalEndpointError(f"{url}: HTTP {status} redirect" + (f" to {target}" if target else "")
                                      + " not followed (the API key goes only to the configured api_base; "
                                        "set api_base to the final URL)", endpoint=url, status=status)
        if status in (408, 409) or status >= 500:
            return ServerError(msg, endpoint=url, status=status, retry_after=parse_retry_after(headers))
        if status in (401, 403):
            # The server's own words may echo part of the key ("Incorrect API key provided: sk-...").
            return AuthError(f"{url}: HTTP {status}: authentication failed (check the API key)", endpoint=url,
                             status=status)
        if status in (400, 413, 422) and is_context_length_error(body):
            return ContextLengthExceeded(msg, endpoint=url, status=status)
        return FatalEndpointError(msg, endpoint=url, status=status)

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def __aenter__(self) -> "OpenAIWorker":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
