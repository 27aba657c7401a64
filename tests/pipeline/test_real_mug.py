"""The shipped mug model on a real frame: PCL's organised stereo cloud of a mug on a table
(../shared/data/pcl_test_rgbd, no annotations), checked for geometric sanity."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from semcorr_core.data.keypointnet import read_pcd
from semcorr_core.data.organised_cloud import organised_cloud_to_rgbd
from semcorr_core.data.rgbd import make_rgbd
from semcorr_core.pipeline import Detector
from semcorr_core.segmentation import segment_objects

CLOUD = Path(__file__).resolve().parents[2].parent / "shared/data/pcl_test_rgbd/table_scene_mug_stereo_textured.pcd"


def test_real_mug_keypoints_sit_where_a_mug_has_them():
    assert CLOUD.is_file(), f"real data missing at {CLOUD} (../shared/data beside the repository)"
    pc = read_pcd(CLOUD)
    org = organised_cloud_to_rgbd(pc.points.reshape(pc.height, pc.width, 3), pc.rgb)
    frame = make_rgbd(org.color, org.depth, org.camera)
    result = Detector.for_category("mug").detect(frame)
    assert len(result.objects) == 1  # one mug on the table
    mug = result.objects[0]
    seg = segment_objects(frame.depth, frame.camera)
    height = {k.name: float(seg.plane.normal @ k.xyz + seg.plane.offset) for k in mug.keypoints}
    top = float(np.percentile(seg.heights[mug.mask], 95))  # the mug's observed height (~9.6 cm)
    assert abs(height["bottom_center"]) < 0.015, height  # measured -1.1 cm
    assert 0.7 * top < height["rim_center"] < 1.1 * top, (height, top)  # measured 8.7 cm
    # the handle is the part of the mug farthest from its axis, between bottom and rim
    axis = np.asarray(mug.pose.R)[:, 2]
    centre = np.array([k.xyz for k in mug.keypoints if k.name == "rim_center"][0])
    outer = np.array([k.xyz for k in mug.keypoints if k.name == "handle_outer"][0])
    radial = np.linalg.norm((outer - centre) - ((outer - centre) @ axis) * axis)
    assert 0.04 < radial < 0.10, radial
    assert 0.0 < height["handle_bottom"] < height["handle_top"] < height["rim_center"] + 0.01, height
    # how each keypoint was found, and its score by that: the seen handle and rim measured by their
    # descriptors, the bottom (under the mug) placed by the fit at half the object's score
    source = {k.name: k.source for k in mug.keypoints}
    assert source["handle_top"] == source["handle_outer"] == source["rim_center"] == "measured", source
    assert source["bottom_center"] == "fit", source
    score = {k.name: k.score for k in mug.keypoints}
    assert score["handle_top"] == mug.score and score["bottom_center"] == 0.5 * mug.score, score
