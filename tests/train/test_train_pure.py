"""Pure pieces of the training module: dtype choice, loss series from the trainer log, resume detection."""

from __future__ import annotations

import pytest

from selfinstruct.errors import ConfigError
from selfinstruct.train.model import check_model_source, resolve_compute_dtype
from selfinstruct.train.summary import losses_from_log_history
from selfinstruct.train.trainer import find_resume_checkpoint


@pytest.mark.parametrize(
    ("requested", "cuda", "bf16", "expected"),
    [
        ("auto", True, True, "bfloat16"),
        ("auto", True, False, "float16"),
        ("auto", False, False, "float32"),
        ("bfloat16", False, False, "bfloat16"),
        ("float32", True, True, "float32"),
    ],
)
def test_compute_dtype(requested, cuda, bf16, expected):
    assert resolve_compute_dtype(requested, cuda=cuda, bf16_supported=bf16) == expected


def test_losses_from_log_history():
    history = [
        {"loss": 3.0, "step": 1}, {"loss": 2.0, "step": 5}, {"eval_loss": 2.5, "step": 5},
        {"train_runtime": 1.0, "step": 5}, {"loss": 1.0, "step": 10},
        {"loss": 1.5, "step": 5},  # a resumed run re-logs a step: the later value wins, once
    ]
    train, evals = losses_from_log_history(history)
    assert train == [{"step": 1, "loss": 3.0}, {"step": 5, "loss": 1.5}, {"step": 10, "loss": 1.0}]
    assert evals == [{"step": 5, "loss": 2.5}]


def test_find_resume_checkpoint_skips_incomplete(tmp_path):
    assert find_resume_checkpoint(tmp_path / "missing") is None
    assert find_resume_checkpoint(tmp_path) is None
    for step, state in ((5, '{"global_step": 5}'), (10, '{"global_step": 10}'), (15, '{"glo')):
        d = tmp_path / f"checkpoint-{step}"
        d.mkdir()
        (d / "trainer_state.json").write_text(state)
    (tmp_path / "checkpoint-20").mkdir()  # killed before the state was written
    (tmp_path / "checkpoint-x").mkdir()
    assert find_resume_checkpoint(tmp_path) == tmp_path / "checkpoint-10"


def test_check_model_source(tmp_path):
    check_model_source("Qwen/Qwen2.5-0.5B-Instruct")  # a hub id: checked when loading
    with pytest.raises(ConfigError, match="config.json"):
        check_model_source(str(tmp_path))
    with pytest.raises(ConfigError, match="not found"):
        check_model_source(str(tmp_path / "nope"))
    (tmp_path / "config.json").write_text("{}")
    check_model_source(str(tmp_path))
