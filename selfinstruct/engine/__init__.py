"""The generation engine: limits, retries, durable state. It schedules requests and knows nothing about Self-Instruct."""

from selfinstruct.engine.engine import Engine, TaskPool
from selfinstruct.engine.retry import RetryConfig
from selfinstruct.engine.stats import EngineStats, PriceTable, Reporter
from selfinstruct.engine.store import CheckpointStore
from selfinstruct.engine.throttle import LimitsConfig, Throttle

__all__ = ["Engine", "TaskPool", "RetryConfig", "EngineStats", "PriceTable", "Reporter", "CheckpointStore",
           "LimitsConfig", "Throttle"]
