"""Object instances in an RGB-D frame: the default segmenter (support-plane removal + clustering)."""

from semcorr_core.segmentation.depth_noise import DepthNoiseModel
from semcorr_core.segmentation.support_plane import Segmentation, SupportPlane, fit_support_plane, segment_objects

__all__ = ["DepthNoiseModel", "SupportPlane", "Segmentation", "fit_support_plane", "segment_objects"]
