"""Helpers for the service tests: the daemon as a real subprocess and a tiny HTTP client for its API."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

import pytest

SEEDS = Path(__file__).resolve().parents[2] / "data" / "seed_tasks.jsonl"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def selfinstruct_command() -> list[str]:
    exe = Path(sys.executable).parent / "selfinstruct"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "selfinstruct.cli"]


def wait_until(pred: Callable[[], Any], *, timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll ``pred`` until it returns something truthy; fail the test naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Daemon:
    """``selfinstruct serve`` in a subprocess, with helpers to call its API over real HTTP on loopback."""

    def __init__(self, state_dir: Path, *, port: int | None = None, args: tuple[str, ...] = (),
                 env: dict[str, str] | None = None, token: str | None = None,
                 config: dict[str, Any] | None = None):
        self.state_dir = state_dir
        self.port = port or free_port()
        if config is not None:
            path = state_dir.parent / f"{state_dir.name}-service.toml"
            path.write_text(to_toml(config))
            args = ("--config", str(path), *args)
        self.args = args
        self.env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
        self.token = token
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = state_dir.parent / f"{state_dir.name}-serve.log"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, wait: bool = True) -> "Daemon":
        cmd = [*selfinstruct_command(), "serve", "--state-dir", str(self.state_dir), "--port", str(self.port),
               "--log-interval", "1", *self.args]
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, env=self.env)
        log.close()
        if wait:
            wait_until(self._healthy, timeout=60, what=f"the daemon on port {self.port} (log: {self.log})")
        return self

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            pytest.fail(f"the daemon exited with {self.proc.returncode}:\n{self.log}")
        try:
            return self.call("GET", "/healthz")[0] == 200
        except OSError:
            return False

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def terminate(self, timeout: float = 90) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    # -- HTTP --------------------------------------------------------------------------
    def call(self, method: str, path: str, body: Any = None, *, token: str | None = None,
             raw: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """One request; writes say ``Content-Type: application/json`` unless ``headers`` says otherwise."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.base + path, data=data, method=method)
        token = token if token is not None else self.token
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        if method != "GET":
            req.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            req.add_header(name, value)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, _decode(resp.headers.get("Content-Type", ""), resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, _decode(exc.headers.get("Content-Type", ""), exc.read())

    def submit(self, spec: dict[str, Any]) -> str:
        status, body = self.call("POST", "/jobs", spec)
        assert status == 201, body
        return body["id"]

    def job(self, job_id: str) -> dict[str, Any]:
        status, body = self.call("GET", f"/jobs/{job_id}")
        assert status == 200, body
        return body

    def wait_state(self, job_id: str, states: tuple[str, ...], *, timeout: float = 120,
                   inactive: bool = True) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            view = self.job(job_id)
            if view["state"] in states and not (inactive and view["active"]):
                return view
            if view["state"] == "failed" and "failed" not in states:
                pytest.fail(f"job {job_id} failed: {view['error']}")
            return None

        return wait_until(check, timeout=timeout, what=f"job {job_id} to be {'/'.join(states)}")

    def wait_accepted(self, job_id: str, n: int, *, timeout: float = 120) -> dict[str, Any]:
        return wait_until(lambda: (v := self.job(job_id))["progress"]["accepted_instructions"] >= n and v,
                          timeout=timeout, what=f"job {job_id} to accept {n} instructions")

    def output(self, job_id: str, name: str) -> str:
        status, body = self.call("GET", f"/jobs/{job_id}/output?file={name}")
        assert status == 200, body
        return body if isinstance(body, str) else json.dumps(body)


def _decode(content_type: str, data: bytes) -> Any:
    if content_type.startswith("application/json"):
        return json.loads(data)
    return data.decode()


def job_spec(backend: str = "sim", **overrides: Any) -> dict[str, Any]:
    spec = {"kind": "generate", "backend": backend, "model": "sim-davinci-001", "num_instructions": 30}
    spec.update(overrides)
    return spec


def sim_backend(url: str, **settings: Any) -> dict[str, Any]:
    """A [backends.NAME] table for the simulator, with the limits the old per-job specs used."""
    return {"api_base": url, "rpm": 600, "max_concurrency": 4, **settings}


def to_toml(table: dict[str, Any], prefix: str = "") -> str:
    """Enough TOML for service configs: scalars, lists of scalars, nested tables."""
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        raise TypeError(f"no TOML for {v!r}")

    lines = [f"{json.dumps(k)} = {value(v)}" for k, v in table.items() if not isinstance(v, dict)]
    for k, v in table.items():
        if isinstance(v, dict):
            name = f"{prefix}.{json.dumps(k)}" if prefix else json.dumps(k)
            lines.append(f"\n[{name}]")
            lines.append(to_toml(v, name))
    return "\n".join(lines) + "\n"


class Recorder:
    """A loopback HTTP server that records every connection and request and answers each with one fixed reply."""

    def __init__(self, status: int = 404, headers: dict[str, str] | None = None):
        import http.server
        import threading

        recorder = self
        self.connections = 0
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's naming)
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with recorder._lock:
                    recorder.requests.append((self.path, dict(self.headers)))
                body = b'{"error": {"message": "recorder"}}'
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST

            def log_message(self, *args: Any) -> None:
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def verify_request(self, request: Any, client_address: Any) -> bool:
                with recorder._lock:
                    recorder.connections += 1
                return True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> "Recorder":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
