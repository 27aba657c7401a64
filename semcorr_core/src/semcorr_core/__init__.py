"""semcorr_core: ROS-free library for category-level semantic keypoints and dense correspondences.

Pipeline, one sub-package per stage: ``data`` (synthetic engine, loaders) -> ``models`` ->
``alignment`` -> ``keypoints`` -> outputs; ``geometry`` and ``metrics`` serve all stages.
"""

__version__ = "0.1.0"
