"""The `train` and `merge` commands end to end: errors exit 2 with a clear message, merge matches the adapter."""

from __future__ import annotations

import json

import pytest

from selfinstruct.cli import main

FAST = ["--max-steps", "2", "--max-length", "96", "--learning-rate", "1e-3"]


def _train_args(model, data, out, *extra):
    return ["train", "--model", str(model), "--data", str(data), "--output-dir", str(out), *FAST, *extra]


def test_missing_model_exits_2(alpaca_file, tmp_path, capsys):
    assert main(_train_args(tmp_path / "no-such-model", alpaca_file, tmp_path / "o")) == 2
    err = capsys.readouterr().err
    assert "no-such-model" in err and "not found" in err


def test_unknown_hub_model_offline_exits_2(alpaca_file, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(_train_args("nobody-xyz/not-a-model", alpaca_file, tmp_path / "o")) == 2
    assert "nobody-xyz/not-a-model" in capsys.readouterr().err


def test_missing_data_exits_2(tiny_qwen, tmp_path, capsys):
    assert main(_train_args(tiny_qwen, tmp_path / "nope.jsonl", tmp_path / "o")) == 2
    assert "nope.jsonl" in capsys.readouterr().err


def test_data_without_usable_rows_exits_2(tiny_qwen, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "no instruction here"}\n')
    assert main(_train_args(tiny_qwen, bad, tmp_path / "o")) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "no usable rows" in err and "instruction" in err


def test_unknown_config_key_exits_2(tiny_qwen, alpaca_file, tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[lora]\nrank = 8\n")
    assert main(["train", "--config", str(cfg), "--model", str(tiny_qwen), "--data", str(alpaca_file)]) == 2
    err = capsys.readouterr().err
    assert "lora.'rank'" in err and str(cfg) in err


def test_no_chat_template_without_fallback_exits_2(tiny_qwen_no_template, alpaca_file, tmp_path, capsys):
    args = _train_args(tiny_qwen_no_template, alpaca_file, tmp_path / "o", "--no-fallback-template")
    assert main(args) == 2
    assert "no chat template" in capsys.readouterr().err


def test_no_chat_template_uses_stated_chatml_fallback(tiny_qwen_no_template, alpaca_file, tmp_path, caplog):
    out = tmp_path / "o"
    with caplog.at_level("WARNING"):
        assert main(_train_args(tiny_qwen_no_template, alpaca_file, out, "--no-4bit")) == 0
    assert "ChatML fallback" in caplog.text
    summary = json.loads((out / "training_summary.json").read_text())
    assert summary["chat_template"] == "chatml-fallback" and summary["quantization"] == "none"
    # the fallback is saved with the tokenizer, so inference renders like training
    from transformers import AutoTokenizer

    from selfinstruct.train.render import CHATML_FALLBACK

    assert AutoTokenizer.from_pretrained(out).chat_template == CHATML_FALLBACK


@pytest.fixture(scope="module")
def trained_adapter(tiny_qwen, alpaca_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("adapter") / "out"
    assert main(_train_args(tiny_qwen, alpaca_file, out, "--max-steps", "8", "--learning-rate", "5e-3")) == 0
    return out


def test_merge_output_loads_with_plain_transformers_and_matches_the_adapter(trained_adapter, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from selfinstruct.train.model import load_adapter_model

    merged_dir = tmp_path / "merged"
    assert main(["merge", "--adapter", str(trained_adapter), "--out", str(merged_dir)]) == 0
    assert not (merged_dir / "adapter_config.json").exists()
    merged = AutoModelForCausalLM.from_pretrained(merged_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(merged_dir)
    assert tokenizer.chat_template
    # the merge folds the adapter into the full-precision base: compare with base + adapter in fp32
    reference, _ = load_adapter_model(trained_adapter, load_in_4bit=False)
    text = tokenizer.apply_chat_template([{"role": "user", "content": "Name three fruits."}], tokenize=False,
                                         add_generation_prompt=True)
    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        got, want = merged(**ids).logits, reference(**ids).logits
        with reference.disable_adapter():
            base = reference(**ids).logits
    assert torch.allclose(got, want, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(got, base, atol=1e-3)  # the adapter really was merged in


def test_merge_errors(tmp_path, capsys):
    assert main(["merge", "--adapter", str(tmp_path), "--out", str(tmp_path / "m")]) == 2
    assert "adapter_config.json" in capsys.readouterr().err
