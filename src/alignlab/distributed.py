"""The few collectives the trainers need to take statistics over the global batch.

Every function is the identity in a single process, so the trainers read the same with one
process or many (``torchrun`` / ``accelerate launch``, any backend).
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
import torch.nn.functional as F


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    """This process's rank; before the process group exists, the launcher's ``RANK``."""
    return dist.get_rank() if is_distributed() else int(os.environ.get("RANK", "0"))


def barrier() -> None:
    """Wait here until every process has arrived."""
    if is_distributed():
        dist.barrier()


def _comm_device(values: torch.Tensor) -> torch.device:
    """NCCL moves only CUDA tensors; gloo moves CPU ones."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sum(values: torch.Tensor) -> torch.Tensor:
    """The sum of ``values`` over all processes (a new tensor; the input is left unchanged)."""
    out = values.detach().clone()
    if is_distributed():
        moved = out.to(_comm_device(out))
        dist.all_reduce(moved, op=dist.ReduceOp.SUM)
        out = moved.to(values.device)
    return out


def gather_rows(values: torch.Tensor, pad_value: float | int = 0) -> torch.Tensor:
    """Concatenate every process's ``values`` along dim 0, in rank order; widths along dim 1 may
    differ between processes and are right-padded with ``pad_value`` to the widest."""
    if not is_distributed():
        return values
    home, dtype = values.device, values.dtype
    device = _comm_device(values)
    # Bool tensors do not travel on every backend.
    values = values.to(device, torch.uint8 if dtype == torch.bool else dtype)
    width = values.shape[1] if values.dim() > 1 else 0
    widths = [torch.zeros((), dtype=torch.long, device=device) for _ in range(world_size())]
    dist.all_gather(widths, torch.tensor(width, device=device))
    widest = int(max(w.item() for w in widths))
    if values.dim() > 1 and width < widest:
        values = F.pad(values, (0, widest - width), value=pad_value)
    parts = [torch.empty_like(values) for _ in range(world_size())]
    dist.all_gather(parts, values.contiguous())
    return torch.cat(parts).to(home, dtype)


def gather_left_padded(values: torch.Tensor, pad_value: float | int = 0) -> torch.Tensor:
    """Like ``gather_rows`` for left-padded blocks (prompts): padding is added on the left."""
    if not is_distributed():
        return values
    flipped = gather_rows(values.flip(1), pad_value)
    return flipped.flip(1)
