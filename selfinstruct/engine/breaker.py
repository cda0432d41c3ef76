"""The circuit breaker's rules: when an endpoint counts as down, when to probe it, when to give up. Pure: no asyncio.

Every method takes the current (monotonic) time, so the behaviour is a function
of its inputs and is tested with parameter tables; the engine does the waiting.

- *Outage* failures are the ones that say nothing reached a model: connection
  refused or reset, DNS or TLS failure, a timeout, a 5xx
  (``TransientNetworkError`` and ``ServerError``). Any other answer (a 200, a
  429, a 4xx, a garbled body) proves the endpoint is up.
- ``threshold`` consecutive outage failures open the breaker. While it is open
  nothing is sent but one *probe* per interval; the interval starts at
  ``probe_base`` and doubles after each failed probe up to ``probe_max`` (with a
  little jitter, so several clients do not probe in step). Any answer closes it.
- An outage failure while the breaker is open is the outage's fault, not the
  request's: the engine does not count it against ``max_attempts``.
- The breaker gives up when the endpoint has never answered in this run and has
  been failing for ``unreachable_after`` seconds (a wrong URL, nothing
  listening), or once it has been down for ``max_outage`` seconds.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass

__all__ = ["BreakerConfig", "CircuitBreaker", "Admit", "GiveUp", "is_outage"]


@dataclass(frozen=True, kw_only=True)
class BreakerConfig:
    threshold: int = 5              # consecutive outage failures that open the breaker
    probe_base: float = 1.0         # first wait between probes, seconds
    probe_max: float = 30.0         # cap of the doubling probe interval
    jitter: float = 0.2             # each interval is shortened by up to this fraction, at random
    max_outage: float = 600.0       # give up after being down this long
    unreachable_after: float = 10.0  # give up this soon when the endpoint never answered at all


def is_outage(exc: BaseException) -> bool:
    """True for failures that mean the endpoint is unreachable or broken, not that it refused this request."""
    from selfinstruct.errors import ServerError, TransientNetworkError

    return isinstance(exc, (ServerError, TransientNetworkError))


class Admit(enum.Enum):
    SEND = "send"       # closed: go ahead
    PROBE = "probe"     # open: this caller sends the one probe
    WAIT = "wait"       # open: wait for a state change, or until ``next_event``
    GIVE_UP = "give_up"  # see ``CircuitBreaker.give_up``


class GiveUp(enum.Enum):
    UNREACHABLE = "unreachable"   # never answered in this run
    MAX_OUTAGE = "max_outage"     # down longer than max_outage


class CircuitBreaker:
    def __init__(self, config: BreakerConfig | None = None, *, rng: random.Random | None = None):
        self.config = config or BreakerConfig()
        self._rng = rng or random.Random(0)
        self.open = False
        self.answered = False            # the endpoint answered at least once in this run
        self.failures = 0                # consecutive outage failures
        self.first_failure: float | None = None  # start of the current failure streak
        self.down_since: float | None = None     # same, but only set while open
        self.interval = self.config.probe_base
        self.next_probe = 0.0
        self.probing = False             # a probe is out (admitted and not yet reported)
        self.probes = 0                  # probes admitted during the current outage

    # -- asking -------------------------------------------------------------------
    def admit(self, now: float) -> Admit:
        if not self.open:
            return Admit.SEND
        if self.give_up(now) is not None:
            return Admit.GIVE_UP
        if not self.probing and now >= self.next_probe:
            self.probing = True
            self.probes += 1
            return Admit.PROBE
        return Admit.WAIT

    def next_event(self, now: float) -> float | None:
        """When a waiting caller should ask again without being told of a change (None: only on a change)."""
        if not self.open:
            return None
        times = [self._give_up_at()]
        if not self.probing:
            times.append(self.next_probe)
        return max(now, min(times))

    def give_up(self, now: float) -> GiveUp | None:
        if not self.open or self.down_since is None:
            return None
        if now >= self._give_up_at():
            return GiveUp.MAX_OUTAGE if self.answered else GiveUp.UNREACHABLE
        return None

    def _give_up_at(self) -> float:
        assert self.down_since is not None and self.first_failure is not None
        cfg = self.config
        at = self.down_since + cfg.max_outage
        if not self.answered:
            at = min(at, self.first_failure + cfg.unreachable_after)
        return at

    # -- telling ------------------------------------------------------------------
    def cancel_probe(self) -> None:
        """The admitted probe was never sent (stopped, cancelled): the next caller may probe at once."""
        self.probing = False

    def on_answer(self, now: float, *, probe: bool = False) -> bool:
        """Any answer that is not an outage failure. Returns True when this closed the breaker."""
        if probe:
            self.probing = False
        self.answered = True
        was_open = self.open
        self.open = False
        self.failures = 0
        self.first_failure = self.down_since = None
        self.interval = self.config.probe_base
        self.probes = 0
        return was_open

    def on_outage(self, now: float, *, probe: bool = False) -> bool:
        """An outage failure. Returns True when the breaker is open afterwards (the attempt is excused)."""
        if probe:
            self.probing = False
        self.failures += 1
        if self.first_failure is None:
            self.first_failure = now
        cfg = self.config
        if not self.open:
            if self.failures < cfg.threshold:
                return False
            self.open = True
            self.down_since = self.first_failure
            self.interval = cfg.probe_base
            self.next_probe = now + self._jittered(self.interval)
        elif probe:
            self.interval = min(cfg.probe_max, self.interval * 2)
            self.next_probe = now + self._jittered(self.interval)
        return True

    def _jittered(self, interval: float) -> float:
        return interval * (1.0 - self.config.jitter * self._rng.random())
