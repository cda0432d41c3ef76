"""The public surface the pipeline codes against, and the cost of importing it."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

import selfinstruct.dedup as dedup
from selfinstruct.dedup import Decision, DedupConfig
from selfinstruct.errors import ConfigError


def test_public_names_are_pinned():
    assert dedup.__all__ == ["DedupConfig", "Decision", "NearDuplicateFilter", "ExactRougeFilter", "rouge_l_f",
                             "greedy_dedup"]
    for name in dedup.__all__:
        assert getattr(dedup, name) is not None
    with pytest.raises(AttributeError):
        dedup.nothing_here  # noqa: B018


def test_value_types():
    assert [f.name for f in dataclasses.fields(Decision)] == [
        "keep", "max_score", "most_similar", "avg_similarity_estimate", "untokenizable"]
    with pytest.raises(TypeError):
        DedupConfig(0.5)  # type: ignore[misc]  # keyword-only
    c = DedupConfig()
    assert (c.threshold, c.storage, c.redis_url) == (0.7, "memory", None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.threshold = 0.5  # type: ignore[misc]
    d = Decision(True, 0.0, {}, 0.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.keep = False  # type: ignore[misc]


@pytest.mark.parametrize("kwargs, word", [
    ({"threshold": 1.5}, "threshold"),
    ({"bands": 300, "rows": 4}, "num_perm"),
    ({"num_perm": 0}, "num_perm"),
    ({"min_band_hits": 0}, "min_band_hits"),
    ({"storage": "disk"}, "storage"),
    ({"storage": "redis"}, "redis_url"),
    ({"redis_prefix": ""}, "redis_prefix"),
    ({"untokenizable": "drop"}, "untokenizable"),
])
def test_bad_config_is_a_config_error_naming_the_key(kwargs, word):
    with pytest.raises(ConfigError, match=word):
        DedupConfig(**kwargs)


def test_importing_the_command_module_stays_light():
    code = ("import sys, selfinstruct.cli.dedup, selfinstruct.dedup; "
            "print(sorted(m for m in ('numpy', 'rapidfuzz', 'datasketch', 'xxhash') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
