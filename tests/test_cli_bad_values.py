"""No input mistake shows a traceback: every command, every numeric flag, every bad value -> exit 2 naming it.

The sweep walks the command table of ``selfinstruct.cli`` (what ``selfinstruct --help``
lists), so a new command or a new numeric flag is covered, or fails here, without
editing this file: a numeric flag must use ``int_flag``/``float_flag``, which carry
their bounds, and the bad values are derived from those bounds.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from selfinstruct.cli import COMMANDS, build_parser, main

REPO = Path(__file__).resolve().parents[1]
THIRTY_DIGITS = "1" + "0" * 29
assert len(THIRTY_DIGITS) == 30

# The arguments each command needs besides the flag under test ({tmp} is a fresh directory).
REQUIRED: dict[str, list[str]] = {
    "demo": ["--out", "{tmp}/demo"],
    "generate": ["--out", "{tmp}/run"],
    "complete": ["{tmp}/in.jsonl", "--out", "{tmp}/out.jsonl", "--api-base", "http://127.0.0.1:9/v1", "--model", "m"],
    "simulate": [],
    "bootstrap": ["--out", "{tmp}/run"],
    "classify": ["--out", "{tmp}/run"],
    "instances": ["--out", "{tmp}/run"],
    "prepare": ["--out", "{tmp}/run"],
    "sample": ["{tmp}/run", "--out", "{tmp}/raters.csv"],
    "dedup": ["{tmp}/in.jsonl", "--out", "{tmp}/out.jsonl"],
    "train": ["--data", "{tmp}/in.jsonl", "--output-dir", "{tmp}/train"],
    "merge": ["--adapter", "{tmp}/adapter", "--out", "{tmp}/merged"],
    "predict": ["--out", "{tmp}/p_predictions.jsonl", "--model", "{tmp}/model"],
    "evaluate": ["--out", "{tmp}/report"],
    "analyze": ["{tmp}/run", "--out", "{tmp}/analysis"],
    "serve": ["--state-dir", "{tmp}/state"],
    "review": ["summary", "{tmp}/ratings.csv"],
}


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _numeric_flags() -> list[tuple[str, str, object]]:
    out = []
    for command, sub in _subparsers().items():
        for action in sub._actions:
            if action.option_strings and hasattr(action.type, "bounds"):
                out.append((command, action.option_strings[0], action.type))
    return out


def _bad_values(parse) -> list[str]:
    lo, hi, lo_open, also = parse.bounds
    values = ["nan", "inf", "-inf", "fast", "", THIRTY_DIGITS, "-" + THIRTY_DIGITS]
    if parse.integer:
        values += ["2.5", "1e3"]
    if lo is not None:
        below = lo if lo_open else lo - 1
        if below not in also:
            values.append(str(below))
    if lo is not None and lo >= 0 and -1 not in also:
        values.append("-1")
    if hi is not None and hi < 10**29:
        values.append(str(int(hi) * 10 + 1))
    return values


FLAGS = _numeric_flags()
CASES = [(cmd, flag, value) for cmd, flag, parse in FLAGS for value in _bad_values(parse)]


def _argv(command: str, tmp: Path, *extra: str) -> list[str]:
    return [command, *(a.format(tmp=tmp) for a in REQUIRED[command]), *extra]


def test_every_listed_command_is_swept():
    listed = [name for name, _, _ in COMMANDS]
    assert sorted(_subparsers()) == sorted(listed)  # the train/eval extras are installed: nothing left out
    assert sorted(REQUIRED) == sorted(listed)


def test_every_numeric_flag_uses_a_checked_type():
    plain = [(cmd, a.option_strings) for cmd, sub in _subparsers().items() for a in sub._actions
             if a.type in (int, float)]
    assert plain == []
    commands_with_numbers = {cmd for cmd, _, _ in FLAGS}
    # Spot-check that the sweep sees the flags the issue names.
    for cmd, flag in [("generate", "--num-instructions"), ("generate", "--rpm"), ("complete", "--timeout"),
                      ("predict", "--rpm"), ("serve", "--grace"), ("simulate", "--p-500"), ("dedup", "--threshold"),
                      ("train", "--learning-rate"), ("evaluate", "--bootstrap"), ("analyze", "--workers")]:
        assert (cmd, flag) in {(c, f) for c, f, _ in FLAGS}, (cmd, flag)
    assert len(commands_with_numbers) >= 13


@pytest.mark.timeout(120)
def test_every_bad_flag_value_exits_2_naming_flag_and_value(tmp_path, capsys):
    """One test over all cases (several hundred in-process parses), listing every miss at once."""
    assert len(CASES) > 300
    misses = []
    for command, flag, value in CASES:
        rc = main(_argv(command, tmp_path, f"{flag}={value}"))
        err = capsys.readouterr().err
        if rc != 2 or "Traceback" in err or flag not in err or repr(value) not in err:
            misses.append((command, flag, value, rc, err.strip().splitlines()[-1:]))
    assert misses == []
    assert list(tmp_path.iterdir()) == []  # nothing was started, so nothing was written


def test_good_flag_values_still_parse():
    parser = build_parser()
    args = parser.parse_args(["generate", "--out", "r", "--rpm", "600", "--timeout", "30", "--num-instructions",
                              "1000000000", "--seed", "0", "--max-concurrency", "8"])
    assert (args.rpm, args.timeout, args.num_instructions, args.seed, args.max_concurrency) == \
        (600.0, 30.0, 10**9, 0, 8)
    assert parser.parse_args(["analyze", "r", "--out", "o", "--workers", "-1"]).workers == -1
    assert parser.parse_args(["train", "--max-steps", "-1"]).max_steps == -1


# -- TOML configs with bad types, for every command that takes --config ----------------------------------------------

GENERATE_LIKE = ["generate", "bootstrap", "classify", "instances"]
BAD_TOML = {
    "generate": [
        ('[filters]\nextra_blacklist = "sat"\n', ["filters.extra_blacklist", "'sat'"]),
        ("[limits]\nmax_concurrency = 2.5\n", ["limits.max_concurrency", "2.5"]),
        ("[limits]\nmax_concurrency = true\n", ["limits.max_concurrency", "True"]),
        ('[limits]\nrpm = "fast"\n', ["limits.rpm", "'fast'"]),
        ("[limits]\nrpm = nan\n", ["limits.rpm", "nan"]),
        ("[retry]\ntimeout = inf\n", ["retry.timeout", "inf"]),
        (f"[generation]\nnum_instructions = {THIRTY_DIGITS}\n", ["generation.num_instructions", THIRTY_DIGITS]),
        ("[generation]\nnum_instructions = 10000000000\n", ["generation.num_instructions", "10000000000"]),
        ('[generation]\nstages = "generate"\n', ["generation.stages", "'generate'"]),
        ('[prompt]\nclassification_only = "yes"\n', ["prompt.classification_only", "'yes'"]),
        ("[dedup]\nthreshold = nan\n", ["dedup.threshold", "nan"]),
        ('[prices]\nm = {input = "x", output = 1}\n', ["prices", "'x'"]),
        ('limits = "fast"\n', ["[limits]", "'fast'"]),
    ],
    "complete": [
        ("[limits]\nrpm = nan\n", ["limits.rpm", "nan"]),
        ("[limits]\nmax_concurrency = 2.5\n", ["limits.max_concurrency", "2.5"]),
        ("[retry]\ntimeout = inf\n", ["retry.timeout", "inf"]),
        ("[retry]\nmax_attempts = true\n", ["retry.max_attempts", "True"]),
        ("[endpoint]\nconnect_timeout = inf\n", ["endpoint.connect_timeout", "inf"]),
        ("[endpoint]\ndefaults = {temperature = nan}\n", ["endpoint.defaults", "nan"]),
        ('retry = "fast"\n', ["[retry]", "'fast'"]),
        ("[prices]\nm = {input = inf, output = 1}\n", ["prices", "inf"]),
    ],
    "prepare": [
        ("[export]\nmax_instances_per_task = 2.5\n", ["export.max_instances_per_task", "2.5"]),
        ('[export]\ninclude_seed_tasks = "yes"\n', ["export.include_seed_tasks", "'yes'"]),
        ("[export]\nstrip_field_label_prob = nan\n", ["export.strip_field_label_prob", "nan"]),
    ],
    "train": [
        ("[training]\nlearning_rate = nan\n", ["training.learning_rate", "nan"]),
        ("[training]\nmax_steps = 2.5\n", ["training.max_steps", "2.5"]),
        (f"[training]\nmax_steps = {THIRTY_DIGITS}\n", ["training.max_steps", THIRTY_DIGITS]),
        ("[lora]\nr = true\n", ["lora.r", "True"]),
        ('[lora]\ndropout = "low"\n', ["lora.dropout", "'low'"]),
    ],
    "serve": [
        ('[backends.x]\napi_base = "http://127.0.0.1:9/v1"\nrpm = nan\n', ["backends.x.rpm", "nan"]),
        ('[backends.x]\napi_base = "http://127.0.0.1:9/v1"\nmax_concurrency = 2.5\n',
         ["backends.x.max_concurrency", "2.5"]),
        ('[backends.x]\napi_base = "http://127.0.0.1:9/v1"\nmodels = "m"\n', ["backends.x.models", "'m'"]),
        ("max_body_bytes = true\n", ["max_body_bytes", "True"]),
        (f"max_body_bytes = {THIRTY_DIGITS}\n", ["max_body_bytes", THIRTY_DIGITS]),
        ('allowed_origins = "x"\n', ["allowed_origins", "'x'"]),
    ],
}
for _name in GENERATE_LIKE[1:]:  # the step commands choose their own stage, so `stages` is theirs, not the file's
    BAD_TOML[_name] = [case for case in BAD_TOML["generate"] if "stages" not in case[0]]
TOML_CASES = [(cmd, toml, needles) for cmd, cases in BAD_TOML.items() for toml, needles in cases]


def test_the_config_sweep_covers_every_command_with_config():
    with_config = sorted(cmd for cmd, sub in _subparsers().items()
                         if any("--config" in a.option_strings for a in sub._actions))
    assert with_config == sorted(BAD_TOML)


@pytest.mark.parametrize(("command", "toml", "needles"), TOML_CASES,
                         ids=[f"{c}-{t.splitlines()[-1][:30]}" for c, t, _ in TOML_CASES])
def test_bad_config_values_exit_2_naming_file_key_and_value(tmp_path, capsys, command, toml, needles):
    config = tmp_path / "bad.toml"
    config.write_text(toml, encoding="utf-8")
    (tmp_path / "in.jsonl").write_text('{"id": "a", "prompt": "hi"}\n', encoding="utf-8")
    extra = ["--api-base", "http://127.0.0.1:9/v1", "--model", "m"] if command in GENERATE_LIKE else []
    before = sorted(p.name for p in tmp_path.iterdir())
    rc = main(_argv(command, tmp_path, "--config", str(config), *extra))
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err
    assert str(config) in err
    for needle in needles:
        assert needle in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no run directory, state or output created


# -- end to end, as a user runs it ------------------------------------------------------------------------------------

def _run(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "selfinstruct", *argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60)


@pytest.mark.timeout(240)
def test_the_issues_examples_end_to_end(tmp_path):
    (tmp_path / "in.jsonl").write_text('{"id": "a", "prompt": "hi"}\n', encoding="utf-8")
    (tmp_path / "sat.toml").write_text('[filters]\nextra_blacklist = "sat"\n', encoding="utf-8")
    loop = ["--api-base", "http://127.0.0.1:9/v1", "--model", "m"]
    cases = [
        (["generate", "--out", "run", *loop, "--config", "sat.toml"], ["'sat'", "filters.extra_blacklist",
                                                                       "sat.toml"]),
        (["complete", "in.jsonl", "--out", "out.jsonl", *loop, "--timeout", "inf"], ["--timeout", "'inf'"]),
        (["complete", "in.jsonl", "--out", "out.jsonl", *loop, "--timeout", "nan"], ["--timeout", "'nan'"]),
        (["generate", "--out", "run", *loop, "--rpm", "nan"], ["--rpm", "'nan'"]),  # hung forever before
        (["generate", "--out", "run", *loop, "--num-instructions", THIRTY_DIGITS],
         ["--num-instructions", THIRTY_DIGITS]),
    ]
    for argv, needles in cases:
        proc = _run(*argv, cwd=tmp_path)
        assert proc.returncode == 2, (argv, proc.stderr)
        assert "Traceback" not in proc.stderr
        for needle in needles:
            assert needle in proc.stderr, (argv, proc.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "sat.toml"]
