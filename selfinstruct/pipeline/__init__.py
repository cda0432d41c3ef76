"""The Self-Instruct pipeline on the engine: streaming stages, resume, run-directory export."""

from selfinstruct.pipeline.config import GenerateConfig, GenerationConfig, build_generate_config, table_from_flat
from selfinstruct.pipeline.generate import GenerateResult, generate_async, run_generate

__all__ = ["GenerateConfig", "GenerationConfig", "GenerateResult", "build_generate_config", "table_from_flat",
           "generate_async", "run_generate"]
