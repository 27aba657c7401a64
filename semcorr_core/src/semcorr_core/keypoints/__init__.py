"""Keypoints: transfer of prototype keypoints onto observed shapes."""

from semcorr_core.keypoints.transfer import KeypointTransfer, nearest_embedding_transfer

__all__ = ["KeypointTransfer", "nearest_embedding_transfer"]
