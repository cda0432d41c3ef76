"""Fixtures shared across test areas."""

from __future__ import annotations

import os

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
