"""Procedural mugs.

Canonical frame: metres, +z up the body axis, origin at the centre of the base (the mug stands on
z = 0), +x towards the handle; the whole mesh is exactly mirror symmetric through the xz-plane.

Geometry: a hollow body of revolution (outer wall with a bevelled base, flat rim annulus, inner
wall offset horizontally by the wall thickness, inner floor with a fillet) plus a handle: a closed
tube with an elliptical cross-section swept along a centre line in the xz-plane. The centre line is
a superellipse half-loop ``x = x_b + a cos(t)^(2/p)``, ``z = z_m + b sin(t)^(2/p)``,
``t in [-pi/2, pi/2]`` (p = 2: round; 2.4-3.2: D-shaped; 4-5: square-ish) joined at both ends
to short horizontal stubs that run radially into the wall, where the tube ends: past the outer
body surface the section tapers (scale <= 1, recorded as ``end_scale_*``) so that the end ring and
cap lie inside the wall solid, between the outer and the inner wall (never in the cavity).

Sampled parameters (uniform unless noted):

* ``height`` H: 0.07-0.12 m; ``radius_top`` (outer rim radius): 0.035-0.05 m.
* ``body_style``: straight (40 %): bottom radius = top radius; tapered (40 %): bottom/top radius
  ratio 0.75-0.95 (narrow base) or 1.04-1.12 (wide base), 50/50; belly (20 %): ratio 0.88-1.0 plus a
  sinusoidal bulge of 3-8 mm at mid height.
* ``wall_thickness`` 0.002-0.006 m (horizontal); ``bottom_thickness`` 0.004-0.012 m;
  ``base_bevel`` 0.001-0.004 m; inner floor fillet radius min(6 mm, half the inner base radius).
* handle ``style`` round / D / square (1/3 each) with exponent p = 2 / 2.4-3.2 / 4-5;
  half span b = 0.28-0.40 H; reach a = b * (0.75-1.05 round, 0.45-0.7 D, 0.5-0.85 square),
  clipped to 0.012-0.045 m; centre height anywhere it fits (top of tube >= 5 mm below the rim,
  bottom >= 4 mm above the base); tube half-width (along y) 3.5-7.5 mm, in-plane half-thickness
  0.6-1.0 of that; the loop starts 0-2 mm outside the widest body radius within its span.

Keypoints (exact): rim_center (0, 0, H); bottom_center (0, 0, 0) (pole vertex of the base);
handle_top / handle_bottom: the point where the handle centre line (horizontal there) pierces the
outer body surface, ``(R_out(z), 0, z)`` at the upper / lower attachment height (a point on the
body mesh, hidden inside the handle); handle_outer: the handle surface point in the mirror plane at
the middle of the loop, ``(x_b + a + r_n, 0, z_m)`` (max x of the handle; a mesh vertex);
rim_front: ``(-radius_top, 0, H)`` (outer rim edge opposite the handle; a mesh vertex).
"""

from __future__ import annotations

import numpy as np

from .primitives import MeshBuilder, arc_points, choice, lathe, resample_polyline, sweep_tube, uniform

N_SEG = 48  # body ring resolution (even; angle 0 on +x, pi on -x)
N_SIDES = 12  # handle tube cross-section resolution
N_HALF = 13  # handle loop samples per half


def _r_out(z, H, r_top, r_bot, bulge):
    z = np.asarray(z, float)
    return r_bot + (r_top - r_bot) * z / H + bulge * np.sin(np.pi * np.clip(z / H, 0.0, 1.0))


