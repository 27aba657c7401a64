"""``semcorr train embed3d``: per-point 3D embeddings from keypoint correspondence sets (seed 000
pull + geodesic push losses), then the category's keypoint database, saved as one model bundle.

Run config sections (see ``training/configs/embed3d/base.yaml``): ``data`` (PointCloudDataset
arguments), ``model`` (registry name, out_dim), ``loss``, ``prototype``, ``train`` (Trainer).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from semcorr_core.data.point_clouds import PointCloudDataset, collate, complete_cloud, prepare_shape
from semcorr_core.data.shapes import generate_shapes
from semcorr_core.losses import GeodesicConsistencyLoss
from semcorr_core.models import build_embedding_model
from semcorr_core.models.bundle import ModelBundle, Prototype, category_yaml, save_bundle
from semcorr_core.training.config import ConfigError, config_hash
from semcorr_core.training.dense_sets import DenseCorrespondenceSets
from semcorr_core.training.distributed import DistributedContext
from semcorr_core.training.loop import Trainer

log = logging.getLogger(__name__)


def normalise_clouds(points: torch.Tensor) -> torch.Tensor:
    """(B, N, 3) -> centred clouds scaled to unit RMS radius: objects are centimetres in metres,
    too small a signal next to the network's biases, and category instances differ in size."""
    centred = points - points.mean(dim=1, keepdim=True)
    rms = centred.pow(2).sum(-1).mean(-1).sqrt().clamp_min(1e-9)
    return centred / rms[:, None, None]


def embed_points(model: nn.Module, points: np.ndarray, device: torch.device | str = "cpu") -> np.ndarray:
    """(N, 3) points -> (N, D) embeddings, normalised exactly as in training."""
    p = normalise_clouds(torch.as_tensor(points, dtype=torch.float32, device=device)[None])
    with torch.no_grad():
        return model(p)[0].cpu().numpy()


def build_dataset(data: Mapping[str, Any]) -> PointCloudDataset:
    return PointCloudDataset(
        data["category"],
        n_instances=int(data["n_instances"]),
        seed=int(data["seed"]),
        n_points=int(data["n_points"]),
        mode=data.get("mode", "mixed"),
        length=int(data["length"]),
        holdout_keypoints=tuple(data.get("holdout_keypoints") or ()),
        partial_fraction=float(data.get("partial_fraction", 0.5)),
    )


def build_prototype(model: nn.Module, category: str, n_instances: int, seed: int, n_points: int,
                    dense_points: int, holdout: tuple[str, ...] = (), device: torch.device | str = "cpu") -> Prototype:
    """Keypoint database from training instances in their canonical frame.

    Seen keypoints: the mean (re-normalised) embedding of the keypoint's point over the
    ``n_instances`` reference clouds. Dense part: a ``dense_points`` cloud of the first reference
    instance with its embeddings. Held-out keypoints get the embedding of the dense point nearest
    to their canonical anchor: they are reached through the dense correspondence only.
    """
    model.eval()
    shapes = generate_shapes(category, n_instances, seed)
    names = shapes[0].keypoint_names
    sums, anchors = 0.0, []
    for i, shape in enumerate(shapes):
        s = complete_cloud(prepare_shape(shape), n_points, np.random.default_rng([seed, 7, i]), similarity=False)
        e = embed_points(model, s.points, device)
        present = (s.keypoint_index >= 0)[:, None]
        sums = sums + np.where(present, e[np.maximum(s.keypoint_index, 0)], 0.0)
        anchors.append(s.anchors)
    kp_emb = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    dense = complete_cloud(prepare_shape(shapes[0]), dense_points, np.random.default_rng([seed, 8]), similarity=False)
    dense_emb = embed_points(model, dense.points, device)
    kp_canonical = np.nanmean(np.stack(anchors), axis=0)
    for k, name in enumerate(names):
        if name in holdout:
            nearest = np.argmin(np.linalg.norm(dense.canonical - dense.anchors[k], axis=1))
            kp_emb[k] = dense_emb[nearest]
    return Prototype(tuple(names), torch.as_tensor(kp_canonical, dtype=torch.float32),
                     torch.as_tensor(kp_emb, dtype=torch.float32),
                     torch.as_tensor(dense.canonical, dtype=torch.float32),
                     torch.as_tensor(dense_emb, dtype=torch.float32))


