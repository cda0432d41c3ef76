"""Fixtures shared across test areas."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Tests never reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def sim():
    """Start simulated endpoints on 127.0.0.1 with the given SimConfig fields; all stopped at teardown."""
    from workers.simulated import SimConfig, start_in_thread

    running = []

    def start(**kwargs):
        server = start_in_thread(SimConfig(**kwargs))
        running.append(server)
        return server

    yield start
    for server in running:
        server.stop()


@pytest.fixture
def redis_server(tmp_path):
    """A real redis-server on a free loopback port (started), killed at teardown."""
    from parts import RedisServer

    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def browser():
    """Headless system Chromium driven by selenium through the system chromedriver."""
    from parts import chromium_driver

    driver = chromium_driver()
    yield driver
    driver.quit()


@pytest.fixture(scope="session")
def tiny_qwen(tmp_path_factory) -> Path:
    """A tiny random Qwen2 (model + BPE tokenizer with a ChatML template) on disk, built offline."""
    from tiny_qwen import build_tiny_qwen

    return build_tiny_qwen(tmp_path_factory.mktemp("tiny-qwen") / "model")


@pytest.fixture(scope="session")
def tiny_qwen_no_template(tmp_path_factory) -> Path:
    """The same tiny model saved without a chat template."""
    from tiny_qwen import build_tiny_qwen

    return build_tiny_qwen(tmp_path_factory.mktemp("tiny-qwen-nt") / "model", with_chat_template=False)
