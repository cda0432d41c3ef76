"""Job specs: check a submitted JSON body, turn a stored spec into a run config, and find the job's API key.

A spec is the flat settings of ``selfinstruct generate`` (``api_base``, ``model``,
``rpm``, ...) plus ``"kind": "generate"``. It never holds a key: ``api_key_env``
names an environment variable of the *service*, read when the job starts, so
the key is never stored, logged or returned.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from selfinstruct.errors import ConfigError

__all__ = ["validate_spec", "config_for_job", "resolve_api_key", "KINDS"]

KINDS = ("generate",)
SOURCE = "job spec"

_INTS = ("num_instructions", "max_concurrency", "max_attempts", "seed", "stall_limit", "num_prompt_instructions",
         "num_machine_instructions", "max_instances_per_task")
_NUMBERS = ("rpm", "tpm", "timeout", "drain_timeout", "threshold")
_STRINGS = ("api_base", "model", "endpoint", "api_key_env", "seed_tasks")
_BOOLS = ("classification_only", "include_seed_tasks")
_KEYLIKE = ("api_key", "key", "token", "authorization", "openai_api_key")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# The service writes its own structured progress lines; the run's plain reporter stays quiet.
_QUIET_REPORTER = 365 * 24 * 3600.0


def _check_types(flat: dict[str, Any]) -> None:
    for key, value in flat.items():
        if value is None:
            continue
        if key in _INTS and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(f"{SOURCE}: {key!r} must be an integer, got {value!r}")
        if key in _NUMBERS and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ConfigError(f"{SOURCE}: {key!r} must be a number, got {value!r}")
        if key in _STRINGS and not isinstance(value, str):
            raise ConfigError(f"{SOURCE}: {key!r} must be a string, got {value!r}")
        if key in _BOOLS and not isinstance(value, bool):
            raise ConfigError(f"{SOURCE}: {key!r} must be true or false, got {value!r}")


def validate_spec(body: Any) -> dict[str, Any]:
    """The normalized spec to store, or ConfigError with a message fit for a 400 answer."""
    from selfinstruct.pipeline.config import build_generate_config, table_from_flat

    if not isinstance(body, dict):
        raise ConfigError(f"{SOURCE}: the body must be a JSON object of settings")
    kind = body.get("kind", "generate")
    if kind not in KINDS:
        raise ConfigError(f"{SOURCE}: unknown kind {kind!r} (known: {', '.join(KINDS)})")
    for key in body:
        if str(key).lower() in _KEYLIKE:
            raise ConfigError(f"{SOURCE}: {key!r} is not accepted: API keys never go into a job; set the key in "
                              f"an environment variable of the service and name it with 'api_key_env'")
    flat = {k: v for k, v in body.items() if k != "kind" and v is not None}
    missing = [k for k in ("api_base", "model") if k not in flat]
    if missing:
        raise ConfigError(f"{SOURCE}: missing required setting(s) {', '.join(map(repr, missing))}")
    _check_types(flat)
    env = flat.get("api_key_env")
    if env is not None and not _ENV_NAME.match(env):
        raise ConfigError(f"{SOURCE}: 'api_key_env' must be an environment variable name, got {env!r}")
    if "seed_tasks" in flat:
        path = Path(flat["seed_tasks"]).expanduser().resolve()
        if not path.is_file():
            raise ConfigError(f"{SOURCE}: 'seed_tasks' file not found: {path}")
        flat["seed_tasks"] = str(path)
    table = table_from_flat(flat, source=SOURCE)
    # Build once against a dummy directory: every value check of `generate` runs now, not at start.
    build_generate_config(table, out_dir=Path("."), source=SOURCE)
    return {"kind": kind, **flat}


def config_for_job(spec: dict[str, Any], out_dir: Path) -> Any:
    """The ``GenerateConfig`` of a stored spec, writing into the job's run directory."""
    from selfinstruct.pipeline.config import build_generate_config, table_from_flat

    flat = {k: v for k, v in spec.items() if k != "kind"}
    table = table_from_flat(flat, source=SOURCE)
    table.setdefault("generation", {})["progress_interval"] = _QUIET_REPORTER
    return build_generate_config(table, out_dir=out_dir, source=SOURCE)


def resolve_api_key(api_key_env: str, api_base: str, environ: Mapping[str, str]) -> str | None:
    """The key from the service's environment; optional only for loopback endpoints. Never echoes the key."""
    from selfinstruct.commands.common import is_loopback

    key = environ.get(api_key_env)
    if key:
        return key
    if is_loopback(api_base):
        return None
    raise ConfigError(f"environment variable {api_key_env} is not set in the service's environment; it must hold "
                      f"the API key for {api_base} (set it for the service and resume the job)")
