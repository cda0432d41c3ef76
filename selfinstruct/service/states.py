"""The job life cycle as pure rules: which operator action is allowed in which state, and how a run ends.

No asyncio and no I/O here, so every transition is a row in a table test.

    queued  --(a run slot frees)-->  running  --(the run ends by itself)-->  done | failed
    queued | running  --pause-->  paused      (a running job drains first)
    paused | failed   --resume--> queued
    queued | running | paused  --cancel-->  cancelled

A run stopped because the *service* shuts down goes back to ``queued``, so the
next start picks it up; ``paused`` and the end states survive restarts as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["STATES", "ACTIVE_STATES", "END_STATES", "Stop", "RunEnd", "action_target", "end_state"]

STATES = ("queued", "running", "paused", "done", "failed", "cancelled")
ACTIVE_STATES = ("queued", "running")       # the service (re)starts these by itself
END_STATES = ("done", "failed", "cancelled")


class Stop:
    """Why the service asked a running job to stop (None: it was not asked)."""

    PAUSE = "pause"
    CANCEL = "cancel"
    REQUEUE = "requeue"     # the service shuts down, or the job was resumed while still draining


# action -> (states it applies to, state it leads to)
_ACTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "pause": (("queued", "running"), "paused"),
    # A failed job may be resumed too, e.g. once the missing key variable is set.
    "resume": (("paused", "failed"), "queued"),
    "cancel": (("queued", "running", "paused"), "cancelled"),
}


def action_target(action: str, state: str) -> str | None:
    """The state ``action`` leads to from ``state``, or None when the action does not apply there."""
    allowed, target = _ACTIONS[action]
    return target if state in allowed else None


@dataclass(frozen=True, kw_only=True)
class RunEnd:
    """What one call of the generation run came back with, reduced to what decides the job's state."""

    finished: bool              # the run reached its target and every stage is complete
    stalled: bool = False       # the endpoint's answers stopped adding instructions
    accepted: int = 0
    target: int = 0
    failed_requests: bool = False
    error: str | None = None    # the run raised: the message (never holds a key)


def end_state(end: RunEnd, stop: str | None) -> tuple[str, str | None]:
    """(state, error message) for a job whose run just ended, given why it was asked to stop."""
    if end.error is not None:
        return ("cancelled", None) if stop == Stop.CANCEL else ("failed", end.error)
    if end.finished:
        return "done", None
    if stop == Stop.PAUSE:
        return "paused", None
    if stop == Stop.CANCEL:
        return "cancelled", None
    if stop == Stop.REQUEUE:
        return "queued", None
    if end.stalled:
        return "failed", (f"stalled: the endpoint's answers stopped adding new instructions "
                          f"({end.accepted}/{end.target} accepted)")
    if end.failed_requests:
        return "failed", f"requests failed after all attempts ({end.accepted}/{end.target} accepted); resume to retry"
    return "failed", f"the run ended early ({end.accepted}/{end.target} accepted)"
