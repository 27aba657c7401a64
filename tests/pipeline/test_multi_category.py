"""MultiCategoryDetector: one segmentation, the category whose fit explains a segment best; the two
measures it compares, by hand; category lists."""

from __future__ import annotations

import numpy as np
import pytest

from semcorr_core.bench.embed3d import TEST_SEED_OFFSET
from semcorr_core.data.categories import parse_category_list
from semcorr_core.data.render import DepthNoiseConfig, RaycastRenderer, SceneConfig, sample_scene
from semcorr_core.data.rgbd import make_rgbd
from semcorr_core.data.shapes import generate_shapes
from semcorr_core.errors import InputError, UnknownCategoryError
from semcorr_core.geometry.camera import PinholeCamera
from semcorr_core.geometry.similarity import SimilarityTransform
from semcorr_core.pipeline import DetectedObject, Detector, MultiCategoryDetector
from semcorr_core.pipeline.multi_category import pinned_parameters


def _bottle_and_bowl(seed: int = 0):
    bottle = generate_shapes("bottle", 1, TEST_SEED_OFFSET + 2200)[0]
    bowl = generate_shapes("bowl", 1, TEST_SEED_OFFSET + 2200)[0]
    cfg = SceneConfig(width=640, height=480, objects_per_scene=(2, 2), distractors_per_scene=(0, 0),
                      elevation_deg=(30.0, 45.0))
    rng = np.random.default_rng(seed)
    fr = RaycastRenderer(cfg.camera()).render(sample_scene([bowl], rng, cfg, primary=bottle), rng,
                                              DepthNoiseConfig(enabled=True))
    return fr, make_rgbd(fr.color, fr.depth, fr.camera)


@pytest.fixture(scope="module")
def detectors():
    return {c: Detector.for_category(c) for c in ("mug", "bottle", "bowl", "can")}


def test_each_object_gets_its_own_category(detectors):
    fr, rgbd = _bottle_and_bowl()
    multi = MultiCategoryDetector(list(detectors.values()))
    result = multi.detect(rgbd)
    for ann in fr.objects:
        gt = fr.instance_mask == ann.instance_index
        hits = [o for o in result.objects if (o.mask & gt).sum() / max((o.mask | gt).sum(), 1) > 0.5]
        assert [o.category for o in hits] == [ann.category]
    # the choice mattered: the can detector fitted both segments too, and lost on the measure
    by_category = {c.chosen: c.scores for c in multi.last_choices if c.chosen}
    assert set(by_category) == {"bottle", "bowl"}
    for chosen, scores in by_category.items():
        assert "can" in scores and scores[chosen] > scores["can"] + 0.3
    assert set(result.timings_ms) >= {"segment", "embed", "align", "keypoints", "choose", "total"}


def test_one_category_is_exactly_that_detector(detectors):
    _, rgbd = _bottle_and_bowl(seed=1)
    alone = detectors["bottle"].detect(rgbd)
    multi = MultiCategoryDetector([detectors["bottle"]]).detect(rgbd)
    assert [o.instance_id for o in multi.objects] == [o.instance_id for o in alone.objects]
    for a, b in zip(alone.objects, multi.objects):
        np.testing.assert_array_equal(np.stack([k.xyz for k in a.keypoints]), np.stack([k.xyz for k in b.keypoints]))
        assert a.score == b.score


def _on_camera_axis(det: Detector, z: float) -> DetectedObject:
    """The prototype at ``z`` metres straight ahead, its +z (up) along the camera's -y (image up)."""
    R = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    pose = SimilarityTransform(R, np.array([0.0, 0.05, z]), 1.0)
    return DetectedObject(det.category, 1, pose, 1.0, [], np.zeros((48, 64), bool), np.zeros((48, 64, 3)))


CAM = PinholeCamera(fx=60.0, fy=60.0, cx=32.0, cy=24.0, width=64, height=48)


def test_free_space_violation_by_hand(detectors):
    det = detectors["can"]
    obj = _on_camera_axis(det, 1.0)
    behind = make_rgbd(np.zeros((48, 64, 3), np.uint8), np.full((48, 64), 2.0, np.float32), CAM)
    # every point of the fitted can is nearer than the measured 2 m wall: the sensor saw through all
    assert det.free_space_violation(behind, obj, 0.01) == pytest.approx(1.0)
    in_front = make_rgbd(np.zeros((48, 64, 3), np.uint8), np.full((48, 64), 0.5, np.float32), CAM)
    assert det.free_space_violation(in_front, obj, 0.01) == 0.0  # hidden behind something: no evidence
    # the measured wall exactly at the can's nearest depth minus a margin: a known share of its points
    dense = det.bundle.prototype.dense_points.numpy().astype(np.float64)
    z = obj.pose.apply(dense)[:, 2]
    cut = float(np.median(z))
    wall = make_rgbd(np.zeros((48, 64, 3), np.uint8), np.full((48, 64), cut, np.float32), CAM)
    uv = CAM.project(obj.pose.apply(dense))
    inside = (np.rint(uv[:, 0]) >= 0) & (np.rint(uv[:, 0]) < 64) & (np.rint(uv[:, 1]) >= 0) & (np.rint(uv[:, 1]) < 48)
    expected = np.mean(cut > z[inside] + 0.01)
    assert det.free_space_violation(wall, obj, 0.01) == pytest.approx(expected)
    assert 0.2 < expected < 0.6


