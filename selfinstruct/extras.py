"""Optional dependencies: a missing extra is a ConfigError that names the fix, never an ImportError traceback."""

from __future__ import annotations

import importlib

from selfinstruct.errors import ConfigError

__all__ = ["require_extra"]


def require_extra(extra: str, *modules: str) -> None:
    """Import each module now, so a missing one fails before any work, naming ``pip install 'selfinstruct[extra]'``."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise ConfigError(f"{name} is not installed; install the {extra!r} extra: "
                              f"pip install 'selfinstruct[{extra}]'") from exc
