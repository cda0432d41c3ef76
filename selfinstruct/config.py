"""Configuration: read TOML, apply CLI overrides, build frozen dataclasses, reject unknown keys.

The flow (library code never reads argv or the environment):
    table = load_toml(path)                       # ConfigError names the file
    table = merge(table, overrides)               # flags win over the file
    cfg = build(SomeConfig, table, source=path)   # unknown key -> ConfigError naming key and file
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any, TypeVar

from selfinstruct.errors import ConfigError

__all__ = ["load_toml", "build", "merge", "field_help", "check_keys"]

T = TypeVar("T")


def load_toml(path: str | Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    p = Path(path)
    try:
        with p.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"{p}: config file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: invalid TOML: {exc}") from exc


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Overrides win; ``None`` in overrides means 'not given on the command line'."""
    out = dict(base)
    for key, value in overrides.items():
        if value is None:
            continue
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def check_keys(table: dict[str, Any], allowed: set[str], *, source: str, section: str = "") -> None:
    where = f" in [{section}]" if section else ""
    for key in table:
        if key not in allowed:
            hint = ", ".join(sorted(allowed))
            raise ConfigError(f"{source}: unknown key {key!r}{where} (known keys: {hint})")


def build(cls: type[T], table: dict[str, Any], *, source: str = "<flags>", section: str = "") -> T:
    """Instantiate a (frozen, keyword-only) dataclass from a table, rejecting unknown keys by name."""
    names = {f.name for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    check_keys(table, names, source=source, section=section)
    try:
        return cls(**table)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from exc
    except (TypeError, ValueError) as exc:
        where = f" [{section}]" if section else ""
        raise ConfigError(f"{source}{where}: {exc}") from exc


def field_help(cls: type, name: str) -> str:
    for f in dataclasses.fields(cls):
        if f.name == name:
            return f.metadata.get("help", "")
    return ""
