"""Offline QLoRA fine-tuning of a chat model on our generated data (needs the ``train`` extra).

    selfinstruct train --config configs/qlora-qwen2.5-0.5b.toml --data runs/demo
    selfinstruct merge --adapter runs/qlora --out runs/qlora-merged

Modules: config (TOML -> frozen dataclasses), data (any of our outputs ->
conversations), render (chat template -> input_ids + completion mask), model
(nf4 base + LoRA), trainer (the run), distributed (rank and device under
torchrun / accelerate launch), summary (summary JSON + loss plot), merge
(adapter -> full weights). Importing this package imports no torch.
"""

from __future__ import annotations

from selfinstruct.train.config import TrainConfig, load_train_config

__all__ = ["TrainConfig", "load_train_config", "train", "merge_adapter"]


def train(config: TrainConfig):
    """Run one fine-tune (see selfinstruct.train.trainer.train)."""
    from selfinstruct.train.trainer import train as _train

    return _train(config)


def merge_adapter(adapter_dir, out_dir, **kwargs):
    """Merge an adapter into full weights (see selfinstruct.train.merge.merge_adapter)."""
    from selfinstruct.train.merge import merge_adapter as _merge

    return _merge(adapter_dir, out_dir, **kwargs)
