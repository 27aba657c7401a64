"""RViz markers of the detected keypoints: a sphere and a camera-facing text label per keypoint.

Each MarkerArray starts with a DELETEALL marker, so keypoints of objects that disappeared do not
linger in RViz (the markers of one frame replace those of the previous one). Markers live in the
output frame (the camera optical frame): +y is down, so labels sit slightly above (-y) their
sphere. Visible keypoints are opaque green, occluded ones translucent orange.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

__all__ = ["keypoint_markers", "SPHERE_DIAMETER_M", "TEXT_HEIGHT_M"]

SPHERE_DIAMETER_M = 0.012
TEXT_HEIGHT_M = 0.012
_VISIBLE = (0.1, 0.9, 0.2, 1.0)
_OCCLUDED = (1.0, 0.55, 0.0, 0.45)


def keypoint_markers(header, objects: Iterable, namespace: str = "semcorr"):
    """visualization_msgs/MarkerArray: DELETEALL, then per object and keypoint a SPHERE (ns
    ``<namespace>/keypoints``) and a TEXT_VIEW_FACING label (ns ``<namespace>/labels``), ids
    unique within their namespace across objects."""
    from geometry_msgs.msg import Point, Quaternion, Vector3
    from std_msgs.msg import ColorRGBA
    from visualization_msgs.msg import Marker, MarkerArray

    out = MarkerArray()
    clear = Marker()
    clear.header = header
    clear.action = Marker.DELETEALL
    out.markers.append(clear)
    n = 0
    for obj in objects:
        for k in obj.keypoints:
            x, y, z = (float(c) for c in np.asarray(k.xyz, dtype=np.float64))
            if not np.isfinite([x, y, z]).all():
                continue
            color = ColorRGBA(r=_VISIBLE[0], g=_VISIBLE[1], b=_VISIBLE[2], a=_VISIBLE[3]) if k.visible else \
                ColorRGBA(r=_OCCLUDED[0], g=_OCCLUDED[1], b=_OCCLUDED[2], a=_OCCLUDED[3])
            sphere = Marker(header=header, ns=f"{namespace}/keypoints", id=n, type=Marker.SPHERE, action=Marker.ADD)
            sphere.pose.position = Point(x=x, y=y, z=z)
            sphere.pose.orientation = Quaternion(w=1.0)
            sphere.scale = Vector3(x=SPHERE_DIAMETER_M, y=SPHERE_DIAMETER_M, z=SPHERE_DIAMETER_M)
            sphere.color = color
            label = Marker(header=header, ns=f"{namespace}/labels", id=n, type=Marker.TEXT_VIEW_FACING,
                           action=Marker.ADD)
            label.pose.position = Point(x=x, y=y - 0.8 * SPHERE_DIAMETER_M - TEXT_HEIGHT_M / 2, z=z)
            label.pose.orientation = Quaternion(w=1.0)
            label.scale = Vector3(z=TEXT_HEIGHT_M)  # TEXT markers use only scale.z (letter height)
            label.color = ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0)
            label.text = k.name
            out.markers += [sphere, label]
            n += 1
    return out
