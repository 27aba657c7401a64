"""ROS 2 bags without ROS (``rosbags``): synthetic bags with ground truth, frame reading, offline
evaluation with the pipeline bench's figures, ROS 1 conversion. The shipped sample bag:
:func:`default_sample_bag`."""

from pathlib import Path

from semcorr_core.bags.convert import convert_ros1_bag
from semcorr_core.bags.ground_truth import GROUND_TRUTH_FORMAT, FrameTruth, TruthObject
from semcorr_core.bags.read import BagFrame, BagFrames, read_bag_frames
from semcorr_core.bags.synth import SyntheticBagSummary, write_synthetic_bag
from semcorr_core.bags.topics import BagTopics

__all__ = ["BagFrame", "BagFrames", "BagTopics", "FrameTruth", "GROUND_TRUTH_FORMAT", "SAMPLE_BAG_COMMAND",
           "SyntheticBagSummary", "TruthObject", "convert_ros1_bag", "default_sample_bag", "read_bag_frames",
           "write_synthetic_bag"]

SAMPLE_BAG_COMMAND = "semcorr bag synth --category mug --frames 20 --seed 0 --out {path} --overwrite"
"""How the shipped sample bag was written (``make sample-bag``)."""


def default_sample_bag() -> Path:
    """The sample bag shipped with the package: 20 frames (2 s at 10 Hz) of a synthetic mug scene
    with ground truth, written by :data:`SAMPLE_BAG_COMMAND`."""
    return Path(__file__).resolve().parent / "sample" / "mug_orbit"
