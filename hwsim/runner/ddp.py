"""Multi-process training with torch DDP, launched by ``torchrun``.

``torchrun --standalone --nproc_per_node=N -m hwsim.cli train MODEL.yaml ...`` starts N processes;
each one reads its rank from the environment torchrun sets, and :func:`setup` joins the process
group (NCCL on CUDA, gloo on CPU). Semantics, so that a DDP run is a well-defined function of its
settings and resumes exactly:

* ``--batch-size`` is the per-rank batch B; the global batch is B x world size.
* Every epoch a :class:`~torch.utils.data.distributed.DistributedSampler` (``set_epoch``) deals each
  rank its own shard; augmentation, PGD random starts and FLOAT's weight noise draw from per-rank
  seeds (rank 0's are those of a single-process run).
* BN statistics are per rank (no SyncBN: it has no CPU kernel); running statistics are averaged
  across ranks after every step, so every rank holds the same model and rank 0's checkpoint is the
  whole state.
* Checkpoints, ``run.json`` and logs are written by rank 0 only.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import torch

from ..errors import HwsimError

TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class Dist:
    """Where this process stands: rank, world size, and its device."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def launched_by_torchrun() -> bool:
    return all(v in os.environ for v in TORCHRUN_VARS)


def setup(device: str) -> Dist:
    """Join the process group when launched by torchrun; a single-process :class:`Dist` otherwise."""
    if not launched_by_torchrun():
        return Dist(device=device)
    world = int(os.environ["WORLD_SIZE"])
    rank, local_rank = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    if world == 1:
        return Dist(device=device)
    import torch.distributed as dist

    if device.startswith("cuda"):
        if not torch.cuda.is_available() or torch.cuda.device_count() <= local_rank:
            raise HwsimError(f"rank {rank}: --device cuda but no CUDA device {local_rank} is visible")
        torch.cuda.set_device(local_rank)
        device, backend = f"cuda:{local_rank}", "nccl"
    else:
        backend = "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return Dist(rank=rank, world=world, local_rank=local_rank, device=device)


def launch(nproc: int, argv: list[str]) -> int:
    """``hwsim train --nproc N``: run ``argv`` (hwsim's arguments without --nproc) under torchrun.

    torchrun's own parser takes any ``--nproc`` after the script for its ``--nproc_per_node`` (and
    refuses it as ambiguous), so the option is hwsim's launcher, not something to pass to torchrun.
    """
    import subprocess
    import sys

    if launched_by_torchrun():
        raise HwsimError(
            "--nproc inside a torchrun-launched process: torchrun already started the processes; drop --nproc"
        )
    if nproc < 1:
        raise HwsimError(f"--nproc must be >= 1, got {nproc}")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        "hwsim.cli",
        *argv,
    ]
    return subprocess.call(cmd)


def strip_option(argv: list[str], option: str) -> list[str]:
    """``argv`` without ``option VALUE`` / ``option=VALUE``."""
    out, skip = [], False
    for token in argv:
        if skip:
            skip = False
        elif token == option:
            skip = True
        elif not token.startswith(option + "="):
            out.append(token)
    return out


def teardown(info: Dist) -> None:
    if info.active:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def wrap(objective: torch.nn.Module, info: Dist, find_unused_parameters: bool) -> torch.nn.Module:
    """DDP around the training objective (one forward per step: clean pass, attack, adversarial pass).

    Buffers are not broadcast from rank 0 on every forward; :func:`average_buffers` keeps them equal.
    """
    if not info.active:
        return objective
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [info.local_rank] if info.device.startswith("cuda") else None
    with warnings.catch_warnings():
        # torch >= 2.12 renames broadcast_buffers; the old name still means "never sync buffers",
        # which average_buffers needs (the new one would sync them at init too, harmlessly).
        warnings.simplefilter("ignore", FutureWarning)
        return DistributedDataParallel(
            objective, device_ids=device_ids, broadcast_buffers=False, find_unused_parameters=find_unused_parameters
        )


@torch.no_grad()
def average_buffers(module: torch.nn.Module, info: Dist) -> None:
    """Average floating-point buffers (BN running mean / var) over ranks; integer ones agree already."""
    if not info.active:
        return
    import torch.distributed as dist

    floats = [b for b in module.buffers() if b.is_floating_point()]
    if not floats:
        return
    flat = torch.cat([b.reshape(-1) for b in floats])
    dist.all_reduce(flat)
    flat /= info.world
    offset = 0
    for b in floats:
        b.copy_(flat[offset : offset + b.numel()].view_as(b))
        offset += b.numel()


def all_sum(values: list[float], info: Dist) -> list[float]:
    """Sum numbers over ranks (evaluation counts)."""
    if not info.active:
        return values
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64, device=info.device if info.device.startswith("cuda") else "cpu")
    dist.all_reduce(t)
    return t.tolist()


def barrier(info: Dist) -> None:
    if info.active:
        import torch.distributed as dist

        dist.barrier()
