"""Where this process sits in a data-parallel run (torchrun / accelerate launch), and what each rank reports.

The launcher (torchrun, ``accelerate launch``) starts one process per device and
sets RANK, LOCAL_RANK and WORLD_SIZE; accelerate's ``PartialState`` reads them and
opens the process group (nccl on GPUs, gloo on CPU). We ask it once, before the
model loads, because QLoRA under DDP needs each rank's whole 4-bit model on that
rank's own device (``device_map={"": "cuda:<local_rank>"}``): a 4-bit model
cannot be moved after loading, and DDP refuses a model spread over devices.
Transformers' TrainingArguments later finds the same process group and reuses it.

A plain ``python -m selfinstruct train`` is a world of one, with no process group.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ProcessLayout", "process_layout", "RankReport", "gather_rank_reports", "from_main_process"]


@dataclass(frozen=True, kw_only=True)
class ProcessLayout:
    world_size: int
    rank: int
    local_rank: int
    backend: str | None  # the torch.distributed backend ("nccl", "gloo"), None without a process group
    device: str  # where this rank's model lives: "cuda:<local_rank>" or "cpu"

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def process_layout(*, use_cpu: bool) -> ProcessLayout:
    """This process's rank and device, opening the launcher's process group if there is one."""
    import torch
    from accelerate import PartialState

    state = PartialState(cpu=use_cpu)
    distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    return ProcessLayout(
        world_size=state.num_processes,
        rank=state.process_index,
        local_rank=state.local_process_index,
        backend=str(torch.distributed.get_backend()) if distributed else None,
        # the local rank, not the global one: on the second node, rank 8 uses cuda:0
        device="cpu" if use_cpu else f"cuda:{state.local_process_index}",
    )


@dataclass(frozen=True, kw_only=True)
class RankReport:
    """What one rank did, gathered to rank 0 for the summary (each rank counts only its own batches)."""

    rank: int
    device: str
    micro_steps: int
    real_tokens: int
    supervised_tokens: int


def gather_rank_reports(report: RankReport) -> list[RankReport]:
    """Every rank's report in rank order (a collective: all ranks must call it); [report] in a world of one."""
    from accelerate.utils import gather_object

    reports: list[Any] = gather_object([report])
    return sorted(reports, key=lambda r: r.rank)


def from_main_process(value: Any) -> Any:
    """Rank 0's ``value`` on every rank (a collective); ``value`` itself in a world of one.

    For decisions every rank must share, such as the checkpoint to resume from:
    each rank reading output_dir on its own could see a different latest
    checkpoint (one still being written, or a cache of a network filesystem).
    """
    from accelerate.utils import broadcast_object_list

    return broadcast_object_list([value], from_process=0)[0]
