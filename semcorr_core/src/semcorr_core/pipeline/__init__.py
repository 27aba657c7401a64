"""The RGB-D perception pipeline: segment -> embed -> align -> keypoints (MISSION §4)."""

from semcorr_core.pipeline.detector import (KEYPOINT_SOURCES, SOURCE_WEIGHTS, DetectedKeypoint, DetectedObject,
                                            Detections, Detector, DetectorConfig, FrameSegments, segment_frame)
from semcorr_core.pipeline.multi_category import CategoryChoice, MultiCategoryDetector, multi_category_descriptors

__all__ = ["Detector", "DetectorConfig", "Detections", "DetectedObject", "DetectedKeypoint", "FrameSegments",
           "segment_frame", "MultiCategoryDetector", "CategoryChoice",
           "multi_category_descriptors", "KEYPOINT_SOURCES", "SOURCE_WEIGHTS"]
