"""The generation engine: limits, retries, durable state, and the run harness every run goes through.

It schedules requests and knows nothing about Self-Instruct (``selfinstruct.complete`` and
``selfinstruct.pipeline`` are its applications)."""

from selfinstruct.engine.engine import Engine, TaskPool
from selfinstruct.engine.harness import RunHarness, RunSettings
from selfinstruct.engine.retry import RetryConfig
from selfinstruct.engine.stats import EngineStats, PriceTable, Reporter
from selfinstruct.engine.store import CheckpointStore
from selfinstruct.engine.throttle import LimitsConfig, Throttle

__all__ = ["Engine", "TaskPool", "RunHarness", "RunSettings", "RetryConfig", "EngineStats", "PriceTable", "Reporter", "CheckpointStore",
           "LimitsConfig", "Throttle"]
