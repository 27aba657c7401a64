"""Least-squares planes of point sets, optionally weighted per point."""

from __future__ import annotations

from typing import Optional

import numpy as np

__all__ = ["fit_plane_least_squares"]


def fit_plane_least_squares(points: np.ndarray, weights: Optional[np.ndarray] = None
                            ) -> tuple[np.ndarray, float] | None:
    """The plane ``{x : normal @ x + offset = 0}`` minimising the (``weights``-weighted) squared
    distances of ``points`` ``(N, 3)``: through their (weighted) centroid, its unit ``normal`` the
    direction of least (weighted) spread (SVD). The normal's sign is arbitrary. None when the
    points do not span a plane (second singular value under 1e-9; weights are scaled to mean 1
    first, so the test keeps the unweighted fit's scale)."""
    if weights is None:
        c = points.mean(0)
        centred = points - c
    else:
        w = weights / weights.mean()
        c = w @ points / len(points)
        centred = (points - c) * np.sqrt(w)[:, None]
    _, sv, vt = np.linalg.svd(centred, full_matrices=False)
    if sv[1] < 1e-9:
        return None
    n = vt[-1]
    return n, -float(n @ c)
