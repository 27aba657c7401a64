"""The RGB-D perception pipeline: segment -> embed -> align -> keypoints (MISSION §4)."""

from semcorr_core.pipeline.detector import DetectedKeypoint, DetectedObject, Detections, Detector, DetectorConfig

__all__ = ["Detector", "DetectorConfig", "Detections", "DetectedObject", "DetectedKeypoint"]
