"""Procedural bowls (hollow solid of revolution: outer wall, flat rim, inner wall and floor).

Canonical frame: metres, +z up the axis, origin on the axis in the resting plane z = 0 (centre of
the flat base, or of the foot ring's footprint); continuous rotation symmetry about z.

Outer wall: a superellipse quarter from the base radius Rf at z = z_b to the rim radius R at z = H,
``r = Rf + (R - Rf) sin(phi)^(2/p)``, ``z = z_b + (H - z_b)(1 - cos(phi)^(2/p))``, phi in
[0, pi/2]: p = 1 gives a straight cone, p = 2 a round (elliptical) bowl, p = 3 a boxy one. Inner wall:
the same curve shifted inwards by the wall thickness t and running from the inner floor
``z_f = z_b + bottom_thickness`` up to the rim (so it is strictly inside the outer wall). Optional foot
ring below z_b (trapezoidal section).

Sampled parameters (uniform unless noted):

* ``radius`` R (outer rim radius): 0.06-0.14 m; ``height`` H = R * 0.35-0.7.
* ``base_radius`` Rf = R * 0.3-0.6; ``profile_exponent`` p: 1.0-3.0.
* ``wall_thickness`` t: 0.003-0.008 m; ``bottom_thickness`` 0.004-0.01 m.
* ``foot`` (50 %): height 4-12 mm, outer radius at the floor Rf - (0-0.6) * height, width 3-8 mm,
  inner side slanting inwards by 0-0.4 * height.

Keypoints (on the axis): rim_center (0, 0, H); bottom_center (0, 0, 0) (the base pole vertex when
there is no foot; the centre of the foot ring's footprint otherwise).
"""

from __future__ import annotations

import numpy as np

from .primitives import MeshBuilder, lathe, uniform

N_SEG = 64
N_WALL = 14


def generate(rng: np.random.Generator):
    R = uniform(rng, 0.06, 0.14)
    H = R * uniform(rng, 0.35, 0.7)
    Rf = R * uniform(rng, 0.3, 0.6)
    p = uniform(rng, 1.0, 3.0)
    t = uniform(rng, 0.003, 0.008)
    tb = uniform(rng, 0.004, 0.01)
    has_foot = bool(rng.random() < 0.5)
    foot = None
    pts: list[tuple[float, float]] = []
    labs: list[str] = []
    if has_foot:
        hf = uniform(rng, 0.004, 0.012)
        Rfo = Rf - hf * uniform(rng, 0.0, 0.6)
        wf = uniform(rng, 0.003, 0.008)
        slant = hf * uniform(rng, 0.0, 0.4)
        Rbi = Rfo - wf
        Rti = max(Rbi - slant, 0.005)
        zb = hf
        pts += [(0.0, zb), (Rti, zb), (Rbi, 0.0), (Rfo, 0.0)]
        labs += ["base", "base", "foot", "foot"]
        foot = {"height": hf, "outer_radius": float(Rfo), "width": wf, "inner_slant": float(slant)}
    else:
        zb = 0.0
        pts += [(0.0, 0.0)]
        labs += ["base"]
    phi = np.linspace(0.0, np.pi / 2, N_WALL)
    sp = np.sin(phi) ** (2.0 / p)
    cp = np.cos(phi) ** (2.0 / p)
    sp[-1], cp[-1] = 1.0, 0.0
    outer = np.stack([Rf + (R - Rf) * sp, zb + (H - zb) * (1.0 - cp)], axis=1)
    pts += [tuple(x) for x in outer]
    labs += ["foot" if has_foot else "base"] + ["body"] * (N_WALL - 1)
    pts += [(R - t, H)]
    labs += ["rim"]
    zf = zb + tb
    inner = np.stack([Rf - t + (R - Rf) * sp, zf + (H - zf) * (1.0 - cp)], axis=1)[::-1]
    pts += [tuple(x) for x in inner[1:]]
    labs += ["interior"] * (N_WALL - 1)
    pts += [(0.0, zf)]
    labs += ["interior"]
    prof = np.array(pts)
    V, F, seg = lathe(prof, N_SEG)
    mb = MeshBuilder()
    mb.add(V, F, [labs[i + 1] for i in seg])
    V, F, parts, names = mb.build()
    keypoints = {"rim_center": np.array([0.0, 0.0, H]), "bottom_center": np.zeros(3)}
    params = {
        "radius": R,
        "height": H,
        "base_radius": Rf,
        "profile_exponent": p,
        "wall_thickness": t,
        "bottom_thickness": tb,
        "foot": foot,
        "n_seg": N_SEG,
    }
    return V, F, parts, names, keypoints, params
