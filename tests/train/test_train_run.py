"""QLoRA on the tiny Qwen2: the loss drops, the adapter reloads exactly, labels mask the prompt, packing on/off."""

from __future__ import annotations

import json
import math

import pytest

from selfinstruct.train.config import load_train_config
from selfinstruct.train.trainer import prepare_run, train
from train_helpers import fast_overrides, small_examples


@pytest.fixture(scope="module")
def qlora_run(tiny_qwen, alpaca_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("qlora") / "out"
    return train(load_train_config(None, fast_overrides(tiny_qwen, alpaca_file, out)))


def _logits(model, tokenizer):
    import torch

    text = tokenizer.apply_chat_template([{"role": "user", "content": "Generate a haiku about rain."}],
                                         tokenize=False, add_generation_prompt=True)
    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)
    model.eval()
    with torch.no_grad():
        return model(**ids).logits.float()


def test_the_base_layers_are_nf4_linear4bit(qlora_run):
    """QLoRA means the frozen base is bitsandbytes 4-bit: every projection LoRA wraps is a Linear4bit with nf4
    weights (the summary's "quantization" label alone would not show it)."""
    import bitsandbytes as bnb
    import torch

    model = qlora_run.model
    n_layers = model.config.num_hidden_layers
    quantized = {name.removesuffix(".base_layer"): module for name, module in model.named_modules()
                 if isinstance(module, bnb.nn.Linear4bit)}
    projections = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    assert {name.rsplit(".", 1)[-1] for name in quantized} == projections
    assert len(quantized) == len(projections) * n_layers
    for name, module in quantized.items():
        assert module.weight.quant_state.quant_type == "nf4", name
        assert module.weight.dtype == torch.uint8, name     # packed 4-bit, not a float matrix
        assert not module.weight.requires_grad, name
    # Nothing else in the decoder stayed a full-precision Linear besides the LoRA A/B matrices.
    plain = [name for name, module in model.named_modules() if type(module) is torch.nn.Linear
             and ".lora_" not in name and not name.endswith("lm_head")]
    assert plain == []
    assert qlora_run.summary["quantization"] == "nf4"


def test_qlora_lowers_the_loss_clearly(qlora_run):
    s = qlora_run.summary
    assert s["quantization"] == "nf4" and s["packing"] is True
    assert s["global_step"] == 30 and len(s["losses"]) >= 5
    assert s["losses"][-1] <= 0.6 * s["losses"][0], s["losses"]
    assert math.isfinite(s["eval_loss"]) and s["eval_examples"] == 2


def test_outputs_and_summary(qlora_run):
    out = qlora_run.output_dir
    for name in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "tokenizer_config.json",
                 "training_summary.json", "loss_curve.png"):
        assert (out / name).is_file(), name
    assert (out / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    s = json.loads((out / "training_summary.json").read_text())
    assert 0 < s["trainable_params"] < s["total_params"]
    assert s["tokens_per_second"] > 0 and s["supervised_tokens_per_second"] > 0
    assert s["supervised_tokens_trained"] < s["real_tokens_trained"]  # the prompt is not supervised
    assert s["wall_seconds"] >= s["train_seconds"] > 0
    assert {"torch", "transformers", "trl", "peft", "bitsandbytes"} <= set(s["versions"])
    assert s["loss_steps"] == sorted(s["loss_steps"]) and len(s["loss_steps"]) == len(s["losses"])
    # one process: a world of one, no process group, global batch = per-device batch x accumulation
    assert s["world_size"] == 1 and s["distributed_backend"] is None
    assert s["per_device_batch_size"] == 4 and s["gradient_accumulation_steps"] == 1 and s["global_batch_size"] == 4
    assert s["ranks"] == [{"rank": 0, "device": "cpu", "micro_steps": 30, "real_tokens": s["real_tokens_trained"],
                           "supervised_tokens": s["supervised_tokens_trained"]}]
    assert s["epoch"] == 30 / math.ceil(s["train_rows"] / 4)
    adapter = json.loads((out / "adapter_config.json").read_text())
    # all-linear: attention and MLP projections, not lm_head
    assert {m.rsplit(".", 1)[-1] for m in adapter["target_modules"]} == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                              "down_proj"}


