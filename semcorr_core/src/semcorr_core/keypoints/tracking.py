"""Keypoint tracking across frames: stable instance ids and smoothed keypoints for steady grasps.

A static object seen by a static camera still gets slightly different keypoints every frame
(sensor noise, a different subsample of points, another RANSAC draw). A planner that re-plans on
each message sees that as jitter. :class:`KeypointTracker` associates each detection with the
track of its category whose pose translation is nearest (within ``max_distance`` metres, one
detection per track, greedy by distance) and blends its keypoints into the track's with an exponential moving
average of weight ``alpha`` for the new frame. A detection farther than ``max_distance`` from
every track starts a new one (the object moved or is another object); a track unseen for more
than ``max_missed`` frames is dropped. Smoothed keypoints are re-projected into the image; their
visibility and scores are the current frame's. Instance ids become track ids (stable while the
track lives, counting from 1).

This is state in the camera frame: with a moving camera the average lags behind the motion by
about ``(1 - alpha) / alpha`` frames, so the node leaves tracking off by default.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import count

import numpy as np

from semcorr_core.errors import InputError
from semcorr_core.geometry.camera import PinholeCamera

__all__ = ["KeypointTracker"]


@dataclass
class _Track:
    track_id: int
    category: str
    centre: np.ndarray  # (3,) pose translation, camera frame
    keypoints: np.ndarray  # (K, 3) smoothed, camera frame
    missed: int = 0


class KeypointTracker:
    """Associate detections over frames and smooth their keypoints (module docstring)."""

    def __init__(self, alpha: float = 0.3, max_distance: float = 0.05, max_missed: int = 5) -> None:
        if not (0.0 < alpha <= 1.0):
            raise InputError(f"alpha must be in (0, 1], got {alpha}")
        if not (np.isfinite(max_distance) and max_distance > 0):
            raise InputError(f"max_distance must be > 0 metres, got {max_distance}")
        if int(max_missed) < 0:
            raise InputError(f"max_missed must be >= 0, got {max_missed}")
        self.alpha, self.max_distance, self.max_missed = float(alpha), float(max_distance), int(max_missed)
        self._tracks: list[_Track] = []
        self._ids = count(1)

    def reset(self) -> None:
        self._tracks.clear()

    def update(self, detections, camera: PinholeCamera):
        """``Detections`` of one frame -> the same with track ids and smoothed keypoints."""
        objects = list(detections.objects)
        centres = [np.asarray(o.pose.t, dtype=np.float64) for o in objects]
        pairs = sorted((float(np.linalg.norm(c - t.centre)), i, j)
                       for i, c in enumerate(centres) for j, t in enumerate(self._tracks)
                       if t.category == objects[i].category)
        det_track: dict[int, _Track] = {}
        used = set()
        for dist, i, j in pairs:
            if dist > self.max_distance:
                break
            if i in det_track or j in used:
                continue
            det_track[i] = self._tracks[j]
            used.add(j)
        out = []
        for i, obj in enumerate(objects):
            xyz = np.stack([k.xyz for k in obj.keypoints]).astype(np.float64)
            track = det_track.get(i)
            if track is None or track.keypoints.shape != xyz.shape:
                track = _Track(next(self._ids), obj.category, centres[i], xyz)
                self._tracks.append(track)
            else:
                track.keypoints = self.alpha * xyz + (1.0 - self.alpha) * track.keypoints
                track.centre = self.alpha * centres[i] + (1.0 - self.alpha) * track.centre
                track.missed = 0
            det_track[i] = track
            uv = camera.project(track.keypoints)
            kps = [replace(k, xyz=track.keypoints[n].copy(), u=float(uv[n, 0]), v=float(uv[n, 1]))
                   for n, k in enumerate(obj.keypoints)]
            out.append(replace(obj, instance_id=track.track_id, keypoints=kps))
        seen = {id(t) for t in det_track.values()}
        for t in self._tracks:
            if id(t) not in seen:
                t.missed += 1
        self._tracks = [t for t in self._tracks if t.missed <= self.max_missed]
        return replace(detections, objects=out)
