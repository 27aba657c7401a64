"""Pictures: keypoint drawing, depth and canonical colourisation, contact sheet."""

from __future__ import annotations

import numpy as np
import pytest

from semcorr_core.data.render import DepthNoiseConfig, RaycastRenderer, SceneConfig, sample_scene
from semcorr_core.data.shapes import generate_shape
from semcorr_core.outputs.draw import canonical_to_rgb, contact_sheet, depth_to_rgb, draw_keypoints


def test_visible_and_occluded_keypoints_look_different():
    img = np.zeros((40, 80, 3), np.uint8)
    out = draw_keypoints(img, np.array([[20.0, 20.0], [60.0, 20.0]]), ["a", "b"], np.array([True, False]), label=False)
    assert out[20, 20].any()  # filled disc: the centre is painted
    assert not out[20, 60].any() and out[20, 60 + 3].any()  # ring: centre empty, rim painted
    assert not img.any()  # input untouched


def test_keypoints_outside_image_or_nan_are_skipped():
    img = np.zeros((10, 10, 3), np.uint8)
    out = draw_keypoints(img, np.array([[np.nan, 1.0], [5.0, 5.0]]), ["a", "b"], np.array([True, True]),
                         in_image=np.array([True, False]), label=False)
    assert not out.any()


def test_depth_and_canonical_maps():
    d = np.array([[0.0, 1.0], [2.0, 3.0]], np.float32)
    rgb = depth_to_rgb(d)
    assert (rgb[0, 0] == 0).all() and rgb[0, 1].any()
    c = np.full((2, 2, 3), np.nan, np.float32)
    c[0, 0] = [0.0, 0.0, 0.0]
    c[1, 1] = [1.0, 2.0, 3.0]
    m = canonical_to_rgb(c)
    assert m[0, 0].tolist() == [0, 0, 0] and m[1, 1].tolist() == [255, 255, 255] and not m[0, 1].any()


def test_contact_sheet_grid():
    cfg = SceneConfig(width=64, height=48)
    rng = np.random.default_rng(0)
    r = RaycastRenderer(cfg.camera())
    frames = [r.render(sample_scene([generate_shape("can", i)], rng, cfg), rng, DepthNoiseConfig()) for i in range(3)]
    sheet = contact_sheet(frames, title="t", scale=1.0, columns=2)
    # 2 rows of (48 + 4) px plus the 28 px title; 2 columns of 3 panels of 64 px plus 4 px gaps
    assert sheet.shape == (28 + 2 * 52, 2 * (3 * 64 + 4), 3)
    with pytest.raises(ValueError):
        contact_sheet([])


def test_detection_overlay_by_hand():
    from semcorr_core.geometry.similarity import SimilarityTransform
    from semcorr_core.outputs.detections import draw_detections
    from semcorr_core.pipeline import DetectedObject, Detections

    color = np.full((60, 80, 3), 100, np.uint8)
    mask = np.zeros((60, 80), bool)
    mask[40:42, 50:53] = True
    cmap = np.full((60, 80, 3), np.nan, np.float32)
    # x runs 0..0.2 over the columns, y is constant, z 0 / 0.1 over the rows
    cmap[40:42, 50:53] = [[[0.0, 0.5, 0.0], [0.1, 0.5, 0.0], [0.2, 0.5, 0.0]],
                          [[0.0, 0.5, 0.1], [0.1, 0.5, 0.1], [0.2, 0.5, 0.1]]]
    cmap[41, 52] = np.nan  # a mask pixel without a canonical coordinate keeps its colour
    obj = DetectedObject("can", 1, SimilarityTransform(np.eye(3), np.zeros(3), 1.0), 0.9, [], mask, cmap)
    out = draw_detections(color, Detections([obj], np.array([0.0, -1.0, 0.0])), alpha=0.5)
    # colour = 255 * (p - min) / (max - min) per axis over the object's own pixels (y: no range -> 0)
    expected_x = np.array([0.0, 127.5, 255.0])
    for col in range(3):
        for row, z in ((40, 0.0), (41, 255.0)):
            if (row, col) == (41, 2):  # the pixel without a coordinate
                continue
            want = (0.5 * 100 + 0.5 * np.array([np.uint8(expected_x[col]), 0, np.uint8(z)])).astype(np.uint8)
            assert out[row, 50 + col].tolist() == want.tolist(), (row, col)
    assert out[41, 52].tolist() == [100, 100, 100]
    assert (out[45:, :] == 100).all() and (out[:, :45] == 100).all()  # nothing outside the object's box and label
