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


def test_canonical_space_warps_heights_through_the_keypoints():
    from semcorr_core.training.dense_sets import CanonicalSpace

    shapes = generate_shapes("bottle", 4, seed=3)
    names = ["cap_top", "neck", "shoulder", "bottom_center"]
    space = CanonicalSpace(shapes, rotation_symmetric=True, height_keypoints=names)
    # hand-computed targets: each keypoint's mean box-normalised height
    unit = np.array([[(s.keypoints[n][2] - s.vertices[:, 2].min()) / np.ptp(s.vertices[:, 2]) for n in names]
                     for s in shapes])
    for i, s in enumerate(shapes):
        kp = torch.tensor(np.stack([s.keypoints[n] for n in names]), dtype=torch.float32)[None]
        z = space.positions(kp, torch.tensor([i]))[0, :, 1]
        torch.testing.assert_close(z, torch.as_tensor(unit.mean(0), dtype=torch.float32), atol=1e-5, rtol=0)
        # half-way between shoulder and neck on this bottle lands half-way between the targets
        mid = 0.5 * (s.keypoints["shoulder"] + s.keypoints["neck"])
        zm = space.positions(torch.tensor(mid, dtype=torch.float32)[None, None], torch.tensor([i]))[0, 0, 1]
        assert abs(float(zm) - unit.mean(0)[1:3].mean()) < 1e-5
        # monotonic over the whole height, box ends at 0 and 1
        col = torch.linspace(float(s.vertices[:, 2].min()), float(s.vertices[:, 2].max()), 50)
        pts = torch.stack([torch.zeros(50), torch.zeros(50), col], 1)[None]
        zz = space.positions(pts, torch.tensor([i]))[0, :, 1]
        assert torch.all(zz[1:] > zz[:-1]) and abs(float(zz[0])) < 1e-5 and abs(float(zz[-1]) - 1) < 1e-5
    with pytest.raises(InputError):
        CanonicalSpace(shapes, height_keypoints=["no_such_keypoint"])


def test_canonical_space_merges_keypoints_at_one_height():
    from semcorr_core.training.dense_sets import CanonicalSpace

    shapes = generate_shapes("mug", 3, seed=2)
    space = CanonicalSpace(shapes, height_keypoints=list(shapes[0].keypoint_names))
    # rim_center / rim_front (the top) and bottom_center merge into the box ends; the handle's
    # top, outer point and bottom stay: 5 knots, strictly increasing on every mug
    assert space.height_knots.shape == (3, 5)
    assert torch.all(space.height_knots[:, 1:] > space.height_knots[:, :-1])
    # x and y keep their box normalisation
    v = torch.as_tensor(shapes[1].vertices, dtype=torch.float32)[None]
    p = space.positions(v, torch.tensor([1]))[0]
    torch.testing.assert_close(p[:, :2].min(0).values, torch.zeros(2), atol=1e-6, rtol=0)
    torch.testing.assert_close(p[:, :2].max(0).values, torch.ones(2), atol=1e-6, rtol=0)
