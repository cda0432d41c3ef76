"""The simulated OpenAI-compatible endpoint: an aiohttp server on 127.0.0.1 with a deterministic synthetic LM.

Routes: ``POST /v1/chat/completions``, ``POST /v1/completions``, ``GET /v1/models``,
``GET /_sim/stats`` (``?ids=0`` leaves out ``calls_per_id``), ``POST /_sim/reset`` and
``POST /_sim/outage`` (``{"seconds": D, "after": S}``: 503 to every completion call for D
seconds, starting S seconds from now; ``{"seconds": 0}`` ends an outage), and the Files and
Batches routes of ``workers.simulated.batches`` (``/v1/files``, ``/v1/batches``).

The stats JSON::

    {"requests": 120,                      # completion calls received
     "status": {"200": 100, "429": 20},    # answers sent, by HTTP status
     "faults": {"drop": 1, "hang": 0, "500": 2, "503": 0, "malformed": 1},
     "in_flight": 0, "distinct_ids": 80, "max_calls_per_id": 3,
     "rate_last_second": 95,               # calls in the last whole second
     "uptime_s": 12.5,
     "outage": {"active": false, "calls": 0},   # calls answered 503 by an outage
     "arrival_times": [...],               # only with record_arrivals: time.monotonic() per call
     "calls_per_id": {"<X-Client-Request-Id>": 1, ...},
     "batch": {"files": 3, "batches": 1, "items": 100,   # the Batch API: never counted in "requests"
               "submitted": [{"batch_id": ..., "file_id": ..., "custom_ids": [...]}], "statuses": {...}}}
"""

from workers.simulated.config import SimConfig
from workers.simulated.runner import RunningSim, serve_forever, start_in_thread
from workers.simulated.server import SimulatedEndpoint

__all__ = ["SimConfig", "SimulatedEndpoint", "RunningSim", "start_in_thread", "serve_forever"]
