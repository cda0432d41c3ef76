"""Output safety: refuse, before anything is opened, an output that is (or resolves to) one of the run's inputs.

"The same file" means the same inode where both exist (which also catches hard
links and symlinks), else the same fully resolved path (relative paths, ``..``
and symlinked folders). Every check raises ConfigError naming both paths, so
the CLI exits 2 with nothing touched.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from selfinstruct.errors import ConfigError

__all__ = ["same_file", "refuse_overlaps", "require_file_path", "require_run_dir"]


def same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        pass
    try:
        return a.resolve() == b.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return False


def refuse_overlaps(outputs: Mapping[str, Path], inputs: Mapping[str, Path | None]) -> None:
    """ConfigError when an output is an input, or two outputs are one file.

    ``outputs`` and ``inputs`` map a description ("output", "state file", "input") to a path.
    """
    for out_name, out in outputs.items():
        for in_name, inp in inputs.items():
            if inp is not None and same_file(out, inp):
                raise ConfigError(f"the {out_name} {out} is the {in_name} {inp}; refusing to write over it "
                                  f"(choose another {out_name})")
    names = list(outputs)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if same_file(outputs[a], outputs[b]):
                raise ConfigError(f"the {a} {outputs[a]} and the {b} {outputs[b]} are one file; choose another")


def require_file_path(path: Path, what: str) -> None:
    """An output file's path must not be an existing directory."""
    if path.is_dir():
        raise ConfigError(f"the {what} {path} is a directory; give a file path")


def require_run_dir(path: Path, what: str = "run directory") -> None:
    """A run directory's path must be a directory or not exist yet (never an existing file)."""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"the {what} {path} exists and is not a directory; give a new or existing run directory")
