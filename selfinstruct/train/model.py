"""Load the base model (nf4 4-bit or full precision), wrap it with LoRA, and reload a saved adapter.

Where the compute dtype comes from: bfloat16 on a GPU that supports it, else
float16 on a GPU, float32 on CPU. bitsandbytes 0.50 runs nf4 on CPU with
either bf16 or fp32 compute; we pick fp32 there because most CPUs have no
bf16 matmul units, so bf16 is emulated (slower) and less exact. The choice is
recorded in training_summary.json.

torch, transformers, peft and bitsandbytes are imported inside the functions.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfinstruct.errors import ConfigError, InputError

__all__ = [
    "resolve_compute_dtype",
    "check_model_source",
    "load_tokenizer",
    "load_base_model",
    "apply_lora",
    "load_adapter_model",
    "count_parameters",
    "LoadedModel",
]

log = logging.getLogger(__name__)


def resolve_compute_dtype(requested: str, *, cuda: bool, bf16_supported: bool) -> str:
    """The dtype name actually used for matmuls (pure: the hardware facts are passed in)."""
    if requested != "auto":
        return requested
    if cuda:
        return "bfloat16" if bf16_supported else "float16"
    return "float32"


def check_model_source(name: str, *, marker: str = "config.json") -> None:
    """A local path must be a model directory (holding ``marker``); anything else is treated as a hub id."""
    p = Path(name).expanduser()
    looks_local = p.exists() or name.startswith((".", "/", "~")) or name.count("/") > 1
    if looks_local and not (p / marker).is_file():
        raise ConfigError(f"model {name!r} not found: expected a directory with {marker}, or a hub id like org/name")


def _hub_error(name: str, exc: Exception) -> ConfigError:
    return ConfigError(
        f"cannot load model {name!r}: {exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''} "
        "(not a local model directory, and not available from the hub or its cache)"
    )


def load_tokenizer(name: str) -> Any:
    from transformers import AutoTokenizer

    check_model_source(name, marker="tokenizer_config.json")
    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError) as exc:
        raise _hub_error(name, exc) from exc
    if tokenizer.pad_token is None:
        # Padding positions never reach the loss (labels -100), so any token will do.
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


@dataclass(frozen=True, kw_only=True)
class LoadedModel:
    model: Any
    quantization: str  # "nf4" or "none"
    compute_dtype: str
    device: str


def load_base_model(
    name: str, *, load_in_4bit: bool, compute_dtype: str = "auto", attn_implementation: str = "sdpa",
    device: str | None = None,
) -> LoadedModel:
    """The base causal LM, quantized to nf4 (double quant) when ``load_in_4bit``."""
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    check_model_source(name)
    cuda = torch.cuda.is_available()
    device = device or ("cuda:0" if cuda else "cpu")
    on_cuda = device.startswith("cuda")
    dtype_name = resolve_compute_dtype(
        compute_dtype, cuda=on_cuda, bf16_supported=on_cuda and torch.cuda.is_bf16_supported()
    )
    dtype = getattr(torch, dtype_name)
    kwargs: dict[str, Any] = {"dtype": dtype, "attn_implementation": attn_implementation, "device_map": {"": device}}
    if load_in_4bit:
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype,
            bnb_4bit_quant_storage=torch.uint8,
        )
    try:
        model = AutoModelForCausalLM.from_pretrained(name, **kwargs)
    except (OSError, ValueError) as exc:
        raise _hub_error(name, exc) from exc
    except ImportError as exc:  # e.g. flash_attention_2 requested but not installed
        raise ConfigError(f"cannot load model {name!r} with attn_implementation={attn_implementation!r}: {exc}") from exc
    if load_in_4bit and not on_cuda:
        _disable_cpu_inference_repacking(model)
    return LoadedModel(model=model, quantization="nf4" if load_in_4bit else "none",
                       compute_dtype=dtype_name, device=device)


def _disable_cpu_inference_repacking(model: Any) -> None:
    """Keep bitsandbytes from repacking nf4 weights for its CPU inference kernel.

    On CPUs with AVX512-BF16, a no-grad eval forward repacks each 4-bit weight
    and un-nests its absmax; taking the state dict (any save) packs it back and
    re-quantizes absmax, which is lossy. The in-memory model would then drift
    from the base + adapter that a reload gives. Training never uses that path.
    """
    for module in model.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False


def apply_lora(
    loaded: LoadedModel, *, r: int, alpha: int, dropout: float, target_modules: str | tuple[str, ...],
    gradient_checkpointing: bool,
) -> Any:
    """Wrap the model with fresh LoRA adapters; the base stays frozen."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    model = loaded.model
    if loaded.quantization != "none":
        # Freezes the base, upcasts norms/embeddings to fp32 for stable training, and
        # makes the embedding output require grad so checkpointed blocks get gradients.
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    targets = target_modules if isinstance(target_modules, str) else list(target_modules)
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets,
                        bias="none", task_type="CAUSAL_LM")
    try:
        return get_peft_model(model, config)
    except ValueError as exc:  # target modules not found in the model
        raise ConfigError(f"lora.target_modules={target_modules!r}: {exc}") from exc


def count_parameters(model: Any) -> tuple[int, int]:
    """(trainable, total). 4-bit weights are packed two per byte, so count their logical size."""
    trainable = total = 0
    for param in model.parameters():
        n = param.numel()
        if hasattr(param, "quant_state"):  # bitsandbytes Params4bit
            n = param.quant_state.shape.numel() if param.quant_state is not None else n * 2
        total += n
        if param.requires_grad:
            trainable += n
    return trainable, total


def load_adapter_model(
    adapter_dir: str | Path, *, base: str | None = None, load_in_4bit: bool | None = None,
    compute_dtype: str = "auto", device: str | None = None,
) -> tuple[Any, Any]:
    """(PeftModel in eval mode, tokenizer) from a saved adapter directory.

    The base comes from adapter_config.json unless ``base`` is given; it is
    loaded as it was trained (nf4 when the summary says so) unless
    ``load_in_4bit`` says otherwise.
    """
    from peft import PeftModel

    adapter_dir = Path(adapter_dir)
    cfg_file = adapter_dir / "adapter_config.json"
    if not cfg_file.is_file():
        raise InputError("not an adapter directory: adapter_config.json missing", path=str(adapter_dir))
    base = base or json.loads(cfg_file.read_text())["base_model_name_or_path"]
    if load_in_4bit is None:
        summary_file = adapter_dir / "training_summary.json"
        quant = json.loads(summary_file.read_text()).get("quantization") if summary_file.is_file() else "none"
        load_in_4bit = quant == "nf4"
    loaded = load_base_model(base, load_in_4bit=load_in_4bit, compute_dtype=compute_dtype, device=device)
    model = PeftModel.from_pretrained(loaded.model, str(adapter_dir))
    model.eval()
    tokenizer = load_tokenizer(str(adapter_dir) if (adapter_dir / "tokenizer_config.json").is_file() else base)
    return model, tokenizer
