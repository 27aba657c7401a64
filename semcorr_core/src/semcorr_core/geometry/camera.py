"""Pinhole camera in the OpenCV / ROS CameraInfo convention.

Pixel (u, v) = (column, row); the *centre* of pixel (i, j) sits at u = i, v = j (integer
coordinates), x right, y down, z forward (camera optical frame). Units: metres and pixels.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from semcorr_core.errors import ImageSizeMismatchError, IntrinsicsError


@dataclass(frozen=True)
class PinholeCamera:
    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def __post_init__(self) -> None:
        vals = (self.fx, self.fy, self.cx, self.cy)
        if not all(math.isfinite(float(v)) for v in vals):
            raise IntrinsicsError(f"intrinsics must be finite, got fx={self.fx} fy={self.fy} cx={self.cx} cy={self.cy}")
        if self.fx <= 0 or self.fy <= 0:
            raise IntrinsicsError(
                f"focal lengths must be > 0 (got fx={self.fx}, fy={self.fy}); a zero K usually means the "
                "camera driver published CameraInfo before calibration was loaded - check camera_info"
            )
        if int(self.width) <= 0 or int(self.height) <= 0:
            raise IntrinsicsError(f"image size must be positive, got {self.width}x{self.height}")

    # --- construction / serialisation -------------------------------------------------------
    @classmethod
    def from_K(cls, K, width: int, height: int) -> "PinholeCamera":
        K = np.asarray(K, dtype=np.float64)
        if K.size != 9:
            raise IntrinsicsError(f"K must have 9 entries (3x3 row-major), got {K.size}")
        K = K.reshape(3, 3)
        return cls(float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2]), int(width), int(height))

    @classmethod
    def from_camera_info(cls, info: dict) -> "PinholeCamera":
        """From a CameraInfo-like dict: ``{"width", "height", "k"}`` (ROS 2 spelling) or ``"K"``."""
        if not isinstance(info, dict):
            raise IntrinsicsError(f"camera info must be a mapping, got {type(info).__name__}")
        k = info.get("k", info.get("K"))
        if k is None:
            raise IntrinsicsError("camera info has no 'k' (3x3 intrinsic matrix, row-major); is camera_info published?")
        try:
            w, h = int(info["width"]), int(info["height"])
        except (KeyError, TypeError, ValueError) as e:
            raise IntrinsicsError(f"camera info needs integer 'width' and 'height': {e}") from None
        return cls.from_K(k, w, h)

    def to_camera_info(self) -> dict:
        return {
            "width": int(self.width),
            "height": int(self.height),
            "distortion_model": "plumb_bob",
            "d": [0.0] * 5,
            "k": self.K.reshape(-1).tolist(),
            "r": np.eye(3).reshape(-1).tolist(),
            "p": np.hstack([self.K, np.zeros((3, 1))]).reshape(-1).tolist(),
        }

    @classmethod
    def from_fov(cls, width: int, height: int, hfov_deg: float) -> "PinholeCamera":
        """Square pixels, principal point at the image centre ((W-1)/2, (H-1)/2)."""
        f = 0.5 * width / math.tan(math.radians(hfov_deg) / 2)
        return cls(f, f, (width - 1) / 2.0, (height - 1) / 2.0, int(width), int(height))

    @property
    def K(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width), the numpy image shape."""
        return int(self.height), int(self.width)

    def check_image(self, image: np.ndarray, what: str = "image") -> None:
        """Raise :class:`ImageSizeMismatchError` unless ``image`` is H x W (x C) for this camera."""
        if image.shape[:2] != self.shape:
            raise ImageSizeMismatchError(
                f"{what} is {image.shape[1]}x{image.shape[0]} but the intrinsics are for "
                f"{self.width}x{self.height}; use depth registered/aligned to colour and the matching camera_info"
            )

    # --- projection ------------------------------------------------------------------------
    def project(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) camera-frame points -> (..., 2) pixel coordinates (u, v). z must be > 0."""
        p = np.asarray(points, dtype=np.float64)
        z = p[..., 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            u = self.fx * p[..., 0] / z + self.cx
            v = self.fy * p[..., 1] / z + self.cy
        return np.stack([u, v], axis=-1)

    def pixel_rays(self) -> np.ndarray:
        """(H, W, 3) ray directions with z = 1 through every pixel centre (read-only: one array per
        camera is kept, a stream reuses it every frame)."""
        return _pixel_rays(float(self.fx), float(self.fy), float(self.cx), float(self.cy), int(self.width),
                           int(self.height))

    def backproject(self, depth: np.ndarray) -> np.ndarray:
        """(H, W) z-depth in metres -> (H, W, 3) camera-frame points (NaN where depth is invalid)."""
        self.check_image(depth, "depth")
        d = np.asarray(depth, dtype=np.float64)
        d = np.where(np.isfinite(d) & (d > 0), d, np.nan)
        return self.pixel_rays() * d[..., None]

    def in_image(self, uv: np.ndarray) -> np.ndarray:
        """Boolean mask: pixel coordinate falls inside the image (pixel centres at integers)."""
        uv = np.asarray(uv)
        return (uv[..., 0] >= -0.5) & (uv[..., 0] < self.width - 0.5) & (uv[..., 1] >= -0.5) & (uv[..., 1] < self.height - 0.5)


@functools.lru_cache(maxsize=8)
def _pixel_rays(fx: float, fy: float, cx: float, cy: float, width: int, height: int) -> np.ndarray:
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    rays = np.stack([(u - cx) / fx, (v - cy) / fy, np.ones_like(u)], axis=-1)
    rays.flags.writeable = False
    return rays
