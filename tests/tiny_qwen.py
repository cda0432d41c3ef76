"""Build a tiny random Qwen2 model and tokenizer on disk, offline, for smoke tests of training and evaluation.

The tokenizer is a byte-level BPE trained on the vendored seed tasks with the
same pipeline Qwen2's tokenizer uses (NFC normaliser, the Qwen2 regex split,
ByteLevel pre-tokenizer and decoder), so ids survive a save/reload and the
chat template renders like Qwen2.5-Instruct's (ChatML with a default system
turn). The model is a 2-layer Qwen2 with hidden size 64: a forward pass costs
microseconds, yet every code path (GQA attention, MLP projections, tied
embeddings) is the real Qwen2 one.

Public API (shared with the evaluation tests; keep it stable):

    build_tiny_qwen(path, *, with_chat_template=True, seed=0) -> Path
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["build_tiny_qwen", "CHATML_TEMPLATE", "SPECIAL_TOKENS", "QWEN2_SPLIT_REGEX"]

REPO_ROOT = Path(__file__).resolve().parents[1]
SEED_TASKS = REPO_ROOT / "data" / "seed_tasks.jsonl"

# Weight init std. Qwen2's default (0.02) gives near-uniform logits that LoRA
# cannot move much (the tied embeddings stay tiny), so a short training test
# could not show a clear loss drop; 0.2 gives a model that learns in ~30 steps.
INIT_RANGE = 0.2
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

# The pre-tokenizer split Qwen2 uses (contractions, letter runs, single digits,
# punctuation runs, newlines, spaces).
QWEN2_SPLIT_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

# ChatML as Qwen2.5-Instruct renders it (without the tool-calling branches):
# a default system turn when none is given, each turn closed by <|im_end|>\n,
# and `add_generation_prompt` opening an assistant turn. No {% generation %}
# markers, on purpose: the real Qwen2.5 template has none, so training must
# not depend on them.
CHATML_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' %}"
    "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{%- if not (message['role'] == 'system' and loop.first) %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

_FALLBACK_CORPUS = [
    "Write a short poem about the sea.",
    "Classify the sentiment of the sentence as positive or negative.",
    "The quick brown fox jumps over the lazy dog. 0123456789",
]


def _corpus() -> list[str]:
    """Texts the BPE is trained on: every instruction, input and output of the seed tasks."""
    texts: list[str] = list(_FALLBACK_CORPUS)
    if SEED_TASKS.exists():
        for line in SEED_TASKS.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            task = json.loads(line)
            texts.append(task["instruction"])
            for inst in task.get("instances", []):
                texts.append(inst.get("input", ""))
                texts.append(inst.get("output", ""))
    texts.append("system user assistant You are a helpful assistant.")
    return [t for t in texts if t]


def _train_tokenizer(vocab_size: int):
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False, fuse_unk=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        # every byte is in the vocabulary, so any text (any script) encodes
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    return tok


def build_tiny_qwen(path: Path, *, with_chat_template: bool = True, seed: int = 0) -> Path:
    """Write a tiny random Qwen2ForCausalLM and its tokenizer to ``path``; return ``path``.

    ``with_chat_template=False`` saves a tokenizer without a chat template (to
    test the fallback path). ``seed`` fixes the random weights.
    """
    import torch
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=_train_tokenizer(vocab_size=1024),
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        bos_token=None,
        model_max_length=2048,
        clean_up_tokenization_spaces=False,
    )
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>"]})
    if with_chat_template:
        tokenizer.chat_template = CHATML_TEMPLATE
    tokenizer.save_pretrained(path)

    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        initializer_range=INIT_RANGE,
        bos_token_id=None,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = config.eos_token_id
    model.generation_config.pad_token_id = config.pad_token_id
    model.save_pretrained(path)
    return path
