"""Structured logs for the service: one JSON object per line on stderr, fit for journald and log shippers.

Fields passed with ``extra={...}`` (``event``, ``job``, counters) become
top-level keys next to ``ts``, ``level``, ``logger`` and ``msg``. No code path
passes an API key or the bearer token to a logger.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

__all__ = ["JsonFormatter", "use_json_logs"]

# Attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


def use_json_logs(logger: logging.Logger | None = None) -> None:
    """Switch the handlers of ``logger`` (default: the root logger) to JSON lines."""
    logger = logger or logging.getLogger()
    for handler in logger.handlers:
        handler.setFormatter(JsonFormatter())
