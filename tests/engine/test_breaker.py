"""The circuit breaker's rules as tables: events at fake times in, decisions out."""

from __future__ import annotations

import pytest

from selfinstruct.engine.breaker import Admit, BreakerConfig, CircuitBreaker, GiveUp, is_outage
from selfinstruct.errors import (
    AuthError,
    MalformedResponse,
    RateLimited,
    ServerError,
    TransientNetworkError,
)

CFG = BreakerConfig(threshold=3, probe_base=1.0, probe_max=8.0, jitter=0.0, max_outage=100.0,
                    unreachable_after=10.0)


def run(events, config=CFG):
    """Apply ``(time, event)`` rows; return what each row gave back.

    Events: "ok" / "fail" (a plain answer / an outage failure), "ok*" / "fail*" (the same from the
    probe), "admit", "cancel" (the admitted probe was not sent), "next" (next_event), "giveup".
    """
    b = CircuitBreaker(config)
    out = []
    for now, event in events:
        probe = event.endswith("*")
        name = event.rstrip("*")
        if name == "ok":
            out.append(b.on_answer(now, probe=probe))
        elif name == "fail":
            out.append(b.on_outage(now, probe=probe))
        elif name == "admit":
            out.append(b.admit(now))
        elif name == "cancel":
            b.cancel_probe()
            out.append(None)
        elif name == "next":
            out.append(b.next_event(now))
        elif name == "giveup":
            out.append(b.give_up(now))
        else:  # pragma: no cover - a typo in a table
            raise ValueError(event)
    return b, out


@pytest.mark.parametrize("events,expected", [
    # closed: everything goes; failures below the threshold are not excused
    ([(0, "admit"), (0, "fail"), (0, "fail"), (0, "admit")], [Admit.SEND, False, False, Admit.SEND]),
    # the threshold-th consecutive failure opens it (and is itself excused)
    ([(0, "fail"), (0, "fail"), (0.5, "fail"), (0.5, "admit")], [False, False, True, Admit.WAIT]),
    # an answer in between resets the count
    ([(0, "fail"), (0, "fail"), (0, "ok"), (0, "fail"), (0, "fail"), (0, "admit")],
     [False, False, False, False, False, Admit.SEND]),
    # a 429-like answer counts as an answer too, so the breaker never opens on it
    ([(0, "fail"), (0, "fail"), (0, "ok"), (0, "fail")], [False, False, False, False]),
])
def test_opening(events, expected):
    _, out = run(events)
    assert out == expected


def test_one_probe_per_interval_and_the_interval_doubles_to_the_cap():
    opened = [(0, "ok"), (0, "fail"), (0, "fail"), (0, "fail")]
    b, out = run(opened + [
        (0.9, "admit"),                  # before the first interval: wait
        (0.9, "next"),                   # ... until t=1
        (1.0, "admit"), (1.0, "admit"),  # one probe, the others wait
        (1.0, "next"),                   # while the probe is out, only the give-up time (0 + 100) is an event
        (1.2, "fail*"),                  # the probe fails: the next one 2 s later
        (3.1, "admit"), (3.2, "admit"),
        (3.3, "fail*"),                  # then 4 s
        (7.2, "admit"), (7.3, "admit"), (7.4, "fail*"),   # then 8 s (the cap)
        (15.4, "admit"), (15.5, "fail*"),                 # 8 s again, not 16
        (23.4, "admit"), (23.5, "admit"),
    ])
    assert out[4:] == [Admit.WAIT, 1.0, Admit.PROBE, Admit.WAIT, 100.0, True,
                       Admit.WAIT, Admit.PROBE, True,
                       Admit.WAIT, Admit.PROBE, True,
                       Admit.PROBE, True,
                       Admit.WAIT, Admit.PROBE]
    assert b.probes == 5 and b.interval == 8.0


def test_probe_success_closes_and_resets():
    b, out = run([(0, "fail"), (0, "fail"), (0, "fail"), (1, "admit"), (1.5, "ok*"), (1.5, "admit"),
                  (2, "fail"), (2, "admit")])
    assert out[3:] == [Admit.PROBE, True, Admit.SEND, False, Admit.SEND]
    assert not b.open and b.down_since is None and b.interval == 1.0 and b.failures == 1


def test_a_cancelled_probe_lets_the_next_caller_probe_at_once():
    _, out = run([(0, "fail"), (0, "fail"), (0, "fail"), (1, "admit"), (1, "admit"), (1.1, "cancel"),
                  (1.1, "admit")])
    assert out[3:] == [Admit.PROBE, Admit.WAIT, None, Admit.PROBE]


def test_failures_of_requests_already_in_flight_do_not_reschedule_the_probe():
    b, out = run([(0, "fail"), (0, "fail"), (0, "fail"), (0.2, "fail"), (0.3, "fail"), (1, "admit")])
    assert out[3:] == [True, True, Admit.PROBE]
    assert b.interval == 1.0


@pytest.mark.parametrize("events,expected", [
    # never answered: give up unreachable_after (10 s) after the first failure
    ([(0, "fail"), (1, "fail"), (2, "fail"), (9.9, "giveup"), (10, "giveup"), (10, "admit")],
     [None, GiveUp.UNREACHABLE, Admit.GIVE_UP]),
    # answered once: an outage may last max_outage (100 s) counted from its first failure
    ([(0, "ok"), (5, "fail"), (6, "fail"), (7, "fail"), (50, "giveup"), (104.9, "giveup"), (105, "giveup")],
     [None, None, GiveUp.MAX_OUTAGE]),
    # closed breaker never gives up, whatever the clock
    ([(0, "fail"), (1000, "giveup")], [None]),
])
def test_giving_up(events, expected):
    _, out = run(events)
    assert out[-len(expected):] == expected


def test_next_event_is_the_give_up_time_when_it_comes_first():
    cfg = BreakerConfig(threshold=1, probe_base=20.0, probe_max=30.0, jitter=0.0, max_outage=5.0)
    b, out = run([(0, "ok"), (1, "fail"), (2, "next")], cfg)
    assert out[-1] == 6.0


def test_max_outage_shorter_than_unreachable_after_wins():
    cfg = BreakerConfig(threshold=1, jitter=0.0, max_outage=3.0, unreachable_after=10.0)
    _, out = run([(0, "fail"), (2.9, "giveup"), (3.0, "giveup")], cfg)
    assert out[1:] == [None, GiveUp.UNREACHABLE]


def test_jitter_shortens_intervals_within_bounds():
    import random

    cfg = BreakerConfig(threshold=1, probe_base=1.0, probe_max=30.0, jitter=0.5)
    b = CircuitBreaker(cfg, rng=random.Random(7))
    b.on_answer(0.0)
    b.on_outage(0.0)
    waits = []
    now = 0.0
    for _ in range(8):
        now = b.next_probe
        assert b.admit(now) is Admit.PROBE
        b.on_outage(now, probe=True)
        waits.append((b.next_probe - now, b.interval))
    assert all(interval * 0.5 <= wait <= interval for wait, interval in waits)
    assert len({round(w / i, 6) for w, i in waits}) > 1  # the jitter varies


@pytest.mark.parametrize("exc,outage", [
    (TransientNetworkError("refused"), True),
    (ServerError("503", status=503), True),
    (ServerError("500", status=500), True),
    (RateLimited("429"), False),
    (MalformedResponse("garbled"), False),
    (AuthError("401", status=401), False),
])
def test_what_counts_as_an_outage(exc, outage):
    assert is_outage(exc) is outage
