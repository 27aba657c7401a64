"""Geometry: cameras, transforms, similarity alignment (Umeyama + RANSAC), least-squares planes,
point sampling, mesh geodesics and pseudo-geodesic point-cloud neighbourhoods.

numpy functions take one problem; ``*_torch`` / batched functions take ``(B, N, 3)`` tensors and
work on the tensors' device. Bad input raises :class:`semcorr_core.errors.InputError` (or a
subclass) with a message saying what to fix.
"""

from semcorr_core.geometry.camera import PinholeCamera
from semcorr_core.geometry.geodesic import (
    GeodesicSolver,
    geodesic_distance_field,
    geodesic_distances,
    mesh_edges,
    pairwise_geodesic_distances,
)
from semcorr_core.geometry.planes import fit_plane_least_squares
from semcorr_core.geometry.pseudo_geodesic import pseudo_geodesic_neighbourhood, pseudo_geodesic_neighbourhoods
from semcorr_core.geometry.ransac import (
    RansacResult,
    ransac_iterations_needed,
    ransac_similarity,
    ransac_similarity_torch,
)
from semcorr_core.geometry.sampling import farthest_point_sampling, farthest_point_sampling_torch
from semcorr_core.geometry.similarity import (
    SimilarityTransform,
    fit_similarity,
    fit_similarity_torch,
    similarity_residuals,
)
from semcorr_core.geometry.transforms import (
    apply_transform,
    gravity_frame,
    invert_transform,
    look_at,
    make_transform,
    random_rotation,
    rotation_z,
)

__all__ = [
    "PinholeCamera",
    "make_transform",
    "apply_transform",
    "gravity_frame",
    "invert_transform",
    "look_at",
    "random_rotation",
    "rotation_z",
    "SimilarityTransform",
    "fit_similarity",
    "fit_similarity_torch",
    "similarity_residuals",
    "RansacResult",
    "ransac_similarity",
    "ransac_similarity_torch",
    "ransac_iterations_needed",
    "farthest_point_sampling",
    "farthest_point_sampling_torch",
    "GeodesicSolver",
    "geodesic_distances",
    "geodesic_distance_field",
    "pairwise_geodesic_distances",
    "mesh_edges",
    "fit_plane_least_squares",
    "pseudo_geodesic_neighbourhood",
    "pseudo_geodesic_neighbourhoods",
]
