"""Detector: a piece the segmenter cut off an object (a bowl's inside seen over its front rim)
joins the object when it lies on the object's fitted surface; a neighbouring object does not."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from semcorr_core.bench.embed3d import TEST_SEED_OFFSET
from semcorr_core.data.render import DepthNoiseConfig, RaycastRenderer, SceneConfig, sample_scene
from semcorr_core.data.rgbd import make_rgbd
from semcorr_core.data.shapes import generate_shapes
from semcorr_core.errors import InputError
from semcorr_core.pipeline import Detector, DetectorConfig


@pytest.fixture(scope="module")
def bowl_in_three_pieces():
    """A bowl (mask ids 1 and 2: its top rows cut off) and a distractor (id 3) as a supplied mask."""
    bowl = generate_shapes("bowl", 1, TEST_SEED_OFFSET + 2300)[0]
    cfg = SceneConfig(width=640, height=480, objects_per_scene=(1, 1), distractors_per_scene=(1, 1),
                      elevation_deg=(20.0, 30.0))
    rng = np.random.default_rng(4)
    fr = RaycastRenderer(cfg.camera()).render(sample_scene([], rng, cfg, primary=bowl), rng,
                                              DepthNoiseConfig(enabled=True))
    ann = fr.objects[0]
    bowl_px = fr.instance_mask == ann.instance_index
    others = (fr.instance_mask > 0) & ~bowl_px  # distractors (ids from 1000)
    assert bowl_px.sum() > 3000 and others.sum() > 500
    rows = np.nonzero(bowl_px.any(axis=1))[0]
    cut = rows[0] + int(0.3 * (rows[-1] - rows[0]))
    mask = np.zeros(bowl_px.shape, np.int32)
    mask[bowl_px] = 1
    mask[bowl_px & (np.arange(bowl_px.shape[0])[:, None] < cut)] = 2
    mask[others] = 3
    return fr, make_rgbd(fr.color, fr.depth, fr.camera, mask=mask), mask


def _bowls(config: DetectorConfig, rgbd):
    return Detector.for_category("bowl", config=config).detect(rgbd).objects


def test_a_piece_on_the_fitted_surface_joins_its_object(bowl_in_three_pieces):
    fr, rgbd, mask = bowl_in_three_pieces
    valid = fr.depth > 0
    objects = _bowls(DetectorConfig(), rgbd)
    (bowl,) = [o for o in objects if (o.mask & (mask == 1)).any()]
    assert not any(o.instance_id == 2 for o in objects)  # the piece is no bowl of its own
    np.testing.assert_array_equal(bowl.mask, ((mask == 1) | (mask == 2)) & valid)
    assert not (bowl.mask & (mask == 3)).any()  # the neighbour stays out
    assert bowl.instance_id == 1


def test_without_joining_the_piece_stays_apart(bowl_in_three_pieces):
    fr, rgbd, mask = bowl_in_three_pieces
    objects = _bowls(DetectorConfig(join_explained=float("inf")), rgbd)
    main = [o for o in objects if (o.mask & (mask == 1)).any()]
    assert len(main) == 1 and not (main[0].mask & (mask == 2)).any()


def test_the_joined_bowl_is_nearer_the_truth(bowl_in_three_pieces):
    fr, rgbd, mask = bowl_in_three_pieces
    ann = fr.objects[0]

    def error(config):
        (obj,) = [o for o in _bowls(config, rgbd) if (o.mask & (mask == 1)).any()]
        names = [k.name for k in obj.keypoints]
        gt = ann.keypoints_cam[[ann.keypoint_names.index(n) for n in names]]
        return float(np.mean(np.linalg.norm(np.stack([k.xyz for k in obj.keypoints]) - gt, axis=1)))

    joined, apart = error(DetectorConfig()), error(DetectorConfig(join_explained=float("inf")))
    assert joined < 0.01 and apart > joined + 0.005


@pytest.mark.parametrize("field,value", [("join_explained", -0.1), ("join_explained", float("nan")),
                                         ("deform_radius", -0.1), ("deform_radius", float("nan")),
                                         ("deform_min_points", 0)])
def test_bad_settings_are_input_errors(field, value):
    with pytest.raises(InputError, match=field):
        replace(DetectorConfig(), **{field: value})
