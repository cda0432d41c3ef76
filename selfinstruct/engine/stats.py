"""Run statistics: counters the engine updates, a cost estimate from a price table, and the live display.

The display is a ``rich`` progress line on a TTY and a plain log line every few
seconds otherwise (logs stay greppable in systemd/journald). The final summary
goes to stderr and the same numbers to a stats JSON next to the output.
"""

from __future__ import annotations

import asyncio
import collections
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

__all__ = ["EngineStats", "PriceTable", "DEFAULT_PRICES", "Reporter", "ProgressEta", "ProgressFn"]

# USD per 1M tokens (input, output). Estimates only; override in the config's [prices] table.
DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-3.5-turbo": (0.50, 1.50),
    "gpt-3.5-turbo-instruct": (1.50, 2.00),
    "davinci-002": (2.00, 2.00),
}


@dataclass(frozen=True)
class PriceTable:
    prices: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_PRICES))

    @classmethod
    def from_table(cls, table: Any, *, source: str = "<config>") -> "PriceTable":
        """The defaults plus a TOML ``[prices]`` table of ``model = {input, output}`` (USD per 1M tokens)."""
        from selfinstruct.errors import ConfigError

        if not isinstance(table, dict):
            raise ConfigError(f"{source}: [prices] must be a table")
        prices = dict(DEFAULT_PRICES)
        for model, p in table.items():
            pair = (p.get("input"), p.get("output")) if isinstance(p, dict) else (None, None)
            # Strict like every other table: no strings or booleans, no NaN or infinity, no negative price.
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1e9
                       for v in pair):
                raise ConfigError(f"{source}: [prices.{model!r}] needs input and output as numbers in [0, 1e9] "
                                  f"(USD per 1M tokens), got {p!r}")
            prices[model] = (float(pair[0]), float(pair[1]))
        return cls(prices)

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        """USD for the tokens, or None when the model has no price (local models, simulators)."""
        price = self.prices.get(model)
        if price is None:
            # Dated variants ("gpt-4o-mini-2024-07-18") use their family's price.
            matches = [k for k in self.prices if model.startswith(k + "-")]
            if not matches:
                return None
            price = self.prices[max(matches, key=len)]
        return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1e6


@dataclass
class EngineStats:
    """Counters for one run. The engine updates them; readers only read."""

    model: str = ""
    total: int | None = None
    done: int = 0
    cached: int = 0          # answered from the store on resume, not requested again
    failed: int = 0
    calls: int = 0           # HTTP calls sent
    retries: int = 0
    rate_limited: int = 0    # 429s
    in_flight: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    errors: collections.Counter = field(default_factory=collections.Counter)
    extra: dict[str, Any] = field(default_factory=dict)  # stage counters a pipeline adds
    started: float = field(default_factory=time.monotonic)
    window: int = 0
    rate: float | None = None
    endpoint_down_since: float | None = None  # epoch seconds while the circuit breaker is open, else None
    replicas: dict[str, Any] = field(default_factory=dict)  # label -> engine.replicas.Replica, when several

    def elapsed(self) -> float:
        return max(1e-9, time.monotonic() - self.started)

    def snapshot(self, prices: PriceTable | None = None) -> dict[str, Any]:
        el = self.elapsed()
        finished = self.done + self.failed
        new = max(0, self.done - self.cached)
        eta = None
        if self.total is not None and new > 0:
            remaining = max(0, self.total - finished)
            eta = remaining / (new / el)
        cost = prices.cost(self.model, self.prompt_tokens, self.completion_tokens) if prices else None
        return {
            "model": self.model,
            "total": self.total,
            "done": self.done,
            "cached": self.cached,
            "failed": self.failed,
            "calls": self.calls,
            "retries": self.retries,
            "rate_limited_429": self.rate_limited,
            "in_flight": self.in_flight,
            "concurrency_window": self.window,
            "pacing_rate_rps": round(self.rate, 2) if self.rate else None,
            "elapsed_s": round(el, 3),
            "requests_per_s": round(new / el, 2),
            "tokens_per_s": round((self.prompt_tokens + self.completion_tokens) / el, 1),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "calls_per_request": round(self.calls / new, 3) if new else None,
            "eta_s": round(eta, 1) if eta is not None else None,
            "cost_usd_estimate": round(cost, 4) if cost is not None else None,
            "errors": dict(self.errors),
            "endpoint_up": self.endpoint_down_since is None,
            "endpoint_down_since": (None if self.endpoint_down_since is None else time.strftime(
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.endpoint_down_since))),
            **({"replicas": {k: r.snapshot() for k, r in self.replicas.items()}} if self.replicas else {}),
            **self.extra,
        }

    def summary_line(self, prices: PriceTable | None = None) -> str:
        s = self.snapshot(prices)
        total = f"/{s['total']}" if s["total"] is not None else ""
        parts = [
            f"done {s['done']}{total}",
            f"failed {s['failed']}",
            f"{s['requests_per_s']} req/s",
            f"{s['tokens_per_s']} tok/s",
            f"429s {s['rate_limited_429']}",
            f"retries {s['retries']}",
            f"window {s['concurrency_window']}",
        ]
        if "replicas" in s:
            up = sum(1 for r in s["replicas"].values() if r["up"])
            parts.append(f"replicas {up}/{len(s['replicas'])} up")
        if s["eta_s"] is not None:
            parts.append(f"eta {s['eta_s']:.0f}s")
        if s["cost_usd_estimate"] is not None:
            parts.append(f"~${s['cost_usd_estimate']:.4f}")
        return " | ".join(parts)


