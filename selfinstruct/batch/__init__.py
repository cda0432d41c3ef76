"""Batch mode: runs answered through the OpenAI Batch API (about half the price), resumable, nothing submitted twice.

``BatchConfig`` says how (``[endpoint] mode``, ``[batch]``); ``BatchEngine`` keeps the
online engine's exactly-once contract through batch files (the durability rule
is in its module docstring); ``BatchPrices`` prices batch tokens.
"""

from selfinstruct.batch.config import MODES, BatchConfig, batch_table
from selfinstruct.batch.cost import BatchPrices, cost_fields

__all__ = ["BatchConfig", "MODES", "batch_table", "BatchPrices", "cost_fields"]
