"""Account limits shared through Redis: one RPM/TPM budget and one "paused until" for every process on an account.

Several ``complete``/``generate`` processes and ``serve`` daemons, on several
hosts, that use one account would each respect its RPM and together exceed it.
With ``[limits] redis_url`` (``--limits-redis``) every process asks Redis before
it sends:

- The account is the ``api_base`` plus a fingerprint of the key (a truncated
  sha256: never the key itself). Its state is one Redis hash, expiring when unused.
- One Lua script, loaded once (SCRIPT LOAD) and called with EVALSHA (loaded again
  on NOSCRIPT, e.g. after Redis restarted), keeps the budget as GCRA on Redis's
  own clock: each request reserves the next send slot at the account's pacing
  rate, and its token estimate a place in a token schedule with a few seconds of
  burst. The caller sleeps until its slot, so no process polls.
- A 429 seen by any process cuts the shared pacing rate (multiplicatively, at
  most once per half second, recovering linearly over ``_RECOVERY_S``) and, with a
  Retry-After, sets the shared "paused until" that every reservation honours. The
  AIMD concurrency window stays each process's own (``throttle.py``).

Redis going away is not an error of the run. The first failure is translated
here (the one boundary for redis errors): the process logs one warning, its
throttles fall back to their local limits at ``redis_fallback_fraction``, and a
background task reconnects; when Redis answers again the shared budget is used
again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any
from urllib.parse import urlparse

__all__ = ["RedisLimits", "SharedAccount", "account_key"]

log = logging.getLogger(__name__)

_RECOVERY_S = 20.0        # from a cut back to the configured rate, like the local Pacer
_TOKEN_BURST_S = 5.0      # seconds' worth of TPM that may go at once, like the local token bucket
_KEY_TTL_S = 3600         # an account's state outlives a pause between runs, not much more
_RECONNECT_S = 1.0

# ARGV: op ('acquire' | 'throttled' | 'pause' | 'tokens'), rate (req/s, 0: no RPM), token rate (tok/s, 0: no TPM),
# amount (acquire: the token estimate; throttled/pause: seconds to pause; tokens: the correction), ttl.
# Returns {seconds to wait before sending, the pacing rate now} as strings (Redis would truncate Lua floats).
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local key, op = KEYS[1], ARGV[1]
local ceiling, token_rate, amount = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local h = redis.call('HMGET', key, 'tat', 'rate', 'cut', 'pause', 'ttat')
local rate = ceiling
if ceiling > 0 and h[2] then
  rate = math.min(ceiling, tonumber(h[2]) + ceiling / %(recovery)s * (now - tonumber(h[3])))
end
local pause = tonumber(h[4]) or 0
local wait = 0
if op == 'acquire' then
  local start = math.max(now, pause)
  wait = start - now
  if ceiling > 0 then
    local tat = math.max(tonumber(h[1]) or 0, start)
    redis.call('HSET', key, 'tat', tostring(tat + 1 / rate))
    wait = math.max(wait, tat - now)
  end
  if token_rate > 0 and amount > 0 then
    local ttat = tonumber(h[5]) or 0
    local send_at = math.max(start, ttat - %(burst)s)
    redis.call('HSET', key, 'ttat', tostring(math.max(ttat, send_at) + amount / token_rate))
    wait = math.max(wait, send_at - now)
  end
elseif op == 'throttled' then
  if ceiling > 0 and now - (tonumber(h[3]) or 0) >= 0.5 then
    rate = math.max(ceiling / 64, rate * 0.7)
    redis.call('HSET', key, 'rate', tostring(rate), 'cut', tostring(now))
  end
  if amount > 0 then
    redis.call('HSET', key, 'pause', tostring(math.max(pause, now + math.min(amount, 120))))
  end
elseif op == 'pause' then
  redis.call('HSET', key, 'pause', tostring(math.max(pause, now + math.min(amount, 120))))
elseif op == 'tokens' and token_rate > 0 and h[5] then
  redis.call('HSET', key, 'ttat', tostring(tonumber(h[5]) + amount / token_rate))
end
redis.call('EXPIRE', key, tonumber(ARGV[5]))
return {tostring(wait), tostring(rate)}
""" % {"recovery": _RECOVERY_S, "burst": _TOKEN_BURST_S}


def account_key(api_base: str, api_key: str | None) -> str:
    """The Redis key of an account: its api_base and a fingerprint of its key, never the key."""
    fingerprint = hashlib.sha256(api_key.encode()).hexdigest()[:16] if api_key else "no-key"
    return f"selfinstruct:limits:{api_base.rstrip('/')}:{fingerprint}"


def _shown(url: str) -> str:
    """The Redis URL without its password, for log lines."""
    u = urlparse(url)
    return f"{u.scheme}://{u.hostname}:{u.port or 6379}{u.path}"