# A pipeline's own count of what the user asked for: (label, done, total or None).
ProgressFn = Callable[[], tuple[str, int, "int | None"]]


class ProgressEta:
    """ETA of a progress count from its recent rate (the last ``window`` seconds); restarts when the label changes.

    The rate is measured, not assumed: a resumed run's count starts high and only
    what moves while this process watches counts towards the rate.
    """

    def __init__(self, *, window: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.window = window
        self.clock = clock
        self._label: str | None = None
        self._samples: collections.deque[tuple[float, int]] = collections.deque()

    def update(self, label: str, done: int, total: int | None) -> float | None:
        """Record a sample; the seconds left at the recent rate, or None while unknown."""
        now = self.clock()
        if label != self._label:
            self._label = label
            self._samples.clear()
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self.window:
            self._samples.popleft()
        if total is None:
            return None
        if done >= total:
            return 0.0
        t0, d0 = self._samples[0]
        if now - t0 <= 0 or done <= d0:
            return None
        return (total - done) / ((done - d0) / (now - t0))


class Reporter:
    """Shows progress while a run goes: rich on a TTY, plain lines every ``interval`` seconds otherwise.

    Without ``progress`` the count is requests (what ``complete`` is asked for).
    A pipeline passes ``progress`` to count what its user asked for instead
    (e.g. accepted instructions of the target, then instances); request counts
    then follow as details. The engine never learns what the label means.
    """

    def __init__(self, stats: EngineStats, *, prices: PriceTable | None = None, stream: TextIO | None = None,
                 interval: float = 5.0, live: bool | None = None, label: str = "selfinstruct",
                 progress: ProgressFn | None = None, clock: Callable[[], float] = time.monotonic):
        self.stats = stats
        self.prices = prices
        self.stream = stream or sys.stderr
        self.interval = interval
        self.live = self.stream.isatty() if live is None else live
        self.label = label
        self.progress = progress
        self.eta = ProgressEta(clock=clock)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run_live() if self.live else self._run_plain())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    def counts(self) -> tuple[str, int, int | None, float | None]:
        """(label, done, total, eta seconds) of what the progress counts."""
        if self.progress is None:
            s = self.stats
            return "requests", s.done + s.failed, s.total, s.snapshot()["eta_s"]
        label, done, total = self.progress()
        return label, done, total, self.eta.update(label, done, total)

    def line(self) -> str:
        """One plain progress line."""
        if self.progress is None:
            return f"{self.label}: {self.stats.summary_line(self.prices)}"
        label, done, total, eta = self.counts()
        head = f"{label} {done}/{total if total is not None else '?'}"
        if eta is not None:
            head += f" eta {eta:.0f}s"
        return f"{self.label}: {head} | {self._details(requests=True)}"

    def _details(self, *, requests: bool) -> str:
        s = self.stats
        snap = s.snapshot(self.prices)
        parts = [f"requests {s.done} done {s.failed} failed"] if requests else []
        parts += [f"{snap['requests_per_s']} req/s", f"{snap['tokens_per_s']} tok/s", f"429s {s.rate_limited}",
                  f"retries {s.retries}", f"window {s.window}"]
        if snap["cost_usd_estimate"] is not None:
            parts.append(f"~${snap['cost_usd_estimate']:.4f}")
        return " | ".join(parts)

    async def _run_plain(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            print(self.line(), file=self.stream, flush=True)

    async def _run_live(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        console = Console(file=self.stream)
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), TextColumn("{task.fields[info]}"), console=console,
                      transient=False, refresh_per_second=4) as progress:
            task = progress.add_task(self.label, total=self.stats.total, info="")
            while True:
                label, done, total, eta = self.counts()
                info = self._details(requests=self.progress is not None)
                if eta is not None:
                    info = f"eta {eta:.0f}s | {info}"
                description = self.label if self.progress is None else f"{self.label}: {label}"
                progress.update(task, description=description, completed=done, total=total, info=info)
                await asyncio.sleep(0.25)
