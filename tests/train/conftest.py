"""Fixtures for the training tests: one tiny random Qwen2 per session, one torch thread, offline hub."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ for shared helpers

from train_helpers import small_examples  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    import torch

    torch.set_num_threads(1)




@pytest.fixture(scope="session")
def alpaca_file(tmp_path_factory) -> Path:
    """16 short seed-task examples as an Alpaca JSON array."""
    import json

    path = tmp_path_factory.mktemp("data") / "alpaca.json"
    path.write_text(json.dumps(small_examples()), encoding="utf-8")
    return path
