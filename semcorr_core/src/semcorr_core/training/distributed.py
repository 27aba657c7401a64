"""Distributed data-parallel plumbing: one code path for one CPU process and for torchrun (issue #3).

:class:`DistributedContext` reads the environment ``torchrun`` sets for each worker
(``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``):

* ``WORLD_SIZE`` unset (plain ``python``/``semcorr train``) or ``1``: a single-process context;
  every collective is a no-op, models are not wrapped, no sampler is needed.
* ``WORLD_SIZE > 1``: ``torch.distributed.init_process_group`` with backend ``"nccl"`` when the
  device is CUDA, else ``"gloo"``; the process drives ``cuda:LOCAL_RANK`` (CUDA) or the CPU.

Devices are explicit: ``"cpu"``, ``"cuda"`` (fails clearly without CUDA), ``"cuda:N"``, or
``"auto"`` (CUDA when available, else CPU). Under torchrun ``"cuda"``/``"auto"`` mean
``cuda:LOCAL_RANK``.

Use it as a context manager so the process group is torn down even when training fails::

    with DistributedContext.from_env(device="auto") as ctx:
        model = ctx.wrap_model(model)              # .to(device) + DDP when distributed
        sampler = ctx.make_sampler(dataset, shuffle=True, seed=0)
        ...
        loss_mean = ctx.all_reduce_mean(loss.detach())
"""

from __future__ import annotations

import datetime
import logging
import os
from dataclasses import dataclass
from typing import Mapping, Optional, Union

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Dataset, DistributedSampler

from semcorr_core.training.config import ConfigError

__all__ = ["DistributedContext", "resolve_device", "ENV_VARS"]

log = logging.getLogger(__name__)

#: environment variables torchrun sets and :meth:`DistributedContext.from_env` reads
ENV_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")

_DEVICE_HELP = "allowed: 'auto', 'cpu', 'cuda' or 'cuda:N'"


def resolve_device(spec: Union[str, torch.device], local_rank: int = 0, *, distributed: bool = False) -> torch.device:
    """Turn a device setting into a concrete :class:`torch.device`.

    Args:
        spec: ``"auto"`` (CUDA if available else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
        local_rank: under torchrun, ``"auto"``/``"cuda"`` map to ``cuda:local_rank``.
        distributed: whether several processes share the host's GPUs.

    Raises:
        ConfigError: unknown spec, or CUDA asked for but not available / index out of range.
    """
    text = str(spec).strip().lower()
    if text == "auto":
        text = "cuda" if torch.cuda.is_available() else "cpu"
    if text == "cpu":
        return torch.device("cpu")
    if text == "cuda" or text.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device {spec!r} asks for CUDA, but torch.cuda.is_available() is False on this machine; "
                f"use device=cpu or device=auto ({_DEVICE_HELP})"
            )
        if text == "cuda":
            index = local_rank if distributed else torch.cuda.current_device()
        else:
            try:
                index = int(text.split(":", 1)[1])
            except ValueError:
                raise ConfigError(f"device {spec!r} is not understood; {_DEVICE_HELP}") from None
        if not 0 <= index < torch.cuda.device_count():
            raise ConfigError(
                f"device {spec!r} resolves to cuda:{index}, but only {torch.cuda.device_count()} CUDA device(s) exist"
            )
        return torch.device("cuda", index)
    raise ConfigError(f"device {spec!r} is not understood; {_DEVICE_HELP}")


def _env_int(env: Mapping[str, str], name: str, default: Optional[int] = None) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        if default is None:
            raise ConfigError(f"environment variable {name} is required for a distributed run (set by torchrun)")
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name}={raw!r} must be an integer") from None


