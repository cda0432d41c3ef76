"""Merge a LoRA adapter into full weights that load with plain transformers (no peft, no bitsandbytes).

An adapter trained on an nf4 base is merged into the *full-precision* base:
reload the base unquantized, apply the adapter, ``merge_and_unload``, save.
(Merging into the 4-bit weights would bake the quantization error in; the
merged model equals base + adapter in full precision, up to float rounding.)
The adapter directory's tokenizer (with the chat template used in training)
is saved next to the weights.
"""

from __future__ import annotations

import json
from pathlib import Path

from selfinstruct.errors import InputError

__all__ = ["merge_adapter"]


def merge_adapter(adapter_dir: str | Path, out_dir: str | Path, *, base: str | None = None,
                  dtype: str = "float32") -> Path:
    """Write merged weights + tokenizer to ``out_dir``; return it."""
    adapter_dir, out_dir = Path(adapter_dir), Path(out_dir)
    if not (adapter_dir / "adapter_config.json").is_file():
        raise InputError("not an adapter directory: adapter_config.json missing", path=str(adapter_dir))
    if out_dir.resolve() == adapter_dir.resolve():
        raise InputError("--out must differ from --adapter", path=str(out_dir))

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from selfinstruct.train.model import check_model_source, load_tokenizer

    base = base or json.loads((adapter_dir / "adapter_config.json").read_text())["base_model_name_or_path"]
    check_model_source(base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=getattr(torch, dtype), device_map={"": "cpu"})
    merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    out_dir.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(out_dir)
    tokenizer_src = str(adapter_dir) if (adapter_dir / "tokenizer_config.json").is_file() else base
    load_tokenizer(tokenizer_src).save_pretrained(out_dir)
    return out_dir
