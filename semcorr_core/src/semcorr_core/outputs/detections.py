"""Picture of a detection result: canonical-coordinate overlay, keypoints with names (filled =
visible, ring = occluded), and each object's category and score."""

from __future__ import annotations

import cv2
import numpy as np

from semcorr_core.outputs.draw import canonical_to_rgb, draw_keypoints


def draw_detections(color: np.ndarray, detections, alpha: float = 0.45) -> np.ndarray:
    """RGB ``(H, W, 3)`` uint8 picture of :class:`semcorr_core.pipeline.Detections` on ``color``.

    Each object's canonical map is coloured like a NOCS map in the bounds of its own pixels, so a
    correct dense correspondence shows as a smooth gradient across the object."""
    out = np.ascontiguousarray(color.copy())
    for obj in detections.objects:
        overlay = canonical_to_rgb(obj.canonical_map)
        m = obj.mask & np.isfinite(obj.canonical_map).all(-1)
        out[m] = ((1 - alpha) * out[m] + alpha * overlay[m]).astype(np.uint8)
        ys, xs = np.nonzero(obj.mask)
        if len(xs):
            org = (int(xs.min()), max(12, int(ys.min()) - 4))
            txt = f"{obj.category} #{obj.instance_id} score {obj.score:.2f}"
            cv2.putText(out, txt, org, cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(out, txt, org, cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
        uv = np.array([[k.u, k.v] for k in obj.keypoints])
        visible = np.array([k.visible for k in obj.keypoints])
        h, w = out.shape[:2]
        inside = (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
        out = draw_keypoints(out, uv, [k.name for k in obj.keypoints], visible, inside)
    return out
