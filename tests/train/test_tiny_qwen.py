"""The shared tiny-model fixture: tokenizer ids survive save/reload and the chat template renders ChatML."""

from __future__ import annotations

from tiny_qwen import build_tiny_qwen

TEXTS = [
    "Write a poem about the sea.\n\nIt's 2024: 3 cats, 12 dogs!",
    "  leading spaces\ttabs\r\nand unicode: café, naïve, 中文, emoji 🙂",
]


def test_ids_survive_save_and_reload(tiny_qwen, tmp_path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_qwen)
    tok.save_pretrained(tmp_path / "again")
    again = AutoTokenizer.from_pretrained(tmp_path / "again")
    for text in TEXTS:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert again(text, add_special_tokens=False)["input_ids"] == ids
        assert tok.decode(ids) == text  # byte-level: lossless
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    specials = tok.convert_tokens_to_ids(["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    assert len(set(specials)) == 3 and all(i < len(tok) for i in specials)
    # a special token is one id, never split
    assert tok("<|im_start|>user", add_special_tokens=False)["input_ids"][0] == specials[1]


def test_chat_template_renders_chatml(tiny_qwen):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_qwen)
    msgs = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]
    text = tok.apply_chat_template(msgs, tokenize=False)
    assert text == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"
    )
    prompt = tok.apply_chat_template(msgs[:1], tokenize=False, add_generation_prompt=True)
    assert text.startswith(prompt) and prompt.endswith("<|im_start|>assistant\n")


def test_model_loads_and_seed_changes_weights(tiny_qwen, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_qwen)
    assert model.config.vocab_size >= 1000 and model.config.num_hidden_layers == 2
    other = AutoModelForCausalLM.from_pretrained(build_tiny_qwen(tmp_path / "s1", seed=1))
    w0 = model.model.layers[0].self_attn.q_proj.weight
    w1 = other.model.layers[0].self_attn.q_proj.weight
    assert not torch.equal(w0, w1)


def test_without_chat_template(tiny_qwen_no_template):
    from transformers import AutoTokenizer

    assert AutoTokenizer.from_pretrained(tiny_qwen_no_template).chat_template is None
