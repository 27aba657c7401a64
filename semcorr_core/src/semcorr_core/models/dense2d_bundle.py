"""The 2D descriptor file of a category (``dense2d_<category>.pt``), written by ``semcorr train dense2d``.

It pairs with one 3D embedding bundle: its descriptors were trained against that bundle's dense
prototype (canonical frame, dense points), and it carries a 2D descriptor for each of those dense
points, so the detector can match pixels to the prototype with 2D descriptors alone or with 2D
and 3D descriptors fused. :func:`prototype_fingerprint` ties the two files together; a detector
refuses a pair that does not match.

Contents: the :class:`~semcorr_core.models.dense2d.DenseDescriptorNet` weights and arguments, the
crop size and margin, the canonical-attention head (class descriptors ``z``, their canonical
points ``p``, temperature ``tau``: seed 004 Eq. 5), the dense and keypoint descriptors, and metadata (training
config and hash, validation figures).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from semcorr_core import __version__
from semcorr_core.atomic_file import atomic_path
from semcorr_core.errors import InputError, ModelFileError
from semcorr_core.models.bundle import DEFAULT_BUNDLE_DIR, Prototype
from semcorr_core.models.dense2d import DenseDescriptorNet
from semcorr_core.models.model_file import read_model_file

__all__ = ["Dense2DBundle", "DENSE2D_FORMAT", "DENSE2D_VERSION", "prototype_fingerprint", "save_dense2d_bundle",
           "load_dense2d_bundle", "default_dense2d_path"]

DENSE2D_FORMAT = "semcorr-dense2d"
DENSE2D_VERSION = 1


def prototype_fingerprint(prototype: Prototype) -> str:
    """Short hash of a prototype's dense points and keypoints (what the 2D descriptors index)."""
    h = hashlib.sha256()
    for t in (prototype.dense_points, prototype.keypoints):
        h.update(np.ascontiguousarray(t.detach().cpu().numpy().astype(np.float32)).tobytes())
    return h.hexdigest()[:12]


@dataclass
class Dense2DBundle:
    category: str
    model_kwargs: dict
    state_dict: dict
    crop_size: int
    crop_margin: float
    class_descriptors: torch.Tensor  # (C, D)
    class_points: torch.Tensor  # (C, 3) canonical, metres
    temperature: float
    dense_descriptors: torch.Tensor  # (M, D): one per dense point of the paired prototype
    keypoint_descriptors: torch.Tensor  # (K, D): one per keypoint of the paired prototype
    prototype_fingerprint: str
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        C, D = self.class_descriptors.shape
        if self.class_points.shape != (C, 3) or self.dense_descriptors.dim() != 2 or self.dense_descriptors.shape[1] != D:
            raise InputError(f"dense2d bundle: class descriptors ({C}, {D}) need ({C}, 3) class points and (M, {D}) "
                             f"dense descriptors; got {tuple(self.class_points.shape)} and "
                             f"{tuple(self.dense_descriptors.shape)}")
        if self.keypoint_descriptors.dim() != 2 or self.keypoint_descriptors.shape[1] != D:
            raise InputError(f"dense2d bundle: keypoint descriptors must be (K, {D}), got "
                             f"{tuple(self.keypoint_descriptors.shape)}")
        if int(self.model_kwargs.get("out_dim", D)) != D:
            raise InputError(f"dense2d bundle: the network's out_dim {self.model_kwargs.get('out_dim')} is not the "
                             f"descriptor dimension {D}")

    def build_model(self, device: str | torch.device = "cpu") -> DenseDescriptorNet:
        model = DenseDescriptorNet(**self.model_kwargs)
        try:
            model.load_state_dict(self.state_dict)
        except RuntimeError as e:
            raise ModelFileError(f"dense2d weights do not fit DenseDescriptorNet({self.model_kwargs}): {e}") from None
        return model.to(device).eval()


def save_dense2d_bundle(path: str | Path, bundle: Dense2DBundle) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": DENSE2D_FORMAT, "version": DENSE2D_VERSION, "category": bundle.category,
        "model": {"kwargs": dict(bundle.model_kwargs),
                  "state_dict": {k: v.detach().cpu() for k, v in bundle.state_dict.items()}},
        "crop": {"size": int(bundle.crop_size), "margin": float(bundle.crop_margin)},
        "head": {"class_descriptors": bundle.class_descriptors.detach().cpu().float(),
                 "class_points": bundle.class_points.detach().cpu().float(),
                 "temperature": float(bundle.temperature)},
        "dense_descriptors": bundle.dense_descriptors.detach().cpu().float(),
        "keypoint_descriptors": bundle.keypoint_descriptors.detach().cpu().float(),
        "prototype_fingerprint": bundle.prototype_fingerprint,
        "metadata": {"semcorr_version": __version__,
                     "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                     **bundle.metadata},
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_dense2d_bundle(path: str | Path, category: str | None = None) -> Dense2DBundle:
    """Read a 2D descriptor file; :class:`ModelFileError` for a missing, corrupt, foreign,
    other-version or other-category file."""
    path = Path(path)
    d = read_model_file(path, what="2D descriptor model", file_format=DENSE2D_FORMAT, version=DENSE2D_VERSION,
                        remedy="train one with `semcorr train dense2d`", category=category)
    try:
        return Dense2DBundle(
            category=d["category"], model_kwargs=dict(d["model"]["kwargs"]), state_dict=dict(d["model"]["state_dict"]),
            crop_size=int(d["crop"]["size"]), crop_margin=float(d["crop"]["margin"]),
            class_descriptors=d["head"]["class_descriptors"], class_points=d["head"]["class_points"],
            temperature=float(d["head"]["temperature"]), dense_descriptors=d["dense_descriptors"],
            keypoint_descriptors=d["keypoint_descriptors"],
            prototype_fingerprint=str(d["prototype_fingerprint"]), metadata=dict(d.get("metadata", {})))
    except (KeyError, TypeError, AttributeError, InputError) as e:
        raise ModelFileError(f"{path} is an incomplete 2D descriptor model: {e}") from None


def default_dense2d_path(category: str) -> Path:
    """Where the shipped 2D descriptor model of ``category`` lives (it may not exist)."""
    from semcorr_core.data.categories import get_category

    return DEFAULT_BUNDLE_DIR / f"dense2d_{get_category(category).name}.pt"
