"""Model bundles: everything a category needs at run time, in one versioned file.

A bundle holds the embedding network (registry name, constructor arguments, weights), the
category description (the YAML text a user can read: keypoints, frame, symmetry), the keypoint
database / prototype (canonical keypoints with their embeddings, a dense canonical point cloud with
embeddings) and provenance (training config and its hash, semcorr version, creation time).

The file is a ``torch.save`` dictionary of tensors, strings and numbers only, read back with
``weights_only=True``: loading a bundle never executes code from it.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path

import torch
import yaml
from torch import nn

from semcorr_core import __version__
from semcorr_core.atomic_file import atomic_path
from semcorr_core.errors import InputError, ModelFileError
from semcorr_core.models.model_file import read_model_file

BUNDLE_FORMAT = "semcorr-bundle"
BUNDLE_VERSION = 1

#: Shipped default bundles, ``embed3d_<category>.pt``, written by ``make models``
#: (``scripts/train_default_models.sh``: ``semcorr train embed3d`` with the committed configs).
DEFAULT_BUNDLE_DIR = Path(__file__).resolve().parent / "default"


@dataclass
class Prototype:
    """Keypoint database of a category in its canonical frame (metres).

    keypoint_embeddings[k] describes keypoint_names[k]; dense_points / dense_embeddings sample the
    canonical shape so that any canonical point (e.g. a keypoint added later to the category file)
    can be reached through the dense correspondence.
    """

    keypoint_names: tuple[str, ...]
    keypoints: torch.Tensor  # (K, 3)
    keypoint_embeddings: torch.Tensor  # (K, D)
    dense_points: torch.Tensor  # (M, 3)
    dense_embeddings: torch.Tensor  # (M, D)

    def __post_init__(self) -> None:
        k, d = len(self.keypoint_names), self.keypoint_embeddings.shape[-1]
        if self.keypoints.shape != (k, 3) or self.keypoint_embeddings.shape != (k, d):
            raise InputError(
                f"prototype keypoints must be ({k}, 3) and embeddings ({k}, D) for {k} names; "
                f"got {tuple(self.keypoints.shape)} and {tuple(self.keypoint_embeddings.shape)}"
            )
        m = self.dense_points.shape[0]
        if self.dense_points.shape != (m, 3) or self.dense_embeddings.shape != (m, d):
            raise InputError(
                f"dense prototype must be (M, 3) points and (M, {d}) embeddings; "
                f"got {tuple(self.dense_points.shape)} and {tuple(self.dense_embeddings.shape)}"
            )

    def to_dict(self) -> dict:
        return {
            "keypoint_names": list(self.keypoint_names),
            "keypoints": self.keypoints.detach().cpu().float(),
            "keypoint_embeddings": self.keypoint_embeddings.detach().cpu().float(),
            "dense_points": self.dense_points.detach().cpu().float(),
            "dense_embeddings": self.dense_embeddings.detach().cpu().float(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Prototype":
        return cls(tuple(d["keypoint_names"]), d["keypoints"], d["keypoint_embeddings"],
                   d["dense_points"], d["dense_embeddings"])


@dataclass
class ModelBundle:
    category: str
    model_name: str
    model_kwargs: dict
    state_dict: dict[str, torch.Tensor]
    category_yaml: str
    prototype: Prototype
    metadata: dict = field(default_factory=dict)

    def build_model(self, device: str | torch.device = "cpu") -> nn.Module:
        """Instantiate the network with the bundle's weights, in eval mode, on ``device``."""
        from semcorr_core.models import build_embedding_model

        model = build_embedding_model(self.model_name, **self.model_kwargs)
        try:
            model.load_state_dict(self.state_dict)
        except RuntimeError as e:
            raise ModelFileError(
                f"bundle weights do not fit model {self.model_name!r} with {self.model_kwargs}: {e}"
            ) from None
        return model.to(device).eval()

    @property
    def category_spec(self) -> dict:
        return yaml.safe_load(self.category_yaml)


def save_bundle(path: str | Path, bundle: ModelBundle) -> Path:
    """Write ``bundle`` atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"semcorr_version": __version__,
            "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            **bundle.metadata}
    payload = {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "category": bundle.category,
        "model": {"name": bundle.model_name, "kwargs": dict(bundle.model_kwargs),
                  "state_dict": {k: v.detach().cpu() for k, v in bundle.state_dict.items()}},
        "category_yaml": bundle.category_yaml,
        "prototype": bundle.prototype.to_dict(),
        "metadata": meta,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_bundle(path: str | Path, category: str | None = None) -> ModelBundle:
    """Read a bundle; with ``category`` given, refuse a bundle made for another one.

    Raises :class:`ModelFileError` naming the file and what to do for a missing, corrupt,
    foreign-format, other-version or other-category file.
    """
    path = Path(path)
    d = read_model_file(path, what="model bundle", file_format=BUNDLE_FORMAT, version=BUNDLE_VERSION,
                        remedy="retrain with `semcorr train embed3d`", category=category)
    try:
        return ModelBundle(
            category=d["category"],
            model_name=d["model"]["name"],
            model_kwargs=dict(d["model"]["kwargs"]),
            state_dict=dict(d["model"]["state_dict"]),
            category_yaml=d["category_yaml"],
            prototype=Prototype.from_dict(d["prototype"]),
            metadata=dict(d.get("metadata", {})),
        )
    except (KeyError, TypeError, InputError) as e:
        raise ModelFileError(f"{path} is an incomplete model bundle: {e}") from None


def default_bundle_path(category: str) -> Path:
    """The shipped embedding bundle of ``category``; :class:`ModelFileError` when none ships."""
    from semcorr_core.data.categories import get_category

    name = get_category(category).name  # UnknownCategoryError names the known categories
    path = DEFAULT_BUNDLE_DIR / f"embed3d_{name}.pt"
    if not path.is_file():
        raise ModelFileError(f"no shipped model for {name!r} at {path}; produce it with `make models` "
                             "(scripts/train_default_models.sh) or pass a bundle of your own")
    return path


def category_yaml(category: str) -> str:
    """The human-readable category file text for ``category`` (from the category registry)."""
    from semcorr_core.data.categories import get_category

    return yaml.safe_dump(get_category(category).to_dict(), sort_keys=False)