def test_saved_adapter_reloads_with_identical_logits(qlora_run):
    import torch

    from selfinstruct.train.model import load_adapter_model

    before = _logits(qlora_run.model, qlora_run.tokenizer)
    model, tokenizer = load_adapter_model(qlora_run.output_dir)
    after = _logits(model, tokenizer)
    assert torch.equal(before, after)
    # and the adapter matters: the bare base gives other logits
    with model.disable_adapter():
        assert not torch.allclose(_logits(model, tokenizer), after, atol=1e-3)


def _expected_pairs(tokenizer):
    from selfinstruct.formats import to_messages

    pairs = set()
    for ex in small_examples():
        user, answer = to_messages(ex["instruction"], ex["input"], ex["output"])
        prompt = tokenizer.apply_chat_template([user], tokenize=False, add_generation_prompt=True)
        pairs.add((prompt, answer["content"] + "<|im_end|>\n"))
    return pairs


def _check_segment(tokenizer, ids, labels, pairs):
    n_prompt = next(i for i, lab in enumerate(labels) if lab != -100)
    assert all(lab == -100 for lab in labels[:n_prompt])
    assert labels[n_prompt:] == ids[n_prompt:]  # every answer token is kept
    assert (tokenizer.decode(ids[:n_prompt]), tokenizer.decode(ids[n_prompt:])) in pairs


@pytest.mark.parametrize("packing", [False, True])
def test_labels_mask_every_prompt_token_and_keep_every_answer_token(tiny_qwen, alpaca_file, tmp_path, packing):
    cfg = load_train_config(None, fast_overrides(tiny_qwen, alpaca_file, tmp_path / "o", **{
        "training.packing": packing, "training.max_length": 256}))
    run = prepare_run(cfg)
    pairs = _expected_pairs(run.tokenizer)
    dataset = run.trainer.train_dataset
    segments = 0
    for row in dataset:
        ids, labels = row["input_ids"], row["labels"]
        lengths = row["seq_lengths"] if packing else [len(ids)]
        start = 0
        for length in lengths:
            _check_segment(run.tokenizer, ids[start:start + length], labels[start:start + length], pairs)
            start += length
            segments += 1
        assert start == len(ids)
    assert segments == run.train_examples == 14
    if packing:
        assert len(dataset) < segments  # several examples share a row


def test_training_without_packing(tiny_qwen, alpaca_file, tmp_path):
    cfg = load_train_config(None, fast_overrides(tiny_qwen, alpaca_file, tmp_path / "o", **{
        "training.packing": False, "training.max_steps": 12, "training.logging_steps": 3}))
    s = train(cfg).summary
    assert s["packing"] is False and s["global_step"] == 12
    assert s["losses"][-1] < 0.9 * s["losses"][0], s["losses"]
    # without packing a batch is padded, and padding is not counted as trained tokens
    assert s["real_tokens_trained"] > 0


def test_packed_examples_do_not_attend_to_each_other(tiny_qwen):
    """Padding-free packing relies on position ids restarting at 0 to separate examples (sdpa here)."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_qwen, attn_implementation="sdpa").eval()
    a = torch.tensor([[5, 17, 300, 42, 9, 77]])
    b = torch.tensor([[8, 250, 3, 61]])
    packed = torch.cat([a, b], dim=1)
    positions = torch.cat([torch.arange(a.shape[1]), torch.arange(b.shape[1])])[None]
    with torch.no_grad():
        # use_cache=False as in training (trl sets it): with a cache, transformers skips packed-sequence detection
        together = model(input_ids=packed, position_ids=positions, use_cache=False).logits
        alone_a, alone_b = model(input_ids=a).logits, model(input_ids=b).logits
        leaky = model(input_ids=packed).logits  # one long sequence: b sees a
    assert torch.allclose(together[:, : a.shape[1]], alone_a, atol=1e-5)
    assert torch.allclose(together[:, a.shape[1]:], alone_b, atol=1e-5)
    assert not torch.allclose(leaky[:, a.shape[1]:], alone_b, atol=1e-3)


def test_public_surface():
    import selfinstruct.train as pkg

    assert sorted(pkg.__all__) == ["TrainConfig", "load_train_config", "merge_adapter", "train"]
