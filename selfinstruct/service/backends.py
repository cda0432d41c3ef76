"""The operator's backend registry: named endpoints with their key variable, model allow-list and shared limits.

A job names a backend (``"backend": "openai"``); it never names a URL or a key.
A backend's ``mode`` is its jobs' default (online, batch or auto); ``mode =
"batch"`` also refuses jobs asking to go online, for servers with the Batch API only.
The registry comes from ``[backends.NAME]`` tables of ``serve --config`` or from
``serve --backend NAME=URL`` (loopback only, no key). A backend's key is read
from the service's environment, from that backend's own ``api_key_env`` and no
other variable, and is sent only to that backend's ``api_base``.

What a client may see of a backend (``public_view``) leaves out the key
variable: which variable holds a secret is the operator's business.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from selfinstruct.errors import ConfigError
from selfinstruct.net import is_loopback_url

__all__ = ["BackendConfig", "parse_backends", "parse_backend_flag", "backend_key", "replica_limits", "public_view"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_ENDPOINTS = ("chat", "completions")


@dataclass(frozen=True, kw_only=True)
class BackendConfig:
    name: str = field(metadata={"help": "what jobs call it: \"backend\": NAME"})
    api_base: str = field(metadata={"help": "base URL ending in /v1; the only place this backend's key is sent"})
    api_key_env: str | None = field(default=None, repr=False, metadata={
        "help": "environment variable of the service holding the key (none: requests carry no key)"})
    models: tuple[str, ...] | None = field(default=None, metadata={"help": "models jobs may ask for (none: any)"})
    endpoint: str | None = field(default=None, metadata={
        "help": "'chat' or 'completions' for every job on it (none: the job chooses, default completions)"})
    rpm: float | None = field(default=None, metadata={"help": "requests per minute, shared by all jobs on it"})
    tpm: float | None = field(default=None, metadata={"help": "tokens per minute, shared by all jobs on it"})
    max_concurrency: int = field(default=64, metadata={"help": "requests in flight, shared by all jobs on it"})
    replicas: tuple[Any, ...] = field(default=(), metadata={
        "help": "[[backends.NAME.replicas]]: servers of the same model, each with its own api_base, api_key_env "
                "(default: the backend's) and rpm/tpm/max_concurrency (default: the backend's); jobs go to the "
                "least loaded healthy one, and each key only to its own api_base"})
    mode: str = field(default="online", metadata={
        "help": "how its jobs send requests unless a job sets \"mode\": online, auto, or batch (the Batch API only: "
                "a job asking online or auto gets 400); batch and auto cannot be combined with replicas"})
    batch_poll_interval: float | None = field(default=None, metadata={
        "help": "seconds before the first poll of a batch, for its jobs that set none (none: 30)"})
    batch_window: str | None = field(default=None, metadata={
        "help": "completion_window of its jobs' batches, for jobs that set none (none: 24h)"})

    def __post_init__(self) -> None:
        where = f"backend {self.name!r}"
        if self.replicas:
            from selfinstruct.engine.replicas import parse_replicas

            try:
                replicas = parse_replicas(self.replicas)
            except ConfigError as exc:
                raise ConfigError(f"{where}: {exc}") from None
            object.__setattr__(self, "replicas", replicas)
            if self.api_base not in {r.api_base for r in replicas}:
                raise ConfigError(f"{where}: api_base must be one of its replicas' api_base")
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ConfigError(f"backend name {self.name!r} must be 1-64 letters, digits, '.', '_' or '-'")
        if not isinstance(self.api_base, str) or not self.api_base.startswith(("http://", "https://")) \
                or not urlparse(self.api_base).hostname:
            raise ConfigError(f"{where}: api_base must be an http:// or https:// URL, got {self.api_base!r}")
        if self.api_key_env is not None and (not isinstance(self.api_key_env, str)
                                             or not _ENV_NAME.match(self.api_key_env)):
            raise ConfigError(f"{where}: api_key_env must be an environment variable name")
        if self.models is not None and (not isinstance(self.models, tuple) or not self.models or not all(
                isinstance(m, str) and m for m in self.models)):
            raise ConfigError(f"{where}: models must be a non-empty list of model names")
        if self.endpoint is not None and self.endpoint not in _ENDPOINTS:
            raise ConfigError(f"{where}: endpoint must be one of {_ENDPOINTS}, got {self.endpoint!r}")
        for key in ("rpm", "tpm"):
            value = getattr(self, key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value) or value <= 0):
                raise ConfigError(f"{where}: {key} must be a positive number, got {value!r}")
        if isinstance(self.max_concurrency, bool) or not isinstance(self.max_concurrency, int) \
                or self.max_concurrency < 1:
            raise ConfigError(f"{where}: max_concurrency must be an integer of at least 1, got "
                              f"{self.max_concurrency!r}")
        self._check_batch(where)

    def _check_batch(self, where: str) -> None:
        from selfinstruct.batch.config import MODES, BatchConfig
        from selfinstruct.config import check_range

        if self.mode not in MODES:
            raise ConfigError(f"{where}: mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        # A batch lives on the server that created it: its id means nothing to another replica.
        if self.mode != "online" and self.replicas:
            raise ConfigError(f"{where}: mode = {self.mode!r} cannot be combined with replicas (a batch is created "
                              f"and polled on one server); use mode = 'online' or one backend per server")
        if self.batch_poll_interval is not None:
            try:
                check_range("batch_poll_interval", self.batch_poll_interval, lo=0,
                            hi=BatchConfig().max_poll_interval, lo_open=True)
            except ConfigError as exc:
                raise ConfigError(f"{where}: {exc}") from None
        if self.batch_window is not None:
            try:
                BatchConfig(window=self.batch_window)
            except ConfigError:
                raise ConfigError(f"{where}: batch_window must look like '24h' (hours or days), got "
                                  f"{self.batch_window!r}") from None

    @property
    def limits(self) -> Any:
        from selfinstruct.engine.throttle import LimitsConfig

        return LimitsConfig(rpm=self.rpm, tpm=self.tpm, max_concurrency=self.max_concurrency)


def parse_backends(table: Any, *, source: str) -> dict[str, BackendConfig]:
    """``[backends.NAME]`` tables -> backends by name; unknown keys are errors naming the key and ``source``."""
    from selfinstruct.config import build

    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [backends] must hold [backends.NAME] tables")
    out: dict[str, BackendConfig] = {}
    for name, settings in table.items():
        section = f"backends.{name}"
        if not isinstance(settings, dict):
            raise ConfigError(f"{source}: [{section}] must be a table")
        if "name" in settings:
            raise ConfigError(f"{source}: unknown key 'name' in [{section}] (the table's name is the backend's)")
        if "api_base" not in settings:
            raise ConfigError(f"{source}: [{section}] needs api_base")
        values = dict(settings, name=name)
        if isinstance(values.get("replicas"), list):
            values["replicas"] = tuple(values["replicas"])
        if isinstance(values.get("models"), list):
            values["models"] = tuple(values["models"])
        out[name] = build(BackendConfig, values, source=source, section=section)
    return out


def parse_backend_flag(text: str) -> BackendConfig:
    """``NAME=URL`` of ``serve --backend``: a keyless quick start, so the URL must be on loopback."""
    name, sep, url = text.partition("=")
    if not sep or not name or not url:
        raise ConfigError(f"--backend takes NAME=URL (e.g. local=http://127.0.0.1:8000/v1), got {text!r}")
    backend = BackendConfig(name=name.strip(), api_base=url.strip())
    if not is_loopback_url(backend.api_base):
        raise ConfigError(f"--backend {name}: {backend.api_base} is not a loopback URL; --backend is for local "
                          f"servers only. Configure other backends in --config service.toml ([backends.{name}] "
                          f"with api_base and api_key_env)")
    return backend


def backend_key(backend: BackendConfig, environ: Mapping[str, str]) -> str | None | tuple[str | None, ...]:
    """The backend's key, read from its own variable only; with replicas one key per replica, each from the
    replica's own variable (else the backend's). Never echoes the key or, to clients, the variable."""
    if backend.replicas:
        return tuple(_key(backend, r.api_key_env or backend.api_key_env, environ) for r in backend.replicas)
    return _key(backend, backend.api_key_env, environ)


def replica_limits(backend: BackendConfig) -> list[Any]:
    """Each replica's LimitsConfig: its own values over the backend's."""
    return [r.limits(backend.limits) for r in backend.replicas]


def _key(backend: BackendConfig, env_name: str | None, environ: Mapping[str, str]) -> str | None:
    if env_name is None:
        return None
    key = environ.get(env_name)
    if not key:
        raise ConfigError(f"backend {backend.name!r}: its API key variable is not set in the service's "
                          f"environment (the service log names it); set it, restart the service and resume the job")
    return key


def public_view(backend: BackendConfig) -> dict[str, Any]:
    """What ``GET /backends`` shows: no key, no key variable."""
    return {"name": backend.name, "api_base": backend.api_base, "endpoint": backend.endpoint,
            "models": list(backend.models) if backend.models is not None else None,
            "requires_key": backend.api_key_env is not None,
            "mode": backend.mode, "batch_poll_interval": backend.batch_poll_interval,
            "batch_window": backend.batch_window,
            "limits": {"rpm": backend.rpm, "tpm": backend.tpm, "max_concurrency": backend.max_concurrency},
            "replicas": [{"api_base": r.api_base, "limits": {"rpm": lim.rpm, "tpm": lim.tpm,
                                                             "max_concurrency": lim.max_concurrency}}
                         for r, lim in zip(backend.replicas, replica_limits(backend))]}
