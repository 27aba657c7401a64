"""``semcorr train dense2d``: 2D dense descriptors over RGB-D object crops, paired with a 3D bundle.

Data: tabletop frames rendered from the *training* instances (the 3D bundle's
``data.seed`` / ``data.n_instances``, never the benchmark's held-out ones), the pipeline bench's
scene settings (elevation 5-80°, 0-4 distractors, sensor noise), one crop per category object
(:mod:`semcorr_core.data.object_crop`, box jittered as a segmenter's would be). Every crop pixel
has its exact canonical coordinate from the renderer; each instance's canonical coordinates are
warped onto the paired bundle's prototype (:func:`~semcorr_core.training.embed3d.stretch_to_keypoints`,
the warp that made the prototype's dense cloud), so all instances share one frame.

Losses (``loss`` section):

* ``canonical_ce_weight`` - :mod:`semcorr_core.losses.canonical_ce` on sampled pixels against
  ``classes`` farthest-point places of the prototype's dense cloud plus the prototype's keypoints
  (seed 004 Eq. 4 made dense); its class descriptors ``z`` and temperature are the keys of the
  Eq. 5 attention head, and the keypoint classes' descriptors are the 2D keypoint descriptors;
* ``contrastive_weight`` - :mod:`semcorr_core.losses.pixel_contrastive` between the two crops of
  each pair (always two different instances).

Positions compared in both losses are prototype coordinates over the prototype's diagonal, or
``(r, z)`` over it for a rotation-symmetric category (the symmetry the category declares: the
azimuth of a can's point carries no meaning, so it is not a target).

After training, each dense prototype point gets the 2D descriptor its position's soft class
label weights (``sum_c q_c z_c``, normalised), and a validation split of other instances measures
the head: median canonical error of nearest-descriptor matching and of Eq. 5 (metres, modulo the
category's rotation symmetry). Everything goes into ``<out_dir>/dense2d.pt``.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from semcorr_core.data.categories import get_category
from semcorr_core.data.object_crop import crop_box, crop_inputs, crop_pixels
from semcorr_core.data.render import RaycastRenderer
from semcorr_core.data.render.noise import DepthNoiseConfig
from semcorr_core.data.render.scene import SceneConfig, sample_scene
from semcorr_core.data.shapes import generate_shapes
from semcorr_core.geometry import farthest_point_sampling
from semcorr_core.losses import DenseCanonicalCrossEntropy, pixel_contrastive_loss, soft_canonical_targets
from semcorr_core.models.bundle import Prototype, load_bundle
from semcorr_core.models.dense2d import DenseDescriptorNet, canonical_attention
from semcorr_core.models.dense2d_bundle import Dense2DBundle, prototype_fingerprint, save_dense2d_bundle
from semcorr_core.training.config import ConfigError, config_hash
from semcorr_core.training.distributed import DistributedContext
from semcorr_core.training.embed3d import stretch_to_keypoints
from semcorr_core.training.loop import Trainer

log = logging.getLogger(__name__)

__all__ = ["RenderedCropPairs", "prototype_positions", "render_crops", "train_dense2d", "dense_descriptors"]


def prototype_positions(points: torch.Tensor, rotation_symmetric: bool, diagonal: float) -> torch.Tensor:
    """``(..., 3)`` prototype-frame points -> the positions the losses compare: xyz, or ``(r, z)``
    for a rotation-symmetric category, over the prototype's bounding-box ``diagonal``."""
    if rotation_symmetric:
        return torch.stack([points[..., :2].norm(dim=-1), points[..., 2]], dim=-1) / diagonal
    return points / diagonal


