"""``semcorr train embed3d``: per-point 3D embeddings, then the category's keypoint database,
saved as one model bundle.

Losses (``loss`` section, weights may be combined):

* ``canonical_ce_weight`` - :mod:`semcorr_core.losses.canonical_ce`: every point classified
  against descriptors of canonical places (farthest-point surface anchors + the seen keypoints),
  soft labels from the exact canonical coordinates (seed 004 Eq. 4 made dense);
* ``keypoint_retrieval_weight`` - :mod:`semcorr_core.losses.keypoint_retrieval`: the keypoint
  classes' descriptors of that head must rank each cloud's points with the keypoint's own place
  first (softmax over the points), the ranking nearest-embedding transfer uses; needs the head.
  With it on, the prototype's keypoint embeddings are those descriptors (``prototype.keypoints:
  descriptors``) rather than the mean embedding at the keypoint over reference instances (``mean``);
* ``cpnet_weight`` - seed 000 pull + geodesic push over the keypoint (and dense) correspondence sets.

Input frame: clouds are *gravity-aligned* (z = support-plane normal, which the RGB-D pipeline
gets from its plane fit; objects of these categories stand on a support). Complete clouds get a
random rotation about z; partial views are rendered and expressed in :func:`gravity_frame` (x
along the optical axis, so the viewer is always on the -x side); on top, every training batch is
tilted by up to ``data.tilt_deg`` (plane-fit error) and complete clouds are turned by a random
heading (``data.partial_heading: random`` turns partial views too, discarding the viewer's side).
The network must therefore cope with heading only, not with all of SO(3).

Run config sections (see ``training/configs/embed3d/base.yaml``): ``data`` (PointCloudDataset
arguments), ``model`` (registry name, out_dim), ``loss``, ``prototype``, ``train`` (Trainer).
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from semcorr_core.data.point_clouds import PointCloudDataset, collate, complete_cloud, prepare_shape
from semcorr_core.data.shapes import generate_shapes
from semcorr_core.data.categories import get_category
from semcorr_core.errors import ModelFileError
from semcorr_core.losses import DenseCanonicalCrossEntropy, GeodesicConsistencyLoss, KeypointRetrieval
from semcorr_core.models import build_embedding_model
from semcorr_core.models.bundle import ModelBundle, Prototype, category_yaml, save_bundle
from semcorr_core.training.config import ConfigError, config_hash
from semcorr_core.training.dense_sets import CanonicalSpace, DenseCorrespondenceSets
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
        rotation=str(data.get("rotation", "z")),
        frame=str(data.get("frame", "gravity")),
        cache=bool(data.get("cache", True)),
    )


def random_upright_rotations(batch: int, max_tilt_deg: float, *, generator: torch.Generator | None = None,
                             device: torch.device | str = "cpu",
                             random_heading: torch.Tensor | None = None) -> torch.Tensor:
    """``(B, 3, 3)`` rotations: a uniform heading about +z, then a tilt by an angle uniform in
    ``[0, max_tilt_deg]`` about a random horizontal axis (the error of a support-plane fit).
    ``random_heading`` (``(B,)`` bool, default all True): where False, no heading turn (tilt only)."""
    u = torch.rand(batch, 3, generator=generator)
    yaw = 2 * math.pi * u[:, 0]
    if random_heading is not None:
        yaw = torch.where(torch.as_tensor(random_heading, dtype=torch.bool).cpu(), yaw, torch.zeros_like(yaw))
    c, s = yaw.cos(), yaw.sin()
    zero, one = torch.zeros_like(c), torch.ones_like(c)
    Rz = torch.stack([c, -s, zero, s, c, zero, zero, zero, one], -1).view(batch, 3, 3)
    tilt = math.radians(float(max_tilt_deg)) * u[:, 1]
    axis_angle = 2 * math.pi * u[:, 2]
    k = torch.stack([axis_angle.cos(), axis_angle.sin(), zero], -1)  # unit horizontal axis
    K = torch.zeros(batch, 3, 3)
    K[:, 0, 2], K[:, 1, 2] = k[:, 1], -k[:, 0]
    K[:, 2, 0], K[:, 2, 1] = -k[:, 1], k[:, 0]
    st, ct = tilt.sin()[:, None, None], tilt.cos()[:, None, None]
    Rt = torch.eye(3).expand(batch, 3, 3) + st * K + (1 - ct) * (K @ K)  # Rodrigues
    return (Rt @ Rz).to(device)


class _EmbeddingWithHeads(nn.Module):
    """The embedding network plus the loss modules that own parameters, so one optimiser (and
    DDP) sees them all; only ``model`` goes into the bundle."""

    def __init__(self, model: nn.Module, canonical_ce: nn.Module | None, retrieval: nn.Module | None = None) -> None:
        super().__init__()
        self.model = model
        self.canonical_ce = canonical_ce
        self.retrieval = retrieval

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        return self.model(points)


def stretch_to_keypoints(points: np.ndarray, from_keypoints: np.ndarray, to_keypoints: np.ndarray,
                         rotation_symmetric: bool = False) -> np.ndarray:
    """``(M, 3)`` canonical ``points`` of one instance warped along the canonical axes so that its
    keypoints ``from_keypoints`` ``(K, 3)`` land on (or, in x and y, as near as a scale allows)
    ``to_keypoints`` (the prototype's, e.g. the mean over instances). Heights: piecewise linear
    through the keypoints' heights (exact at each; above the highest, the highest keypoint's ratio).
    x and y: one least-squares scale each over the keypoints off the axis (one for both when
    ``rotation_symmetric``; the height ratio of the highest keypoint when no keypoint is off the
    axis). NaN rows are ignored."""
    ok = np.isfinite(from_keypoints).all(1) & np.isfinite(to_keypoints).all(1)
    f, t = np.asarray(from_keypoints, np.float64)[ok], np.asarray(to_keypoints, np.float64)[ok]
    p = np.asarray(points, np.float64).copy()
    if len(f) == 0:
        return p
    heights, order = np.unique(f[:, 2], return_inverse=True)
    targets = np.array([t[order == i, 2].mean() for i in range(len(heights))])
    top, top_to = heights[-1], targets[-1]
    ratio = top_to / top if top > 1e-9 else 1.0
    z = p[:, 2]
    p[:, 2] = np.where(z > top, z * ratio, np.interp(z, heights, targets) if len(heights) > 1 else z * ratio)
    scales = []
    for axes in ([(0, 1)] if rotation_symmetric else [(0,), (1,)]):
        a, b = f[:, list(axes)], t[:, list(axes)]
        den = float((a * a).sum())
        scales.append(float((a * b).sum()) / den if den > 1e-8 else None)
    known = [x for x in scales if x is not None]
    fallback = float(np.mean(known)) if known else ratio
    sx, sy = (scales * 2)[:2] if rotation_symmetric else scales
    p[:, 0] *= sx if sx is not None else fallback
    p[:, 1] *= sy if sy is not None else fallback
    return p


def build_prototype(model: nn.Module, category: str, n_instances: int, seed: int, n_points: int,
                    dense_points: int, holdout: tuple[str, ...] = (), device: torch.device | str = "cpu",
                    descriptors: Mapping[int, torch.Tensor] | None = None) -> Prototype:
    """Keypoint database from training instances in their canonical frame.

    Seen keypoints: ``descriptors[k]`` where given (the learned descriptor of keypoint ``k``),
    else the mean (re-normalised) embedding of the keypoint's point over the
    ``n_instances`` reference clouds; their canonical position is the mean keypoint (the
    definition, e.g. the centre of a mug's rim, not its surface anchor) over those instances.
    Dense part: a ``dense_points`` cloud of the first reference instance with its embeddings, its
    canonical coordinates warped (:func:`stretch_to_keypoints`) so that that instance's keypoints
    meet the mean ones: an alignment fitted to the dense cloud then carries the mean keypoints to
    the right places (without it a bottle's ``cap_top`` landed ~5 cm off, the reference bottle
    being 31 cm tall and the mean 24 cm). Held-out keypoints get the embedding of the dense point
    nearest to their canonical anchor: they are reached through the dense correspondence only.
    """
    model.eval()
    shapes = generate_shapes(category, n_instances, seed)
    names = shapes[0].keypoint_names
    sums, keypoints = 0.0, []
    for i, shape in enumerate(shapes):
        s = complete_cloud(prepare_shape(shape), n_points, np.random.default_rng([seed, 7, i]), similarity=False)
        e = embed_points(model, s.points, device)
        present = (s.keypoint_index >= 0)[:, None]
        sums = sums + np.where(present, e[np.maximum(s.keypoint_index, 0)], 0.0)
        keypoints.append(s.keypoints)  # the definitions (an axis point may lie off the surface)
    kp_emb = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    dense = complete_cloud(prepare_shape(shapes[0]), dense_points, np.random.default_rng([seed, 8]), similarity=False)
    dense_emb = embed_points(model, dense.points, device)
    kp_canonical = np.nanmean(np.stack(keypoints), axis=0)
    for k, name in enumerate(names):
        if name in holdout:
            nearest = np.argmin(np.linalg.norm(dense.canonical - dense.anchors[k], axis=1))
            kp_emb[k] = dense_emb[nearest]
        elif descriptors is not None and k in descriptors:
            d = descriptors[k].detach().cpu().double().numpy()
            kp_emb[k] = d / max(np.linalg.norm(d), 1e-12)
    dense_canonical = stretch_to_keypoints(dense.canonical, dense.keypoints, kp_canonical,
                                           rotation_symmetric=get_category(category).symmetry.kind == "rotation_z")
    return Prototype(tuple(names), torch.as_tensor(kp_canonical, dtype=torch.float32),
                     torch.as_tensor(kp_emb, dtype=torch.float32),
                     torch.as_tensor(dense_canonical, dtype=torch.float32),
                     torch.as_tensor(dense_emb, dtype=torch.float32))


def _canonical_ce_head(dataset: PointCloudDataset, loss_cfg: Mapping[str, Any], out_dim: int,
                       seed: int) -> tuple[DenseCanonicalCrossEntropy, CanonicalSpace, torch.Tensor]:
    """The loss head, the canonical space, and the indices of the keypoint columns that are
    classes (the last ``len(indices)`` classes, in that order)."""
    symmetric = get_category(dataset.category).symmetry.kind == "rotation_z"
    seen = [k for k in range(len(dataset.keypoint_names)) if dataset.train_keypoint_mask[k]]
    heights = str(loss_cfg.get("canonical_heights", "box"))
    if heights not in ("box", "keypoints"):
        raise ConfigError(f"loss.canonical_heights must be 'box' or 'keypoints', got {heights!r}")
    # held-out keypoints are unlabelled in training: they cannot shape the space either
    space = CanonicalSpace(dataset.shapes, rotation_symmetric=symmetric,
                           height_keypoints=[dataset.keypoint_names[k] for k in seen] if heights == "keypoints" else ())
    kp = []
    for i in range(len(dataset.shapes)):
        a = dataset.prepared(i).anchors
        kp.append(space.positions(torch.as_tensor(a.xyz[seen], dtype=torch.float32)[None], torch.tensor([i]))[0])
    kp_pos = torch.nanmean(torch.stack(kp), 0)
    known = torch.isfinite(kp_pos).all(1)  # a keypoint no training shape has cannot be a class
    classes = space.class_positions(dataset.shapes[0], 0, int(loss_cfg.get("canonical_anchors", 256)), kp_pos[known],
                                    seed=seed)
    head = DenseCanonicalCrossEntropy(classes, out_dim, sigma=float(loss_cfg.get("canonical_sigma", 0.05)),
                                      generator=torch.Generator().manual_seed(seed))
    return head, space, torch.as_tensor(seen, dtype=torch.long)[known]


def _batch_class_positions(head: DenseCanonicalCrossEntropy, space: CanonicalSpace, keypoint_columns: torch.Tensor,
                           batch: dict) -> torch.Tensor:
    """``(B, C, P)``: the dense anchors as stored, and each keypoint class at *this* instance's own
    keypoint anchor (instances differ: a bottle's neck sits at another fraction of its height on
    every bottle), falling back to the mean position where the instance lacks the keypoint."""
    B = batch["anchors"].shape[0]
    classes = head.class_positions.to(batch["anchors"].device)
    k = len(keypoint_columns)
    if k == 0:
        return classes.expand(B, -1, -1)
    own = space.positions(batch["anchors"][:, keypoint_columns.to(batch["anchors"].device)], batch["shape_index"])
    mean = classes[-k:].expand(B, -1, -1)
    own = torch.where(torch.isfinite(own).all(-1, keepdim=True), own, mean)
    return torch.cat([classes[:-k].expand(B, -1, -1), own], dim=1)


def train_embed3d(cfg: Mapping[str, Any]) -> dict:
    """Train, build the prototype, write ``<out_dir>/bundle.pt``; returns a summary dict."""
    for section in ("data", "model", "loss", "prototype", "train"):
        if section not in cfg:
            raise ConfigError(f"embed3d config needs a {section!r} section (see training/configs/embed3d/base.yaml)")
    data, model_cfg, loss_cfg = cfg["data"], cfg["model"], cfg["loss"]
    seed = int(cfg["train"].get("seed", 0))
    torch.manual_seed(seed)
    dataset = build_dataset(data)
    model_kwargs = {"in_features": 3, "out_dim": int(model_cfg["out_dim"]), **dict(model_cfg.get("kwargs") or {})}
    model = build_embedding_model(model_cfg["name"], **model_kwargs)
    ce_weight = float(loss_cfg.get("canonical_ce_weight", 1.0))
    cpnet_weight = float(loss_cfg.get("cpnet_weight", 0.0))
    if ce_weight < 0 or cpnet_weight < 0 or ce_weight + cpnet_weight <= 0:
        raise ConfigError(f"loss.canonical_ce_weight ({ce_weight}) and loss.cpnet_weight ({cpnet_weight}) must be "
                          ">= 0 and not both 0")
    partial_heading = str(data.get("partial_heading", "camera"))
    if partial_heading not in ("camera", "random"):
        raise ConfigError(f"data.partial_heading must be 'camera' or 'random', got {partial_heading!r}")
    tilt_deg = float(data.get("tilt_deg", 0.0))
    if not 0 <= tilt_deg <= 90:
        raise ConfigError(f"data.tilt_deg must be in [0, 90] degrees, got {tilt_deg}")

    ce_head, space, kp_columns = (_canonical_ce_head(dataset, loss_cfg, model_kwargs["out_dim"], seed) if ce_weight > 0
                                  else (None, None, None))
    retrieval_weight = float(loss_cfg.get("keypoint_retrieval_weight", 0.0))
    if retrieval_weight < 0 or (retrieval_weight > 0 and ce_head is None):
        raise ConfigError(f"loss.keypoint_retrieval_weight ({retrieval_weight}) must be >= 0, and needs "
                          "loss.canonical_ce_weight > 0 (it ranks points with that head's keypoint descriptors)")
    retrieval = (KeypointRetrieval(sigma=float(loss_cfg.get("keypoint_retrieval_sigma", ce_head.sigma)))
                 if retrieval_weight > 0 else None)
    criterion, dense = None, None
    if cpnet_weight > 0:
        set_distance = dataset.set_distance
        if int(data.get("dense_sets", 0)) > 0:
            dense = DenseCorrespondenceSets(dataset.shapes, int(data["dense_sets"]), float(data.get("dense_tol", 0.05)),
                                            seed=int(data["seed"]))
            kp_pos = torch.as_tensor(np.nanmean(np.stack([s.keypoint_array for s in dataset.shapes]), 0))
            set_distance = dense.extend_set_distance(set_distance, kp_pos)
        # Margins come in metres but unit-norm embeddings live on a sphere of diameter 2: rescale so
        # the farthest pair of sets gets `margin_scale` (metre margins let pull and push balance at collapse).
        scale = float(loss_cfg.get("margin_scale", 0.0))
        if scale > 0:
            set_distance = set_distance * (scale / set_distance.max().clamp_min(1e-9))
        criterion = GeodesicConsistencyLoss(set_distance, push_weight=float(loss_cfg.get("push_weight", 1.0)),
                                            hard_negatives=bool(loss_cfg.get("hard_negatives", True)))
    trainable = _EmbeddingWithHeads(model, ce_head, retrieval)

    def loss_fn(m: nn.Module, batch: dict) -> tuple[torch.Tensor, dict]:
        pts = batch["points"]
        # A partial view keeps its gravity frame's heading: x is the optical axis there (as at run
        # time), the one cue to a hidden part's side (a mug whose handle is out of sight has it
        # at the back). Complete clouds have no viewer: any heading.
        turn = (None if partial_heading == "random"
                else torch.tensor([mode != "partial" for mode in batch["mode"]], dtype=torch.bool))
        R = random_upright_rotations(len(pts), tilt_deg, device=pts.device, random_heading=turn)
        emb = m(normalise_clouds(pts @ R.transpose(1, 2)))
        loss = emb.new_zeros(())
        scalars = {}
        if ce_head is not None:
            positions = space.positions(batch["canonical"], batch["shape_index"])
            classes = _batch_class_positions(ce_head, space, kp_columns, batch)
            ce = trainable.canonical_ce(emb, positions, class_positions=classes)
            loss = loss + ce_weight * ce
            scalars.update(canonical_ce=float(ce.detach()), temperature=float(trainable.canonical_ce.temperature.detach()))
            if retrieval is not None and len(kp_columns):
                k = len(kp_columns)
                valid = batch["keypoint_index"][:, kp_columns.to(pts.device)] >= 0
                kr = trainable.retrieval(emb, trainable.canonical_ce.descriptors[-k:], positions, classes[:, -k:],
                                         valid=valid)
                loss = loss + retrieval_weight * kr
                scalars.update(keypoint_retrieval=float(kr.detach()))
        if criterion is not None:
            sets = batch["keypoint_index"]
            if dense is not None:
                sets = torch.cat([sets, dense.index(batch["canonical"], batch["shape_index"])], dim=1)
            out = criterion.to(pts.device)(emb, sets)
            loss = loss + cpnet_weight * out.loss
            scalars.update(pull=float(out.pull.detach()), push=float(out.push.detach()))
        return loss, scalars

    with DistributedContext.from_env(str(cfg["train"].get("device", "auto"))) as ctx:
        trainer = Trainer.from_run_config(cfg, model=trainable, loss_fn=loss_fn, dataset=dataset, collate_fn=collate,
                                          context=ctx)
        history = trainer.fit()
        summary = {"losses": list(history.losses), "out_dir": str(trainer.out_dir)}
        if ctx.is_main:
            descriptors = None
            if retrieval is not None and str(cfg["prototype"].get("keypoints", "descriptors")) == "descriptors":
                learned = trainable.canonical_ce.descriptors[-len(kp_columns):] if len(kp_columns) else []
                descriptors = {int(c): d for c, d in zip(kp_columns.tolist(), learned)}
            summary["bundle"] = str(_write_bundle(cfg, model, model_kwargs, history.losses, ctx.device, descriptors))
            log.info("wrote %s", summary["bundle"])
    return summary


def _prototype_from_config(cfg: Mapping[str, Any], model: nn.Module, device,
                           descriptors: Mapping[int, torch.Tensor] | None) -> Prototype:
    data, proto_cfg = cfg["data"], cfg["prototype"]
    holdout = tuple(data.get("holdout_keypoints") or ())
    return build_prototype(model, data["category"], int(proto_cfg["reference_instances"]), int(data["seed"]),
                           int(data["n_points"]), int(proto_cfg["dense_points"]), holdout,
                           device=device, descriptors=descriptors)


def rebuild_prototype(bundle: ModelBundle, device: torch.device | str = "cpu") -> ModelBundle:
    """The bundle with its prototype built again from its own weights and training config (the
    same :func:`build_prototype` call training ends with; learned keypoint descriptors are kept).
    For bundles written before a change to how prototypes are built."""
    cfg = bundle.metadata.get("config")
    if not isinstance(cfg, Mapping) or "data" not in cfg or "prototype" not in cfg:
        raise ModelFileError("this bundle carries no training config (metadata.config); its prototype cannot be rebuilt")
    holdout = set(cfg["data"].get("holdout_keypoints") or ())
    descriptors = {k: bundle.prototype.keypoint_embeddings[k] for k, n in enumerate(bundle.prototype.keypoint_names)
                   if n not in holdout}
    prototype = _prototype_from_config(cfg, bundle.build_model(device), device, descriptors)
    return replace(bundle, prototype=prototype)


def _write_bundle(cfg: Mapping[str, Any], model: nn.Module, model_kwargs: dict, losses, device,
                  descriptors: Mapping[int, torch.Tensor] | None = None) -> Path:
    data, model_cfg = cfg["data"], cfg["model"]
    holdout = tuple(data.get("holdout_keypoints") or ())
    prototype = _prototype_from_config(cfg, model, device, descriptors)
    bundle = ModelBundle(
        category=data["category"], model_name=model_cfg["name"], model_kwargs=model_kwargs,
        state_dict={k: v.detach().cpu() for k, v in model.state_dict().items()},
        category_yaml=category_yaml(data["category"]), prototype=prototype,
        metadata={"config_hash": config_hash(cfg), "config": dict(cfg), "holdout_keypoints": list(holdout),
                  "input_frame": "gravity" if str(data.get("rotation", "z")) == "z" else "any",
                  "train_losses": list(losses)},
    )
    return save_bundle(Path(cfg["train"]["out_dir"]) / "bundle.pt", bundle)