def train_embed3d(cfg: Mapping[str, Any]) -> dict:
    """Train, build the prototype, write ``<out_dir>/bundle.pt``; returns a summary dict."""
    for section in ("data", "model", "loss", "prototype", "train"):
        if section not in cfg:
            raise ConfigError(f"embed3d config needs a {section!r} section (see training/configs/embed3d/base.yaml)")
    data, model_cfg, loss_cfg = cfg["data"], cfg["model"], cfg["loss"]
    torch.manual_seed(int(cfg["train"].get("seed", 0)))
    dataset = build_dataset(data)
    model_kwargs = {"in_features": 3, "out_dim": int(model_cfg["out_dim"]), **dict(model_cfg.get("kwargs") or {})}
    model = build_embedding_model(model_cfg["name"], **model_kwargs)
    set_distance = dataset.set_distance
    dense = None
    if int(data.get("dense_sets", 0)) > 0:
        dense = DenseCorrespondenceSets(dataset.shapes, int(data["dense_sets"]), float(data.get("dense_tol", 0.05)),
                                        seed=int(data["seed"]))
        kp_pos = torch.as_tensor(np.nanmean(np.stack([s.keypoint_array for s in dataset.shapes]), 0))
        set_distance = dense.extend_set_distance(set_distance, kp_pos)
    # Margins come in metres but unit-norm embeddings live on a sphere of diameter 2: rescale so the
    # farthest pair of sets gets `margin_scale` (metre margins let pull and push balance at collapse).
    scale = float(loss_cfg.get("margin_scale", 0.0))
    if scale > 0:
        set_distance = set_distance * (scale / set_distance.max().clamp_min(1e-9))
    criterion = GeodesicConsistencyLoss(set_distance, push_weight=float(loss_cfg.get("push_weight", 1.0)),
                                        hard_negatives=bool(loss_cfg.get("hard_negatives", True)))

    def loss_fn(m: nn.Module, batch: dict) -> tuple[torch.Tensor, dict]:
        sets = batch["keypoint_index"]
        if dense is not None:
            sets = torch.cat([sets, dense.index(batch["canonical"], batch["shape_index"])], dim=1)
        out = criterion.to(batch["points"].device)(m(normalise_clouds(batch["points"])), sets)
        return out.loss, {"pull": float(out.pull.detach()), "push": float(out.push.detach())}

    with DistributedContext.from_env(str(cfg["train"].get("device", "auto"))) as ctx:
        trainer = Trainer.from_run_config(cfg, model=model, loss_fn=loss_fn, dataset=dataset, collate_fn=collate,
                                          context=ctx)
        history = trainer.fit()
        summary = {"losses": list(history.losses), "out_dir": str(trainer.out_dir)}
        if ctx.is_main:
            summary["bundle"] = str(_write_bundle(cfg, model, model_kwargs, history.losses, ctx.device))
            log.info("wrote %s", summary["bundle"])
    return summary


def _write_bundle(cfg: Mapping[str, Any], model: nn.Module, model_kwargs: dict, losses, device) -> Path:
    data, model_cfg = cfg["data"], cfg["model"]
    proto_cfg = cfg["prototype"]
    holdout = tuple(data.get("holdout_keypoints") or ())
    prototype = build_prototype(model, data["category"], int(proto_cfg["reference_instances"]), int(data["seed"]),
                                int(data["n_points"]), int(proto_cfg["dense_points"]), holdout,
                                device=device)
    bundle = ModelBundle(
        category=data["category"], model_name=model_cfg["name"], model_kwargs=model_kwargs,
        state_dict={k: v.detach().cpu() for k, v in model.state_dict().items()},
        category_yaml=category_yaml(data["category"]), prototype=prototype,
        metadata={"config_hash": config_hash(cfg), "config": dict(cfg), "holdout_keypoints": list(holdout),
                  "train_losses": list(losses)},
    )
    return save_bundle(Path(cfg["train"]["out_dir"]) / "bundle.pt", bundle)
