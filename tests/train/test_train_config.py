"""Training config: TOML + overrides -> frozen dataclasses; unknown keys and bad values name the key and file."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from selfinstruct.errors import ConfigError
from selfinstruct.train.config import TrainConfig, config_keys_help, load_train_config

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED = REPO_ROOT / "configs" / "qlora-qwen2.5-0.5b.toml"


def test_shipped_config_loads_with_the_documented_defaults():
    cfg = load_train_config(SHIPPED)
    assert cfg.model.name == "Qwen/Qwen2.5-0.5B-Instruct"
    assert cfg.model.load_in_4bit is True
    assert cfg.lora.target_modules == "all-linear"
    assert cfg.training.packing is True and cfg.training.completion_only_loss is True
    assert cfg.training.num_epochs == 3.0 and isinstance(cfg.training.num_epochs, float)


def test_overrides_win_and_none_is_ignored(tmp_path):
    cfg = load_train_config(SHIPPED, {
        "model.name": "local/dir/x", "data.path": "d.jsonl", "training.max_steps": 7,
        "training.learning_rate": None, "lora.r": 4, "model.load_in_4bit": False,
    })
    assert (cfg.model.name, cfg.data.path, cfg.training.max_steps, cfg.lora.r) == ("local/dir/x", "d.jsonl", 7, 4)
    assert cfg.training.learning_rate == 2e-4  # the None override left the file's value
    assert cfg.model.load_in_4bit is False


def test_configs_are_frozen():
    cfg = load_train_config(None, {"data.path": "x"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.training.max_steps = 3  # type: ignore[misc]
    assert isinstance(cfg, TrainConfig)


@pytest.mark.parametrize(
    ("toml", "needle"),
    [
        ("[training]\nlearnig_rate = 1e-4\n", "training.'learnig_rate'"),
        ("[trainer]\nmax_steps = 3\n", "[trainer]"),
        ("[lora]\nr = 'eight'\n", "lora.r"),
        ("[training]\npacking = 1\n", "training.packing"),
        ("[training]\nlr_scheduler = 'zigzag'\n", "lr_scheduler"),
        ("[data]\neval_fraction = 1.5\n", "eval_fraction"),
        ("[training]\nmax_steps = 0\n", "max_steps"),
        ("[model]\ncompute_dtype = 'int3'\n", "compute_dtype"),
        ("not toml at all [", "invalid TOML"),
    ],
)
def test_bad_config_names_key_and_file(tmp_path, toml, needle):
    path = tmp_path / "bad.toml"
    path.write_text(toml + '[data]\npath = "x"\n' if "[data]" not in toml else toml)
    with pytest.raises(ConfigError) as info:
        load_train_config(path, {"data.path": "x"})
    assert needle in str(info.value)
    assert str(path) in str(info.value)


def test_missing_config_file_and_missing_data_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_train_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="data.path"):
        load_train_config(None)


def test_target_modules_list_becomes_tuple(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[lora]\ntarget_modules = ["q_proj", "v_proj"]\n')
    assert load_train_config(path, {"data.path": "x"}).lora.target_modules == ("q_proj", "v_proj")


def test_every_field_has_help_and_appears_in_cli_help():
    text = config_keys_help()
    for section in dataclasses.fields(TrainConfig):
        for f in dataclasses.fields(section.default_factory()):  # type: ignore[misc]
            assert f.metadata.get("help"), f"{section.name}.{f.name} has no help"
            assert f"    {f.name} = " in text


def test_train_cli_help_does_not_import_torch():
    import subprocess
    import sys

    code = (
        "import sys; from selfinstruct.cli import build_parser; build_parser(); "
        "heavy = [m for m in ('torch', 'transformers', 'trl', 'peft') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT)
