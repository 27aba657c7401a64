"""FPFH (Fast Point Feature Histograms, via Open3D): the hand-made local-descriptor baseline the
learned embeddings must beat (seed 000 compares against SHOT; FPFH is its Open3D counterpart)."""

from __future__ import annotations

import numpy as np
import open3d as o3d

from semcorr_core.errors import InputError


def fpfh_descriptors(points: np.ndarray, radius: float, normal_radius: float | None = None,
                     max_nn: int = 100) -> np.ndarray:
    """(N, 33) float32 FPFH descriptors of an (N, 3) cloud.

    radius: feature neighbourhood radius in the cloud's units (typically 5-10 % of the object size);
    normal_radius: for the normal estimation (default radius / 2). Normals are oriented towards the
    cloud centroid's outside so that the descriptor sign is consistent across clouds.
    """
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3 or len(p) < 5:
        raise InputError(f"points must be (N, 3) with N >= 5, got {p.shape}")
    if not np.isfinite(p).all():
        raise InputError("points contain NaN/inf")
    if radius <= 0:
        raise InputError(f"radius must be > 0, got {radius}")
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(p))
    pcd.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=normal_radius or radius / 2, max_nn=30))
    n = np.asarray(pcd.normals)
    outward = np.einsum("nc,nc->n", n, p - p.mean(0)) < 0
    n[outward] *= -1
    pcd.normals = o3d.utility.Vector3dVector(n)
    feat = o3d.pipelines.registration.compute_fpfh_feature(
        pcd, o3d.geometry.KDTreeSearchParamHybrid(radius=radius, max_nn=max_nn))
    return np.asarray(feat.data, dtype=np.float32).T.copy()
