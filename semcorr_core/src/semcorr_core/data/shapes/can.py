"""Procedural cans (closed solid of revolution with recessed lids and rim lips).

Canonical frame: metres, +z up the axis, origin on the axis in the resting plane z = 0; continuous
rotation symmetry about z.

Two styles (50/50):

* ``beverage``: domed bottom standing on a narrow ring, rounded bottom taper, straight body,
  necked-in top to a smaller lid radius, raised lip around a recessed lid.
* ``food``: straight body with optional bead ribs, rolled lips (slightly wider than the body) at
  both ends, both lids recessed.

Sampled parameters (uniform unless noted):

* ``radius`` R (body radius): 0.025-0.05 m; ``height`` H (resting plane to the top lip): 0.06-0.16 m.
* beverage: stand-ring radius R * 0.70-0.82; dome height 4-10 mm (at most 0.1 H); bottom taper
  height 6-14 mm; neck height 8-16 mm; lid radius R * 0.82-0.92; lip height 2-4 mm; lip width
  1.5-3 mm; lid recess 3-7 mm below the lip top.
* food: lip overhang 0.8-2 mm; lip height 2-4 mm; lid inset 2-4 mm; lid recess 2-5 mm (top and
  bottom); ribs: 0 (40 %) or 2-5 bead ribs of depth 0.5-1.2 mm over the middle 70 % of the body.

Keypoints (on the axis): top_center (0, 0, H) (centre of the top lip plane, above the recessed
lid); bottom_center (0, 0, 0) (centre of the resting plane, below the recessed / domed bottom).
"""

from __future__ import annotations

import numpy as np

from .primitives import MeshBuilder, choice, lathe, uniform

N_SEG = 48


def generate(rng: np.random.Generator):
    R = uniform(rng, 0.025, 0.05)
    H = uniform(rng, 0.06, 0.16)
    style = choice(rng, ("beverage", "food"))
    pts: list[tuple[float, float]] = []
    labs: list[str] = []

    def add(p, lab):
        for q in np.atleast_2d(np.asarray(p, float)):
            pts.append((float(q[0]), float(q[1])))
            labs.append(lab)

    if style == "beverage":
        r_s = R * uniform(rng, 0.70, 0.82)
        hd = min(uniform(rng, 0.004, 0.010), 0.1 * H)
        hbt = uniform(rng, 0.006, 0.014)
        hn = uniform(rng, 0.008, 0.016)
        Rt = R * uniform(rng, 0.82, 0.92)
        lip_h = uniform(rng, 0.002, 0.004)
        lw = uniform(rng, 0.0015, 0.003)
        rec = max(uniform(rng, 0.003, 0.007), lip_h + 0.001)
        r_d = r_s - 0.002
        rr = np.linspace(0.0, r_d, 6)
        add(np.stack([rr, 0.0015 + (hd - 0.0015) * (1.0 - (rr / r_d) ** 2)], axis=1), "bottom")
        add([(r_s - 0.001, 0.0), (r_s + 0.001, 0.0)], "bottom")
        c0 = r_s + 0.001
        a = np.linspace(0.0, np.pi / 2, 6)[1:]
        add(np.stack([c0 + (R - c0) * np.sin(a), hbt - hbt * np.cos(a)], axis=1), "body")
        add([(R, H - hn)], "body")
        s = np.linspace(0.0, 1.0, 6)[1:]
        add(np.stack([Rt + (R - Rt) * 0.5 * (1 + np.cos(np.pi * s)), H - hn + (hn - lip_h) * s], axis=1), "body")
        add([(Rt, H), (Rt - lw, H), (Rt - lw, H - rec), (0.0, H - rec)], "top")
        params = {
            "style": style, "radius": R, "height": H, "stand_ring_radius": r_s, "dome_height": hd,
            "bottom_taper_height": hbt, "neck_height": hn, "lid_radius": Rt, "lip_height": lip_h,
            "lip_width": lw, "lid_recess": rec,
        }
    else:
        lip = uniform(rng, 0.0008, 0.002)
        lip_h = uniform(rng, 0.002, 0.004)
        lw = uniform(rng, 0.002, 0.004)
        rec_b = uniform(rng, 0.002, 0.005)
        rec_t = uniform(rng, 0.002, 0.005)
        n_ribs = 0 if rng.random() < 0.4 else int(rng.integers(2, 6))
        depth = uniform(rng, 0.0005, 0.0012) if n_ribs else 0.0
        add([(0.0, rec_b), (R - lw, rec_b), (R - 0.6 * lw, 0.0), (R + lip, 0.0), (R + lip, lip_h)], "bottom")
        z0, z1 = lip_h + 0.001, H - lip_h - 0.001
        if n_ribs:
            b0, b1 = z0 + 0.15 * (z1 - z0), z1 - 0.15 * (z1 - z0)
            zr = np.linspace(b0, b1, 5 * n_ribs + 1)
            rr = R - depth * 0.5 * (1.0 - np.cos(2.0 * np.pi * n_ribs * (zr - b0) / (b1 - b0)))
            add([(R, z0)], "body")
            add(np.stack([rr, zr], axis=1), "body")
            add([(R, z1)], "body")
        else:
            add([(R, z0), (R, z1)], "body")
        add([(R + lip, H - lip_h), (R + lip, H), (R - 0.6 * lw, H), (R - lw, H - rec_t), (0.0, H - rec_t)], "top")
        params = {
            "style": style, "radius": R, "height": H, "lip_overhang": lip, "lip_height": lip_h,
            "lid_inset": lw, "bottom_recess": rec_b, "top_recess": rec_t, "n_ribs": n_ribs,
            "rib_depth": depth,
        }
    params["n_seg"] = N_SEG
    V, F, seg = lathe(np.array(pts), N_SEG)
    mb = MeshBuilder()
    mb.add(V, F, [labs[i + 1] for i in seg])
    V, F, parts, names = mb.build()
    keypoints = {"top_center": np.array([0.0, 0.0, H]), "bottom_center": np.zeros(3)}
    return V, F, parts, names, keypoints, params