def test_surface_support_by_hand(detectors):
    det = detectors["mug"]
    obj = _on_camera_axis(det, 1.0)
    surface = obj.pose.apply(det.bundle.prototype.dense_points.numpy().astype(np.float64))
    assert det.surface_support(surface, obj, 0.002) == pytest.approx(1.0)
    assert det.surface_support(surface + [0.0, 0.0, 0.5], obj, 0.01) == 0.0
    half = np.concatenate([surface, surface + [0.0, 0.0, 0.5]])
    assert det.surface_support(half, obj, 0.002) == pytest.approx(0.5)


def test_pinned_parameters_by_hand(detectors):
    import dataclasses

    mug, can = detectors["mug"], detectors["can"]
    lo, hi = mug.config.scale_range  # (0.6, 1.6)

    def obj(det, s, k=1.0):
        o = _on_camera_axis(det, 1.0)
        return dataclasses.replace(o, pose=SimilarityTransform(o.pose.R, o.pose.t, s), radial_scale=k)

    assert pinned_parameters(mug, obj(mug, 1.0)) == 0
    assert pinned_parameters(mug, obj(mug, lo)) == 1 and pinned_parameters(mug, obj(mug, hi * 0.99)) == 1
    assert pinned_parameters(mug, obj(mug, hi * 0.97)) == 0  # 3 % inside the range: free
    assert pinned_parameters(mug, obj(mug, 1.0, k=2.5)) == 0  # a mug has no radius proportion
    assert pinned_parameters(can, obj(can, 1.0, k=2.5)) == 1
    assert pinned_parameters(can, obj(can, lo, k=0.4)) == 2


def test_category_lists():
    assert parse_category_list(" Mug, bottle ,can") == ["mug", "bottle", "can"]
    with pytest.raises(UnknownCategoryError, match="known categories"):
        parse_category_list("mug,teapot")
    with pytest.raises(InputError, match="repeated: mug"):
        parse_category_list("mug,bottle,mug")
    with pytest.raises(InputError, match="one or more"):
        parse_category_list(" , ")


def test_bad_construction(detectors):
    with pytest.raises(InputError, match="at least one"):
        MultiCategoryDetector([])
    with pytest.raises(InputError, match="once"):
        MultiCategoryDetector([detectors["mug"], detectors["mug"]])
    with pytest.raises(InputError, match="tolerance_fraction"):
        MultiCategoryDetector([detectors["mug"]], tolerance_fraction=0.0)
    with pytest.raises(InputError, match="bundle paths"):
        MultiCategoryDetector.for_categories(["mug", "can"], ["a.pt"])


def test_several_categories_match_with_3d_descriptors_unless_told_otherwise():
    from semcorr_core.pipeline import MultiCategoryDetector, multi_category_descriptors

    assert multi_category_descriptors(2, "auto") == "3d" and multi_category_descriptors(1, "auto") == "auto"
    assert multi_category_descriptors(3, "fused") == "fused"
    det = MultiCategoryDetector.for_categories(["mug", "can"])
    assert [d.descriptors for d in det.detectors] == ["3d", "3d"]


def test_a_piece_inside_a_larger_chosen_object_is_dropped():
    from semcorr_core.pipeline.multi_category import CategoryChoice, _drop_joined_pieces

    def obj(category, instance, rows):
        mask = np.zeros((10, 10), bool)
        mask[rows] = True
        return DetectedObject(category, instance, SimilarityTransform(np.eye(3), np.zeros(3), 1.0), 1.0, [], mask,
                              np.zeros((10, 10, 3)))

    bowl = obj("bowl", 1, slice(0, 6))  # joined segments 1 and 2 (rows 0-5)
    piece = obj("can", 2, slice(4, 6))  # segment 2 alone, fitted by another category: inside the bowl
    beside = obj("can", 3, slice(5, 9))  # 1 of its 4 rows overlaps the bowl: its own object
    choices = [CategoryChoice(i, {}, o.category) for i, o in enumerate((bowl, piece, beside), start=1)]
    kept, why = _drop_joined_pieces([bowl, piece, beside], choices)
    assert [o.instance_id for o in kept] == [1, 3]
    assert [c.chosen for c in why] == ["bowl", None, "can"]
