"""Training checkpoints: save, load, find the latest (issue #3).

A checkpoint is one ``torch.save`` file holding a plain dict:

======================  ====================================================================
key                     content
======================  ====================================================================
``format``              ``"semcorr-checkpoint"`` (what makes a file ours)
``format_version``      :data:`CHECKPOINT_FORMAT_VERSION`
``semcorr_version``     ``semcorr_core.__version__`` of the writer; ``torch_version`` too
``model``               ``state_dict`` of the model (a DDP wrapper is unwrapped first)
``optimizer``           optimizer ``state_dict`` or ``None``
``scheduler``           LR scheduler ``state_dict`` or ``None``
``epoch`` / ``step``    completed epochs / optimizer steps
``rng``                 ``python``, ``numpy``, ``torch`` (and ``cuda`` when present) RNG states
``config``              the resolved run config (plain dict) or ``None``
``config_hash``         :func:`~semcorr_core.training.config.config_hash` of it (or given)
``extra``               caller data (plain types/tensors), e.g. the loss history
======================  ====================================================================

Everything is stored as tensors and plain Python values, so files load with
``torch.load(weights_only=True)``: loading a checkpoint never runs pickled code.

Writes are atomic: the file is written to a hidden temporary file in the same folder, flushed to
disk and renamed over the target, so a crash mid-write leaves the previous checkpoint intact and
never a truncated one. A missing, truncated or foreign file raises :class:`CheckpointError` (an
:class:`~semcorr_core.errors.InputError`) naming the path. Loading a checkpoint whose config hash
differs from the current config warns with :class:`ConfigMismatchWarning` listing the keys that
differ, or raises :class:`ConfigMismatchError` with ``strict_config=True``.
"""

from __future__ import annotations

import os
import random
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Union

import numpy as np
import torch
from torch import nn

import semcorr_core
from semcorr_core.atomic_file import atomic_path
from semcorr_core.errors import InputError
from semcorr_core.training.config import _canonical, config_hash as _config_hash

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_FORMAT_VERSION",
    "CheckpointError",
    "ConfigMismatchError",
    "ConfigMismatchWarning",
    "Checkpoint",
    "capture_rng_state",
    "restore_rng_state",
    "save_checkpoint",
    "read_checkpoint",
    "load_checkpoint",
    "checkpoint_path",
    "list_checkpoints",
    "latest_checkpoint",
    "unwrap_model",
    "config_diff",
]

CHECKPOINT_FORMAT = "semcorr-checkpoint"
CHECKPOINT_FORMAT_VERSION = 1
_NAME_RE = re.compile(r"^checkpoint_e(\d+)\.pt$")

PathLike = Union[str, "os.PathLike[str]"]


class CheckpointError(InputError):
    """A checkpoint file is missing, corrupt, foreign or does not fit the model/optimizer."""


class ConfigMismatchError(CheckpointError):
    """The checkpoint was written under a different config (raised with ``strict_config=True``)."""


class ConfigMismatchWarning(UserWarning):
    """The checkpoint was written under a different config (default: warn and go on)."""


@dataclass
class Checkpoint:
    """What :func:`load_checkpoint` read (states are already applied to the objects passed in)."""

    path: Path
    epoch: int
    step: int
    config: Optional[dict[str, Any]]
    config_hash: Optional[str]
    semcorr_version: str
    model_state: dict[str, torch.Tensor]
    optimizer_state: Optional[dict[str, Any]]
    scheduler_state: Optional[dict[str, Any]]
    rng: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# RNG states
# --------------------------------------------------------------------------------------------


def capture_rng_state() -> dict[str, Any]:
    """Python, NumPy (global), torch CPU (and all CUDA devices, if initialised) RNG states.

    Stored as plain values and uint8 tensors so that ``weights_only`` loading accepts them.
    """
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "name": str(name),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.uint32).astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: Mapping[str, Any]) -> None:
    """Restore states from :func:`capture_rng_state` (missing entries are left alone).

    Raises:
        CheckpointError: a state has the wrong structure.
    """
    try:
        if "python" in state:
            version, internal, gauss = state["python"]
            random.setstate((int(version), tuple(int(v) for v in internal), gauss))
        if "numpy" in state:
            np_state = state["numpy"]
            keys = np.asarray(torch.as_tensor(np_state["keys"]).numpy(), dtype=np.uint32)
            np.random.set_state(
                (np_state["name"], keys, int(np_state["pos"]), int(np_state["has_gauss"]), float(np_state["cached_gaussian"]))
            )
        if "torch" in state:
            torch.set_rng_state(torch.as_tensor(state["torch"], dtype=torch.uint8).cpu())
        if "cuda" in state and torch.cuda.is_available():
            cuda_states = list(state["cuda"])
            if len(cuda_states) == torch.cuda.device_count():
                torch.cuda.set_rng_state_all(cuda_states)
    except (TypeError, ValueError, KeyError, RuntimeError) as err:
        raise CheckpointError(f"RNG state in checkpoint has an unexpected structure: {err}") from err


