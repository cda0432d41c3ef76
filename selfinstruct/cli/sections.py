"""Which config dataclass holds each ``[section]`` a flag can set: one importing function per section.

A ``ConfigFlag`` names one of these functions, not the class itself: the class
is imported only when a command's ``--help`` is printed, because some live next
to aiohttp or numpy and ``selfinstruct --help`` must start without them.
"""

from __future__ import annotations


def endpoint() -> type:
    from workers.openai import EndpointConfig

    return EndpointConfig


def key_source() -> type:
    from selfinstruct.net import KeySource

    return KeySource


def limits() -> type:
    from selfinstruct.engine.throttle import LimitsConfig

    return LimitsConfig


def retry() -> type:
    from selfinstruct.engine.retry import RetryConfig

    return RetryConfig


def generation() -> type:
    from selfinstruct.pipeline.config import GenerationConfig

    return GenerationConfig


def prompt() -> type:
    from selfinstruct.stages.instructions import InstructionPromptConfig

    return InstructionPromptConfig


def export() -> type:
    from selfinstruct.stages.prepare import PrepareConfig

    return PrepareConfig


def dedup() -> type:
    from selfinstruct.dedup import DedupConfig

    return DedupConfig


def sim() -> type:
    from workers.simulated import SimConfig

    return SimConfig


def service() -> type:
    from selfinstruct.service.config import ServiceConfig

    return ServiceConfig


def model() -> type:
    from selfinstruct.train.config import ModelSettings

    return ModelSettings


def data() -> type:
    from selfinstruct.train.config import DataSettings

    return DataSettings


def lora() -> type:
    from selfinstruct.train.config import LoraSettings

    return LoraSettings


def training() -> type:
    from selfinstruct.train.config import TrainingSettings

    return TrainingSettings


def complete() -> type:
    from selfinstruct.complete import CompleteConfig

    return CompleteConfig


def local_generation() -> type:
    from selfinstruct.evaluate.predict_local import LocalGenerationConfig

    return LocalGenerationConfig


def predict_api() -> type:
    from selfinstruct.evaluate.predict_api import PredictApiConfig

    return PredictApiConfig


def evaluate() -> type:
    from selfinstruct.evaluate.evaluation import EvaluateConfig

    return EvaluateConfig


def bertscore() -> type:
    from selfinstruct.evaluate.bertscore import BertScoreConfig

    return BertScoreConfig


def bootstrap() -> type:
    from selfinstruct.evaluate.metrics import BootstrapConfig

    return BootstrapConfig


def analyze() -> type:
    from selfinstruct.analyze.run import AnalyzeConfig

    return AnalyzeConfig


def batch() -> type:
    from selfinstruct.batch import BatchConfig

    return BatchConfig