@dataclass
class DistributedContext:
    """Rank/world information, the device this process drives, and collectives that degrade to no-ops.

    Build with :meth:`from_env` (reads torchrun's variables) or :meth:`single` (one process).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: Optional[str] = None
    #: whether this context called ``init_process_group`` (and so must destroy it)
    owns_process_group: bool = False

    # ---------------------------------------------------------------- construction

    @classmethod
    def single(cls, device: Union[str, torch.device] = "cpu") -> "DistributedContext":
        """A one-process context on ``device`` (no process group)."""
        return cls(device=resolve_device(device))

    @classmethod
    def from_env(
        cls,
        device: Union[str, torch.device] = "auto",
        *,
        env: Optional[Mapping[str, str]] = None,
        backend: Optional[str] = None,
        timeout_s: float = 600.0,
    ) -> "DistributedContext":
        """Context from torchrun's environment; initialises the process group when ``WORLD_SIZE > 1``.

        Args:
            device: see :func:`resolve_device`.
            env: variables to read (default ``os.environ``).
            backend: force a backend; default ``"nccl"`` for CUDA devices, ``"gloo"`` otherwise.
            timeout_s: collective timeout.

        Raises:
            ConfigError: malformed variables (e.g. ``RANK`` missing while ``WORLD_SIZE=2``),
                ``RANK``/``LOCAL_RANK`` out of range, or a bad device.
        """
        env = os.environ if env is None else env
        world_size = _env_int(env, "WORLD_SIZE", 1)
        if world_size < 1:
            raise ConfigError(f"environment variable WORLD_SIZE={world_size} must be >= 1")
        if world_size == 1:
            local_rank = _env_int(env, "LOCAL_RANK", 0)
            return cls(local_rank=local_rank, device=resolve_device(device, local_rank, distributed=False))
        rank = _env_int(env, "RANK")
        local_rank = _env_int(env, "LOCAL_RANK", rank)
        if not 0 <= rank < world_size:
            raise ConfigError(f"environment variable RANK={rank} must lie in [0, WORLD_SIZE={world_size})")
        for name in ("MASTER_ADDR", "MASTER_PORT"):
            if not env.get(name) and not dist.is_initialized():
                raise ConfigError(f"environment variable {name} is required for a distributed run (set by torchrun)")
        dev = resolve_device(device, local_rank, distributed=True)
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        chosen = backend or ("nccl" if dev.type == "cuda" else "gloo")
        owns = False
        if not dist.is_initialized():
            dist.init_process_group(
                backend=chosen,
                init_method="env://",
                rank=rank,
                world_size=world_size,
                timeout=datetime.timedelta(seconds=timeout_s),
            )
            owns = True
            log.info("process group up: rank %d/%d, backend %s, device %s", rank, world_size, chosen, dev)
        else:
            chosen = dist.get_backend()
        return cls(rank=rank, world_size=world_size, local_rank=local_rank, device=dev, backend=chosen, owns_process_group=owns)

    # ---------------------------------------------------------------- properties

    @property
    def is_distributed(self) -> bool:
        """More than one process takes part."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that logs, shows progress and writes files."""
        return self.rank == 0

    # ---------------------------------------------------------------- collectives

    def barrier(self) -> None:
        """Wait for all ranks (no-op in one process)."""
        if self.is_distributed and dist.is_initialized():
            if self.backend == "nccl":
                dist.barrier(device_ids=[self.device.index])
            else:
                dist.barrier()

    def all_reduce_mean(self, tensor: torch.Tensor) -> torch.Tensor:
        """Mean of ``tensor`` over all ranks (a detached copy; the input is left untouched).

        Integer tensors are averaged in float. In one process: a detached copy.
        """
        out = tensor.detach().clone()
        if not out.is_floating_point():
            out = out.double()
        if not (self.is_distributed and dist.is_initialized()):
            return out
        moved = out.to(self.device) if self.backend == "nccl" else out.cpu()
        dist.all_reduce(moved, op=dist.ReduceOp.SUM)
        moved /= self.world_size
        return moved.to(tensor.device)

    def broadcast_object(self, obj: object, src: int = 0) -> object:
        """``obj`` from rank ``src`` on every rank (identity in one process)."""
        if not (self.is_distributed and dist.is_initialized()):
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=src, device=self.device if self.backend == "nccl" else None)
        return box[0]

    # ---------------------------------------------------------------- model and data

    def wrap_model(self, model: nn.Module) -> nn.Module:
        """Move ``model`` to this process's device; wrap it in DDP when distributed.

        DDP broadcasts rank 0's parameters and buffers at construction, so every rank starts from
        the same weights. ``find_unused_parameters=False``: every parameter must receive a gradient
        in every step (the fast path).
        """
        model = model.to(self.device)
        if not self.is_distributed:
            return model
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=device_ids, find_unused_parameters=False)

    def make_sampler(
        self, dataset: Dataset, *, shuffle: bool = True, seed: int = 0, drop_last: bool = False
    ) -> Optional[DistributedSampler]:
        """A :class:`DistributedSampler` sharding ``dataset`` over ranks, or ``None`` in one process.

        Call ``sampler.set_epoch(epoch)`` at the start of every epoch so shuffling changes per
        epoch (and is identical across ranks and reruns).
        """
        if not self.is_distributed:
            return None
        return DistributedSampler(
            dataset, num_replicas=self.world_size, rank=self.rank, shuffle=shuffle, seed=seed, drop_last=drop_last
        )

    # ---------------------------------------------------------------- teardown

    def close(self) -> None:
        """Destroy the process group if this context created it (idempotent)."""
        if self.owns_process_group and dist.is_initialized():
            try:
                dist.destroy_process_group()
            finally:
                self.owns_process_group = False

    def __enter__(self) -> "DistributedContext":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
