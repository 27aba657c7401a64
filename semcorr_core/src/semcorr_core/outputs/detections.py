"""Picture of a detection result: canonical-coordinate overlay, keypoints with names (filled =
visible, ring = occluded), and each object's category and score."""

from __future__ import annotations

import cv2
import numpy as np

from semcorr_core.outputs.draw import canonical_colors, draw_keypoints


def draw_detections(color: np.ndarray, detections, alpha: float = 0.45) -> np.ndarray:
    """RGB ``(H, W, 3)`` uint8 picture of :class:`semcorr_core.pipeline.Detections` on ``color``.

    Each object's canonical map is coloured like a NOCS map in the bounds of its own pixels, so a
    correct dense correspondence shows as a smooth gradient across the object."""
    out = np.ascontiguousarray(color.copy())
    h, w = out.shape[:2]
    for obj in detections.objects:
        ys, xs = np.nonzero(obj.mask)
        if len(xs):
            # the object's bounding box only: a full-frame pass per object cost ~15 ms at 640x480
            y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
            cmap = obj.canonical_map[y0:y1, x0:x1]
            m = obj.mask[y0:y1, x0:x1] & np.isfinite(cmap).all(-1)
            region = out[y0:y1, x0:x1]
            if m.any():
                overlay = canonical_colors(cmap[m])
                region[m] = ((1 - alpha) * region[m] + alpha * overlay).astype(np.uint8)
            org = (x0, max(12, y0 - 4))
            txt = f"{obj.category} #{obj.instance_id} score {obj.score:.2f}"
            cv2.putText(out, txt, org, cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(out, txt, org, cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
        if not obj.keypoints:
            continue
        uv = np.array([[k.u, k.v] for k in obj.keypoints])
        visible = np.array([k.visible for k in obj.keypoints])
        inside = (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
        out = draw_keypoints(out, uv, [k.name for k in obj.keypoints], visible, inside)
    return out
