"""selfinstruct: fast, crash-safe Self-Instruct data generation, with QLoRA training and evaluation.

The library API the CLI is a thin layer over. Names are imported lazily, so
``import selfinstruct`` stays cheap (no aiohttp, datasketch, torch).

    from selfinstruct import build_generate_config, run_generate
    config = build_generate_config({"endpoint": {"api_base": url, "model": "m"}}, out_dir="runs/x")
    result = run_generate(config, api_key=None)
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    # generation pipeline
    "GenerateConfig": "selfinstruct.pipeline.config",
    "GenerationConfig": "selfinstruct.pipeline.config",
    "build_generate_config": "selfinstruct.pipeline.config",
    "table_from_flat": "selfinstruct.pipeline.config",
    "generate_async": "selfinstruct.pipeline.generate",
    "run_generate": "selfinstruct.pipeline.generate",
    "GenerateResult": "selfinstruct.pipeline.generate",
    # batch completion
    "CompleteConfig": "selfinstruct.complete",
    "complete_async": "selfinstruct.complete",
    "run_complete": "selfinstruct.complete",
    # engine
    "Engine": "selfinstruct.engine.engine",
    "Throttle": "selfinstruct.engine.throttle",
    "LimitsConfig": "selfinstruct.engine.throttle",
    "RetryConfig": "selfinstruct.engine.retry",
    "CheckpointStore": "selfinstruct.engine.store",
    "EngineStats": "selfinstruct.engine.stats",
    "PriceTable": "selfinstruct.engine.stats",
    # near-duplicate filter
    "DedupConfig": "selfinstruct.dedup",
    "NearDuplicateFilter": "selfinstruct.dedup",
    "ExactRougeFilter": "selfinstruct.dedup",
    # errors
    "SelfInstructError": "selfinstruct.errors",
    "ConfigError": "selfinstruct.errors",
    "InputError": "selfinstruct.errors",
    "StorageError": "selfinstruct.errors",
    "RequestError": "selfinstruct.errors",
    "RequestFailed": "selfinstruct.errors",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'selfinstruct' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
