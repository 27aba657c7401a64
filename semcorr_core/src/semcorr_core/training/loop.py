"""A generic, model-agnostic training loop (issue #3): one code path for one CPU and torchrun DDP.

:class:`Trainer` (or the shortcut :func:`fit`) trains any ``nn.Module`` with any loss callable
on any map-style ``Dataset``:

* ``loss_fn(model, batch) -> (loss, {name: scalar})`` -- ``batch`` is what the ``DataLoader``
  yields, already moved to the device; ``model`` may be DDP-wrapped (call it, do not reach into
  it). A bare loss tensor is accepted too. The loss must be a finite scalar tensor.
* optimiser AdamW (no weight decay on biases and normalisation weights, i.e. parameters with
  ``ndim <= 1``); learning rate: optional linear warm-up then cosine decay to
  ``lr * min_lr_ratio`` over all steps of the run, stepped once per optimiser step.
* **Seeds everywhere.** At the start of every epoch Python/NumPy/torch are seeded from
  ``(seed, rank, epoch)``, the ``DataLoader`` generator from ``(seed, rank, epoch, loader)``,
  ``DistributedSampler.set_epoch(epoch)`` is called, and each loader worker seeds NumPy/Python
  from its torch seed (:func:`seed_worker`). An epoch's randomness therefore depends only on
  ``(seed, rank, epoch)``: two runs with one seed give identical losses, and a run resumed from
  a checkpoint continues *exactly* as the uninterrupted run (on every rank, not only rank 0).
* **Outputs** in ``out_dir`` (written by rank 0 only):

  - ``config.yaml``: the resolved run config;
  - ``metrics.jsonl``: always; one JSON object per line, ``{"kind": "step", ...}`` every
    ``log_every`` steps (rank 0's values of that step, plus ``lr``) and ``{"kind": "epoch", ...}``
    per epoch (means over the epoch's steps, averaged over ranks); on resume, records past the
    checkpoint's step are dropped so the file reads like one uninterrupted run;
  - ``tensorboard/``: the same scalars through ``torch.utils.tensorboard.SummaryWriter`` *if the
    ``tensorboard`` package is importable* (and ``tensorboard: true``); without it the loop logs
    one info message and ``metrics.jsonl`` is the only scalar log;
  - ``checkpoints/checkpoint_eNNNN.pt``: every ``checkpoint_every`` epochs and after the last
    epoch (see :mod:`semcorr_core.training.checkpoint`).

* A ``tqdm`` progress bar on rank 0 only (``progress: false`` turns it off).
* ``resume: true`` (or ``fit(resume=True)``) continues from the latest checkpoint in
  ``out_dir/checkpoints`` (model, optimiser, scheduler, step, history); with none there it starts
  from scratch. A checkpoint written under another config warns (``strict_config: true``: error).
  A fresh run (``resume: false``) refuses an ``out_dir`` that already holds checkpoints, so an
  earlier run is never overwritten or mixed with a new one.

Example::

    cfg = load_config(["training/configs/cpnet_mug.yaml"], overrides)
    trainer = Trainer.from_run_config(cfg, model=model, loss_fn=loss_fn, dataset=dataset)
    history = trainer.fit()
    history.losses  # per-epoch mean losses
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import logging
import math
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Union

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from semcorr_core.atomic_file import atomic_path
from semcorr_core.errors import SemcorrError
from semcorr_core.training.checkpoint import (
    checkpoint_path,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from semcorr_core.training.config import ConfigError, config_hash, dump_config
from semcorr_core.training.distributed import DistributedContext

__all__ = [
    "TrainConfig",
    "TrainHistory",
    "Trainer",
    "TrainingError",
    "WarmupCosine",
    "LossFn",
    "fit",
    "derive_seed",
    "seed_everything",
    "seed_worker",
    "move_to_device",
    "tensorboard_available",
    "RUNTIME_KEYS",
]

log = logging.getLogger(__name__)

#: ``loss_fn(model, batch) -> (loss, {name: scalar})`` (or a bare loss tensor)
LossFn = Callable[[nn.Module, Any], Union[torch.Tensor, tuple[torch.Tensor, Mapping[str, Any]]]]

#: train keys that change how a run is operated, not what it computes: left out of the config
#: hash, so resuming with ``train.resume=true`` or another ``out_dir``/device does not warn
RUNTIME_KEYS = ("resume", "strict_config", "progress", "log_every", "out_dir", "tensorboard", "device")

_LOADER_STREAM = 1
_GLOBAL_STREAM = 0


class TrainingError(SemcorrError):
    """Training cannot go on (non-finite loss, a loss callable that returns the wrong thing)."""


# --------------------------------------------------------------------------------------------
# config
# --------------------------------------------------------------------------------------------


@dataclass
class TrainConfig:
    """The ``train`` section of a run config. Build from YAML with :meth:`from_mapping`.

    Attributes:
        epochs: passes over the dataset (>= 1).
        batch_size: samples per step *per process* (>= 1).
        lr: peak AdamW learning rate (> 0).
        weight_decay: AdamW decoupled weight decay (>= 0; not applied to ``ndim <= 1`` params).
        num_workers: ``DataLoader`` worker processes (>= 0).
        seed: base seed (>= 0), see the module docstring.
        device: ``auto`` | ``cpu`` | ``cuda`` | ``cuda:N``.
        out_dir: run folder (config, metrics, TensorBoard, checkpoints).
        log_every: write a step record every this many optimiser steps (>= 1).
        checkpoint_every: checkpoint every this many epochs (>= 0; 0: final checkpoint only).
        warmup_steps: linear warm-up steps before the cosine decay (>= 0).
        min_lr_ratio: final learning rate as a fraction of ``lr`` (0..1).
        grad_clip: clip the global gradient norm to this (0: off).
        drop_last: drop the last incomplete batch of an epoch.
        resume: continue from the latest checkpoint in ``out_dir/checkpoints``.
        strict_config: resuming under a changed config is an error rather than a warning.
        progress: tqdm progress bar (rank 0 only).
        tensorboard: write TensorBoard scalars when the package is importable.
        deterministic: ask torch for deterministic kernels (``use_deterministic_algorithms``,
            cuDNN benchmark off); CPU runs are reproducible without it.
    """

    epochs: int = 10
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    num_workers: int = 0
    seed: int = 0
    device: str = "auto"
    out_dir: str = "runs/default"
    log_every: int = 10
    checkpoint_every: int = 1
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0
    grad_clip: float = 0.0
    drop_last: bool = False
    resume: bool = False
    strict_config: bool = False
    progress: bool = True
    tensorboard: bool = True
    deterministic: bool = False

    def __post_init__(self) -> None:
        self.validate()

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, section: str = "train") -> "TrainConfig":
        """Build from a mapping (e.g. ``run_config["train"]``); missing keys take the defaults.

        Raises:
            ConfigError: an unknown key (the message lists the allowed ones and close matches) or
                a value of the wrong type or range (the message names ``section.key``).
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"config section {section!r} must be a mapping, got {type(data).__name__}")
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            import difflib

            hints = {k: difflib.get_close_matches(str(k), names, n=1) for k in unknown}
            hint = "; ".join(f"{k!r} -> did you mean {v[0]!r}?" for k, v in hints.items() if v)
            raise ConfigError(
                f"unknown key(s) in config section {section!r}: {', '.join(map(repr, unknown))}; "
                f"allowed: {', '.join(names)}" + (f" ({hint})" if hint else "")
            )
        try:
            return cls(**dict(data))
        except ConfigError as err:
            raise ConfigError(str(err).replace("train config ", f"config {section}.", 1)) from None

    def validate(self) -> None:
        """Check types and ranges. Raises :class:`ConfigError` naming ``train.<key>``."""
        ints = {"epochs": 1, "batch_size": 1, "num_workers": 0, "seed": 0, "log_every": 1, "checkpoint_every": 0, "warmup_steps": 0}
        for name, low in ints.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"train config {name}={value!r} must be an integer >= {low}")
            if value < low:
                raise ConfigError(f"train config {name}={value!r} must be >= {low}")
        floats = {"lr": (0.0, False), "weight_decay": (0.0, True), "min_lr_ratio": (0.0, True), "grad_clip": (0.0, True)}
        for name, (low, inclusive) in floats.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"train config {name}={value!r} must be a finite number")
            if value < low or (value == low and not inclusive):
                raise ConfigError(f"train config {name}={value!r} must be {'>=' if inclusive else '>'} {low}")
            setattr(self, name, float(value))
        if self.min_lr_ratio > 1.0:
            raise ConfigError(f"train config min_lr_ratio={self.min_lr_ratio!r} must lie in [0, 1]")
        for name in ("drop_last", "resume", "strict_config", "progress", "tensorboard", "deterministic"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"train config {name}={getattr(self, name)!r} must be true or false")
        for name in ("device", "out_dir"):
            value = getattr(self, name)
            if isinstance(value, os.PathLike):
                value = os.fspath(value)
                setattr(self, name, value)
            if not isinstance(value, str) or not value:
                raise ConfigError(f"train config {name}={value!r} must be a non-empty string")
        device = self.device.strip().lower()
        if not (device in ("auto", "cpu", "cuda") or (device.startswith("cuda:") and device[5:].isdigit())):
            raise ConfigError(f"train config device={self.device!r}; allowed: auto, cpu, cuda, cuda:N")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (YAML/JSON-ready)."""
        return dataclasses.asdict(self)


@dataclass
class TrainHistory:
    """What :meth:`Trainer.fit` returns.

    Attributes:
        losses: per-epoch mean loss (averaged over steps, then over ranks), epoch 1 first; after
            a resume it also holds the epochs run before the interruption.
        epochs: per-epoch means of every scalar the loss callable reported, plus ``loss``,
            ``lr`` (at the epoch's end), ``epoch`` and ``step``.
        steps: optimiser steps taken in total.
        final_checkpoint: the checkpoint written after the last epoch (``None`` off rank 0).
        resumed_from: checkpoint the run continued from, if any.
    """

    losses: list[float] = field(default_factory=list)
    epochs: list[dict[str, float]] = field(default_factory=list)
    steps: int = 0
    final_checkpoint: Optional[Path] = None
    resumed_from: Optional[Path] = None


# --------------------------------------------------------------------------------------------
# seeding, devices, schedule
# --------------------------------------------------------------------------------------------


def derive_seed(*parts: int) -> int:
    """A well-mixed 32-bit seed from non-negative integers (``numpy.random.SeedSequence``)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1, dtype=np.uint32)[0])


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global RNG and torch (CPU and all CUDA devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def seed_worker(worker_id: int) -> None:
    """``DataLoader`` ``worker_init_fn``: seed NumPy/Python from the worker's torch seed.

    torch seeds each worker with ``base_seed + worker_id`` (``base_seed`` drawn from the loader's
    seeded generator); NumPy and ``random`` would otherwise inherit the parent's state and repeat
    the same numbers in every worker.
    """
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def move_to_device(batch: Any, device: torch.device, *, non_blocking: bool = False) -> Any:
    """Move every tensor inside nested dicts/lists/tuples (incl. NamedTuples) to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=non_blocking)
    if isinstance(batch, Mapping):
        moved = {k: move_to_device(v, device, non_blocking=non_blocking) for k, v in batch.items()}
        if type(batch) is dict:
            return moved
        try:
            return type(batch)(moved)
        except TypeError:
            return moved
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(move_to_device(v, device, non_blocking=non_blocking) for v in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to_device(v, device, non_blocking=non_blocking) for v in batch)
    return batch


class WarmupCosine:
    """LR factor for ``LambdaLR``: linear warm-up to 1, then cosine decay to ``min_ratio``.

    A callable object rather than a closure so that the scheduler's ``state_dict`` holds plain
    numbers (checkpoints stay ``weights_only``-loadable).
    """

    def __init__(self, total_steps: int, warmup_steps: int = 0, min_ratio: float = 0.0) -> None:
        self.total_steps = int(max(total_steps, 1))
        self.warmup_steps = int(max(warmup_steps, 0))
        self.min_ratio = float(min_ratio)

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / (self.warmup_steps + 1)
        span = max(self.total_steps - self.warmup_steps, 1)
        progress = min(max(step - self.warmup_steps, 0) / span, 1.0)
        return self.min_ratio + (1.0 - self.min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def tensorboard_available() -> bool:
    """Whether ``torch.utils.tensorboard.SummaryWriter`` can be used (the ``tensorboard`` package
    is installed)."""
    if importlib.util.find_spec("tensorboard") is None:
        return False
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except Exception:  # pragma: no cover - broken tensorboard install
        return False
    return True


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    decay, no_decay = [], []
    for param in model.parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim <= 1 else decay).append(param)
    groups = []
    if decay:
        groups.append({"params": decay, "weight_decay": weight_decay})
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    if not groups:
        raise TrainingError("the model has no trainable parameters (all requires_grad=False)")
    return groups


# --------------------------------------------------------------------------------------------
# scalar sinks
# --------------------------------------------------------------------------------------------


class _ScalarLog:
    """``metrics.jsonl`` (always) + TensorBoard (when available and enabled); rank 0 only."""

    def __init__(self, out_dir: Path, *, tensorboard: bool, resume_step: Optional[int]) -> None:
        self.path = out_dir / "metrics.jsonl"
        if resume_step is not None:
            self._truncate(resume_step)
        elif self.path.exists():
            self.path.unlink()
        self._fh = self.path.open("a", encoding="utf-8")
        self.writer = None
        if tensorboard:
            if tensorboard_available():
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(log_dir=str(out_dir / "tensorboard"), purge_step=resume_step)
            else:
                log.info(
                    "tensorboard is not installed: scalars go to %s only (pip install tensorboard for event files)",
                    self.path,
                )

    def _truncate(self, step: int) -> None:
        if not self.path.exists():
            return
        kept = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by the crash
            if isinstance(record, dict) and int(record.get("step", 0)) <= step:
                kept.append(line)
        with atomic_path(self.path) as tmp:
            tmp.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")

    def write(self, kind: str, step: int, epoch: int, scalars: Mapping[str, float]) -> None:
        record = {"kind": kind, "epoch": epoch, "step": step, **{k: float(v) for k, v in scalars.items()}}
        self._fh.write(json.dumps(record, sort_keys=False) + "\n")
        self._fh.flush()
        if self.writer is not None:
            for name, value in scalars.items():
                self.writer.add_scalar(f"{kind}/{name}", float(value), global_step=step)

    def close(self) -> None:
        self._fh.close()
        if self.writer is not None:
            self.writer.close()


# --------------------------------------------------------------------------------------------
# trainer
# --------------------------------------------------------------------------------------------


def _unpack_loss(out: Any, where: str) -> tuple[torch.Tensor, dict[str, float]]:
    if isinstance(out, torch.Tensor):
        loss, scalars = out, {}
    elif isinstance(out, tuple) and len(out) == 2 and isinstance(out[0], torch.Tensor) and isinstance(out[1], Mapping):
        loss, scalars = out
    else:
        raise TrainingError(
            f"{where}: loss_fn must return a scalar tensor or (loss tensor, dict of scalars), got {type(out).__name__}"
        )
    if loss.dim() != 0:
        raise TrainingError(f"{where}: loss must be a scalar tensor, got shape {tuple(loss.shape)}")
    plain: dict[str, float] = {}
    for name, value in scalars.items():
        if name == "loss":
            continue
        try:
            plain[str(name)] = float(value.detach().item() if isinstance(value, torch.Tensor) else value)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TrainingError(f"{where}: scalar {name!r} from loss_fn is not a number ({err})") from err
    return loss, plain


class Trainer:
    """Train ``model`` on ``dataset`` with ``loss_fn`` as configured (see the module docstring).

    Args:
        model: any module; trained in place (moved to the configured device).
        loss_fn: ``loss_fn(model, batch) -> (loss, {name: scalar})``.
        dataset: map-style dataset; batched with ``collate_fn`` (default torch's).
        config: :class:`TrainConfig` or the ``train`` mapping of a run config.
        collate_fn: optional ``DataLoader`` collate function (must be picklable with workers).
        run_config: the whole resolved run config, recorded in ``config.yaml`` and checkpoints
            and hashed (minus :data:`RUNTIME_KEYS` of ``section``); default ``{section: config}``.
        section: where the train settings live inside ``run_config``.
        context: a ready :class:`DistributedContext`; default one from the torchrun environment
            (created in :meth:`fit` and torn down when it returns or fails).
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: LossFn,
        dataset: Dataset,
        config: Union[TrainConfig, Mapping[str, Any]],
        *,
        collate_fn: Optional[Callable[[list[Any]], Any]] = None,
        run_config: Optional[Mapping[str, Any]] = None,
        section: str = "train",
        context: Optional[DistributedContext] = None,
    ) -> None:
        self.config = config if isinstance(config, TrainConfig) else TrainConfig.from_mapping(config, section=section)
        if not isinstance(model, nn.Module):
            raise TrainingError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if not callable(loss_fn):
            raise TrainingError("loss_fn must be callable as loss_fn(model, batch)")
        self.model = model
        self.loss_fn = loss_fn
        self.dataset = dataset
        self.collate_fn = collate_fn
        self.section = section
        self.run_config: dict[str, Any] = dict(run_config) if run_config is not None else {section: self.config.to_dict()}
        self.hash_exclude = tuple(f"{section}.{key}" for key in RUNTIME_KEYS)
        self.config_hash = config_hash(self.run_config, exclude=self.hash_exclude)
        self.context = context

    @classmethod
    def from_run_config(
        cls, run_config: Mapping[str, Any], *, model: nn.Module, loss_fn: LossFn, dataset: Dataset, section: str = "train", **kwargs: Any
    ) -> "Trainer":
        """Trainer whose settings are ``run_config[section]`` (a resolved :func:`load_config` dict)."""
        if section not in run_config:
            raise ConfigError(f"run config has no {section!r} section; top-level keys: {', '.join(sorted(run_config)) or 'none'}")
        return cls(model, loss_fn, dataset, run_config[section], run_config=run_config, section=section, **kwargs)

    @property
    def out_dir(self) -> Path:
        return Path(self.config.out_dir)

    @property
    def checkpoint_dir(self) -> Path:
        return self.out_dir / "checkpoints"

    # ------------------------------------------------------------------------------------

    def fit(self, resume: Optional[bool] = None) -> TrainHistory:
        """Run the configured epochs (or the remaining ones when resuming).

        Args:
            resume: overrides ``config.resume`` when given.

        Returns:
            :class:`TrainHistory` (identical on every rank).

        Raises:
            TrainingError: non-finite loss (the message names epoch and step), bad ``loss_fn`` output.
            ConfigError: bad device/environment, an empty loader.
            CheckpointError: the checkpoint to resume from is corrupt or does not fit.
        """
        ctx = self.context if self.context is not None else DistributedContext.from_env(self.config.device)
        try:
            return self._fit(ctx, self.config.resume if resume is None else bool(resume))
        finally:
            if self.context is None:
                ctx.close()

    def _fit(self, ctx: DistributedContext, resume: bool) -> TrainHistory:
        from tqdm import tqdm

        cfg = self.config
        if cfg.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.benchmark = False
        seed_everything(derive_seed(cfg.seed, ctx.rank, 2**31 - 1, _GLOBAL_STREAM))

        model = ctx.wrap_model(self.model)
        optimizer = torch.optim.AdamW(_param_groups(model, cfg.weight_decay), lr=cfg.lr)

        sampler = ctx.make_sampler(self.dataset, shuffle=True, seed=cfg.seed, drop_last=cfg.drop_last)
        generator = torch.Generator()
        loader = DataLoader(
            self.dataset,
            batch_size=cfg.batch_size,
            shuffle=sampler is None,
            sampler=sampler,
            num_workers=cfg.num_workers,
            collate_fn=self.collate_fn,
            drop_last=cfg.drop_last,
            generator=generator,
            worker_init_fn=seed_worker,
            pin_memory=ctx.device.type == "cuda",
        )
        steps_per_epoch = len(loader)
        if steps_per_epoch == 0:
            raise ConfigError(
                f"the data loader yields no batch: dataset of {len(self.dataset)} sample(s) "  # type: ignore[arg-type]
                f"(per rank) with {self.section}.batch_size={cfg.batch_size} and drop_last={cfg.drop_last}; "
                "use a smaller batch_size or drop_last=false"
            )
        schedule = WarmupCosine(cfg.epochs * steps_per_epoch, cfg.warmup_steps, cfg.min_lr_ratio)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)

        history = TrainHistory()
        start_epoch, step = 0, 0
        if not resume and latest_checkpoint(self.checkpoint_dir) is not None:
            raise ConfigError(
                f"{self.section}.out_dir={str(self.out_dir)!r} already holds checkpoints of an earlier run "
                f"({latest_checkpoint(self.checkpoint_dir)}); set {self.section}.resume=true to continue it, "
                f"or choose another {self.section}.out_dir (nothing is overwritten)"
            )
        if resume:
            found = latest_checkpoint(self.checkpoint_dir)
            if found is None:
                if ctx.is_main:
                    log.info("resume requested but %s holds no checkpoint: starting from scratch", self.checkpoint_dir)
            else:
                ckpt = load_checkpoint(
                    found,
                    model=model,
                    optimizer=optimizer,
                    scheduler=scheduler,
                    config=self.run_config,
                    config_hash=self.config_hash,
                    hash_exclude=self.hash_exclude,
                    strict_config=cfg.strict_config,
                    map_location=ctx.device,
                )
                start_epoch, step = ckpt.epoch, ckpt.step
                history.epochs = [dict(e) for e in ckpt.extra.get("history", [])][:start_epoch]
                history.losses = [float(e["loss"]) for e in history.epochs]
                history.resumed_from = found
                if ctx.is_main:
                    log.info("resumed from %s (epoch %d, step %d)", found, start_epoch, step)
        history.steps = step

        scalar_log: Optional[_ScalarLog] = None
        if ctx.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            dump_config(self.run_config, self.out_dir / "config.yaml")
            scalar_log = _ScalarLog(self.out_dir, tensorboard=cfg.tensorboard, resume_step=step if history.resumed_from else None)
        try:
            for epoch in range(start_epoch, cfg.epochs):
                seed_everything(derive_seed(cfg.seed, ctx.rank, epoch, _GLOBAL_STREAM))
                generator.manual_seed(derive_seed(cfg.seed, ctx.rank, epoch, _LOADER_STREAM))
                if sampler is not None:
                    sampler.set_epoch(epoch)
                model.train()
                sums: dict[str, float] = {}
                count = 0
                bar = tqdm(
                    loader,
                    total=steps_per_epoch,
                    desc=f"epoch {epoch + 1}/{cfg.epochs}",
                    disable=not (ctx.is_main and cfg.progress),
                    leave=False,
                    dynamic_ncols=True,
                )
                for batch in bar:
                    batch = move_to_device(batch, ctx.device, non_blocking=ctx.device.type == "cuda")
                    where = f"epoch {epoch + 1}, step {step + 1}"
                    loss, scalars = _unpack_loss(self.loss_fn(model, batch), where)
                    if not bool(torch.isfinite(loss.detach())):
                        raise TrainingError(
                            f"{where}: loss is {loss.item()} (not finite); lower {self.section}.lr, set "
                            f"{self.section}.grad_clip, or check the data of this batch"
                        )
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    if cfg.grad_clip > 0:
                        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                    optimizer.step()
                    scheduler.step()
                    step += 1
                    values = {"loss": float(loss.detach().item()), **scalars}
                    for name, value in values.items():
                        sums[name] = sums.get(name, 0.0) + value
                    count += 1
                    if scalar_log is not None and step % cfg.log_every == 0:
                        scalar_log.write("step", step, epoch + 1, {**values, "lr": scheduler.get_last_lr()[0]})
                        bar.set_postfix(loss=f"{values['loss']:.4g}")
                bar.close()

                names = sorted(sums)
                local = torch.tensor([sums[n] / max(count, 1) for n in names], dtype=torch.float64)
                means = ctx.all_reduce_mean(local).tolist()
                record: dict[str, float] = dict(zip(names, means))
                record.update(lr=float(scheduler.get_last_lr()[0]), epoch=float(epoch + 1), step=float(step))
                history.epochs.append(record)
                history.losses.append(record["loss"])
                history.steps = step
                if scalar_log is not None:
                    scalar_log.write("epoch", step, epoch + 1, {k: v for k, v in record.items() if k not in ("epoch", "step")})
                    log.info("epoch %d/%d: loss %.6g", epoch + 1, cfg.epochs, record["loss"])

                last = epoch + 1 == cfg.epochs
                if last or (cfg.checkpoint_every > 0 and (epoch + 1) % cfg.checkpoint_every == 0):
                    if ctx.is_main:
                        written = save_checkpoint(
                            checkpoint_path(self.checkpoint_dir, epoch + 1),
                            model=model,
                            optimizer=optimizer,
                            scheduler=scheduler,
                            epoch=epoch + 1,
                            step=step,
                            config=self.run_config,
                            config_hash=self.config_hash,
                            extra={"history": history.epochs},
                        )
                        if last:
                            history.final_checkpoint = written
                    ctx.barrier()
            if start_epoch >= cfg.epochs and history.resumed_from is not None and ctx.is_main:
                history.final_checkpoint = history.resumed_from
        finally:
            if scalar_log is not None:
                scalar_log.close()
        return history


def fit(
    model: nn.Module,
    loss_fn: LossFn,
    dataset: Dataset,
    config: Union[TrainConfig, Mapping[str, Any]],
    *,
    resume: Optional[bool] = None,
    **kwargs: Any,
) -> TrainHistory:
    """Shortcut for ``Trainer(model, loss_fn, dataset, config, **kwargs).fit(resume)``."""
    return Trainer(model, loss_fn, dataset, config, **kwargs).fit(resume=resume)
