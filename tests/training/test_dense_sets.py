"""Dense correspondence sets from canonical coordinates."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semcorr_core.data.point_clouds import sample_surface
from semcorr_core.data.shapes import generate_shapes
from semcorr_core.errors import InputError
from semcorr_core.training.dense_sets import DenseCorrespondenceSets


def test_members_sit_at_their_anchor_in_normalised_space():
    shapes = generate_shapes("mug", 3, seed=1)
    dense = DenseCorrespondenceSets(shapes, n_sets=16, tol=0.05, seed=0)
    # a dense cloud of shape 2 in its canonical frame
    canon = torch.as_tensor(sample_surface(shapes[2], 4000, np.random.default_rng(0)).points, dtype=torch.float32)
    idx = dense.index(canon[None], torch.tensor([2]))
    assert idx.shape == (1, 16)
    lo, ext = dense.lo[2], dense.extent[2]
    for m, i in enumerate(idx[0].tolist()):
        if i >= 0:
            unit = (canon[i] - lo) / ext
            assert torch.linalg.norm(unit - dense.anchors[m]) <= 0.05 + 1e-6
    assert (idx[0] >= 0).float().mean() > 0.5  # most anchors have a member on another instance
    # a cloud far from every anchor has no member
    far = torch.full((1, 5, 3), 10.0)
    assert (dense.index(far, torch.tensor([0])) == -1).all()


def test_extended_margins():
    shapes = generate_shapes("can", 2, seed=0)
    dense = DenseCorrespondenceSets(shapes, n_sets=8, seed=0)
    kd = torch.tensor([[0.0, 0.3], [0.3, 0.0]])
    kp = torch.tensor([[0.0, 0.0, 0.1], [0.0, 0.0, 0.0]])
    out = dense.extend_set_distance(kd, kp)
    assert out.shape == (10, 10)
    torch.testing.assert_close(out[:2, :2], kd)
    torch.testing.assert_close(out, out.T)
    assert torch.allclose(out.diagonal(), torch.zeros(10))
    # keypoint 1 (the origin) to dense anchor 0: straight-line distance of mean positions
    assert out[1, 2].item() == pytest.approx(torch.linalg.norm(dense.anchor_positions[0]).item(), rel=1e-5)


def test_bad_arguments():
    with pytest.raises(InputError):
        DenseCorrespondenceSets([], n_sets=4)
    with pytest.raises(InputError):
        DenseCorrespondenceSets(generate_shapes("can", 1, seed=0), n_sets=0)


def test_canonical_space_maps_boxes_to_the_unit_cube():
    from semcorr_core.training.dense_sets import CanonicalSpace

    shapes = generate_shapes("mug", 2, seed=1)
    space = CanonicalSpace(shapes)
    assert space.dim == 3
    for i, s in enumerate(shapes):
        v = torch.as_tensor(s.vertices, dtype=torch.float32)[None]
        p = space.positions(v, torch.tensor([i]))[0]
        torch.testing.assert_close(p.min(0).values, torch.zeros(3), atol=1e-6, rtol=0)
        torch.testing.assert_close(p.max(0).values, torch.ones(3), atol=1e-6, rtol=0)
    classes = space.class_positions(shapes[0], 0, 16, torch.tensor([[0.5, 0.5, 1.0]]), seed=0)
    assert classes.shape == (17, 3) and torch.equal(classes[-1], torch.tensor([0.5, 0.5, 1.0]))


def test_canonical_space_of_a_rotation_symmetric_category_ignores_azimuth():
    from semcorr_core.training.dense_sets import CanonicalSpace

    shapes = generate_shapes("can", 1, seed=0)
    space = CanonicalSpace(shapes, rotation_symmetric=True)
    assert space.dim == 2
    r_max = float(np.linalg.norm(shapes[0].vertices[:, :2], axis=1).max())
    lo_z, hi_z = shapes[0].vertices[:, 2].min(), shapes[0].vertices[:, 2].max()
    pts = torch.tensor([[[r_max, 0.0, hi_z], [0.0, -r_max, hi_z], [0.0, 0.0, lo_z]]], dtype=torch.float32)
    p = space.positions(pts, torch.tensor([0]))[0]
    torch.testing.assert_close(p, torch.tensor([[1.0, 1.0], [1.0, 1.0], [0.0, 0.0]]), atol=1e-6, rtol=0)
    with pytest.raises(InputError):
        CanonicalSpace([])
