"""Pictures for people: keypoints with names, colourised depth, canonical-coordinate maps."""

from __future__ import annotations

import cv2
import numpy as np

from semcorr_core.data.render.frame import Frame

_PALETTE = np.array(
    [[230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48], [145, 30, 180],
     [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212]], np.uint8)


def keypoint_color(index: int) -> tuple[int, int, int]:
    return tuple(int(c) for c in _PALETTE[index % len(_PALETTE)])


def depth_to_rgb(depth: np.ndarray, near: float | None = None, far: float | None = None) -> np.ndarray:
    """Colourise metres (0 = no reading, drawn black) with a perceptual colour map."""
    valid = depth > 0
    if not valid.any():
        return np.zeros(depth.shape + (3,), np.uint8)
    near = float(np.percentile(depth[valid], 1)) if near is None else near
    far = float(np.percentile(depth[valid], 99)) if far is None else far
    x = np.clip((depth - near) / max(far - near, 1e-6), 0, 1)
    rgb = cv2.applyColorMap((255 * (1 - x)).astype(np.uint8), cv2.COLORMAP_TURBO)[..., ::-1]
    rgb = rgb.copy()
    rgb[~valid] = 0
    return rgb


def canonical_colors(points: np.ndarray, lo: np.ndarray | None = None, hi: np.ndarray | None = None) -> np.ndarray:
    """``(N, 3)`` finite canonical xyz -> ``(N, 3)`` uint8 RGB like a NOCS map, each axis stretched
    over ``[lo, hi]`` (default: the points' own bounds)."""
    lo = points.min(0) if lo is None else lo
    hi = points.max(0) if hi is None else hi
    return (255 * np.clip((points - lo) / np.maximum(hi - lo, 1e-6), 0, 1)).astype(np.uint8)


def canonical_to_rgb(canonical: np.ndarray, lo: np.ndarray | None = None, hi: np.ndarray | None = None) -> np.ndarray:
    """Map canonical xyz (H, W, 3; NaN = none) to RGB like a NOCS map; NaN pixels are black."""
    valid = np.isfinite(canonical).all(-1)
    out = np.zeros(canonical.shape, np.uint8)
    if valid.any():
        out[valid] = canonical_colors(canonical[valid], lo, hi)
    return out


def draw_keypoints(
    image: np.ndarray,
    uv: np.ndarray,
    names: list[str] | tuple[str, ...],
    visible: np.ndarray,
    in_image: np.ndarray | None = None,
    scale: float = 1.0,
    label: bool = True,
) -> np.ndarray:
    """Draw keypoints on an RGB image: filled disc = visible, ring = occluded; names beside them."""
    out = np.ascontiguousarray(image.copy())
    r = max(2, int(round(4 * scale)))
    for k, (p, name) in enumerate(zip(uv, names)):
        if in_image is not None and not in_image[k]:
            continue
        if not np.all(np.isfinite(p)):
            continue
        c = keypoint_color(k)
        pt = (int(round(p[0] * scale)), int(round(p[1] * scale)))
        if visible[k]:
            cv2.circle(out, pt, r, c, -1, cv2.LINE_AA)
            cv2.circle(out, pt, r, (0, 0, 0), 1, cv2.LINE_AA)
        else:
            cv2.circle(out, pt, r, c, max(1, r // 2), cv2.LINE_AA)
        if label:
            txt = name if visible[k] else f"({name})"
            org = (pt[0] + r + 2, pt[1] - r)
            cv2.putText(out, txt, org, cv2.FONT_HERSHEY_SIMPLEX, 0.35 * max(scale, 0.8), (0, 0, 0), 2, cv2.LINE_AA)
            cv2.putText(out, txt, org, cv2.FONT_HERSHEY_SIMPLEX, 0.35 * max(scale, 0.8), (255, 255, 255), 1, cv2.LINE_AA)
    return out


def frame_panel(frame: Frame, scale: float = 0.5) -> np.ndarray:
    """One row for a frame: colour with GT keypoints | sensor depth | canonical-coordinate map."""
    h, w = frame.color.shape[:2]
    size = (int(w * scale), int(h * scale))
    color = cv2.resize(frame.color, size, interpolation=cv2.INTER_AREA)
    for obj in frame.objects:
        color = draw_keypoints(color, obj.keypoints_uv, obj.keypoint_names, obj.keypoints_visible,
                               obj.keypoints_in_image, scale=scale)
    depth = cv2.resize(depth_to_rgb(frame.depth), size, interpolation=cv2.INTER_NEAREST)
    canon = cv2.resize(canonical_to_rgb(frame.canonical), size, interpolation=cv2.INTER_NEAREST)
    return np.concatenate([color, depth, canon], axis=1)


def contact_sheet(frames: list[Frame], title: str = "", scale: float = 0.5, columns: int = 2) -> np.ndarray:
    """Grid of :func:`frame_panel` rows (RGB uint8), with an optional title bar."""
    if not frames:
        raise ValueError("contact_sheet needs at least one frame")
    panels = [frame_panel(f, scale) for f in frames]
    ph, pw = panels[0].shape[:2]
    rows = (len(panels) + columns - 1) // columns
    sheet = np.full((rows * (ph + 4), columns * (pw + 4), 3), 255, np.uint8)
    for i, p in enumerate(panels):
        r, c = divmod(i, columns)
        sheet[r * (ph + 4) : r * (ph + 4) + ph, c * (pw + 4) : c * (pw + 4) + pw] = p
    if title:
        bar = np.full((28, sheet.shape[1], 3), 255, np.uint8)
        cv2.putText(bar, title, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
        sheet = np.concatenate([bar, sheet], axis=0)
    return sheet
