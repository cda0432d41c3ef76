"""Run one QLoRA fine-tune from a TrainConfig: data -> tokens -> nf4 base + LoRA -> trl SFTTrainer -> adapter.

Order matters for failing fast: the data is read and checked before the model
is loaded, so a bad path costs milliseconds, not a model download.

Loss is on the answer only: each example carries a ``completion_mask`` built
from the model's own chat template (render.py), and trl turns it into labels
(-100 on the prompt). Packing uses trl's best-fit-decreasing (``bfd``), which
keeps example boundaries through position ids (padding-free), so packed
examples do not attend to each other under sdpa/flash attention.

Resume: the highest ``checkpoint-N`` in output_dir whose trainer_state.json
parses (a kill during a save leaves a checkpoint without it, which is skipped).

Data-parallel (``torchrun --nproc_per_node N -m selfinstruct train``, or
``accelerate launch``): every rank runs this same code on its own device
(distributed.py); the Trainer wraps the LoRA model in DDP and shards each batch
across ranks, so the global batch is per-device batch x accumulation x world
size. Every rank must reach the same collectives (training, evaluate, the
gather of per-rank counts); only rank 0 writes the adapter, the tokenizer, the
summary and the loss curve, and the others wait for it at a barrier. All ranks
resume from the checkpoint rank 0 finds; Trainer checkpoints are written by
rank 0 alone, so on several nodes output_dir must be a filesystem they share.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfinstruct.errors import ConfigError
from selfinstruct.train.config import TrainConfig
from selfinstruct.train.data import Conversation, read_conversations, split_conversations
from selfinstruct.train.distributed import (
    ProcessLayout,
    RankReport,
    from_main_process,
    gather_rank_reports,
    process_layout,
)
from selfinstruct.train.render import ensure_chat_template, tokenize_conversation
from selfinstruct.train.summary import library_versions, losses_from_log_history, plot_losses, write_summary

__all__ = ["train", "prepare_run", "PreparedRun", "TrainResult", "find_resume_checkpoint", "tokenize_conversations", "make_token_counting_trainer"]

log = logging.getLogger(__name__)
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


@dataclass(frozen=True, kw_only=True)
class TrainResult:
    summary: dict[str, Any]
    model: Any  # the trained PeftModel, in eval mode
    tokenizer: Any
    output_dir: Path
    rank: int  # 0 in a single-process run; only rank 0 wrote output_dir


def find_resume_checkpoint(output_dir: str | Path) -> Path | None:
    """The latest complete checkpoint in ``output_dir``, or None."""
    root = Path(output_dir)
    if not root.is_dir():
        return None
    found: list[tuple[int, Path]] = []
    for child in root.iterdir():
        m = _CHECKPOINT.match(child.name)
        if m and child.is_dir():
            found.append((int(m.group(1)), child))
    for step, path in sorted(found, reverse=True):
        try:
            json.loads((path / "trainer_state.json").read_text())
        except (OSError, ValueError):
            log.warning("skipping incomplete checkpoint %s (no readable trainer_state.json)", path)
            continue
        return path
    return None


def tokenize_conversations(
    tokenizer: Any, conversations: list[Conversation], *, max_length: int
) -> tuple[list[dict[str, list[int]]], int]:
    """(tokenized examples, how many were dropped because truncation left no answer token)."""
    rows, dropped = [], 0
    for conv in conversations:
        row = tokenize_conversation(tokenizer, list(conv.prompt), conv.completion, max_length=max_length)
        if row is None:
            dropped += 1
        else:
            rows.append(row)
    return rows, dropped


def make_token_counting_trainer(base_cls: type) -> type:
    """A subclass of ``base_cls`` (SFTTrainer) that counts real and supervised tokens it trains on.

    Real tokens exclude padding (attention_mask) and, when padding-free, there
    is no padding at all; supervised tokens are labels != -100.
    """

    class TokenCountingTrainer(base_cls):  # type: ignore[misc, valid-type]
        real_tokens = 0
        supervised_tokens = 0
        micro_steps = 0  # forward/backward passes in this process (a resumed run counts only its own)

        def training_step(self, model, inputs, num_items_in_batch=None):
            self.micro_steps += 1
            mask = inputs.get("attention_mask")
            self.real_tokens += int(mask.sum()) if mask is not None else int(inputs["input_ids"].numel())
            labels = inputs.get("labels")
            if labels is not None:
                self.supervised_tokens += int((labels != -100).sum())
            return super().training_step(model, inputs, num_items_in_batch)

    return TokenCountingTrainer


def _sft_args(config: TrainConfig, *, compute_dtype: str, on_cuda: bool, has_eval: bool) -> Any:
    from trl import SFTConfig

    t = config.training
    return SFTConfig(
        output_dir=t.output_dir,
        num_train_epochs=t.num_epochs,
        max_steps=t.max_steps,
        learning_rate=t.learning_rate,
        lr_scheduler_type=t.lr_scheduler,
        warmup_steps=t.warmup_ratio,  # transformers 5: a float < 1 is a ratio of the total steps
        weight_decay=t.weight_decay,
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=t.batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        # Every LoRA parameter gets a gradient each step; the default (find unused
        # ones, since a PeftModel is not a PreTrainedModel) costs a graph walk per step.
        ddp_find_unused_parameters=False,
        max_length=t.max_length,
        packing=t.packing,
        packing_strategy="bfd",
        completion_only_loss=t.completion_only_loss,
        gradient_checkpointing=t.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False} if t.gradient_checkpointing else None,
        seed=t.seed,
        data_seed=t.seed,
        logging_steps=t.logging_steps,
        logging_first_step=True,
        save_strategy="steps",
        save_steps=t.save_steps,
        save_total_limit=t.save_total_limit,
        eval_strategy="steps" if (has_eval and t.eval_steps) else "no",
        eval_steps=t.eval_steps or None,
        bf16=on_cuda and compute_dtype == "bfloat16",
        fp16=on_cuda and compute_dtype == "float16",
        use_cpu=not on_cuda,
        report_to=[],
        disable_tqdm=True,
        dataloader_num_workers=0,
        dataset_num_proc=None,
    )


@dataclass(frozen=True, kw_only=True)
class PreparedRun:
    """Everything set up for training, before the first step (tests inspect the trainer's datasets)."""

    trainer: Any
    tokenizer: Any
    quantization: str
    compute_dtype: str
    device: str
    layout: ProcessLayout
    chat_template: str
    train_examples: int
    eval_examples: int
    dropped_examples: int


def prepare_run(config: TrainConfig, *, device: str | None = None, callbacks: list | None = None) -> PreparedRun:
    """Read and tokenize the data, load the model with LoRA, and build the SFTTrainer.

    ``device`` defaults to the first GPU if there is one, else the CPU; under a
    launcher each rank takes its own (``cuda:<local_rank>``, or the CPU).
    """
    t = config.training
    conversations = read_conversations(config.data.path)
    train_convs, eval_convs = split_conversations(
        conversations, eval_fraction=config.data.eval_fraction, eval_max_rows=config.data.eval_max_rows,
        max_rows=config.data.max_rows, seed=config.data.seed,
    )

    import torch
    from datasets import Dataset
    from trl import SFTTrainer

    from selfinstruct.train.model import apply_lora, load_base_model, load_tokenizer

    tokenizer = load_tokenizer(config.model.name)
    template = ensure_chat_template(tokenizer, allow_fallback=config.model.fallback_chat_template,
                                    model_name=config.model.name)
    train_rows, dropped = tokenize_conversations(tokenizer, train_convs, max_length=t.max_length)
    eval_rows, eval_dropped = tokenize_conversations(tokenizer, eval_convs, max_length=t.max_length)
    if not train_rows:
        raise ConfigError(f"training.max_length={t.max_length} leaves no answer token in any training example")
    if dropped or eval_dropped:
        log.warning("dropped %d train / %d eval example(s) whose prompt fills max_length=%d",
                    dropped, eval_dropped, t.max_length)

    layout = process_layout(use_cpu=(device == "cpu") if device else not torch.cuda.is_available())
    if device is None or layout.world_size > 1:
        device = layout.device
    loaded = load_base_model(config.model.name, load_in_4bit=config.model.load_in_4bit,
                             compute_dtype=config.model.compute_dtype,
                             attn_implementation=config.model.attn_implementation, device=device)
    model = apply_lora(loaded, r=config.lora.r, alpha=config.lora.alpha, dropout=config.lora.dropout,
                       target_modules=config.lora.target_modules, gradient_checkpointing=t.gradient_checkpointing)
    on_cuda = loaded.device.startswith("cuda")
    args = _sft_args(config, compute_dtype=loaded.compute_dtype, on_cuda=on_cuda, has_eval=bool(eval_rows))
    trainer_cls = make_token_counting_trainer(SFTTrainer)
    trainer = trainer_cls(
        model=model, args=args, processing_class=tokenizer, callbacks=callbacks,
        train_dataset=Dataset.from_list(train_rows),
        eval_dataset=Dataset.from_list(eval_rows) if eval_rows else None,
    )
    if loaded.compute_dtype == "float32":
        # trl stores QLoRA adapters in bf16 (the paper's GPU recipe); with fp32
        # compute (CPU) keep them fp32 so small updates are not rounded away.
        for param in trainer.model.parameters():
            if param.requires_grad:
                param.data = param.data.float()
    return PreparedRun(
        trainer=trainer, tokenizer=tokenizer, quantization=loaded.quantization,
        compute_dtype=loaded.compute_dtype, device=loaded.device, layout=layout, chat_template=template,
        train_examples=len(train_rows), eval_examples=len(eval_rows), dropped_examples=dropped + eval_dropped,
    )


def train(config: TrainConfig) -> TrainResult:
    """Fine-tune and write the adapter, tokenizer, training_summary.json and loss_curve.png to output_dir.

    Under a launcher every rank calls this; rank 0 writes, and all return once it has.
    """
    started = time.perf_counter()
    t = config.training
    run = prepare_run(config)
    trainer, tokenizer, layout = run.trainer, run.tokenizer, run.layout

    import torch

    from selfinstruct.train.model import count_parameters

    resume = find_resume_checkpoint(t.output_dir) if t.resume else None
    resume = from_main_process(resume)  # every rank resumes from rank 0's choice
    if resume is not None:
        log.info("resuming from %s", resume)
    train_started = time.perf_counter()
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    train_seconds = time.perf_counter() - train_started

    eval_loss = None
    if run.eval_examples:
        eval_loss = float(trainer.evaluate()["eval_loss"])

    ranks = gather_rank_reports(RankReport(
        rank=layout.rank, device=run.device, micro_steps=trainer.micro_steps,
        real_tokens=trainer.real_tokens, supervised_tokens=trainer.supervised_tokens,
    ))
    real_tokens = sum(r.real_tokens for r in ranks)
    supervised_tokens = sum(r.supervised_tokens for r in ranks)
    out = Path(t.output_dir)
    model = trainer.model
    if layout.is_main:
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
    model.eval()

    losses, eval_losses = losses_from_log_history(trainer.state.log_history)
    if eval_loss is not None and not any(p["step"] == trainer.state.global_step for p in eval_losses):
        eval_losses.append({"step": trainer.state.global_step, "loss": eval_loss})
    trainable, total = count_parameters(model)
    summary = {
        "model": config.model.name,
        "data": str(config.data.path),
        "quantization": run.quantization,
        "compute_dtype": run.compute_dtype,
        "device": run.device,
        "chat_template": run.chat_template,
        "lora": {"r": config.lora.r, "alpha": config.lora.alpha, "dropout": config.lora.dropout,
                 "target_modules": config.lora.target_modules},
        "trainable_params": trainable,
        "total_params": total,
        "train_examples": run.train_examples,
        "eval_examples": run.eval_examples,
        "dropped_examples": run.dropped_examples,
        "packing": t.packing,
        "completion_only_loss": t.completion_only_loss,
        "max_length": t.max_length,
        "world_size": layout.world_size,
        "distributed_backend": layout.backend,
        "per_device_batch_size": t.batch_size,
        "gradient_accumulation_steps": t.gradient_accumulation_steps,
        "global_batch_size": t.batch_size * t.gradient_accumulation_steps * layout.world_size,
        "train_rows": len(trainer.train_dataset),  # after packing: what the batches are made of
        "epoch": trainer.state.epoch,
        "ranks": [dataclasses.asdict(r) for r in ranks],
        "global_step": trainer.state.global_step,
        "resumed_from_checkpoint": str(resume) if resume else None,
        "optimizer_steps_this_run": trainer.micro_steps // t.gradient_accumulation_steps,
        "losses": [p["loss"] for p in losses],
        "loss_steps": [p["step"] for p in losses],
        "eval_loss": eval_loss,
        "real_tokens_trained": real_tokens,  # over all ranks
        "supervised_tokens_trained": supervised_tokens,
        "tokens_per_second": real_tokens / train_seconds if train_seconds > 0 else None,
        "supervised_tokens_per_second": supervised_tokens / train_seconds if train_seconds > 0 else None,
        "train_seconds": round(train_seconds, 3),
        "wall_seconds": round(time.perf_counter() - started, 3),
        "torch_threads": torch.get_num_threads(),
        "versions": library_versions(),
        "config": config.to_dict(),
    }
    if layout.is_main:
        write_summary(out, summary)
        plot_losses(out, losses, eval_losses, title=f"QLoRA {Path(config.model.name).name}")
        log.info("rank 0 of %d wrote the adapter and summary to %s", layout.world_size, out)
    # Nobody returns (and a launcher may not tear the group down) before rank 0 has written.
    trainer.accelerator.wait_for_everyone()
    return TrainResult(summary=summary, model=model, tokenizer=tokenizer, output_dir=out, rank=layout.rank)