# --------------------------------------------------------------------------------------------
# save
# --------------------------------------------------------------------------------------------


def unwrap_model(model: nn.Module) -> nn.Module:
    """The bare model inside a ``DistributedDataParallel``/``DataParallel`` wrapper (or ``model``)."""
    while isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
        model = model.module
    return model


def checkpoint_path(directory: PathLike, epoch: int) -> Path:
    """Canonical file name of the checkpoint after ``epoch`` completed epochs."""
    return Path(directory) / f"checkpoint_e{int(epoch):04d}.pt"


def save_checkpoint(
    path: PathLike,
    *,
    model: nn.Module,
    optimizer: Optional[torch.optim.Optimizer] = None,
    scheduler: Optional[Any] = None,
    epoch: int = 0,
    step: int = 0,
    config: Optional[Mapping[str, Any]] = None,
    config_hash: Optional[str] = None,
    rng_state: Optional[Mapping[str, Any]] = None,
    extra: Optional[Mapping[str, Any]] = None,
) -> Path:
    """Write a checkpoint atomically (temporary file in the same folder, fsync, rename).

    Args:
        path: target file; parent folders are created.
        model: the model (a DDP wrapper is unwrapped, so files load into bare models).
        optimizer, scheduler: saved through their ``state_dict`` when given.
        epoch, step: completed epochs and optimizer steps.
        config: the resolved run config (plain values).
        config_hash: recorded fingerprint; default :func:`~semcorr_core.training.config.config_hash`
            of ``config`` (pass one explicitly when hashing with exclusions).
        rng_state: default :func:`capture_rng_state` now.
        extra: caller data (plain values and tensors).

    Returns:
        The written path.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    cfg = _canonical(config, "", json_safe=False) if config is not None else None
    if config_hash is None and cfg is not None:
        config_hash = _config_hash(cfg)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "semcorr_version": semcorr_core.__version__,
        "torch_version": str(torch.__version__),
        "model": unwrap_model(model).state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "epoch": int(epoch),
        "step": int(step),
        "rng": dict(rng_state) if rng_state is not None else capture_rng_state(),
        "config": cfg,
        "config_hash": config_hash,
        "extra": dict(extra) if extra is not None else {},
    }
    with atomic_path(target, fsync=True) as tmp:
        torch.save(payload, tmp)
    return target


# --------------------------------------------------------------------------------------------
# load
# --------------------------------------------------------------------------------------------


def read_checkpoint(path: PathLike, *, map_location: Union[str, torch.device] = "cpu") -> dict[str, Any]:
    """Read and validate a checkpoint file without applying it (``weights_only`` load).

    Raises:
        CheckpointError: missing file, unreadable/corrupt file, or not a semcorr checkpoint.
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint {str(p)!r} does not exist (or is not a file)")
    try:
        payload = torch.load(p, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises many types for truncated/garbage files
        if "Weights only load failed" in str(err):
            raise CheckpointError(
                f"checkpoint {str(p)!r} holds Python objects beyond tensors and plain values, which "
                "semcorr refuses to unpickle (it was not written by semcorr's save_checkpoint, or "
                "'extra' held such objects)"
            ) from err
        raise CheckpointError(
            f"checkpoint {str(p)!r} is corrupt or not a torch file ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''}); delete it or point to another checkpoint"
        ) from err
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"checkpoint {str(p)!r} is not a semcorr training checkpoint (no format={CHECKPOINT_FORMAT!r} marker)"
        )
    version = payload.get("format_version")
    if not isinstance(version, int) or version > CHECKPOINT_FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {str(p)!r} has format version {version!r}; this semcorr "
            f"({semcorr_core.__version__}) reads versions <= {CHECKPOINT_FORMAT_VERSION}: upgrade semcorr"
        )
    missing = [k for k in ("model", "epoch", "step", "rng") if k not in payload]
    if missing:
        raise CheckpointError(f"checkpoint {str(p)!r} lacks entries {', '.join(missing)}; the file is incomplete")
    return payload


def _flatten(cfg: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(cfg, Mapping):
        out: dict[str, Any] = {}
        for key, value in cfg.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: cfg}


def config_diff(
    old: Optional[Mapping[str, Any]], new: Optional[Mapping[str, Any]], *, exclude: Iterable[str] = ()
) -> list[str]:
    """Human-readable ``key: old -> new`` lines for dotted keys whose values differ."""
    excl = tuple(exclude)
    a = _flatten(_canonical(old or {}, "", json_safe=False))
    b = _flatten(_canonical(new or {}, "", json_safe=False))
    lines = []
    for key in sorted(set(a) | set(b)):
        if any(key == e or key.startswith(e + ".") for e in excl):
            continue
        va, vb = a.get(key, "<absent>"), b.get(key, "<absent>")
        if va != vb:
            lines.append(f"{key}: {va!r} -> {vb!r}")
    return lines


