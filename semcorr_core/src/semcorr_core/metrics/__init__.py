"""Evaluation metrics. Numpy-first (torch tensors are accepted and converted); bad input raises
:class:`semcorr_core.errors.InputError` (or a subclass) with a message saying what to fix.

Families (each module's docstring states its conventions):

* :mod:`.pck` - 2D PCK@alpha, per-image and per-keypoint averaging reported separately.
* :mod:`.keypoint3d` - metric 3D keypoint error and PCK-3D, visible vs occluded.
* :mod:`.mge` - mean Geodesic Error of point embeddings (CPNet, Algorithm 1).
* :mod:`.kap` - Keypoint Average Precision (dense and per-keypoint forms); invisible = negative.
* :mod:`.pose` - symmetry-aware rotation / translation / scale errors, left/right flip detection.
* :mod:`.canonical` - dense canonical-coordinate error, symmetry-aware.
"""

from semcorr_core.metrics.canonical import CanonicalResult, canonical_error, canonical_point_distance
from semcorr_core.metrics.kap import KAPResult, average_precision, kap, kap_keypoints
from semcorr_core.metrics.keypoint3d import (
    DEFAULT_THRESHOLDS_M,
    Keypoint3DResult,
    Keypoint3DSummary,
    keypoint3d_errors,
)
from semcorr_core.metrics.mge import GeodesicFn, MGEResult, mean_geodesic_error
from semcorr_core.metrics.pck import PCKResult, bbox_normaliser, pck, pck_at_thresholds
from semcorr_core.metrics.pose import (FlipResult, PoseError, heading_flipped, left_right_flip, pose_error,
                                       rotation_angle_deg)

__all__ = [
    "CanonicalResult",
    "canonical_error",
    "canonical_point_distance",
    "KAPResult",
    "average_precision",
    "kap",
    "kap_keypoints",
    "DEFAULT_THRESHOLDS_M",
    "Keypoint3DResult",
    "Keypoint3DSummary",
    "keypoint3d_errors",
    "GeodesicFn",
    "MGEResult",
    "mean_geodesic_error",
    "PCKResult",
    "bbox_normaliser",
    "pck",
    "pck_at_thresholds",
    "FlipResult",
    "PoseError",
    "left_right_flip",
    "heading_flipped",
    "pose_error",
    "rotation_angle_deg",
]
