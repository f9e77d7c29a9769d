"""Data-parallel training over torch.distributed: every rank holds the whole model, trains on its share of each
batch, and the ranks average their gradients before every optimizer step, so that the nets stay identical.

Gradients are averaged by hand, one flat all-reduce per optimizer step, as stylegan2-ada-pytorch's training loop
does, rather than by wrapping the nets in DistributedDataParallel: a GAN step runs D on real and on fake images
before one backward, G's backward also reaches D's parameters, and the gradient penalties differentiate a
gradient, and DDP's per-forward bookkeeping fits none of that. The result is the same as DDP's: the update every
rank takes is the one a single process would take on the whole batch (up to BatchNorm, whose batch statistics are
per rank, as in DDP without SyncBatchNorm)."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Ranks:
    """This process's place in a data-parallel group, which `torch.distributed` has already joined."""

    rank: int
    world: int

    @property
    def leads(self) -> bool:
        """Rank 0 reports progress, writes samples and checkpoints, and decides when to stop."""
        return self.rank == 0

    def share(self, index: torch.Tensor) -> torch.Tensor:
        """This rank's part of a batch's example indices: a contiguous slice, the same size on every rank."""
        if len(index) % self.world:
            raise ValueError(f"a batch of {len(index)} does not split over {self.world} devices: make batch_size "
                             f"a multiple of train.devices")
        return index.tensor_split(self.world)[self.rank]

    def average_gradients(self, params: Iterable[torch.Tensor]) -> None:
        """Replaces every gradient by its mean over the ranks, in one all-reduce. Every rank runs the same code
        on the same nets, so the same parameters have gradients everywhere."""
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.world
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """The mean of a tensor over the ranks (the reported losses and D outputs)."""
        values = values.clone()
        dist.all_reduce(values)
        return values / self.world

    def any(self, flag: bool, device: torch.device) -> bool:
        """Whether any rank says yes (only the lead ever does: it alone watches for cancel and time limits)."""
        value = torch.tensor([1.0 if flag else 0.0], device=device)
        dist.all_reduce(value)
        return bool(value.item() > 0)

    def same_start(self, step: int, device: torch.device) -> None:
        """Fails unless every rank resumes from the same step (they read one checkpoint, but check)."""
        steps = torch.tensor([float(step), -float(step)], device=device)
        dist.all_reduce(steps, op=dist.ReduceOp.MAX)
        if steps[0].item() != -steps[1].item():
            raise RuntimeError(f"ranks start from different steps (max {steps[0].item():.0f}, min "
                               f"{-steps[1].item():.0f}): they must load the same checkpoint")

    def from_lead(self, value):
        """The lead's `value` on every rank (what the others pass is ignored): a small object, pickled over the
        group's own connections, never read from disk. Tensors should be on the CPU."""
        box = [value if self.leads else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def broadcast_from_lead(self, modules: Iterable[torch.nn.Module]) -> None:
        """Makes every rank's parameters and buffers the lead's (they are seeded alike; this makes sure)."""
        for module in modules:
            for tensor in [*module.parameters(), *module.buffers()]:
                dist.broadcast(tensor.data, src=0)


class SyncedGradScaler(torch.amp.GradScaler):
    """A GradScaler whose `step` first averages the optimizer's gradients over the ranks. Every family steps its
    optimizers through a scaler, so this is the one place a step happens. Averaging before the scaler unscales
    them also means an inf on any rank skips the step on every rank, so fp16 keeps the ranks in step."""

    def __init__(self, ranks: Ranks, device: str, enabled: bool):
        super().__init__(device, enabled=enabled)
        self.ranks = ranks

    def step(self, optimizer, *args, **kwargs):
        self.ranks.average_gradients(p for group in optimizer.param_groups for p in group["params"])
        return super().step(optimizer, *args, **kwargs)


def join(rank: int, world: int, address: str, port: int, device: torch.device, timeout_s: float) -> Ranks:
    """Joins the group: NCCL on CUDA, gloo on CPUs. `timeout_s` bounds how long a collective waits for a rank
    that hangs (a dead one breaks its connections, and the others fail at once)."""
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend, init_method=f"tcp://{address}:{port}", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=timeout_s))
    return Ranks(rank, world)


def on_cpu(value):
    """A copy of nested dicts and lists with every tensor moved to the CPU (to send a state to other devices)."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {key: on_cpu(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(on_cpu(item) for item in value)
    return value


def leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