def generate(rng: np.random.Generator):
    H = uniform(rng, 0.07, 0.12)
    r_top = uniform(rng, 0.035, 0.05)
    body_style = choice(rng, ("straight", "tapered", "belly"), p=(0.4, 0.4, 0.2))
    bulge = 0.0
    if body_style == "straight":
        ratio = 1.0
    elif body_style == "tapered":
        ratio = uniform(rng, 0.75, 0.95) if rng.random() < 0.5 else uniform(rng, 1.04, 1.12)
    else:
        ratio = uniform(rng, 0.88, 1.0)
        bulge = uniform(rng, 0.003, 0.008)
    r_bot = r_top * ratio
    t = uniform(rng, 0.002, 0.006)
    tb = uniform(rng, 0.004, 0.012)
    bev = uniform(rng, 0.001, 0.004)

    def R_out(z):
        return _r_out(z, H, r_top, r_bot, bulge)

    # ---- body profile (r, z), counter-clockwise from the base pole to the inner-floor pole ----
    n_wall = 14 if bulge > 0 else 5
    cx = float(R_out(bev)) - bev
    base = [(0.0, 0.0)]
    bevel = arc_points((cx, bev), bev, -np.pi / 2, 0.0, 4)  # (cx, 0) -> (cx + bev, bev)
    zw = np.linspace(bev, H, n_wall)
    outer = np.stack([R_out(zw), zw], axis=1)
    outer[0] = bevel[-1]  # same point (R_out(bev), bev)
    rim = [(r_top, H), (r_top - t, H)]
    fil = min(0.006, 0.5 * (float(R_out(tb)) - t))
    zi = np.linspace(H, tb + fil, n_wall)
    inner = np.stack([R_out(zi) - t, zi], axis=1)
    ci = (float(R_out(tb + fil)) - t - fil, tb + fil)
    fillet = arc_points(ci, fil, 0.0, -np.pi / 2, 4)
    floor = [(0.0, tb)]
    pieces = [
        (np.array(base), "body"),
        (bevel, "body"),
        (outer[1:], "body"),
        (np.array(rim[1:]), "rim"),
        (inner[1:], "interior"),
        (fillet[1:], "interior"),
        (np.array(floor), "interior"),
    ]
    prof = np.concatenate([p for p, _ in pieces])
    seg_label_of_point = np.concatenate([[lab] * len(p) for p, lab in pieces])
    # segment i (point i -> i+1) takes the label of its end point
    Vb, Fb, seg = lathe(prof, N_SEG)
    labels = [str(seg_label_of_point[i + 1]) for i in seg]

    # outer generatrix polyline at angle 0 (exact mesh surface in the half-plane y = 0, x > 0)
    gen_z = np.r_[bevel[:, 1], outer[1:, 1]]
    gen_r = np.r_[bevel[:, 0], outer[1:, 0]]

    def R_mesh(z):
        return float(np.interp(z, gen_z, gen_r))

    # ---- handle ----
    style = choice(rng, ("round", "D", "square"))
    p_exp = {"round": 2.0, "D": uniform(rng, 2.4, 3.2), "square": uniform(rng, 4.0, 5.0)}[style]
    b = uniform(rng, 0.28, 0.40) * H
    reach_fac = {"round": (0.75, 1.05), "D": (0.45, 0.7), "square": (0.5, 0.85)}[style]
    a = float(np.clip(b * uniform(rng, *reach_fac), 0.012, 0.045))
    r_b = uniform(rng, 0.0035, 0.0075)
    r_n = r_b * uniform(rng, 0.6, 1.0)
    gap = uniform(rng, 0.0, 0.002)
    zm_frac = uniform(rng, 0.0, 1.0)
    lo_z, hi_z = 0.004 + r_n, H - 0.005 - r_n
    b = min(b, 0.5 * (hi_z - lo_z) * 0.98)
    zm = lo_z + b + zm_frac * ((hi_z - b) - (lo_z + b))
    z_top, z_bot = zm + b, zm - b

    # curvature limit: keep the loop's smallest bend radius above 1.3 * r_n (else the tube folds)
    def loop_half(pe, n_dense=2000):
        tt = np.linspace(0.0, np.pi / 2, n_dense)
        return np.stack([a * np.cos(tt) ** (2.0 / pe), b * np.sin(tt) ** (2.0 / pe)], axis=1)

    def min_bend_radius(pts):
        d1 = np.gradient(pts, axis=0)
        d2 = np.gradient(d1, axis=0)
        num = np.linalg.norm(d1, axis=1) ** 3
        den = np.abs(d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]) + 1e-300
        return float(np.min((num / den)[5:-5]))

    for _ in range(20):
        if min_bend_radius(loop_half(p_exp)) >= 1.3 * r_n:
            break
        p_exp = 2.0 + 0.8 * (p_exp - 2.0)
        if p_exp < 2.05:
            p_exp = 2.0
            r_n = min(r_n, min_bend_radius(loop_half(p_exp)) / 1.3)
            break

    zs = np.linspace(z_bot - r_n, z_top + r_n, 64)
    x_b = float(np.max(R_out(zs))) + gap
    cos_half = np.cos(np.pi / N_SEG)

    def tube_end(z):
        """Buried end of the tube at attachment height z: x of the end cap, strictly between the
        inner wall and the (faceted) outer wall, and the scale (<= 1) of the end ring's section so
        that the whole end ring fits inside the wall solid."""
        scale = 1.0
        for _ in range(40):
            zz = np.linspace(z - scale * r_n, z + scale * r_n, 33)
            r_in_max = float(np.max(R_out(zz) - t)) + 0.0002
            r_out_min = float(np.min(R_out(zz))) * cos_half - 0.0001
            room = r_out_min**2 - r_in_max**2
            if room > (scale * r_b) ** 2 * 1.05:
                x_hi = np.sqrt(r_out_min**2 - (scale * r_b) ** 2)
                return 0.5 * (r_in_max + x_hi), scale
            scale *= 0.85
        raise RuntimeError("mug wall too thin for a handle end")  # pragma: no cover

    x_end_top, s_top = tube_end(z_top)
    x_end_bot, s_bot = tube_end(z_bot)

    half = resample_polyline(loop_half(p_exp), N_HALF + 1)  # from mid (a, 0) to end (0, b)
    upper = np.stack([x_b + half[:, 0], zm + half[:, 1]], axis=1)  # mid -> top end
    lower = np.stack([x_b + half[:, 0], zm - half[:, 1]], axis=1)  # mid -> bottom end

    def stub(x_end, scale, z):
        """Stub from the buried end out to the loop start (x_b): end ring (scaled), then a full ring
        at the outer body surface (the tube tapers inside the wall), unless that is at x_b."""
        xs, ss = [x_end], [scale]
        x_surf = R_mesh(z)
        if x_b - x_surf > 5e-4 and x_surf - x_end > 5e-4:
            xs.append(x_surf)
            ss.append(1.0)
        return np.stack([xs, np.full(len(xs), z)], axis=1), ss

    st_top, sc_top = stub(x_end_top, s_top, z_top)
    st_bot, sc_bot = stub(x_end_bot, s_bot, z_bot)
    cl2 = np.concatenate([st_top, upper[::-1], lower[1:], st_bot[::-1]])  # top end -> bottom end
    scale = np.array(sc_top + [1.0] * (2 * N_HALF + 1) + sc_bot[::-1])
    tan = np.empty_like(cl2)
    tan[1:-1] = cl2[2:] - cl2[:-2]
    tan[0] = cl2[1] - cl2[0]
    tan[-1] = cl2[-1] - cl2[-2]
    tan /= np.linalg.norm(tan, axis=1, keepdims=True)
    centre = np.stack([cl2[:, 0], np.zeros(len(cl2)), cl2[:, 1]], axis=1)
    normal = np.stack([-tan[:, 1], np.zeros(len(cl2)), tan[:, 0]], axis=1)  # in-plane, away from the loop
    binormal = np.tile([0.0, 1.0, 0.0], (len(cl2), 1))
    Vh, Fh = sweep_tube(centre, normal, binormal, r_n * scale, r_b * scale, N_SIDES)
    i_mid = len(st_top) + N_HALF
    assert cl2[i_mid, 0] == x_b + a and tan[i_mid, 0] == 0.0

    mb = MeshBuilder()
    mb.add(Vb, Fb, labels)
    mb.add(Vh, Fh, "handle")
    V, F, parts, names = mb.build()

    keypoints = {
        "rim_center": np.array([0.0, 0.0, H]),
        "bottom_center": np.array([0.0, 0.0, 0.0]),
        "handle_top": np.array([R_mesh(z_top), 0.0, z_top]),
        "handle_bottom": np.array([R_mesh(z_bot), 0.0, z_bot]),
        "handle_outer": np.array([x_b + a + r_n, 0.0, zm]),
        "rim_front": np.array([-r_top, 0.0, H]),
    }
    params = {
        "height": H,
        "radius_top": r_top,
        "radius_bottom": float(r_bot),
        "body_style": body_style,
        "bulge": bulge,
        "wall_thickness": t,
        "bottom_thickness": tb,
        "base_bevel": bev,
        "floor_fillet": float(fil),
        "n_seg": N_SEG,
        "handle": {
            "style": style,
            "exponent": float(p_exp),
            "half_span": float(b),
            "reach": a,
            "center_z": float(zm),
            "z_top": float(z_top),
            "z_bottom": float(z_bot),
            "loop_start_x": x_b,
            "end_x_top": float(x_end_top),
            "end_x_bottom": float(x_end_bot),
            "end_scale_top": float(s_top),
            "end_scale_bottom": float(s_bot),
            "half_width": float(r_b),
            "half_thickness": float(r_n),
            "n_sides": N_SIDES,
        },
    }
    return V, F, parts, names, keypoints, params