def render_crops(category: str, shapes, prototype: Prototype, n_frames: int, seed: int, crop_size: int,
                 crop_margin: float, jitter: float = 0.05, scale_jitter: float = 0.1,
                 min_pixels: int = 150) -> dict[str, np.ndarray]:
    """Render ``n_frames`` frames (one category object each, the bench's scene settings) and crop
    it. Returns ``inputs (F, 5, S, S)`` float32, ``canonical (F, S, S, 3)`` float32 prototype-frame
    coordinates (NaN off the object or without depth) and ``shape_index (F,)``; frames whose
    object shows fewer than ``min_pixels`` valid pixels are skipped."""
    rotation_symmetric = get_category(category).symmetry.kind == "rotation_z"
    proto_kp = prototype.keypoints.numpy().astype(np.float64)
    names = prototype.keypoint_names
    cfg = SceneConfig(width=640, height=480, objects_per_scene=(1, 1), distractors_per_scene=(0, 4),
                      elevation_deg=(5.0, 80.0))
    renderer = RaycastRenderer(cfg.camera())
    inputs, canon, index = [], [], []
    for f in range(n_frames):
        rng = np.random.default_rng([seed, 0x2D, f])
        si = f % len(shapes)
        shape = shapes[si]
        frame = renderer.render(sample_scene([], rng, cfg, primary=shape), rng, DepthNoiseConfig(enabled=True))
        ann = frame.objects[0]
        mask = (frame.instance_mask == ann.instance_index) & (frame.depth > 0)
        if int(mask.sum()) < min_pixels:
            continue
        j = np.array([rng.uniform(-jitter, jitter), rng.uniform(-jitter, jitter),
                      rng.uniform(-scale_jitter, scale_jitter)])
        box = crop_box(mask, crop_size, crop_margin, jitter=j)
        inputs.append(crop_inputs(frame.color, frame.depth, mask, box, frame.camera.fx))
        rr, cc, inside = crop_pixels(box, mask.shape)
        c = frame.canonical[rr, cc].astype(np.float64)
        ok = inside & mask[rr, cc] & np.isfinite(c).all(-1)
        inst_kp = np.array([shape.keypoints[n] for n in names], np.float64)
        warped = np.full(c.shape, np.nan)
        warped[ok] = stretch_to_keypoints(c[ok], inst_kp, proto_kp, rotation_symmetric=rotation_symmetric)
        canon.append(warped.astype(np.float32))
        index.append(si)
    if not inputs:
        raise ConfigError(f"no usable {category} crops in {n_frames} rendered frames; raise data.frames")
    return {"inputs": np.stack(inputs), "canonical": np.stack(canon), "shape_index": np.asarray(index)}


class RenderedCropPairs(Dataset):
    """Pairs of crops of two different instances: item ``i`` is crop ``i`` and a partner drawn
    (seeded) among the crops of other instances. Each side carries ``inputs (5, S, S)``,
    ``canonical (S, S, 3)`` (NaN where unknown)."""

    def __init__(self, crops: Mapping[str, np.ndarray], seed: int = 0) -> None:
        self.inputs = torch.as_tensor(crops["inputs"])
        self.canonical = torch.as_tensor(crops["canonical"])
        idx = np.asarray(crops["shape_index"])
        rng = np.random.default_rng([seed, 0x9A])
        partners = []
        for i in range(len(idx)):
            others = np.flatnonzero(idx != idx[i])
            partners.append(int(rng.choice(others)) if len(others) else i)
        self.partners = np.asarray(partners)

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, i: int) -> dict:
        j = int(self.partners[i])
        return {"inputs_a": self.inputs[i], "canonical_a": self.canonical[i],
                "inputs_b": self.inputs[j], "canonical_b": self.canonical[j]}


def _sample_pixels(canonical: torch.Tensor, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B, S, S, 3)`` -> flat pixel indices ``(B, n)`` of valid pixels (with repeats where fewer)
    and their validity ``(B, n)``."""
    B = canonical.shape[0]
    valid = torch.isfinite(canonical).all(-1).reshape(B, -1)
    weights = valid.float() + 1e-12  # multinomial needs some mass on every row
    idx = torch.multinomial(weights.cpu(), n, replacement=True, generator=generator).to(canonical.device)
    return idx, valid.gather(1, idx)


def _gather_pixels(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``(B, C, S, S)`` map, ``(B, n)`` flat indices -> ``(B, n, C)``."""
    flat = x.flatten(2)
    return flat.gather(2, idx[:, None].expand(-1, flat.shape[1], -1)).transpose(1, 2)


class _NetWithHead(nn.Module):
    def __init__(self, net: DenseDescriptorNet, head: DenseCanonicalCrossEntropy) -> None:
        super().__init__()
        self.net, self.head = net, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def dense_descriptors(head: DenseCanonicalCrossEntropy, dense_positions: torch.Tensor) -> torch.Tensor:
    """``(M, P)`` positions -> ``(M, D)`` unit descriptors ``sum_c q_c z_c`` (q: the soft class
    label of each position, the target its pixels were trained towards)."""
    with torch.no_grad():
        q = soft_canonical_targets(dense_positions[None].float(), head.class_positions, head.sigma)[0]
        return nn.functional.normalize(q @ nn.functional.normalize(head.descriptors, dim=-1), dim=-1)


