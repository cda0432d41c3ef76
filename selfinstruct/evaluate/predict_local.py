"""Answer evaluation tasks with a local causal LM: chat template, left-padded batches, decode only the new tokens.

Decoder-only models continue the sequence they are given, so ``generate``
returns prompt + answer. With left padding every row of a batch ends its prompt
at the same column, hence ``output[:, prompt_width:]`` is exactly the new
tokens of every row; decoding only that slice is what keeps the prompt out of
``response`` (the seed's bug). Tasks are sorted by prompt length so a batch
holds prompts of similar length and wastes little compute on padding.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfinstruct.errors import ConfigError
from selfinstruct.evaluate.tasks import EvalTask, prediction_record
from selfinstruct.extras import require_extra
from selfinstruct.io import write_jsonl_atomic

__all__ = ["LocalGenerationConfig", "Generation", "load_model", "render_prompts", "generate_batch", "predict_local"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class LocalGenerationConfig:
    model: str = field(metadata={
        "help": "local model folder or hub name; with --api-base, the model name sent to the API"})
    adapter: str | None = field(default=None, metadata={"help": "LoRA adapter folder (local models only)"})
    max_new_tokens: int = field(default=512, metadata={"help": "answer length cap in tokens"})
    batch_size: int = field(default=8, metadata={"help": "prompts per generate call (local models)"})
    do_sample: bool = field(default=False, metadata={"help": "sample instead of greedy decoding"})
    temperature: float = field(default=0.7, metadata={"help": "sampling temperature (with --do-sample)"})
    top_p: float = field(default=0.9, metadata={"help": "nucleus sampling p (with --do-sample)"})
    seed: int = field(default=0, metadata={"help": "random seed"})
    device: str | None = field(default=None, metadata={
        "help": "torch device for local models (default: cuda if available, else cpu)"})
    local_files_only: bool = field(default=False, metadata={
        "help": "load only cached model files (the CLI sets this from HF_HUB_OFFLINE)"})


@dataclass(frozen=True, kw_only=True, slots=True)
class Generation:
    text: str
    prompt_tokens: int          # without padding
    new_token_ids: tuple[int, ...]


def _tokenizer_source(cfg: LocalGenerationConfig) -> str:
    # Training saves the tokenizer (with the chat template it trained on) next to the adapter.
    if cfg.adapter and (Path(cfg.adapter) / "tokenizer_config.json").is_file():
        return cfg.adapter
    return cfg.model


def load_model(cfg: LocalGenerationConfig) -> tuple[Any, Any, str]:
    """(model, tokenizer, device). Load failures become ConfigError naming the model."""
    require_extra("eval", "torch", "transformers", *(("peft",) if cfg.adapter else ()))
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = cfg.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if device.startswith("cuda") and torch.cuda.is_bf16_supported() else torch.float32
    try:
        tokenizer = AutoTokenizer.from_pretrained(_tokenizer_source(cfg), local_files_only=cfg.local_files_only)
        model = AutoModelForCausalLM.from_pretrained(cfg.model, dtype=dtype, local_files_only=cfg.local_files_only)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load model {cfg.model!r}: {exc}") from exc
    if cfg.adapter:
        try:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, cfg.adapter)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot load adapter {cfg.adapter!r}: {exc}") from exc
    model.to(device)
    model.eval()

    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    from selfinstruct.train.render import ensure_chat_template

    ensure_chat_template(tokenizer, allow_fallback=True, model_name=cfg.model)
    return model, tokenizer, device


def render_prompts(tokenizer: Any, tasks: Sequence[EvalTask]) -> list[str]:
    """The chat-template rendering of each task's user turn, ending with the assistant header."""
    return [
        tokenizer.apply_chat_template([{"role": "user", "content": t.user_turn}], tokenize=False,
                                      add_generation_prompt=True)
        for t in tasks
    ]


def _generation_config(model: Any, tokenizer: Any, cfg: LocalGenerationConfig) -> Any:
    import copy

    gen = copy.deepcopy(model.generation_config)
    gen.max_new_tokens = cfg.max_new_tokens
    gen.do_sample = cfg.do_sample
    if cfg.do_sample:
        gen.temperature, gen.top_p = cfg.temperature, cfg.top_p
    else:
        # Greedy: drop the sampling knobs a model's generation_config may carry (Qwen2.5 ships some).
        gen.temperature = gen.top_p = gen.top_k = None
    gen.pad_token_id = tokenizer.pad_token_id
    if gen.eos_token_id is None:
        gen.eos_token_id = tokenizer.eos_token_id
    return gen


def generate_batch(model: Any, tokenizer: Any, prompts: Sequence[str], cfg: LocalGenerationConfig,
                   device: str) -> list[Generation]:
    """Generate for one batch of rendered prompts; decode only the tokens after the prompt."""
    import torch

    # The chat template already wrote any special tokens the model needs.
    enc = tokenizer(list(prompts), return_tensors="pt", padding=True, add_special_tokens=False).to(device)
    width = enc["input_ids"].shape[1]
    with torch.inference_mode():
        out = model.generate(**enc, generation_config=_generation_config(model, tokenizer, cfg))
    new = out[:, width:]
    stops = {tokenizer.pad_token_id}
    results = []
    for row, mask in zip(new.tolist(), enc["attention_mask"].tolist(), strict=True):
        # Generation pads finished rows with pad_token_id; cut at the first pad so counts are real tokens.
        ids = row
        for i, tok in enumerate(row):
            if tok in stops:
                ids = row[:i]
                break
        text = tokenizer.decode(ids, skip_special_tokens=True)
        results.append(Generation(text=text.strip(), prompt_tokens=int(sum(mask)), new_token_ids=tuple(ids)))
    return results


def predict_local(tasks: Sequence[EvalTask], out_path: str | os.PathLike[str], cfg: LocalGenerationConfig) -> int:
    """Answer every task, write the prediction JSONL atomically, return the number written."""
    from transformers import set_seed

    if cfg.batch_size < 1 or cfg.max_new_tokens < 1:
        raise ConfigError("--batch-size and --max-new-tokens must be at least 1")
    set_seed(cfg.seed)
    model, tokenizer, device = load_model(cfg)
    prompts = render_prompts(tokenizer, tasks)
    lengths = [len(ids) for ids in tokenizer(prompts, add_special_tokens=False)["input_ids"]]
    order = sorted(range(len(tasks)), key=lambda i: -lengths[i])
    responses: dict[int, str] = {}
    started = time.monotonic()
    new_tokens = 0
    for b in range(0, len(order), cfg.batch_size):
        idx = order[b:b + cfg.batch_size]
        for i, gen in zip(idx, generate_batch(model, tokenizer, [prompts[i] for i in idx], cfg, device), strict=True):
            responses[i] = gen.text
            new_tokens += len(gen.new_token_ids)
        log.info("predict: %d/%d tasks, %.1f new tokens/s", len(responses), len(tasks),
                 new_tokens / max(time.monotonic() - started, 1e-9))
    return write_jsonl_atomic(out_path, (prediction_record(t, responses[i]) for i, t in enumerate(tasks)))
