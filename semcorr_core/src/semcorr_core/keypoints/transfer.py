"""Keypoint transfer by nearest embedding (seed 001's 3D keypoint database, seed 000's embeddings).

A keypoint of the category prototype carries an embedding; on a new cloud it lands on the point
whose embedding is most similar (cosine similarity; embeddings need not be normalised).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from semcorr_core.errors import InputError


class KeypointTransfer(NamedTuple):
    index: torch.Tensor  # (B, K) point index per keypoint
    position: torch.Tensor  # (B, K, 3) position of that point
    score: torch.Tensor  # (B, K) cosine similarity in [-1, 1]


def nearest_embedding_transfer(
    keypoint_embeddings: torch.Tensor, points: torch.Tensor, point_embeddings: torch.Tensor
) -> KeypointTransfer:
    """Transfer K keypoints onto each of B clouds.

    keypoint_embeddings: (K, D) or (B, K, D); points: (B, N, 3); point_embeddings: (B, N, D).
    """
    if points.ndim != 3 or points.shape[-1] != 3:
        raise InputError(f"points must be (B, N, 3), got {tuple(points.shape)}")
    if point_embeddings.ndim != 3 or point_embeddings.shape[:2] != points.shape[:2]:
        raise InputError(
            f"point_embeddings must be (B, N, D) matching points {tuple(points.shape[:2])}, "
            f"got {tuple(point_embeddings.shape)}"
        )
    q = keypoint_embeddings
    if q.ndim == 2:
        q = q.unsqueeze(0).expand(points.shape[0], -1, -1)
    if q.ndim != 3 or q.shape[0] != points.shape[0] or q.shape[-1] != point_embeddings.shape[-1]:
        raise InputError(
            f"keypoint_embeddings must be (K, D) or (B, K, D) with D = {point_embeddings.shape[-1]}, "
            f"got {tuple(keypoint_embeddings.shape)}"
        )
    if points.shape[1] == 0:
        raise InputError("cannot transfer keypoints onto an empty cloud")
    sim = F.normalize(q, dim=-1) @ F.normalize(point_embeddings, dim=-1).transpose(1, 2)  # (B, K, N)
    score, index = sim.max(dim=-1)
    position = torch.gather(points, 1, index.unsqueeze(-1).expand(-1, -1, 3))
    return KeypointTransfer(index, position, score)