def _symmetric_error(a: torch.Tensor, b: torch.Tensor, rotation_symmetric: bool) -> torch.Tensor:
    if rotation_symmetric:
        a = torch.stack([a[..., :2].norm(dim=-1), a[..., 2]], -1)
        b = torch.stack([b[..., :2].norm(dim=-1), b[..., 2]], -1)
    return (a - b).norm(dim=-1)


def validate(net: DenseDescriptorNet, head: DenseCanonicalCrossEntropy, crops: Mapping[str, np.ndarray],
             dense_points: torch.Tensor, dense_desc: torch.Tensor, class_points: torch.Tensor,
             rotation_symmetric: bool) -> dict:
    """Median canonical error (metres) over the valid pixels of ``crops``: nearest dense-prototype
    descriptor, and Eq. 5 attention over the classes (modulo the rotation symmetry)."""
    net.eval()
    nn_err, att_err = [], []
    with torch.no_grad():
        for k in range(0, len(crops["inputs"]), 32):
            x = torch.as_tensor(crops["inputs"][k:k + 32])
            gt = torch.as_tensor(crops["canonical"][k:k + 32])
            f = net(x).flatten(2).transpose(1, 2)  # (B, S*S, D)
            g = gt.reshape(len(x), -1, 3)
            ok = torch.isfinite(g).all(-1)
            for b in range(len(x)):
                fb, gb = f[b][ok[b]], g[b][ok[b]]
                if len(fb) == 0:
                    continue
                nearest = (fb @ dense_desc.T).argmax(-1)
                nn_err.append(_symmetric_error(dense_points[nearest], gb, rotation_symmetric))
                att, _ = canonical_attention(fb[None], head.descriptors, class_points, head.temperature)
                att_err.append(_symmetric_error(att[0], gb, rotation_symmetric))
    return {"pixels": int(sum(len(e) for e in nn_err)),
            "nearest_descriptor_median_m": float(torch.cat(nn_err).median()) if nn_err else None,
            "attention_eq5_median_m": float(torch.cat(att_err).median()) if att_err else None}


