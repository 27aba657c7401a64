"""Keypoints: transfer of prototype keypoints onto observed shapes, and their placement in the camera."""

from semcorr_core.keypoints.observed import ObservedKeypoints, observe_keypoints
from semcorr_core.keypoints.placement import CameraKeypoints, place_keypoints
from semcorr_core.keypoints.tracking import KeypointTracker
from semcorr_core.keypoints.transfer import KeypointTransfer, nearest_embedding_transfer

__all__ = ["KeypointTransfer", "nearest_embedding_transfer", "CameraKeypoints", "place_keypoints",
           "ObservedKeypoints", "observe_keypoints", "KeypointTracker"]
