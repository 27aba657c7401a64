"""Procedural bottles (closed solid of revolution; a capped bottle shows no inside).

Canonical frame: metres, +z up the axis from the base to the cap, origin at the centre of the flat
base; continuous rotation symmetry about z.

Profile (bottom to top): flat base with a rounded bevel, cylindrical body (optionally with a
shallow label-panel waist), shoulder narrowing to the neck radius, straight neck, cap (slightly
wider than the neck, rounded top edge).

Sampled parameters (uniform unless noted):

* ``height`` H (base to cap top): 0.15-0.32 m.
* ``body_radius`` Rb: 0.025-0.045 m, at most 0.22 H.
* ``neck_radius`` Rn: 0.009-0.016 m, at most 0.6 Rb.
* ``cap_height`` 0.012-0.03 m; ``cap_radius`` = Rn + 1-4 mm; cap top edge rounding 1-3 mm.
* ``neck_length`` 0.015-0.09 m (at most 0.3 H).
* ``shoulder_style``: round (quarter ellipse), conical (straight cone) or ogee (cosine S-curve),
  1/3 each; ``shoulder_height`` = (Rb - Rn) * 0.6-2.5 (at most 0.35 H).
  Neck and shoulder shrink proportionally when the body would be shorter than 0.3 H.
* ``base_bevel`` 0.002-0.006 m (at most 0.3 Rb); ``waist_depth`` 0 (60 %) or 0.5-2 mm (40 %), a
  smooth dip over the middle of the body.

Keypoints (all on the axis): cap_top (0, 0, H) (the cap's top pole vertex, on the surface);
neck (0, 0, z_neck) with z_neck the height where the shoulder reaches the neck radius (base of the
neck); shoulder (0, 0, z_shoulder) with z_shoulder the height where the shoulder's radius is half-way
between the body and neck radii (the middle of the narrowing: round 0.87, conical and ogee 0.5 of
the shoulder height above the body); bottom_center (0, 0, 0) (the base pole vertex, on the surface).

Why not the top of the cylindrical body: a round shoulder leaves the body tangentially (its radius
falls quadratically with height), so that height cannot be read from the surface - on held-out
bottles the learned embedding found it within 5 % of the diagonal on 5 of 12 (BENCHMARKS.md,
issue #3). The half-radius height is where the narrowing shows most.
"""

from __future__ import annotations

import numpy as np

from .primitives import MeshBuilder, arc_points, choice, lathe, uniform

N_SEG = 48


def generate(rng: np.random.Generator):
    H = uniform(rng, 0.15, 0.32)
    Rb = min(uniform(rng, 0.025, 0.045), 0.22 * H)
    Rn = min(uniform(rng, 0.009, 0.016), 0.6 * Rb)
    hc = uniform(rng, 0.012, 0.03)
    Rc = Rn + uniform(rng, 0.001, 0.004)
    cap_round = uniform(rng, 0.001, 0.003)
    Ln = min(uniform(rng, 0.015, 0.09), 0.3 * H)
    style = choice(rng, ("round", "conical", "ogee"))
    Hs = min((Rb - Rn) * uniform(rng, 0.6, 2.5), 0.35 * H)
    bev = min(uniform(rng, 0.002, 0.006), 0.3 * Rb)
    waist = uniform(rng, 0.0005, 0.002) if rng.random() < 0.4 else 0.0

    Hb = H - hc - Ln - Hs
    if Hb < 0.3 * H:  # shrink neck + shoulder to leave the body 30 % of the height
        k = (H - hc - 0.3 * H) / (Ln + Hs)
        Ln, Hs = Ln * k, Hs * k
        Hb = H - hc - Ln - Hs
    z_sh = Hb  # shoulder start (top of body)
    z_nk = Hb + Hs  # neck base
    # the shoulder keypoint: where the profile's radius is (Rb + Rn) / 2
    z_mid = z_sh + Hs * (np.sin(np.pi / 3) if style == "round" else 0.5)
    z_cap = z_nk + Ln  # cap bottom

    pts: list[np.ndarray] = []
    labs: list[str] = []

    def add(p, lab):
        p = np.atleast_2d(np.asarray(p, float))
        pts.append(p)
        labs.extend([lab] * len(p))

    add([(0.0, 0.0)], "body")
    add(arc_points((Rb - bev, bev), bev, -np.pi / 2, 0.0, 4), "body")
    zb = np.linspace(bev, z_sh, 12 if waist > 0 else 2)[1:]
    u = np.clip((zb - 0.2 * z_sh) / (0.6 * z_sh), 0.0, 1.0)
    add(np.stack([Rb - waist * np.sin(np.pi * u) ** 2, zb], axis=1), "body")
    s = np.linspace(0.0, 1.0, 11)[1:]
    if style == "round":
        phi = s * np.pi / 2
        sh = np.stack([Rn + (Rb - Rn) * np.cos(phi), z_sh + Hs * np.sin(phi)], axis=1)
    elif style == "conical":
        sh = np.stack([Rb - (Rb - Rn) * s, z_sh + Hs * s], axis=1)
    else:
        sh = np.stack([Rn + (Rb - Rn) * 0.5 * (1.0 + np.cos(np.pi * s)), z_sh + Hs * s], axis=1)
    sh[-1] = (Rn, z_nk)
    add(sh, "shoulder")
    add([(Rn, z_cap)], "neck")
    add([(Rc, z_cap), (Rc, H - cap_round)], "cap")
    add(arc_points((Rc - cap_round, H - cap_round), cap_round, 0.0, np.pi / 2, 4)[1:], "cap")
    add([(0.0, H)], "cap")
    prof = np.concatenate(pts)
    V, F, seg = lathe(prof, N_SEG)
    mb = MeshBuilder()
    mb.add(V, F, [labs[i + 1] for i in seg])
    V, F, parts, names = mb.build()
    keypoints = {
        "cap_top": np.array([0.0, 0.0, H]),
        "neck": np.array([0.0, 0.0, z_nk]),
        "shoulder": np.array([0.0, 0.0, z_mid]),
        "bottom_center": np.zeros(3),
    }
    params = {
        "height": H,
        "body_radius": float(Rb),
        "neck_radius": float(Rn),
        "cap_height": hc,
        "cap_radius": float(Rc),
        "cap_rounding": cap_round,
        "neck_length": float(Ln),
        "shoulder_style": style,
        "shoulder_height": float(Hs),
        "body_height": float(Hb),
        "base_bevel": float(bev),
        "waist_depth": waist,
        "n_seg": N_SEG,
    }
    return V, F, parts, names, keypoints, params