def train_dense2d(cfg: Mapping[str, Any]) -> dict:
    """Train, build the dense descriptors, validate, write ``<out_dir>/dense2d.pt``."""
    for section in ("data", "model", "loss", "train"):
        if section not in cfg:
            raise ConfigError(f"dense2d config needs a {section!r} section (see training/configs/dense2d/base.yaml)")
    data, model_cfg, loss_cfg = cfg["data"], cfg["model"], cfg["loss"]
    category = get_category(data["category"]).name
    if not data.get("bundle"):
        raise ConfigError("data.bundle must name the 3D embedding bundle the 2D descriptors pair with")
    bundle = load_bundle(data["bundle"], category=category)
    prototype = bundle.prototype
    rotation_symmetric = get_category(category).symmetry.kind == "rotation_z"
    seed = int(cfg["train"].get("seed", 0))
    torch.manual_seed(seed)
    crop_size, crop_margin = int(data["crop_size"]), float(data["crop_margin"])
    if crop_size % 8 or crop_size < 16:
        raise ConfigError(f"data.crop_size must be a multiple of 8 and >= 16, got {crop_size}")
    shapes_cfg = bundle.metadata.get("config", {}).get("data", {})
    n_instances = int(data.get("n_instances") or shapes_cfg.get("n_instances", 32))
    shape_seed = int(data.get("shape_seed") if data.get("shape_seed") is not None else shapes_cfg.get("seed", 0))
    shapes = generate_shapes(category, n_instances, shape_seed)
    log.info("rendering %d training frames of %d %s instances", int(data["frames"]), n_instances, category)
    crops = render_crops(category, shapes, prototype, int(data["frames"]), seed, crop_size, crop_margin,
                         jitter=float(data.get("box_jitter", 0.05)), scale_jitter=float(data.get("scale_jitter", 0.1)))
    dataset = RenderedCropPairs(crops, seed=seed)

    dense_points = prototype.dense_points.float()
    diagonal = float((dense_points.max(0).values - dense_points.min(0).values).norm())
    n_classes = int(loss_cfg.get("classes", 256))
    cls_idx = farthest_point_sampling(dense_points.numpy(), min(n_classes, len(dense_points)), seed=seed)
    # the prototype's keypoints are classes too (last K): their descriptors are the 2D keypoint descriptors
    keypoints = prototype.keypoints.float()
    class_points = torch.cat([dense_points[torch.as_tensor(cls_idx)], keypoints])
    head = DenseCanonicalCrossEntropy(prototype_positions(class_points, rotation_symmetric, diagonal),
                                      int(model_cfg["out_dim"]), sigma=float(loss_cfg.get("canonical_sigma", 0.03)),
                                      generator=torch.Generator().manual_seed(seed))
    model_kwargs = {"out_dim": int(model_cfg["out_dim"]), "width": int(model_cfg.get("width", 16))}
    net = DenseDescriptorNet(**model_kwargs)
    trainable = _NetWithHead(net, head)
    ce_w, con_w = float(loss_cfg.get("canonical_ce_weight", 1.0)), float(loss_cfg.get("contrastive_weight", 1.0))
    if ce_w < 0 or con_w < 0 or ce_w + con_w <= 0:
        raise ConfigError(f"loss.canonical_ce_weight ({ce_w}) and loss.contrastive_weight ({con_w}) must be >= 0, "
                          "not both 0")
    n_pix = int(loss_cfg.get("pixels_per_crop", 256))
    tol = float(loss_cfg.get("contrastive_tol", 0.02))
    con_tau = float(loss_cfg.get("contrastive_temperature", 0.1))
    gen = torch.Generator().manual_seed(seed)

    def loss_fn(m: nn.Module, batch: dict) -> tuple[torch.Tensor, dict]:
        x = torch.cat([batch["inputs_a"], batch["inputs_b"]])
        canon = torch.cat([batch["canonical_a"], batch["canonical_b"]])
        feats = m(x)
        idx, valid = _sample_pixels(canon, n_pix, gen)
        f = _gather_pixels(feats, idx)
        pts = _gather_pixels(canon.permute(0, 3, 1, 2), idx)
        pos = prototype_positions(torch.where(valid[..., None], pts, torch.zeros_like(pts)), rotation_symmetric,
                                  diagonal)
        loss, scalars = f.new_zeros(()), {}
        if ce_w > 0:
            ce = trainable.head(f, pos, valid=valid)
            loss = loss + ce_w * ce
            scalars["canonical_ce"] = float(ce.detach())
        if con_w > 0:
            B = batch["inputs_a"].shape[0]
            con = pixel_contrastive_loss(f[:B], f[B:], pos[:B], pos[B:], tol=tol / diagonal,
                                         temperature=con_tau, valid_a=valid[:B], valid_b=valid[B:])
            loss = loss + con_w * con
            scalars["contrastive"] = float(con.detach())
        return loss, scalars

    with DistributedContext.from_env(str(cfg["train"].get("device", "auto"))) as ctx:
        trainer = Trainer.from_run_config(cfg, model=trainable, loss_fn=loss_fn, dataset=dataset, context=ctx)
        history = trainer.fit()
        summary = {"losses": list(history.losses), "out_dir": str(trainer.out_dir)}
        if ctx.is_main:
            net.cpu().eval()
            head.cpu()
            dense_desc = dense_descriptors(head, prototype_positions(dense_points, rotation_symmetric, diagonal))
            val_shapes = generate_shapes(category, int(data.get("val_instances", 8)), shape_seed + 7919)
            val_crops = render_crops(category, val_shapes, prototype, int(data.get("val_frames", 48)), seed + 1,
                                     crop_size, crop_margin, jitter=0.0, scale_jitter=0.0)
            figures = validate(net, head, val_crops, dense_points, dense_desc, class_points, rotation_symmetric)
            log.info("validation: %s", figures)
            out = save_dense2d_bundle(Path(cfg["train"]["out_dir"]) / "dense2d.pt", Dense2DBundle(
                category=category, model_kwargs=model_kwargs,
                state_dict={k: v.detach().cpu() for k, v in net.state_dict().items()},
                crop_size=crop_size, crop_margin=crop_margin, class_descriptors=head.descriptors.detach(),
                class_points=class_points, temperature=float(head.temperature.detach()),
                dense_descriptors=dense_desc,
                keypoint_descriptors=nn.functional.normalize(head.descriptors.detach()[-len(keypoints):], dim=-1),
                prototype_fingerprint=prototype_fingerprint(prototype),
                metadata={"config_hash": config_hash(cfg), "config": dict(cfg), "train_losses": list(history.losses),
                          "validation": figures, "crops": int(len(dataset)),
                          "bundle_config_hash": bundle.metadata.get("config_hash")}))
            summary.update(bundle=str(out), validation=figures)
            log.info("wrote %s", out)
    return summary
