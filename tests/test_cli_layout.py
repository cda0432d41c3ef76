"""The command line is one package on top: only it parses flags or reads the environment, nothing imports it,
its command table is static, and every settings flag shows the help of the config field it sets."""

from __future__ import annotations

import ast
import dataclasses
import inspect
from pathlib import Path

import pytest

from selfinstruct.cli import COMMANDS, build_parser, main
from selfinstruct.cli.flags import ConfigFlag

REPO = Path(__file__).resolve().parents[1]
CLI = REPO / "selfinstruct" / "cli"


def _sources() -> list[Path]:
    return sorted(p for root in ("selfinstruct", "workers") for p in (REPO / root).rglob("*.py"))


def _outside_cli(path: Path) -> bool:
    # selfinstruct/__main__.py is `python -m selfinstruct`: the program's entry, which only calls cli.main.
    return not path.is_relative_to(CLI) and path != REPO / "selfinstruct" / "__main__.py"


def test_only_the_cli_package_uses_argparse_or_reads_the_environment():
    for word in ("argparse", "os.environ", "getenv"):
        found = [str(p.relative_to(REPO)) for p in _sources() if word in p.read_text(encoding="utf-8")
                 and _outside_cli(p)]
        assert found == [], word


def test_no_module_outside_the_cli_imports_it():
    offenders = []
    for path in filter(_outside_cli, _sources()):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            if any(n == "selfinstruct.cli" or n.startswith("selfinstruct.cli.") for n in names):
                offenders.append(str(path.relative_to(REPO)))
    assert offenders == []


def test_the_command_table_is_static():
    source = (CLI / "__init__.py").read_text(encoding="utf-8")
    assert "importlib" not in source and "getattr" not in source
    for name, _, handlers in COMMANDS:
        for function in handlers:
            assert inspect.isfunction(function), name
            assert function.__module__.startswith("selfinstruct.cli."), (name, function.__module__)


def test_top_level_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name, help_text, _ in COMMANDS:
        assert f"    {name} " in out, name
        assert " ".join(help_text.split()[:3]) in " ".join(out.split()), name


def _subparsers():
    import argparse

    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _command_help(capsys, command: str) -> str:
    assert main([command, "--help"]) == 0
    return " ".join(capsys.readouterr().out.split())


def _field_help(cls: type, name: str) -> str:
    field = next(f for f in dataclasses.fields(cls) if f.name == name)
    return " ".join(field.metadata["help"].split())


def _config_flags(command: str) -> list[ConfigFlag]:
    return [a.config_flag for a in _subparsers()[command]._actions if hasattr(a, "config_flag")]


# A few fields per command, named here from the dataclasses so a flag that stops showing its field fails.
def _samples():
    from selfinstruct.analyze.run import AnalyzeConfig
    from selfinstruct.complete import CompleteConfig
    from selfinstruct.dedup import DedupConfig
    from selfinstruct.evaluate.bertscore import BertScoreConfig
    from selfinstruct.evaluate.evaluation import EvaluateConfig
    from selfinstruct.evaluate.metrics import BootstrapConfig
    from selfinstruct.evaluate.predict_api import PredictApiConfig
    from selfinstruct.evaluate.predict_local import LocalGenerationConfig
    from selfinstruct.engine.retry import RetryConfig
    from selfinstruct.engine.throttle import LimitsConfig
    from selfinstruct.pipeline.config import GenerationConfig
    from selfinstruct.service.config import ServiceConfig
    from selfinstruct.stages.prepare import PrepareConfig
    from selfinstruct.train.config import LoraSettings, TrainingSettings
    from workers.openai import EndpointConfig
    from workers.simulated import SimConfig

    steps = [(GenerationConfig, "seed"), (LimitsConfig, "rpm"), (RetryConfig, "max_attempts")]
    return {
        "generate": [(GenerationConfig, "num_instructions"), (LimitsConfig, "max_concurrency"),
                     (RetryConfig, "max_outage"), (EndpointConfig, "api_base"), (PrepareConfig, "include_seed_tasks")],
        "complete": [(EndpointConfig, "model"), (LimitsConfig, "tpm"), (RetryConfig, "timeout"),
                     (CompleteConfig, "drain_timeout"), (CompleteConfig, "progress_interval"),
                     (CompleteConfig, "allow_changes"), (CompleteConfig, "duplicate_ids")],
        "bootstrap": [*steps, (GenerationConfig, "num_instructions")],
        "classify": steps,
        "instances": steps,
        "prepare": [(PrepareConfig, "max_instances_per_task"), (GenerationConfig, "seed_tasks")],
        "simulate": [(SimConfig, "p_500"), (SimConfig, "latency_ms"), (SimConfig, "outage_after")],
        "dedup": [(DedupConfig, "threshold"), (DedupConfig, "untokenizable")],
        "train": [(TrainingSettings, "learning_rate"), (LoraSettings, "r"), (TrainingSettings, "max_steps")],
        "predict": [(LimitsConfig, "rpm"), (RetryConfig, "max_outage"), (LocalGenerationConfig, "max_new_tokens"),
                    (LocalGenerationConfig, "top_p"), (LocalGenerationConfig, "batch_size"),
                    (LocalGenerationConfig, "device"), (PredictApiConfig, "api_base")],
        "evaluate": [(EvaluateConfig, "predictions"), (EvaluateConfig, "include_baselines"),
                     (BertScoreConfig, "num_layers"), (BertScoreConfig, "batch_size"),
                     (BootstrapConfig, "resamples"), (BootstrapConfig, "seed")],
        "analyze": [(AnalyzeConfig, "out_dir"), (AnalyzeConfig, "seed_tasks"), (AnalyzeConfig, "workers")],
        "serve": [(ServiceConfig, "grace"), (ServiceConfig, "max_jobs"), (ServiceConfig, "state_dir")],
    }


