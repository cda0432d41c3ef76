"""Real system parts the tests drive: redis-server and headless Chromium, started on loopback.

A part that is missing skips the test on a developer's machine, and fails it in CI
(``CI=true``), where ``.ci/run`` installs every part: a green CI run never hides a
test that did not run.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest


def require(binary: str, package: str) -> str:
    """The path of ``binary``; skip (fail in CI) when it is not installed."""
    path = shutil.which(binary)
    if path is None:
        message = f"{binary} is not installed (apt-get install {package})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}, and CI must run this test")
        pytest.skip(message)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail(f"{what} did not start on 127.0.0.1:{port}")
            time.sleep(0.05)


class RedisServer:
    """One redis-server on a free loopback port, with no persistence; ``kill``/``start`` for outage tests."""

    def __init__(self, workdir: Path):
        self.binary = require("redis-server", "redis-server")
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, self.proc, "redis-server")
        return self

    def kill(self) -> None:
        """SIGKILL: the way a crashed or partitioned Redis looks to its clients."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def chromium_driver(width: int = 1280, height: int = 900):
    """A selenium WebDriver on the system chromium and chromedriver: nothing is downloaded at run time."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = require("chromium", "chromium")
    # The background-networking flags keep Chromium from dialling Google's hosts;
    # the machine's network is closed and the dashboard must not need it.
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", f"--window-size={width},{height}"):
        options.add_argument(flag)
    service = Service(executable_path=require("chromedriver", "chromium-driver"))
    return webdriver.Chrome(service=service, options=options)
