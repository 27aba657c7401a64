"""Input conversion shared by the metrics: array-likes and torch tensors become float64 numpy."""

from __future__ import annotations

import numpy as np

from semcorr_core.errors import InputError


def as_array(x: object, name: str, dtype: type = np.float64) -> np.ndarray:
    """numpy array from an array-like or a torch tensor (detached, on CPU)."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu().numpy()  # type: ignore[union-attr]
    try:
        return np.asarray(x, dtype=dtype)
    except (TypeError, ValueError) as err:
        raise InputError(f"{name} must be numeric array-like, could not convert ({err})") from None


def as_mask(x: object, name: str, shape: tuple[int, ...], rows: str = "image") -> np.ndarray:
    """Boolean (N, K) mask; ``rows`` names what a row is in the error message."""
    m = as_array(x, name)
    if m.shape != shape:
        raise InputError(f"{name} must have shape {shape} (one flag per {rows} and keypoint), got {m.shape}")
    if not np.all((m == 0) | (m == 1)):
        raise InputError(f"{name} must be boolean (0/1 or True/False); got other values")
    return m.astype(bool)
