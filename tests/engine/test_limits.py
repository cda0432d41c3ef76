"""Table tests for the pure rate-limit arithmetic (injected clock)."""

import pytest

from selfinstruct.engine.limits import AIMDWindow, Pacer, TokenBucket, TokenEstimator, estimate_prompt_tokens


@pytest.mark.parametrize(
    "rate,capacity,start_full,amount,now,expected_wait",
    [
        (10.0, 10.0, True, 5, 0.0, 0.0),      # full bucket: no wait
        (10.0, 10.0, False, 5, 0.0, 0.5),     # empty: 5 tokens at 10/s
        (10.0, 10.0, False, 5, 0.2, 0.3),     # 2 tokens refilled after 0.2 s
        (10.0, 10.0, False, 50, 0.0, 1.0),    # over capacity is clamped to capacity
        (100.0, 1.0, False, 1, 0.0, 0.01),
    ],
)
def test_token_bucket_wait(rate, capacity, start_full, amount, now, expected_wait):
    b = TokenBucket(rate, capacity, now=0.0, start_full=start_full)
    assert b.wait_time(amount, now) == pytest.approx(expected_wait)


def test_token_bucket_debt_and_refund():
    b = TokenBucket(10.0, 10.0, now=0.0, start_full=True)
    b.take(10, 0.0)
    b.adjust(5, 0.0)                      # the answer used 5 more than estimated: debt
    assert b.level == pytest.approx(-5)
    assert b.wait_time(1, 0.0) == pytest.approx(0.6)
    b.adjust(-8, 0.0)                     # refund
    assert b.level == pytest.approx(3)
    b.adjust(-100, 0.0)                   # never above capacity
    assert b.level == pytest.approx(10)


def test_pacer_spaces_requests_without_initial_burst():
    p = Pacer(100.0, now=0.0)
    delays = [p.reserve(0.0) for _ in range(5)]
    assert delays == pytest.approx([0.0, 0.01, 0.02, 0.03, 0.04])


def test_pacer_idle_time_is_not_banked():
    p = Pacer(10.0, now=0.0)
    assert p.reserve(0.0) == 0.0
    # Idle for 5 s: the next two requests are still spaced 0.1 s apart (no burst).
    assert p.reserve(5.0) == 0.0
    assert p.reserve(5.0) == pytest.approx(0.1)


def test_pacer_multiplicative_decrease_once_per_cooldown_and_additive_recovery():
    p = Pacer(100.0, now=0.0, decrease=0.5, recovery_s=10.0, cooldown=0.5)
    assert p.on_throttled(1.0) is True
    assert p.rate == pytest.approx(50.0)
    assert p.on_throttled(1.2) is False          # same burst of 429s
    assert p.rate == pytest.approx(50.0)
    assert p.on_throttled(1.6) is True
    assert p.rate == pytest.approx(25.0)
    p.on_success(2.6)                             # +10 req/s per second of success
    assert p.rate == pytest.approx(35.0)
    p.on_success(100.0)
    assert p.rate == pytest.approx(100.0)         # capped at the ceiling


def test_pacer_floor():
    p = Pacer(64.0, now=0.0, decrease=0.1, cooldown=0.0)
    for t in range(20):
        p.on_throttled(float(t))
    assert p.rate == pytest.approx(1.0)


@pytest.mark.parametrize("cap,cuts,expected", [(64, 1, 32), (64, 3, 8), (4, 5, 1), (1, 1, 1)])
def test_aimd_window_cuts(cap, cuts, expected):
    w = AIMDWindow(cap, cooldown=0.0)
    for i in range(cuts):
        w.on_throttled(float(i))
    assert w.size == expected


def test_aimd_window_grows_back_additively_to_cap():
    w = AIMDWindow(16, cooldown=0.0)
    w.on_throttled(0.0)
    assert w.size == 8
    for _ in range(8):          # one window of successes adds (almost) one slot
        w.on_success()
    assert 8.9 < w.value < 9.0
    w.on_success()
    assert w.size == 9
    for _ in range(10_000):
        w.on_success()
    assert w.size == 16


def test_token_estimator_learns_from_usage():
    e = TokenEstimator(alpha=0.5)
    assert e.estimate(400, 100) == estimate_prompt_tokens(400) + 100
    for _ in range(20):
        e.observe(10, 100)       # answers use a tenth of max_tokens
    assert e.ratio == pytest.approx(0.1, abs=0.01)
    assert e.estimate(400, 100) - estimate_prompt_tokens(400) in (10, 11)
    for _ in range(50):
        e.observe(0, 100)
    assert e.ratio == pytest.approx(e.min_ratio)
