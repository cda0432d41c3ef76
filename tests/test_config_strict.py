"""Strict config: every value is checked against its field's annotation, floats are finite, numbers bounded."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest

from selfinstruct.config import (
    MAX_COUNT,
    MAX_INTERVAL,
    MAX_RPM,
    MAX_SECONDS,
    build,
    check_range,
    check_value,
    load_toml,
)
from selfinstruct.errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class Sample:
    count: int = 1
    ratio: float = 0.5
    name: str = "x"
    flag: bool = False
    words: tuple[str, ...] = ()
    names: list[str] = field(default_factory=list)
    limit: float | None = None
    mode: Literal["a", "b"] = "a"
    path: Path = Path(".")
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    either: str | tuple[str, ...] = "all"


GOOD = [
    ({"count": 3}, "count", 3),
    ({"ratio": 2}, "ratio", 2.0),            # an int is a number
    ({"ratio": 0.25}, "ratio", 0.25),
    ({"flag": True}, "flag", True),
    ({"words": ["sat", "act"]}, "words", ("sat", "act")),
    ({"names": ["a"]}, "names", ["a"]),
    ({"limit": None}, "limit", None),
    ({"limit": 7}, "limit", 7.0),
    ({"mode": "b"}, "mode", "b"),
    ({"path": "out/run"}, "path", Path("out/run")),
    ({"headers": {"X-A": "1"}}, "headers", {"X-A": "1"}),
    ({"params": {"temperature": 0.7, "stop": ["\n"]}}, "params", {"temperature": 0.7, "stop": ["\n"]}),
    ({"either": ["q", "v"]}, "either", ("q", "v")),
    ({"either": "all-linear"}, "either", "all-linear"),
]


@pytest.mark.parametrize(("table", "key", "expected"), GOOD)
def test_good_values_are_kept_and_normalised(table, key, expected):
    value = getattr(build(Sample, table, source="c.toml"), key)
    assert value == expected
    assert type(value) is type(expected)


BAD = [
    # (table, what the message must say)
    ({"words": "sat"}, ["s.words", "a list of strings", "'sat'"]),          # never split into characters
    ({"words": ["a", 1]}, ["s.words", "element 1"]),
    ({"count": 2.5}, ["s.count", "an integer", "2.5"]),
    ({"count": True}, ["s.count", "an integer", "True"]),                  # bool is not an int
    ({"count": "3"}, ["s.count", "an integer", "'3'"]),
    ({"count": 10**30}, ["s.count", "64-bit", str(10**30)]),
    ({"ratio": "fast"}, ["s.ratio", "a finite number", "'fast'"]),
    ({"ratio": True}, ["s.ratio", "a finite number", "True"]),
    ({"ratio": math.nan}, ["s.ratio", "a finite number", "nan"]),
    ({"ratio": math.inf}, ["s.ratio", "a finite number", "inf"]),
    ({"ratio": -math.inf}, ["s.ratio", "a finite number", "-inf"]),
    ({"ratio": 10**400}, ["s.ratio", "a finite number", "characters"]),  # int too large for a float
    ({"name": 5}, ["s.name", "a string", "5"]),
    ({"flag": 1}, ["s.flag", "true or false", "1"]),
    ({"flag": "yes"}, ["s.flag", "true or false", "'yes'"]),
    ({"limit": math.nan}, ["s.limit", "a finite number", "nan"]),
    ({"mode": "c"}, ["s.mode", "one of 'a', 'b'", "'c'"]),
    ({"path": 3}, ["s.path", "a path", "3"]),
    ({"headers": {"X-A": 1}}, ["s.headers", "a table of strings", "element 1"]),
    ({"headers": "X-A: 1"}, ["s.headers", "a table"]),
    ({"params": {"temperature": math.nan}}, ["s.params", "NaN and infinity", "nan"]),
    ({"params": {"logit_bias": [1.0, math.inf]}}, ["s.params", "NaN and infinity", "inf"]),
    ({"either": 5}, ["s.either", "a string or a list of strings", "5"]),
]


@pytest.mark.parametrize(("table", "needles"), BAD)
def test_wrong_types_name_file_key_expectation_and_value(table, needles):
    with pytest.raises(ConfigError) as info:
        build(Sample, table, source="c.toml", section="s")
    message = str(info.value)
    assert message.startswith("c.toml: ")
    for needle in needles:
        assert needle in message


def test_unknown_key_is_still_named():
    with pytest.raises(ConfigError, match="unknown key 'cuont'"):
        build(Sample, {"cuont": 1}, source="c.toml")


@pytest.mark.parametrize(("value", "lo", "hi", "lo_open", "ok"), [
    (1.0, 0, 10, True, True),
    (0.0, 0, 10, True, False),
    (0.0, 0, 10, False, True),
    (10.0, 0, 10, False, True),
    (10.5, 0, 10, False, False),
    (math.nan, None, None, False, False),
    (math.nan, 0, 10, False, False),
    (-1, 0, None, False, False),
])
def test_check_range(value, lo, hi, lo_open, ok):
    if ok:
        check_range("k", value, lo=lo, hi=hi, lo_open=lo_open)
    else:
        with pytest.raises(ConfigError, match="^k must be"):
            check_range("k", value, lo=lo, hi=hi, lo_open=lo_open)


def test_check_value_without_a_dataclass():
    assert check_value([1, 2], tuple[int, ...], name="n") == (1, 2)
    with pytest.raises(ConfigError, match="^n must be a list of integers"):
        check_value([1, 2.5], tuple[int, ...], name="n")


# -- the real configs: types through build, bounds in __post_init__ ------------------------------------------------

def _generate(table: dict) -> Any:
    from selfinstruct.pipeline.config import build_generate_config

    base = {"endpoint": {"api_base": "http://127.0.0.1:9/v1", "model": "m"}}
    return build_generate_config({**base, **table}, out_dir=Path("run"), source="cfg.toml")


@pytest.mark.parametrize(("table", "needles"), [
    ({"filters": {"extra_blacklist": "sat"}}, ["cfg.toml", "filters.extra_blacklist", "'sat'"]),
    ({"filters": {"blacklist": "image"}}, ["filters.blacklist", "'image'"]),
    ({"limits": {"max_concurrency": 2.5}}, ["limits.max_concurrency", "2.5"]),
    ({"limits": {"max_concurrency": True}}, ["limits.max_concurrency", "True"]),
    ({"limits": {"rpm": "fast"}}, ["limits.rpm", "a finite number", "'fast'"]),
    ({"limits": {"rpm": math.nan}}, ["limits.rpm", "nan"]),
    ({"limits": {"rpm": MAX_RPM * 10}}, ["limits.rpm", "<= 1000000000", "10000000000.0"]),
    ({"limits": {"tpm": 0}}, ["limits.tpm", "positive"]),
    ({"retry": {"timeout": math.inf}}, ["retry.timeout", "inf"]),
    ({"retry": {"timeout": MAX_SECONDS + 1}}, ["retry.timeout", "<= 86400", "86401"]),
    ({"retry": {"max_attempts": 10**6}}, ["retry.max_attempts", "1000000"]),
    ({"retry": {"backoff_max": -1}}, ["retry.backoff_max", "-1"]),
    ({"generation": {"num_instructions": 10**30}}, ["generation.num_instructions", str(10**30)]),
    ({"generation": {"num_instructions": MAX_COUNT + 1}}, ["generation.num_instructions", str(MAX_COUNT + 1)]),
    ({"generation": {"seed": -1}}, ["generation.seed", "-1"]),
    ({"generation": {"drain_timeout": math.nan}}, ["generation.drain_timeout", "nan"]),
    ({"generation": {"stages": "generate"}}, ["generation.stages", "'generate'"]),
    ({"generation": {"synchronous": "SOMETIMES"}}, ["generation.synchronous", "'SOMETIMES'"]),
    ({"endpoint": {"api_base": "http://127.0.0.1:9/v1", "model": "m", "connect_timeout": math.inf}},
     ["endpoint.connect_timeout", "inf"]),
    ({"endpoint": {"api_base": "http://127.0.0.1:9/v1", "model": "m", "defaults": {"temperature": math.nan}}},
     ["endpoint.defaults", "nan"]),
    ({"endpoint": {"api_base": "http://127.0.0.1:9/v1", "model": 7}}, ["endpoint.model", "7"]),
    ({"prompt": {"classification_only": "yes"}}, ["prompt.classification_only", "'yes'"]),
    ({"dedup": {"threshold": math.nan}}, ["dedup.threshold", "nan"]),
    ({"export": {"max_instances_per_task": 2.5}}, ["export.max_instances_per_task", "2.5"]),
    ({"prices": {"m": {"input": "cheap", "output": 1}}}, ["prices", "'cheap'"]),
    ({"prices": {"m": {"input": math.inf, "output": 1}}}, ["prices", "inf"]),
])
def test_generate_config_rejects(table, needles):
    with pytest.raises(ConfigError) as info:
        _generate(table)
    for needle in needles:
        assert needle in str(info.value)


def test_generate_config_keeps_good_lists_as_tuples():
    cfg = _generate({"filters": {"extra_blacklist": ["sat"]}, "generation": {"stages": ["generate"]},
                     "limits": {"rpm": 600}})
    assert cfg.filters.extra_blacklist == ("sat",)
    assert "sat" in cfg.filters.all_blacklisted() and "s" not in cfg.filters.all_blacklisted()
    assert cfg.generation.stages == ("generate",)
    assert cfg.limits.rpm == 600.0 and isinstance(cfg.limits.rpm, float)


def test_progress_interval_allows_the_services_year_but_not_more():
    assert _generate({"generation": {"progress_interval": 365 * 24 * 3600.0}}).generation.progress_interval > 0
    with pytest.raises(ConfigError, match="generation.progress_interval"):
        _generate({"generation": {"progress_interval": MAX_INTERVAL * 2}})


def test_direct_construction_is_bounded_too():
    from selfinstruct.engine.retry import RetryConfig
    from selfinstruct.engine.throttle import LimitsConfig

    with pytest.raises(ConfigError, match="limits.rpm"):
        LimitsConfig(rpm=math.nan)
    with pytest.raises(ConfigError, match="retry.timeout"):
        RetryConfig(timeout=math.inf)
    with pytest.raises(ConfigError, match="retry.timeout"):
        RetryConfig(timeout=math.nan)


def test_job_spec_values_get_the_same_checks():
    """The service builds job specs through build_generate_config (JSON allows NaN and 1e999 = inf)."""
    from selfinstruct.pipeline.config import build_generate_config, table_from_flat

    for flat, needle in [({"rpm": math.nan}, "limits.rpm"), ({"timeout": math.inf}, "retry.timeout"),
                         ({"num_instructions": 10**30}, "generation.num_instructions"),
                         ({"max_concurrency": 2.5}, "limits.max_concurrency")]:
        table = table_from_flat({"api_base": "http://127.0.0.1:9/v1", "model": "m", **flat}, source="job spec")
        with pytest.raises(ConfigError) as info:
            build_generate_config(table, out_dir=Path("."), source="job spec")
        assert str(info.value).startswith("job spec: ") and needle in str(info.value)


@pytest.mark.parametrize(("toml", "needles"), [
    ("[training]\nlearning_rate = nan\n", ["training.learning_rate", "nan"]),
    ("[training]\nnum_epochs = inf\n", ["training.num_epochs", "inf"]),
    ("[training]\nmax_steps = 2.5\n", ["training.max_steps", "2.5"]),
    ("[training]\nseed = 10000000000\n", ["training.seed", "10000000000"]),
    ("[lora]\nr = true\n", ["lora.r", "True"]),
    ("[lora]\ntarget_modules = 5\n", ["lora.target_modules", "5"]),
    ("[data]\neval_fraction = nan\n", ["data.eval_fraction", "nan"]),
    ("[model]\nload_in_4bit = 1\n", ["model.load_in_4bit", "1"]),
])
def test_train_config_is_strict(tmp_path, toml, needles):
    from selfinstruct.train.config import load_train_config

    path = tmp_path / "train.toml"
    path.write_text('[data]\npath = "x.jsonl"\n' + toml.replace("[data]\n", ""), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_train_config(path)
    assert str(path) in str(info.value)
    for needle in needles:
        assert needle in str(info.value)


def test_train_config_lists_become_tuples(tmp_path):
    from selfinstruct.train.config import load_train_config

    path = tmp_path / "train.toml"
    path.write_text('[data]\npath = "x.jsonl"\n[lora]\ntarget_modules = ["q_proj", "v_proj"]\n'
                    '[training]\nnum_epochs = 2\n', encoding="utf-8")
    cfg = load_train_config(path)
    assert cfg.lora.target_modules == ("q_proj", "v_proj")
    assert cfg.training.num_epochs == 2.0 and isinstance(cfg.training.num_epochs, float)


def test_load_toml_errors_name_the_file(tmp_path):
    folder = tmp_path / "dir.toml"
    folder.mkdir()
    with pytest.raises(ConfigError, match="dir.toml"):
        load_toml(folder)
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"a = '\xff'\n")
    with pytest.raises(ConfigError, match="bin.toml"):
        load_toml(binary)


def test_flags_and_configs_share_their_bounds():
    """A flag accepts exactly what its config key accepts, at both ends."""
    from selfinstruct.cli import common
    from selfinstruct.engine.retry import RetryConfig
    from selfinstruct.engine.throttle import LimitsConfig
    from selfinstruct.pipeline.config import GenerationConfig

    pairs = [(common.RPM, LimitsConfig, "rpm"), (common.TPM, LimitsConfig, "tpm"),
             (common.CONCURRENCY, LimitsConfig, "max_concurrency"), (common.TIMEOUT, RetryConfig, "timeout"),
             (common.ATTEMPTS, RetryConfig, "max_attempts"), (common.COUNT, GenerationConfig, "num_instructions"),
             (common.SEED, GenerationConfig, "seed"), (common.SECONDS, GenerationConfig, "drain_timeout"),
             (common.INTERVAL, GenerationConfig, "progress_interval")]
    for flag, cls, key in pairs:
        lo, hi, lo_open, _ = flag.bounds
        step = 1 if flag.integer else 1e-3
        for value, ok in [(hi, True), (hi + step * max(1, hi * 1e-9), False), (lo, not lo_open),
                          (lo - step, False)]:
            value = int(value) if flag.integer else float(value)
            assert _accepts(lambda: flag(str(value))) is ok, (key, value)
            assert _accepts(lambda: cls(**{key: value})) is ok, (key, value)


def _accepts(make) -> bool:
    import argparse

    try:
        make()
    except (ConfigError, argparse.ArgumentTypeError):
        return False
    return True
