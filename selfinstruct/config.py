"""Configuration: read TOML, apply CLI overrides, build frozen dataclasses with strictly checked values.

The flow (library code never reads argv or the environment):
    table = load_toml(path)                                  # ConfigError names the file
    table = with_overrides(table, overrides, source=path)    # {"limits.rpm": 600}: flags win over the file
    cfg = build(SomeConfig, table["limits"], source=path)    # unknown key or wrong type -> ConfigError naming it

Every way a setting arrives names it the same way, as a dotted ``section.key``:
a TOML file's ``[limits] rpm``, a command-line flag (its target, see
selfinstruct.cli.flags) and a service job spec's flat key (through its alias
table, pipeline.config.FLAT_KEYS) all become ``limits.rpm``.

``build`` checks every value against its field's annotation and never coerces:
a string is not a list, 2.5 is not an int, ``true`` is not a number, and a float
must be finite. Value ranges are each dataclass's own ``__post_init__`` business,
using ``check_range`` and the shared bounds below, so that flags (selfinstruct/cli/common.py)
and configs agree on them.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from selfinstruct.errors import ConfigError

__all__ = ["load_toml", "build", "merge", "table_from_dotted", "with_overrides", "check_keys", "check_value",
           "check_range", "table_of",
           "INT64_MAX", "MAX_RPM", "MAX_TPM", "MAX_CONCURRENCY", "MAX_SECONDS", "MAX_INTERVAL", "MAX_ATTEMPTS",
           "MAX_COUNT", "MAX_SEED"]

T = TypeVar("T")

# Sane bounds shared by the config checks and the CLI flags. Anything beyond them is a typo,
# and would otherwise surface as an overflow deep inside asyncio, SQLite or JSON export.
INT64_MAX = 2**63 - 1          # SQLite INTEGER; any int setting beyond it cannot be stored
MAX_RPM = 1e9                  # requests per minute
MAX_TPM = 1e12                 # tokens per minute
MAX_CONCURRENCY = 100_000      # requests in flight
MAX_SECONDS = 86_400.0         # timeouts, drains, backoffs: one day
MAX_INTERVAL = 366 * 86_400.0  # reporting intervals (the service silences its reporter with a year)
MAX_ATTEMPTS = 1_000           # attempts per request
MAX_COUNT = 10**9              # instructions, rows, samples
MAX_SEED = 2**32 - 1           # numpy's seed range, the narrowest of our RNGs


def load_toml(path: str | Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    p = Path(path)
    try:
        with p.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"{p}: config file not found") from exc
    except IsADirectoryError as exc:
        raise ConfigError(f"{p}: is a directory, not a TOML file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: invalid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: invalid TOML: not UTF-8 text") from exc


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


def table_from_dotted(values: dict[str, Any], *, source: str = "<flags>") -> dict[str, Any]:
    """``{"limits.rpm": 600, "endpoint.model": "m"}`` -> ``{"limits": {"rpm": 600}, "endpoint": {"model": "m"}}``.

    ``None`` means 'not given' and is left out, so unset flags never override a file.
    """
    table: dict[str, Any] = {}
    for dotted, value in values.items():
        section, dot, key = dotted.partition(".")
        if not (section and dot and key):
            raise ConfigError(f"{source}: {dotted!r} is not a section.key setting")
        if value is not None:
            table.setdefault(section, {})[key] = value
    return table


def with_overrides(table: dict[str, Any], dotted: dict[str, Any], *, source: str) -> dict[str, Any]:
    """A file's ``table`` with the dotted overrides (``{"limits.rpm": 600}``, None: not given) merged over it.

    A section the file set to something else than a table stays an error naming the file, even when a flag
    overrides one of its keys.
    """
    overrides = table_from_dotted(dotted)
    for name in overrides:
        table_of(table, name, source=source)
    return merge(table, overrides)


def table_of(table: dict[str, Any], name: str, *, source: str) -> dict[str, Any]:
    """``table[name]`` (``{}`` when absent), or ConfigError when the file set it to something else than a table."""
    value = table.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: [{name}] must be a table, got {_shown(value)} ({_kind(value)})")
    return value


def check_keys(table: dict[str, Any], allowed: set[str], *, source: str, section: str = "") -> None:
    where = f" in [{section}]" if section else ""
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [{section}] must be a table, got {table!r}")
    for key in table:
        if key not in allowed:
            hint = ", ".join(sorted(allowed))
            raise ConfigError(f"{source}: unknown key {key!r}{where} (known keys: {hint})")


def check_range(name: str, value: float, *, lo: float | None = None, hi: float | None = None,
                lo_open: bool = False) -> None:
    """ConfigError unless ``lo <= value <= hi`` (``lo < value`` with ``lo_open``). NaN never passes."""
    ok = not (isinstance(value, float) and math.isnan(value))
    if ok and lo is not None:
        ok = value > lo if lo_open else value >= lo
    if ok and hi is not None:
        ok = value <= hi
    if not ok:
        want = describe_range(lo, hi, lo_open)
        if lo == 0 and lo_open:
            want = want.replace("> 0", "positive", 1)
        raise ConfigError(f"{name} must be {want}, got {value!r}")


def describe_range(lo: float | None, hi: float | None, lo_open: bool = False) -> str:
    parts = []
    if lo is not None:
        parts.append(f"{'>' if lo_open else '>='} {_num(lo)}")
    if hi is not None:
        parts.append(f"<= {_num(hi)}")
    return " and ".join(parts) if parts else "a number"


def _num(x: float) -> str:
    return str(int(x)) if isinstance(x, float) and x.is_integer() else repr(x)


class _Mismatch(Exception):
    """A value does not fit an annotation; ``expected`` says what would."""

    def __init__(self, expected: str, value: Any = dataclasses.MISSING) -> None:
        super().__init__(expected)
        self.expected = expected
        self.value = value  # the offending element inside a list or table, when not the whole value


def _kind(value: Any) -> str:
    names = {str: "a string", bool: "a boolean", int: "an integer", float: "a float", list: "a list",
             tuple: "a list", dict: "a table"}
    return names.get(type(value), type(value).__name__)


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return "any value"
    if hint is bool:
        return "true or false"
    if hint is int:
        return "an integer"
    if hint is float:
        return "a finite number"
    if hint is str:
        return "a string"
    if hint is Path:
        return "a path (string)"
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args if a is not type(None))
    if origin in (list, tuple) or hint in (list, tuple):
        inner = [a for a in args if a is not Ellipsis]
        return f"a list of {_plural(inner[0])}" if inner else "a list"
    if origin is dict or hint is dict:
        return f"a table of {_plural(args[1])}" if len(args) == 2 and args[1] is not Any else "a table"
    return getattr(hint, "__name__", str(hint))


def _plural(hint: Any) -> str:
    return {str: "strings", int: "integers", float: "numbers", bool: "booleans"}.get(hint, _describe(hint))


_NON_FINITE = "free of NaN and infinity"


def _deep_finite(value: Any) -> None:
    """Reject NaN and infinity anywhere inside a free-form value (request defaults, tables of Any)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise _Mismatch(_NON_FINITE, value)
    if isinstance(value, dict):
        for v in value.values():
            _deep_finite(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _deep_finite(v)


def _coerce(value: Any, hint: Any) -> Any:
    """``value`` if it fits ``hint`` (lists become tuples for tuple fields, ints floats for float fields)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any or isinstance(hint, TypeVar):
        _deep_finite(value)
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for option in args:
            if option is type(None):
                continue
            try:
                return _coerce(value, option)
            except _Mismatch:
                continue
        raise _Mismatch(_describe(hint))
    if origin is typing.Literal:
        if any(type(value) is type(a) and value == a for a in args):
            return value
        raise _Mismatch(_describe(hint))
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch(_describe(hint))
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            if -INT64_MAX - 1 <= value <= INT64_MAX:
                return value
            raise _Mismatch("an integer within the 64-bit range")
        raise _Mismatch(_describe(hint))
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:
                raise _Mismatch("a finite number") from None
            if math.isfinite(number):
                return number
        raise _Mismatch(_describe(hint))
    if hint is str:
        if isinstance(value, str):
            return value
        raise _Mismatch(_describe(hint))
    if hint is Path:
        if isinstance(value, (str, Path)):
            return Path(value)
        raise _Mismatch(_describe(hint))
    if origin in (list, tuple) or hint in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise _Mismatch(_describe(hint))
        inner = [a for a in args if a is not Ellipsis]
        if origin is tuple and len(inner) > 1:  # a fixed-length tuple
            if len(value) != len(inner):
                raise _Mismatch(_describe(hint))
            items = [_coerce_item(v, h, hint) for v, h in zip(value, inner)]
        else:
            items = [_coerce_item(v, inner[0] if inner else Any, hint) for v in value]
        return tuple(items) if (origin is tuple or hint is tuple) else items
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise _Mismatch(_describe(hint))
        key_hint, value_hint = args if len(args) == 2 else (Any, Any)
        return {_coerce_item(k, key_hint, hint): _coerce_item(v, value_hint, hint) for k, v in value.items()}
    if isinstance(hint, type):
        if isinstance(value, hint):
            return value
        raise _Mismatch(_describe(hint))
    return value  # an annotation we do not model (a Protocol, a string we could not resolve): trust the class


def _coerce_item(value: Any, hint: Any, outer: Any) -> Any:
    try:
        return _coerce(value, hint)
    except _Mismatch as exc:
        # Name the whole field's expectation, and point at the element that broke it.
        expected = _describe(outer) + (f" {_NON_FINITE}" if exc.expected == _NON_FINITE else "")
        raise _Mismatch(expected, value if exc.value is dataclasses.MISSING else exc.value) from None


def check_value(value: Any, hint: Any, *, name: str) -> Any:
    """``value`` checked against the annotation ``hint`` (and normalised), or ConfigError naming ``name``."""
    try:
        return _coerce(value, hint)
    except _Mismatch as exc:
        if exc.value is not dataclasses.MISSING:
            detail = f"element {_shown(exc.value)} is {_kind(exc.value)}"
        else:
            detail = _kind(value)
        raise ConfigError(f"{name} must be {exc.expected}, got {_shown(value)} ({detail})") from None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:100] + f"... ({len(text)} characters)"


def _hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:  # noqa: BLE001 - an annotation naming a TYPE_CHECKING-only import: check per field
        out = {}
        for f in dataclasses.fields(cls):
            try:
                out[f.name] = typing.get_type_hints(type("_", (), {"__annotations__": {f.name: f.type},
                                                                   "__module__": cls.__module__}))[f.name]
            except Exception:  # noqa: BLE001 - leave that one field to the class itself
                continue
        return out


def build(cls: type[T], table: dict[str, Any], *, source: str = "<flags>", section: str = "") -> T:
    """Instantiate a (frozen, keyword-only) dataclass from a table: unknown keys and wrong types are errors.

    The messages name the source (file, ``<flags>`` or ``job spec``), the key as ``section.key``,
    what was expected and the value given.
    """
    names = {f.name for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    check_keys(table, names, source=source, section=section)
    hints = _hints(cls)
    values = {}
    for key, value in table.items():
        label = f"{section}.{key}" if section else key
        hint = hints.get(key, Any)
        try:
            values[key] = check_value(value, hint, name=label)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
    try:
        return cls(**values)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from exc
    except (TypeError, ValueError, OverflowError) as exc:
        where = f" [{section}]" if section else ""
        raise ConfigError(f"{source}{where}: {exc}") from exc