class RedisLimits:
    """One process's connection to the shared limits (one pool for every account), and its fallback state."""

    def __init__(self, url: str, *, fallback_fraction: float, reconnect_interval: float = _RECONNECT_S):
        self.url = url
        self.fallback_fraction = fallback_fraction
        self.reconnect_interval = reconnect_interval
        self.available = True
        self.losses = 0                     # times Redis went away in this process
        self._client: Any = None
        self._sha: str | None = None
        self._reconnect: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()

    def account(self, api_base: str, api_key: str | None, *, rpm: float | None,
                tpm: float | None) -> "SharedAccount":
        return SharedAccount(self, account_key(api_base, api_key), rpm=rpm, tpm=tpm)

    def _connect(self) -> Any:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        # No retries inside the client: a failure switches to the fallback at once, and the reconnect loop retries.
        self._client = Redis.from_url(self.url, socket_timeout=1.0, socket_connect_timeout=1.0,
                                      retry=Retry(NoBackoff(), 0), decode_responses=True)
        return self._client

    async def run(self, key: str, *args: Any) -> list[str] | None:
        """The script's answer, or None while Redis is away (the caller uses its local limits)."""
        if not self.available:
            return None
        from redis.exceptions import NoScriptError, RedisError

        try:
            client = self._client or self._connect()
            if self._sha is None:
                self._sha = await client.script_load(_SCRIPT)
            try:
                return await client.evalsha(self._sha, 1, key, *args)
            except NoScriptError:   # Redis restarted (or SCRIPT FLUSH): load it again
                self._sha = await client.script_load(_SCRIPT)
                return await client.evalsha(self._sha, 1, key, *args)
        except (RedisError, OSError) as exc:
            self._lost(exc)
            return None

    def _lost(self, exc: BaseException) -> None:
        if not self.available:
            return
        self.available = False
        self._sha = None
        self.losses += 1
        if self.losses == 1:
            log.warning("shared limits: Redis at %s is unreachable (%s); using local limits at %g of the "
                        "configured rates until it answers again", _shown(self.url), type(exc).__name__,
                        self.fallback_fraction)
        else:
            log.info("shared limits: Redis at %s is unreachable again; local limits", _shown(self.url))
        if self._reconnect is None or self._reconnect.done():
            self._reconnect = asyncio.get_running_loop().create_task(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        from redis.exceptions import RedisError

        while True:
            await asyncio.sleep(self.reconnect_interval)
            try:
                client = self._client or self._connect()
                await client.ping()
                self._sha = await client.script_load(_SCRIPT)
            except (RedisError, OSError):
                continue
            self.available = True
            log.info("shared limits: Redis at %s answers again; shared limits resumed", _shown(self.url))
            return

    def spawn(self, key: str, *args: Any) -> None:
        """Tell Redis something without waiting for it (from the throttle's synchronous release)."""
        if not self.available:
            return
        task = asyncio.get_running_loop().create_task(self.run(key, *args))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def aclose(self) -> None:
        tasks = list(self._background)
        if tasks:
            await asyncio.wait(tasks, timeout=2.0)
        if self._reconnect is not None:
            self._reconnect.cancel()
            await asyncio.gather(self._reconnect, return_exceptions=True)
        client, self._client = self._client, None
        if client is not None:
            from redis.exceptions import RedisError

            try:
                await client.aclose()
            except (RedisError, OSError):
                pass   # closing a pool whose server is gone: nothing left to release


class SharedAccount:
    """One account's budget in Redis, as one throttle uses it."""

    def __init__(self, owner: RedisLimits, key: str, *, rpm: float | None, tpm: float | None):
        self.owner = owner
        self.key = key
        self.rate_arg = str(rpm / 60.0) if rpm else "0"
        self.token_arg = str(tpm / 60.0) if tpm else "0"
        self.rate: float | None = rpm / 60.0 if rpm else None   # the shared pacing rate, as Redis last said

    @property
    def available(self) -> bool:
        return self.owner.available

    @property
    def fallback_fraction(self) -> float:
        return self.owner.fallback_fraction

    async def reserve(self, tokens: int) -> float | None:
        """Seconds to wait before sending (the slot is reserved), or None: Redis is away, use local limits."""
        answer = await self.owner.run(self.key, "acquire", self.rate_arg, self.token_arg, str(tokens), _KEY_TTL_S)
        if answer is None:
            return None
        if self.rate is not None:
            self.rate = float(answer[1])
        return max(0.0, float(answer[0]))

    def throttled(self, retry_after: float | None) -> None:
        """A 429: cut the shared rate, and pause every process for Retry-After when the server sent one."""
        self.owner.spawn(self.key, "throttled", self.rate_arg, self.token_arg, str(retry_after or 0), _KEY_TTL_S)

    def pause(self, seconds: float) -> None:
        self.owner.spawn(self.key, "pause", self.rate_arg, self.token_arg, str(seconds), _KEY_TTL_S)

    def correct_tokens(self, delta: int) -> None:
        """The answer used ``delta`` tokens more (negative: fewer) than reserved."""
        if self.token_arg != "0" and delta:
            self.owner.spawn(self.key, "tokens", self.rate_arg, self.token_arg, str(delta), _KEY_TTL_S)
