"""How a run uses the Batch API: the mode (online, batch or auto), polling, the completion window and file limits.

``mode`` is read from ``[endpoint] mode`` (the issue's spelling) or ``[batch] mode``;
the other settings live in ``[batch]``. ``batch_table`` merges the two before
``BatchConfig`` is built, so ``EndpointConfig`` never sees ``mode``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from selfinstruct.config import MAX_SECONDS, check_range
from selfinstruct.errors import ConfigError

__all__ = ["BatchConfig", "MODES", "batch_table", "MAX_FILE_REQUESTS", "MAX_FILE_BYTES"]

MODES = ("online", "batch", "auto")
MAX_FILE_REQUESTS = 50_000
MAX_FILE_BYTES = 200 * 1024 * 1024
_WINDOW = re.compile(r"^[1-9][0-9]*[hd]$")


@dataclass(frozen=True, kw_only=True)
class BatchConfig:
    mode: str = field(default="online", metadata={
        "help": "online: one HTTP call per request; batch: every request through the Batch API (about half the "
                "price, answers within the completion window); auto: the Batch API, and the last few requests "
                "online once the rest are done"})
    poll_interval: float = field(default=30.0, metadata={
        "help": "seconds before the first poll of a batch; each later wait is 1.5 times longer, up to "
                "max_poll_interval"})
    max_poll_interval: float = field(default=600.0, metadata={"help": "longest wait between two polls, seconds"})
    window: str = field(default="24h", metadata={"help": "completion_window passed to the Batch API"})
    max_file_requests: int = field(default=MAX_FILE_REQUESTS, metadata={
        "help": "requests per batch input file at most (the API allows 50,000)"})
    max_file_bytes: int = field(default=MAX_FILE_BYTES, metadata={
        "help": "bytes per batch input file at most (the API allows 200 MB)"})
    gather_seconds: float = field(default=0.5, metadata={
        "help": "a batch file is cut once no new request came for this long (or the file is full)"})
    online_tail: int = field(default=32, metadata={
        "help": "auto mode: when no batch is in flight and at most this many requests wait, they go online"})

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"endpoint.mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        check_range("batch.poll_interval", self.poll_interval, lo=0, hi=MAX_SECONDS, lo_open=True)
        check_range("batch.max_poll_interval", self.max_poll_interval, lo=self.poll_interval, hi=MAX_SECONDS)
        check_range("batch.gather_seconds", self.gather_seconds, lo=0, hi=MAX_SECONDS)
        check_range("batch.max_file_requests", self.max_file_requests, lo=1, hi=MAX_FILE_REQUESTS)
        check_range("batch.max_file_bytes", self.max_file_bytes, lo=1024, hi=MAX_FILE_BYTES)
        check_range("batch.online_tail", self.online_tail, lo=0, hi=MAX_FILE_REQUESTS)
        if not isinstance(self.window, str) or not _WINDOW.match(self.window):
            raise ConfigError(f"batch.window must look like '24h' (hours or days), got {self.window!r}")

    @property
    def batched(self) -> bool:
        return self.mode != "online"


def batch_table(endpoint: dict[str, Any], batch: dict[str, Any], *, source: str) -> tuple[dict[str, Any],
                                                                                       dict[str, Any]]:
    """(the endpoint table without ``mode``, the batch table with it): ``[endpoint] mode`` is the batch's."""
    endpoint = dict(endpoint)
    batch = dict(batch)
    if "mode" in endpoint:
        mode = endpoint.pop("mode")
        if mode is not None:
            if batch.get("mode") not in (None, mode):
                raise ConfigError(f"{source}: [endpoint] mode = {mode!r} and [batch] mode = {batch['mode']!r} differ")
            batch["mode"] = mode
    return endpoint, batch
