"""Validated RGB-D input: the single door through which colour, depth, intrinsics and masks enter.

Depth arrives either as 16-bit integers in sensor units (``16UC1``, usually millimetres, scaled by
``depth_scale`` metres per unit) or as 32-bit floats in metres (``32FC1``). Invalid readings
(0, NaN, inf) become 0 (no reading) so downstream code needs one convention only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from semcorr_core.errors import (
    DepthEncodingError,
    DepthScaleError,
    EmptyMaskError,
    ImageSizeMismatchError,
    InputError,
    InvalidDepthError,
)
from semcorr_core.geometry.camera import PinholeCamera

MAX_PLAUSIBLE_DEPTH_M = 20.0
"""Median depths beyond this in a float image are taken as millimetres mislabelled as metres."""
MIN_PLAUSIBLE_DEPTH_M = 0.02
"""Median depths below this after scaling suggest a wrong ``depth_scale`` (e.g. metres given as mm)."""


@dataclass
class RGBDFrame:
    color: np.ndarray  # (H, W, 3) uint8 RGB
    depth: np.ndarray  # (H, W) float32 metres, 0 = no reading
    camera: PinholeCamera
    mask: np.ndarray | None = None  # (H, W) integer instance ids, 0 = background


def depth_to_metres(depth: np.ndarray, depth_scale: float | None = None) -> np.ndarray:
    """Convert a depth image to float32 metres with 0 for invalid readings.

    uint16 depth is multiplied by ``depth_scale`` (default 0.001: millimetres); float depth is taken
    as metres unless ``depth_scale`` is given. Raises typed errors for other dtypes, implausible
    scales and images without a single valid reading.
    """
    depth = np.asarray(depth)
    if depth.ndim == 3 and depth.shape[2] == 1:
        depth = depth[..., 0]
    if depth.ndim != 2:
        raise DepthEncodingError(
            f"depth must be a single-channel H x W image, got shape {depth.shape}; "
            "is a colour image connected to the depth input?"
        )
    if depth_scale is not None and not (np.isfinite(depth_scale) and depth_scale > 0):
        raise DepthScaleError(f"depth_scale must be a positive number of metres per unit, got {depth_scale}")
    if depth.dtype == np.uint16:
        scale = 0.001 if depth_scale is None else float(depth_scale)
        metres = depth.astype(np.float32) * np.float32(scale)
    elif depth.dtype in (np.float32, np.float64):
        metres = depth.astype(np.float32) * np.float32(1.0 if depth_scale is None else depth_scale)
    else:
        raise DepthEncodingError(
            f"depth dtype {depth.dtype} is not supported; use uint16 (16UC1, sensor units, usually mm) "
            "or float32 (32FC1, metres)"
        )
    metres[~np.isfinite(metres) | (metres < 0)] = 0.0
    valid = metres > 0
    if not valid.any():
        raise InvalidDepthError(
            "depth has no valid reading (all zero, negative, NaN or inf); check the depth stream "
            "and that the depth image is registered to colour"
        )
    median = float(np.median(metres[valid]))
    if depth.dtype != np.uint16 and depth_scale is None and median > MAX_PLAUSIBLE_DEPTH_M:
        raise DepthScaleError(
            f"float depth has median {median:.1f} 'metres': this looks like millimetres stored as float; "
            "pass depth_scale=0.001 (or publish 32FC1 in metres)"
        )
    if median < MIN_PLAUSIBLE_DEPTH_M:
        raise DepthScaleError(
            f"depth median is {median * 1000:.2f} mm after scaling: depth_scale looks wrong "
            f"(used {depth_scale if depth_scale is not None else 'default'}); for 16UC1 in mm use 0.001"
        )
    if median > MAX_PLAUSIBLE_DEPTH_M:
        raise DepthScaleError(
            f"depth median is {median:.1f} m after scaling: depth_scale looks wrong "
            f"(used {depth_scale if depth_scale is not None else 'default'}); for 16UC1 in mm use 0.001"
        )
    return metres


def depth_to_millimetres(depth_m: np.ndarray) -> np.ndarray:
    """Float metres (0 = no reading) -> ``16UC1`` millimetres, the common driver encoding:
    rounded, clipped to the uint16 range (0 stays "no reading")."""
    return np.clip(np.round(np.asarray(depth_m) * 1000.0), 0, 65535).astype(np.uint16)


def make_rgbd(
    color: np.ndarray,
    depth: np.ndarray,
    camera: PinholeCamera,
    depth_scale: float | None = None,
    mask: np.ndarray | None = None,
) -> RGBDFrame:
    """Validate and normalise one RGB-D frame (see module docstring)."""
    if not isinstance(camera, PinholeCamera):
        raise InputError(f"camera must be a PinholeCamera, got {type(camera).__name__}")
    color = np.asarray(color)
    if color.ndim != 3 or color.shape[2] != 3 or color.dtype != np.uint8:
        raise InputError(f"colour must be an H x W x 3 uint8 RGB image, got shape {color.shape} dtype {color.dtype}")
    camera.check_image(color, "colour")
    depth_m = depth_to_metres(depth, depth_scale)
    if depth_m.shape != color.shape[:2]:
        raise ImageSizeMismatchError(
            f"depth is {depth_m.shape[1]}x{depth_m.shape[0]} but colour is {color.shape[1]}x{color.shape[0]}; "
            "use depth aligned to colour (e.g. aligned_depth_to_color)"
        )
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != color.shape[:2]:
            raise ImageSizeMismatchError(
                f"mask is {mask.shape[1]}x{mask.shape[0]} but colour is {color.shape[1]}x{color.shape[0]}"
            )
        if not np.issubdtype(mask.dtype, np.integer) and mask.dtype != bool:
            raise InputError(f"mask must hold integer instance ids or booleans, got dtype {mask.dtype}")
        if not (mask > 0).any():
            raise EmptyMaskError("the instance mask selects no pixel (all zero); pass no mask to segment automatically")
    return RGBDFrame(color=color, depth=depth_m, camera=camera, mask=mask)


def read_image(path: str | Path, flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray:
    """cv2.imread that raises :class:`InputError` naming the file instead of returning None."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"image file not found: {path}")
    img = cv2.imread(str(path), flags)
    if img is None:
        raise InputError(f"cannot decode image {path} (corrupt or unsupported format)")
    return img


def read_color(path: str | Path) -> np.ndarray:
    img = read_image(path, cv2.IMREAD_COLOR)
    return np.ascontiguousarray(img[..., ::-1])  # OpenCV reads BGR
