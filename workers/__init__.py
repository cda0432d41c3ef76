"""Workers speak HTTP to OpenAI-compatible endpoints; ``workers.simulated`` is one to test against.

The heavy parts (aiohttp) load on first use, so importing ``workers`` for its
value types costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workers.base import ENDPOINTS, Choice, RateLimitInfo, Request, Response, Worker

if TYPE_CHECKING:
    from workers.openai import EndpointConfig, OpenAIWorker
    from workers.simulated import RunningSim, SimConfig, SimulatedEndpoint, start_in_thread

__all__ = [
    "ENDPOINTS", "Choice", "RateLimitInfo", "Request", "Response", "Worker",
    "EndpointConfig", "OpenAIWorker", "SimConfig", "SimulatedEndpoint", "RunningSim", "start_in_thread",
]

_LAZY = {
    "EndpointConfig": "workers.openai", "OpenAIWorker": "workers.openai",
    "SimConfig": "workers.simulated", "SimulatedEndpoint": "workers.simulated",
    "RunningSim": "workers.simulated", "start_in_thread": "workers.simulated",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'workers' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
