"""The simulated OpenAI-compatible HTTP server: a real aiohttp app on 127.0.0.1 backed by the synthetic LM.

Each completion request passes, in this order (documented in SimConfig too):

0. an outage (``outage_after``/``outage_seconds``, or ``POST /_sim/outage``
   with ``{"seconds": D}``): every call gets 503 while it lasts, and is counted;
1. auth: with ``api_key`` set, a missing or wrong ``Bearer`` key gets 401;
2. body check: unreadable JSON or bad parameters get 400; prompt tokens +
   max_tokens over ``max_context`` get 400 ``context_length_exceeded``;
3. rate limits: RPM and TPM token buckets (cost = prompt tokens + max_tokens x n);
   over the limit gets 429 with ``Retry-After``/``retry-after-ms`` and the
   ``x-ratelimit-*`` headers, and consumes nothing;
4. one fault draw per HTTP call: 500, 503, dropped connection, hang, malformed 200;
5. latency; 6. the answer (carrying the ``x-ratelimit-*`` headers too).

Handlers stay lean (no logging, no per-request objects beyond the answer) so
that one core serves several thousand trivial requests per second.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from typing import Any

import orjson
from aiohttp import web

from workers.simulated import wire
from workers.simulated.batches import SimulatedBatches
from workers.simulated.config import SimConfig
from workers.simulated.limits import RateLimiter
from workers.simulated.lm import answer, count_tokens
from workers.simulated.wire import prompt_text

__all__ = ["SimulatedEndpoint"]

_JSON = "application/json"


def _error_body(message: str, type_: str, code: str | None, param: str | None = None) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": type_, "param": param, "code": code}})


class SimulatedEndpoint:
    """One simulated server. ``await start()`` returns its base URL ending in ``/v1``."""

    def __init__(self, config: SimConfig | None = None):
        self.config = config or SimConfig()
        self._auth = f"Bearer {self.config.api_key}" if self.config.api_key is not None else None
        self._runner: web.AppRunner | None = None
        self.url: str | None = None
        self._faulty = any(getattr(self.config, p) for p in ("p_500", "p_503", "p_drop", "p_hang", "p_malformed"))
        self.batches = SimulatedBatches(self.config)  # the Files and Batches routes
        self._reset()

    def _reset(self) -> None:
        cfg = self.config
        self._rng = random.Random(cfg.seed)
        self._limiter = RateLimiter(cfg.rpm, cfg.tpm, cfg.burst_seconds, time.monotonic())
        self._requests = 0
        self._status: dict[int, int] = {}
        self._faults: dict[str, int] = {}
        self._calls: dict[str, int] = {}
        self._in_flight = 0
        self._serial = 0
        self._win_sec = int(time.monotonic())
        self._win_count = 0
        self._prev_count = 0
        self._started = time.monotonic()
        self._outage_calls = 0
        self._arrivals: list[float] = []
        self.batches.reset()
        if cfg.outage_after is not None and cfg.outage_seconds > 0:
            self._outage = (self._started + cfg.outage_after, self._started + cfg.outage_after + cfg.outage_seconds)
        else:
            self._outage = (0.0, 0.0)

    def set_outage(self, seconds: float, *, after: float = 0.0) -> None:
        """Answer 503 to every completion call from ``after`` seconds from now, for ``seconds`` (0 ends one)."""
        start = time.monotonic() + after
        self._outage = (start, start + seconds)

    # -- lifecycle ---------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/completions", self._completions)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/_sim/stats", self._stats_handler)
        app.router.add_post("/_sim/reset", self._reset_handler)
        app.router.add_post("/_sim/outage", self._outage_handler)
        self.batches.register(app)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        # handler_cancellation: a client that gives up on a hung request frees its handler.
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False,
                                     handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, reuse_address=True)
        await site.start()
        sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
        bound = sockets[0].getsockname()[1] if sockets else port
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{bound}/v1"
        return self.url

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    # -- statistics --------------------------------------------------------

    def stats(self, *, with_ids: bool = True) -> dict[str, Any]:
        """Counters since start or the last reset; see the module docstring of workers.simulated."""
        now_sec = int(time.monotonic())
        if now_sec == self._win_sec:
            rate = self._prev_count
        elif now_sec == self._win_sec + 1:
            rate = self._win_count
        else:
            rate = 0
        out: dict[str, Any] = {
            "requests": self._requests,
            "status": {str(k): v for k, v in sorted(self._status.items())},
            "faults": dict(self._faults),
            "in_flight": self._in_flight,
            "distinct_ids": len(self._calls),
            "max_calls_per_id": max(self._calls.values(), default=0),
            "rate_last_second": rate,
            "uptime_s": round(time.monotonic() - self._started, 3),
            "outage": {"active": self._outage[0] <= time.monotonic() < self._outage[1],
                       "calls": self._outage_calls},
        }
        if self.config.record_arrivals:
            out["arrival_times"] = list(self._arrivals)
        if with_ids:
            out["calls_per_id"] = dict(self._calls)
        out["batch"] = self.batches.stats()
        return out

    async def _stats_handler(self, request: web.Request) -> web.Response:
        with_ids = request.query.get("ids", "1") not in ("0", "false", "no")
        return web.Response(body=orjson.dumps(self.stats(with_ids=with_ids)), content_type=_JSON)

    async def _reset_handler(self, request: web.Request) -> web.Response:
        self._reset()
        return web.Response(body=b'{"reset": true}', content_type=_JSON)

    async def _outage_handler(self, request: web.Request) -> web.Response:
        try:
            body = orjson.loads(await request.read())
            seconds, after = float(body["seconds"]), float(body.get("after", 0.0))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            return self._bad_request('expected {"seconds": D, "after": S}')
        if not (math.isfinite(seconds) and math.isfinite(after) and seconds >= 0 and after >= 0):
            return self._bad_request("seconds and after must be finite and non-negative")
        self.set_outage(seconds, after=after)
        return web.Response(body=orjson.dumps({"outage_seconds": seconds, "after": after}), content_type=_JSON)

    async def _models(self, request: web.Request) -> web.Response:
        if self._auth is not None and request.headers.get("Authorization") != self._auth:
            return self._reply(401, _error_body("Incorrect API key provided.", "invalid_request_error",
                                                "invalid_api_key"))
        model = {"id": self.config.model_name, "object": "model", "created": 1700000000, "owned_by": "selfinstruct"}
        return web.Response(body=orjson.dumps({"object": "list", "data": [model]}), content_type=_JSON)

    # -- completions -------------------------------------------------------

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> web.Response:
        self._status[status] = self._status.get(status, 0) + 1
        hdrs = {"Content-Type": _JSON}
        if headers:
            hdrs.update(headers)
        return web.Response(status=status, body=body, headers=hdrs)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await self._complete(request, True)

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        return await self._complete(request, False)

    def _count_call(self, request: web.Request) -> None:
        self._requests += 1
        rid = request.headers.get("X-Client-Request-Id")
        if rid is not None:
            self._calls[rid] = self._calls.get(rid, 0) + 1
        sec = int(time.monotonic())
        if sec != self._win_sec:
            self._prev_count = self._win_count if sec == self._win_sec + 1 else 0
            self._win_sec, self._win_count = sec, 0
        self._win_count += 1

    def _bad_request(self, message: str, param: str | None = None, code: str | None = None) -> web.Response:
        return self._reply(400, _error_body(message, "invalid_request_error", code, param))

    async def _complete(self, request: web.Request, chat: bool) -> web.StreamResponse:
        self._count_call(request)
        now = time.monotonic()
        if self.config.record_arrivals:
            self._arrivals.append(now)
        start, end = self._outage
        if start <= now < end:
            self._outage_calls += 1
            return self._reply(503, _error_body("The service is unavailable (simulated outage).",
                                                "server_error", None))
        self._in_flight += 1
        try:
            return await self._answer(request, chat)
        finally:
            self._in_flight -= 1

    async def _answer(self, request: web.Request, chat: bool) -> web.StreamResponse:
        cfg = self.config
        if self._auth is not None and request.headers.get("Authorization") != self._auth:
            return self._reply(401, _error_body("Incorrect API key provided. You can find your API key in "
                                                "your account settings.", "invalid_request_error", "invalid_api_key"))
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return self._bad_request("We could not parse the JSON body of your request.")
        if not isinstance(body, dict):
            return self._bad_request("The request body must be a JSON object.")
        text = prompt_text(body, chat)
        if text is None:
            return self._bad_request("'messages' must be a non-empty list of messages with string content" if chat
                                     else "'prompt' must be a string", "messages" if chat else "prompt")
        max_tokens = body.get("max_tokens", body.get("max_completion_tokens"))
        max_tokens = cfg.default_max_tokens if max_tokens is None else max_tokens
        n = body.get("n", 1)
        n = 1 if n is None else n
        if not isinstance(max_tokens, int) or max_tokens < 1:
            return self._bad_request(f"Invalid max_tokens: {max_tokens!r}", "max_tokens")
        if not isinstance(n, int) or not 1 <= n <= 128:
            return self._bad_request(f"Invalid n: {n!r}", "n")
        stop = body.get("stop")
        if stop is not None and not isinstance(stop, (str, list)):
            return self._bad_request("'stop' must be a string or a list of strings", "stop")
        prompt_tokens = count_tokens(text)
        if cfg.max_context is not None and prompt_tokens + max_tokens > cfg.max_context:
            return self._bad_request(
                f"This model's maximum context length is {cfg.max_context} tokens. However, you requested "
                f"{prompt_tokens + max_tokens} tokens ({prompt_tokens} in the prompt, {max_tokens} in the "
                "completion). Please reduce your prompt; or completion length.",
                "messages" if chat else "prompt", "context_length_exceeded")

        limit_headers: dict[str, str] | None = None
        if self._limiter.active:
            verdict = self._limiter.admit(prompt_tokens + max_tokens * n, time.monotonic())
            limit_headers = verdict.headers
            if verdict.wait > 0.0:
                headers = dict(verdict.headers)
                headers["retry-after-ms"] = str(max(1, math.ceil(verdict.wait * 1000)))
                if verdict.wait >= 1.0:
                    headers["Retry-After"] = str(math.ceil(verdict.wait))
                return self._reply(429, _error_body(
                    f"Rate limit reached for {cfg.model_name}. Please try again in "
                    f"{math.ceil(verdict.wait * 1000)}ms.", "requests", "rate_limit_exceeded"), headers)

        malformed = False
        if self._faulty:
            u = self._rng.random()
            if u < cfg.p_500:
                self._faults["500"] = self._faults.get("500", 0) + 1
                return self._reply(500, _error_body("The server had an error while processing your request. "
                                                    "Sorry about that!", "server_error", None))
            u -= cfg.p_500
            if u < cfg.p_503:
                self._faults["503"] = self._faults.get("503", 0) + 1
                return self._reply(503, _error_body("The engine is currently overloaded, please try again later.",
                                                    "server_error", None), {"Retry-After": "1"})
            u -= cfg.p_503
            if u < cfg.p_drop:
                self._faults["drop"] = self._faults.get("drop", 0) + 1
                return self._drop(request)
            u -= cfg.p_drop
            if u < cfg.p_hang:
                self._faults["hang"] = self._faults.get("hang", 0) + 1
                await asyncio.sleep(cfg.hang_seconds)
            elif u - cfg.p_hang < cfg.p_malformed:
                self._faults["malformed"] = self._faults.get("malformed", 0) + 1
                malformed = True

        temperature = body.get("temperature")
        answers = answer(text, max_tokens=max_tokens, stop=stop, n=n,
                         temperature=1.0 if temperature is None else temperature, seed=body.get("seed"))
        choices, completion_tokens = wire.choices(answers, chat)
        delay = self._latency(completion_tokens)
        if delay > 0.0:
            await asyncio.sleep(delay)
        self._serial += 1
        payload = orjson.dumps(wire.completion(f"{'chatcmpl' if chat else 'cmpl'}-sim{self._serial}", chat,
                                               body.get("model") or cfg.model_name, choices, prompt_tokens,
                                               completion_tokens))
        if malformed:
            # Half the time a truncated body, half the time something that is not JSON at all.
            payload = payload[: len(payload) // 2] if self._rng.random() < 0.5 else b"<html>upstream error</html>"
        return self._reply(200, payload, limit_headers)

    def _drop(self, request: web.Request) -> web.StreamResponse:
        """Close the socket without a response: the client sees a disconnect, not a hang."""
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError

    def _latency(self, completion_tokens: int) -> float:
        cfg = self.config
        ms = cfg.latency_ms
        if cfg.latency_dist == "uniform" and cfg.latency_jitter_ms:
            ms = self._rng.uniform(max(0.0, ms - cfg.latency_jitter_ms), ms + cfg.latency_jitter_ms)
        elif cfg.latency_dist == "lognormal" and ms > 0:
            mu = math.log(ms) - cfg.latency_sigma ** 2 / 2  # so that the mean stays latency_ms
            ms = self._rng.lognormvariate(mu, cfg.latency_sigma)
        ms += cfg.ms_per_token * completion_tokens
        return ms / 1000.0
