"""Alignment-energy refinement: it recovers a perturbed pose, picks the right start, refuses bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from semcorr_core.alignment.energy import EnergyConfig, mask_distance_transform, refine_upright_similarity
from semcorr_core.errors import InputError
from semcorr_core.geometry.camera import PinholeCamera
from semcorr_core.geometry.similarity import SimilarityTransform


def _rz(a):
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _scene(seed=0):
    """An L-shaped (not rotation-symmetric) object of boxes seen by a camera 0.6 m away, level with
    it: gravity z = camera -y, gravity x = camera z (optical axis), gravity y = camera -x."""
    rng = np.random.default_rng(seed)
    body = rng.uniform([-0.04, -0.04, 0.0], [0.04, 0.04, 0.10], (1500, 3))
    arm = rng.uniform([0.04, -0.01, 0.03], [0.08, 0.01, 0.08], (400, 3))
    surface = np.concatenate([body, arm])
    truth = SimilarityTransform(_rz(0.5), np.array([0.6, 0.0, -0.05]), 1.1)
    G = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])  # rows: gravity axes in camera
    cam = PinholeCamera(fx=500.0, fy=500.0, cx=320.0, cy=240.0, width=640, height=480)
    pts_g = truth.apply(surface)
    pts_c = pts_g @ G  # gravity -> camera (G orthonormal: p_c = G^T p_g)
    uv = np.rint(cam.project(pts_c)).astype(int)
    depth = np.zeros((480, 640), np.float32)
    order = np.argsort(-pts_c[:, 2])  # far first, near overwrite: a z-buffer
    depth[uv[order, 1], uv[order, 0]] = pts_c[order, 2]
    front = np.abs(depth[uv[:, 1], uv[:, 0]] - pts_c[:, 2]) < 1e-9
    mask = depth > 0
    return surface, truth, G, cam, depth, mask, pts_g[front], surface[front]


def _angle(a, b):
    return abs((math.atan2(a.R[1, 0], a.R[0, 0]) - math.atan2(b.R[1, 0], b.R[0, 0]) + math.pi) % (2 * math.pi) - math.pi)


def test_a_perturbed_start_comes_back_to_the_true_pose():
    surface, truth, G, cam, depth, mask, obs, canon = _scene()
    start = SimilarityTransform(_rz(0.5 + 0.15), truth.t + np.array([0.01, -0.008, 0.0]), 1.1 * 1.08)
    r = refine_upright_similarity(obs, canon, np.ones(len(obs)), surface, start, G=G, camera=cam, depth=depth,
                                  mask=mask, config=EnergyConfig(iterations=60, heading_offsets=(0.0,)))
    assert r.start == 0 and r.energies.shape == (1,)
    assert r.energies[0] < r.initial_energies[0]
    assert _angle(r.transform, truth) < 0.03  # was 0.15 rad
    assert np.linalg.norm(r.transform.t - truth.t) < 0.004  # was 1.3 cm
    assert abs(r.transform.s / truth.s - 1) < 0.03  # was 8 %
    assert r.transform.t[2] == pytest.approx(truth.t[2])  # the origin stays on the support plane


def test_the_turned_start_wins_when_the_fit_had_the_object_backwards():
    surface, truth, G, cam, depth, mask, obs, canon = _scene(1)
    backwards = SimilarityTransform(_rz(0.5 + math.pi), truth.t, truth.s)
    r = refine_upright_similarity(obs, canon, np.ones(len(obs)), surface, backwards, G=G, camera=cam, depth=depth,
                                  mask=mask)
    assert r.start == 1 and r.energies[1] < r.energies[0]
    assert _angle(r.transform, truth) < 0.05


def test_distance_transform_by_hand_and_bad_input():
    m = np.zeros((3, 5), bool)
    m[1, 1] = True
    dt = mask_distance_transform(m)
    assert dt[1, 1] == 0 and dt[1, 4] == pytest.approx(3.0) and dt[0, 0] == pytest.approx(math.sqrt(2))
    with pytest.raises(InputError):
        mask_distance_transform(np.zeros((3, 3), bool))
    surface, truth, G, cam, depth, mask, obs, canon = _scene()
    with pytest.raises(InputError, match="points and canonical"):
        refine_upright_similarity(obs, canon[:-1], np.ones(len(obs)), surface, truth, G=G, camera=cam,
                                  depth=depth, mask=mask)
    with pytest.raises(InputError, match="empty"):
        refine_upright_similarity(obs, canon, np.ones(len(obs)), surface, truth, G=G, camera=cam, depth=depth,
                                  mask=np.zeros_like(mask))
    with pytest.raises(InputError, match="sigma_end"):
        EnergyConfig(sigma_end=0.5, sigma_start=0.1)


def test_soft_silhouette_iou_by_hand_and_its_gradient():
    import torch

    from semcorr_core.alignment.energy import soft_silhouette_iou

    target = torch.zeros(3, 4)
    target[1, 2] = 1.0  # the cell whose centre is (u, v) = (10 + 2.5 * 2, 20 + 1.5 * 3) = (15, 24.5)
    valid = torch.ones(3, 4)
    on = torch.tensor([[[15.0, 24.5]]])
    iou = soft_silhouette_iou(on, target, valid, (10.0, 20.0), (2.0, 3.0), sigma=0.05)
    assert float(iou) == pytest.approx(1.0, abs=1e-3)
    two = target.clone()
    two[0, 0] = 1.0  # a second target cell no point covers: intersection 1, union 2
    assert float(soft_silhouette_iou(on, two, valid, (10.0, 20.0), (2.0, 3.0), sigma=0.05)) == pytest.approx(0.5, abs=1e-3)
    skip = valid.clone()
    skip[0, 0] = 0.0  # ... unless it does not count (something in front of the object covers it)
    assert float(soft_silhouette_iou(on, two, skip, (10.0, 20.0), (2.0, 3.0), sigma=0.05)) == pytest.approx(1.0, abs=1e-3)
    # half a cell to the right of the target: the gradient pulls the point back (towards -u)
    off = torch.tensor([[[16.0, 24.5]]], requires_grad=True)
    soft_silhouette_iou(off, target, valid, (10.0, 20.0), (2.0, 3.0), sigma=0.8).sum().backward()
    assert off.grad[0, 0, 0] < 0 and abs(float(off.grad[0, 0, 1])) < 1e-6
    with pytest.raises(InputError):
        soft_silhouette_iou(on[0], target, valid, (0.0, 0.0), (1.0, 1.0), sigma=1.0)


def test_the_soft_iou_stage_pulls_a_shifted_start_onto_the_silhouette():
    from scipy import ndimage

    surface, truth, G, cam, depth, mask, obs, canon = _scene()
    solid = ndimage.binary_fill_holes(ndimage.binary_closing(mask, iterations=3))
    shifted = SimilarityTransform(truth.R, truth.t + np.array([0.0, 0.015, 0.0]), truth.s)  # 1.5 cm sideways
    only_iou = EnergyConfig(iterations=0, soft_iou_iterations=40, w_correspondence=0.0, w_surface=0.0,
                            w_free_space=0.0, w_silhouette=0.0, heading_offsets=(0.0,))
    r = refine_upright_similarity(obs, canon, np.ones(len(obs)), surface, shifted, G=G, camera=cam, depth=depth,
                                  mask=solid, config=only_iou)
    assert r.energies[0] < r.initial_energies[0]  # 1 - IoU fell
    # a silhouette fixes where the object is across the view (gravity y = camera -x), not how far
    # (a nearer, turned object casts much the same shadow): that is the other terms' part
    assert abs(r.transform.t[1] - truth.t[1]) < 0.002
    both = EnergyConfig(iterations=40, soft_iou_iterations=20, heading_offsets=(0.0,))
    r = refine_upright_similarity(obs, canon, np.ones(len(obs)), surface, shifted, G=G, camera=cam, depth=depth,
                                  mask=solid, config=both)
    assert np.linalg.norm(r.transform.t - truth.t) < 0.003 and _angle(r.transform, truth) < 0.03
    with pytest.raises(InputError, match="soft_iou_iterations"):
        EnergyConfig(soft_iou_iterations=-1)
