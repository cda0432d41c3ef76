"""Job specs: check a submitted JSON body, and turn a stored spec plus its backend into a run config.

A spec is the flat settings of ``selfinstruct generate`` (``model``, ``seed``,
``num_instructions``, ``mode`` = online | batch | auto, ...) plus ``"kind": "generate"`` and ``"backend": NAME``,
one of the operator's backends. A spec without ``mode`` (or ``batch_poll_interval``,
``batch_window``) gets its backend's, stored with the job; a backend whose mode is
``batch`` takes batch jobs only. It never holds a URL, a key or the name of a
key variable: the backend supplies ``api_base``, the key and the limits when
the job starts, so a client cannot point the service's secrets anywhere.

Seeds are inline (``"seed_tasks": [{...}, ...]``, stored with the job and
written to the run directory as ``seed_tasks.jsonl`` at each start) or the name
of a file in the service's ``seeds_dir``. No other path is accepted.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from selfinstruct.errors import ConfigError, InputError
from selfinstruct.runfiles import SEEDS
from selfinstruct.service.backends import BackendConfig

__all__ = ["validate_spec", "config_for_job", "seed_path_for_job", "seed_file", "KINDS"]

KINDS = ("generate",)
SOURCE = "job spec"

_INTS = ("num_instructions", "max_attempts", "seed", "stall_limit", "num_prompt_instructions",
         "num_machine_instructions", "max_instances_per_task")
_NUMBERS = ("timeout", "drain_timeout", "threshold", "batch_poll_interval")
_STRINGS = ("model", "endpoint", "mode", "batch_window")
_BOOLS = ("classification_only", "include_seed_tasks")
_BACKEND_LIMITS = ("rpm", "tpm", "max_concurrency")
# Anything that could carry a destination or a secret. Matching is on the lower-cased name, '-' read as '_'.
_DESTINATIONS = frozenset({"api_base", "base_url", "api_url", "url", "endpoint_url", "host", "proxy"})
_SECRET_NAMES = frozenset({"api_key", "apikey", "key", "token", "authorization", "auth", "bearer", "secret",
                           "password", "passwd", "credentials", "headers", "extra_headers"})
_SECRET_SUFFIXES = ("_key", "_token", "_secret", "_password", "_env", "_credentials")
_SECRET_PARTS = ("secret", "password", "api_key", "apikey")
_SEED_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")
# The service writes its own structured progress lines; the run's plain reporter stays quiet.
_QUIET_REPORTER = 365 * 24 * 3600.0


def _forbidden(key: str) -> bool:
    name = str(key).lower().replace("-", "_")
    return (name in _DESTINATIONS or name in _SECRET_NAMES or name.endswith(_SECRET_SUFFIXES)
            or any(part in name for part in _SECRET_PARTS))


def _configured(backends: Mapping[str, BackendConfig]) -> str:
    if not backends:
        return ("this service has no backends configured; the operator adds them with serve --config service.toml "
                "([backends.NAME] tables) or serve --backend NAME=URL")
    return f"configured backends: {', '.join(sorted(backends))}"


def _check_types(flat: dict[str, Any]) -> None:
    for key, value in flat.items():
        if key in _INTS and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(f"{SOURCE}: {key!r} must be an integer, got {value!r}")
        if key in _NUMBERS and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ConfigError(f"{SOURCE}: {key!r} must be a number, got {value!r}")
        if key in _STRINGS and not isinstance(value, str):
            raise ConfigError(f"{SOURCE}: {key!r} must be a string, got {value!r}")
        if key in _BOOLS and not isinstance(value, bool):
            raise ConfigError(f"{SOURCE}: {key!r} must be true or false, got {value!r}")


def _backend_for(flat: dict[str, Any], backends: Mapping[str, BackendConfig]) -> BackendConfig:
    name = flat.get("backend")
    if name is None:
        raise ConfigError(f"{SOURCE}: missing 'backend': name the backend to run on ({_configured(backends)})")
    if not isinstance(name, str) or name not in backends:
        raise ConfigError(f"{SOURCE}: unknown backend {name!r} ({_configured(backends)})")
    backend = backends[name]
    model = flat.get("model")
    if backend.models is not None and model not in backend.models:
        raise ConfigError(f"{SOURCE}: model {model!r} is not offered by backend {name!r} "
                          f"(its models: {', '.join(backend.models)})")
    if backend.endpoint is not None and flat.get("endpoint", backend.endpoint) != backend.endpoint:
        raise ConfigError(f"{SOURCE}: backend {name!r} serves the {backend.endpoint!r} endpoint only, "
                          f"not {flat['endpoint']!r}")
    return backend


def _with_backend_mode(flat: dict[str, Any], backend: BackendConfig) -> dict[str, Any]:
    """The job's settings with the backend's mode and batch settings where the job set none; ConfigError for a
    mode the backend cannot serve."""
    flat = dict(flat)
    flat.setdefault("mode", backend.mode)
    for key in ("batch_poll_interval", "batch_window"):
        if getattr(backend, key) is not None:
            flat.setdefault(key, getattr(backend, key))
    mode = flat["mode"]
    if backend.mode == "batch" and mode != "batch":
        raise ConfigError(f"{SOURCE}: backend {backend.name!r} takes batch jobs only (mode = 'batch'), not mode "
                          f"{mode!r}; leave 'mode' out or set it to 'batch'")
    if backend.replicas and mode != "online":
        raise ConfigError(f"{SOURCE}: backend {backend.name!r} has replicas, so its jobs run online (a batch is "
                          f"created and polled on one server), not mode {mode!r}")
    return flat


def seed_file(name: str, seeds_dir: Path | None) -> Path:
    """The seed file ``name`` inside ``seeds_dir``; ConfigError for anything else (paths, '..', links out)."""
    if seeds_dir is None:
        raise ConfigError(f"{SOURCE}: 'seed_tasks' names a file, but this service has no seeds_dir; send the "
                          f"seeds inline as a list of objects")
    if not _SEED_NAME.match(name) or ".." in name:
        raise ConfigError(f"{SOURCE}: 'seed_tasks' must be a list of seed objects or the plain name of a file in "
                          f"the service's seeds_dir (no paths), got {name!r}")
    root = seeds_dir.resolve()
    path = (root / name).resolve()  # follows symlinks, so a link out of seeds_dir is caught too
    if not path.is_relative_to(root) or path == root:
        raise ConfigError(f"{SOURCE}: seed file {name!r} resolves outside the service's seeds_dir")
    if not path.is_file():
        raise ConfigError(f"{SOURCE}: no seed file {name!r} in the service's seeds_dir")
    return path


def _check_seeds(value: Any, seeds_dir: Path | None) -> None:
    from selfinstruct.stages.seeds import load_seed_tasks, parse_seed_list

    if isinstance(value, list):
        parse_seed_list(value, source="seed_tasks")
    elif isinstance(value, str):
        load_seed_tasks(seed_file(value, seeds_dir))
    else:
        raise ConfigError(f"{SOURCE}: 'seed_tasks' must be a list of seed objects or the name of a file in the "
                          f"service's seeds_dir, got {type(value).__name__}")


def _run_table(flat: dict[str, Any], backend: BackendConfig, seed_path: Path | None) -> dict[str, Any]:
    """The ``generate`` settings of a job: its own, then what only the backend decides."""
    from selfinstruct.pipeline.config import table_from_flat

    flat = _with_backend_mode(flat, backend)  # a spec stored before backends had a mode gets the backend's now
    run = {k: v for k, v in flat.items() if k not in ("kind", "backend", "seed_tasks")}
    run.update(api_base=backend.api_base, rpm=backend.rpm, tpm=backend.tpm, max_concurrency=backend.max_concurrency)
    if backend.endpoint is not None:
        run["endpoint"] = backend.endpoint
    if seed_path is not None:
        run["seed_tasks"] = str(seed_path)
    table = table_from_flat(run, source=SOURCE)
    if backend.replicas:  # every job on the backend goes to all its replicas (keys: service.backends.backend_key)
        table["endpoint"]["replicas"] = list(backend.replicas)
    return table


def validate_spec(body: Any, *, backends: Mapping[str, BackendConfig], seeds_dir: Path | None = None
                  ) -> dict[str, Any]:
    """The normalized spec to store, or ConfigError/InputError with a message fit for a 400 answer."""
    from selfinstruct.pipeline.config import build_generate_config

    if not isinstance(body, dict):
        raise ConfigError(f"{SOURCE}: the body must be a JSON object of settings")
    kind = body.get("kind", "generate")
    if kind not in KINDS:
        raise ConfigError(f"{SOURCE}: unknown kind {kind!r} (known: {', '.join(KINDS)})")
    for key in body:
        if _forbidden(key):
            raise ConfigError(f"{SOURCE}: {key!r} is not accepted: URLs and API keys are the operator's; name a "
                              f"configured backend with \"backend\": NAME ({_configured(backends)})")
        if key in _BACKEND_LIMITS:
            raise ConfigError(f"{SOURCE}: {key!r} is not accepted: rate limits and concurrency belong to the "
                              f"backend and are shared by all its jobs (see GET /backends)")
    flat = {k: v for k, v in body.items() if k != "kind" and v is not None}
    if "model" not in flat:
        raise ConfigError(f"{SOURCE}: missing required setting 'model'")
    _check_types(flat)
    backend = _backend_for(flat, backends)
    # Stored with the job, so a restart runs in the mode it was submitted in even if the backend's changed since.
    flat = _with_backend_mode(flat, backend)
    if "seed_tasks" in flat:
        _check_seeds(flat["seed_tasks"], seeds_dir)
    # Build once against a dummy directory: every value check of `generate` runs now, not at start.
    build_generate_config(_run_table(flat, backend, None), out_dir=Path("."), source=SOURCE)
    return {"kind": kind, **flat}


def seed_path_for_job(spec: dict[str, Any], run_dir: Path, seeds_dir: Path | None) -> Path | None:
    """Where this run reads its seeds: the inline list written into the run directory, a seeds_dir file, or
    None (the vendored 175). Inline seeds are rewritten at every start, so a restart reads the stored list."""
    value = spec.get("seed_tasks")
    if value is None:
        return None
    if isinstance(value, str):
        return seed_file(value, seeds_dir)
    path = run_dir / SEEDS
    tmp = path.with_name(path.name + ".tmp")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        with tmp.open("wb") as fh:
            for record in value:
                fh.write(orjson.dumps(record) + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise InputError(f"cannot write the job's inline seed tasks: {exc.strerror or exc}", path=str(path)) from exc
    return path


def config_for_job(spec: dict[str, Any], out_dir: Path, *, backend: BackendConfig,
                   seed_path: Path | None) -> Any:
    """The ``GenerateConfig`` of a stored spec on its backend, writing into the job's run directory."""
    from selfinstruct.pipeline.config import build_generate_config

    for key in spec:
        if _forbidden(key):  # a spec stored by an older version that still named its own URL or key
            raise ConfigError(f"{SOURCE}: {key!r} is no longer accepted; submit the job again naming a backend")
    table = _run_table(spec, backend, seed_path)
    table.setdefault("generation", {})["progress_interval"] = _QUIET_REPORTER
    return build_generate_config(table, out_dir=out_dir, source=SOURCE)