def load_checkpoint(
    path: PathLike,
    *,
    model: Optional[nn.Module] = None,
    optimizer: Optional[torch.optim.Optimizer] = None,
    scheduler: Optional[Any] = None,
    config: Optional[Mapping[str, Any]] = None,
    config_hash: Optional[str] = None,
    hash_exclude: Iterable[str] = (),
    strict_config: bool = False,
    restore_rng: bool = True,
    map_location: Union[str, torch.device] = "cpu",
) -> Checkpoint:
    """Load a checkpoint and apply it to the given objects.

    Args:
        path: checkpoint file.
        model, optimizer, scheduler: receive their saved states when given (model: strict).
        config: the *current* run config; its hash (``config_hash`` if given, else computed with
            ``hash_exclude``) is compared with the recorded one.
        strict_config: raise :class:`ConfigMismatchError` on a hash mismatch instead of warning.
        restore_rng: restore the Python/NumPy/torch RNG states.
        map_location: where tensors are loaded (the model's device is kept by ``load_state_dict``).

    Raises:
        CheckpointError: see :func:`read_checkpoint`; states that do not fit the model/optimizer.
        ConfigMismatchError: config hash differs and ``strict_config`` is set.

    Warns:
        ConfigMismatchWarning: config hash differs (default).
    """
    p = Path(path)
    payload = read_checkpoint(p, map_location=map_location)
    saved_hash = payload.get("config_hash")
    if config is not None or config_hash is not None:
        current = config_hash if config_hash is not None else _config_hash(config or {}, exclude=hash_exclude)
        if saved_hash != current:
            diff = config_diff(payload.get("config"), config, exclude=hash_exclude) if config is not None else []
            shown = "; ".join(diff[:10]) + (f"; ... ({len(diff) - 10} more)" if len(diff) > 10 else "")
            msg = (
                f"checkpoint {str(p)!r} was written with config hash {saved_hash}, but the current config "
                f"hashes to {current}" + (f" (differences, checkpoint -> now: {shown})" if shown else "") + ". "
                "Resuming under a changed config may not reproduce the original run."
            )
            if strict_config:
                raise ConfigMismatchError(msg + " Restore the original config or drop strict_config to go on anyway.")
            warnings.warn(msg, ConfigMismatchWarning, stacklevel=2)
    if model is not None:
        try:
            unwrap_model(model).load_state_dict(payload["model"])
        except (RuntimeError, KeyError, TypeError) as err:
            raise CheckpointError(
                f"checkpoint {str(p)!r} does not fit the model ({type(unwrap_model(model)).__name__}): "
                f"{str(err).splitlines()[0]}... Check the model config (architecture, sizes) it was trained with."
            ) from err
    if optimizer is not None:
        if payload.get("optimizer") is None:
            raise CheckpointError(f"checkpoint {str(p)!r} holds no optimizer state")
        try:
            optimizer.load_state_dict(payload["optimizer"])
        except (ValueError, KeyError, RuntimeError) as err:
            raise CheckpointError(f"checkpoint {str(p)!r}: optimizer state does not fit: {err}") from err
    if scheduler is not None:
        if payload.get("scheduler") is None:
            raise CheckpointError(f"checkpoint {str(p)!r} holds no scheduler state")
        scheduler.load_state_dict(payload["scheduler"])
    if restore_rng:
        restore_rng_state(payload["rng"])
    return Checkpoint(
        path=p,
        epoch=int(payload["epoch"]),
        step=int(payload["step"]),
        config=payload.get("config"),
        config_hash=saved_hash,
        semcorr_version=str(payload.get("semcorr_version", "unknown")),
        model_state=payload["model"],
        optimizer_state=payload.get("optimizer"),
        scheduler_state=payload.get("scheduler"),
        rng=payload["rng"],
        extra=dict(payload.get("extra") or {}),
    )


def list_checkpoints(directory: PathLike) -> list[Path]:
    """``checkpoint_eNNNN.pt`` files in ``directory`` sorted by epoch (temporary files ignored)."""
    d = Path(directory)
    if not d.is_dir():
        return []
    found = []
    for entry in d.iterdir():
        match = _NAME_RE.match(entry.name)
        if match and entry.is_file():
            found.append((int(match.group(1)), entry))
    return [p for _, p in sorted(found)]


def latest_checkpoint(directory: PathLike) -> Optional[Path]:
    """The checkpoint with the highest epoch in ``directory``, or ``None`` when there is none."""
    found = list_checkpoints(directory)
    return found[-1] if found else None