@pytest.mark.parametrize("command", sorted(_samples()))
def test_each_commands_help_shows_its_config_fields_help(capsys, command):
    out = _command_help(capsys, command)
    for cls, name in _samples()[command]:
        assert _field_help(cls, name) in out, (command, cls.__name__, name)
    for flag in _config_flags(command):  # and every other config flag of the command
        assert _field_help(flag.config(), flag.key) in out, (command, flag.option)
        assert flag.target in out, (command, flag.option)


@pytest.mark.parametrize("argv", [
    ["generate", "--out", "r"],
    ["complete", "in.jsonl", "--out", "o.jsonl", "--api-base", "http://127.0.0.1/v1", "--model", "m"],
    ["predict", "--out", "p.jsonl", "--model", "m"],
    ["evaluate", "--out", "r"],
    ["analyze", "run", "--out", "a"],
])
def test_config_flags_name_a_real_field_and_leave_unset_as_none(argv):
    """Unset flags are None, so the dataclass default (shown in --help) is the one used."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for flag in _config_flags(argv[0]):
        assert flag.key in {f.name for f in dataclasses.fields(flag.config())}, flag.target
        if not flag.required:
            assert getattr(args, flag.name) is None, flag.option


def test_generate_drain_timeout_flag_overrides_the_generation_table(tmp_path):
    from selfinstruct.cli.generate import config_from_args

    toml = tmp_path / "run.toml"
    toml.write_text("[generation]\ndrain_timeout = 12\n")
    base = ["generate", "--out", str(tmp_path / "run"), "--api-base", "http://127.0.0.1:9/v1", "--model", "m"]
    parser = build_parser()
    assert config_from_args(parser.parse_args(base)).generation.drain_timeout == 30.0
    assert config_from_args(parser.parse_args([*base, "--config", str(toml)])).generation.drain_timeout == 12
    args = parser.parse_args([*base, "--config", str(toml), "--drain-timeout", "0"])
    assert config_from_args(args).generation.drain_timeout == 0


class _Built(Exception):
    """Stops `complete` once its config is built."""


@pytest.mark.parametrize("extra, expected", [
    ([], {"drain_timeout": 30.0, "progress_interval": 5.0, "allow_changes": False, "duplicate_ids": "error"}),
    (["--drain-timeout", "0", "--progress-interval", "2", "--allow-changes", "--duplicate-ids", "first"],
     {"drain_timeout": 0.0, "progress_interval": 2.0, "allow_changes": True, "duplicate_ids": "first"}),
])
def test_complete_run_flags_reach_the_config(tmp_path, monkeypatch, extra, expected):
    import selfinstruct.complete
    from selfinstruct.cli.complete import run_complete

    def capture(config, *, api_key):
        raise _Built(config)

    monkeypatch.setattr(selfinstruct.complete, "run_complete", capture)
    args = build_parser().parse_args(["complete", str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "o.jsonl"),
                                      "--api-base", "http://127.0.0.1:9/v1", "--model", "m", "--endpoint", "chat",
                                      *extra])
    with pytest.raises(_Built) as built:
        run_complete(args)
    config = built.value.args[0]
    assert {key: getattr(config, key) for key in expected} == expected
