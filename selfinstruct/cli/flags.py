"""Flags made from config fields: one table row per flag, its help and default read from the dataclass.

A ``ConfigFlag`` names the flag, the dotted ``section.key`` it overrides and the
config dataclass that owns that key. ``add_config_flags`` turns rows into
argparse options; ``dotted_overrides`` reads the parsed values back as
``{"limits.rpm": 600}``, which ``selfinstruct.config.table_from_dotted`` turns
into the same tables a TOML file gives. A flag left out is ``None``: it never
overrides the file or the dataclass default.

The dataclass is reached through a zero-argument function that imports it, and
only when a command's ``--help`` is printed (``ConfigHelpFormatter``): some
configs live next to aiohttp or numpy, and ``selfinstruct --help`` must start
without them.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["ConfigFlag", "add_config_flags", "dotted_overrides", "field_help", "ConfigHelpFormatter"]


@dataclass(frozen=True)
class ConfigFlag:
    """One command-line flag that sets one config key."""

    option: str                          # "--rpm"
    target: str                          # "limits.rpm": the section.key it overrides
    config: Callable[[], type]           # returns the dataclass holding that key (imported on --help only)
    type: Callable[[str], Any] | None = None  # int_flag/float_flag with the config's bounds; None: a string
    aliases: tuple[str, ...] = ()        # older spellings kept working ("--num-instructions-to-generate")
    dest: str | None = None              # default: the option without dashes
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    nargs: str | None = None             # "+": a list (the field is a tuple)
    const: Any = None                    # a switch: giving the flag stores this value (e.g. True, or False)
    required: bool = False
    note: str = ""                       # what the flag adds to the field's help
    show_default: bool = True            # False where the command picks its own default (said in ``note``)
    repeat: bool = False                 # may be given several times: the value is the list of them

    @property
    def key(self) -> str:
        return self.target.split(".", 1)[1]

    @property
    def name(self) -> str:
        return self.dest or self.option.lstrip("-").replace("-", "_")


def add_config_flags(parser: argparse.ArgumentParser | Any, flags: Iterable[ConfigFlag]) -> None:
    """Add each row as an option of ``parser`` (or an argument group); unset flags parse as None."""
    for flag in flags:
        kwargs: dict[str, Any] = {"dest": flag.name, "default": None, "help": flag.note or f"({flag.target})"}
        if flag.const is not None:
            kwargs.update(action="store_const", const=flag.const)
        elif flag.repeat:
            kwargs.update(action="append", type=flag.type, metavar=flag.metavar, required=flag.required)
        else:
            kwargs.update(type=flag.type, metavar=flag.metavar, choices=flag.choices, required=flag.required,
                          nargs=flag.nargs)
        action = parser.add_argument(flag.option, *flag.aliases, **kwargs)
        action.config_flag = flag  # read by ConfigHelpFormatter


def dotted_overrides(args: argparse.Namespace, flags: Iterable[ConfigFlag]) -> dict[str, Any]:
    """``{"limits.rpm": 600.0, ...}`` for the flags given; the ones left out are None (not given)."""
    return {flag.target: getattr(args, flag.name) for flag in flags}


def field_help(flag: ConfigFlag) -> str:
    """The field's help text, its default and the config key it sets, as shown by ``--help``."""
    field = next(f for f in dataclasses.fields(flag.config()) if f.name == flag.key)
    text = field.metadata.get("help", "")
    if flag.const is not None:
        if flag.note:  # a switch that turns a setting off says what that means, then what it overrides
            return f"{flag.note} (sets {flag.target} = {_toml(flag.const)}: {text})"
        return f"{text} (sets {flag.target} = {_toml(flag.const)})"
    if flag.note:
        text = f"{text}; {flag.note}" if text else flag.note
    default = field.default
    shown = ""
    if flag.show_default and default is not dataclasses.MISSING and default not in (None, ""):
        shown = f"default {_toml(default)}, "
    return f"{text} ({shown}sets {flag.target})"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class ConfigHelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Shows a config flag's help from its dataclass field, so the help and the config cannot drift apart."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        flag = getattr(action, "config_flag", None)
        if flag is None:
            return action.help
        return field_help(flag).replace("%", "%%")  # argparse expands %(...)s in help text
