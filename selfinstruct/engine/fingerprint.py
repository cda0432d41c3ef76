"""The run fingerprint: what defines a run's results, recorded in its state, so a resume notices a change.

A fingerprint is a flat ``{name: value}`` dict of JSON values. What counts:
the model, the endpoint kind (chat or completions), the default generation
parameters (``[endpoint] defaults``: temperature, max_tokens, ...), and for
``generate`` the seed file's hash and the prompt mode. What does not count:
``api_base`` (the same model behind another replica or proxy answers alike),
limits, retries and timeouts (they change speed, not answers), and targets
such as ``num_instructions`` (a bigger target extends a run).

A resume compares only names present in both the recorded and the current
fingerprint, so a step that does not use a setting (``classify`` has no prompt
mode) does not trip on it. A state with no answers yet takes the new settings
silently: there is nothing to mix. Otherwise a difference raises ConfigError
naming each one, unless the caller allows changes; then the new values are
recorded along with a history entry under ``fingerprint.history`` in meta.

``request_digest`` is the per-request part: `complete` re-asks an id whose
request changed.
"""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any

import orjson

from selfinstruct.errors import ConfigError, InputError

__all__ = ["FINGERPRINT_KEY", "HISTORY_KEY", "of_endpoint", "request_digest", "file_digest", "differences", "describe",
           "reconcile", "history"]

FINGERPRINT_KEY = "fingerprint"
HISTORY_KEY = "fingerprint.history"


def of_endpoint(endpoint: Any) -> dict[str, Any]:
    """The endpoint's part of every run's fingerprint: model, endpoint kind and default parameters."""
    return {"model": endpoint.model, "endpoint": endpoint.endpoint, "defaults": dict(endpoint.defaults)}


def request_digest(request: dict[str, Any] | None) -> str | None:
    """A stable hash of what a request asks (prompt or messages, and params); the id and stage meta do not count."""
    if request is None:
        return None
    asked = {"prompt": request.get("prompt"), "messages": request.get("messages"),
             "params": request.get("params") or {}}
    return hashlib.blake2b(orjson.dumps(asked, option=orjson.OPT_SORT_KEYS), digest_size=16).hexdigest()


def file_digest(path: str | os.PathLike[str]) -> str:
    """sha256 of a file's bytes (so a renamed copy of the same seed file is the same run)."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path=str(path)) from exc
    return "sha256:" + h.hexdigest()


def canonical(value: Any) -> Any:
    """A JSON round trip with sorted keys, so tuples, lists and key order compare equal."""
    return orjson.loads(orjson.dumps(value, option=orjson.OPT_SORT_KEYS))


def differences(recorded: dict[str, Any], current: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """``{name: (recorded, current)}`` for each name present in both whose value differs."""
    return {k: (recorded[k], current[k]) for k in sorted(recorded.keys() & current.keys())
            if recorded[k] != current[k]}


def describe(changes: dict[str, tuple[Any, Any]]) -> str:
    """``"model: 'a' -> 'b'; endpoint: 'chat' -> 'completions'"``."""
    return "; ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in changes.items())


def history(store: Any) -> list[dict[str, Any]]:
    """The recorded changes accepted with --allow-changes, oldest first."""
    raw = store.get_meta(HISTORY_KEY)
    return orjson.loads(raw) if raw else []


async def reconcile(store: Any, current: dict[str, Any], *, allow_changes: bool) -> dict[str, tuple[Any, Any]]:
    """Check ``current`` against the state's fingerprint and record it; return the accepted differences.

    Raises ConfigError naming every difference when the state already holds answers
    and ``allow_changes`` is false. Nothing is written in that case.
    """
    current = canonical(current)
    raw = store.get_meta(FINGERPRINT_KEY)
    recorded = orjson.loads(raw) if raw else {}
    changes = differences(recorded, current) if store.has_answers() else {}
    if changes and not allow_changes:
        raise ConfigError(
            f"{store.path}: this run was made with other settings: {describe(changes)}. Rerun with the recorded "
            f"settings, use another output, or pass --allow-changes to continue with the new ones "
            f"(the change is recorded in the state)")
    merged = {**recorded, **current}
    if merged == recorded and not changes:
        return {}
    entries = history(store)
    if changes:
        entries.append({"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                        "changes": {k: [old, new] for k, (old, new) in changes.items()}})

    def op(conn: Any) -> None:
        store.set_meta(conn, FINGERPRINT_KEY, orjson.dumps(merged, option=orjson.OPT_SORT_KEYS).decode())
        if changes:
            store.set_meta(conn, HISTORY_KEY, orjson.dumps(entries).decode())

    await store.submit(op)
    return changes
