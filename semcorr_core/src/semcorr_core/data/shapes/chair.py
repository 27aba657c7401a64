"""Procedural chairs (union of closed boxes and prisms).

Canonical frame: metres, +z up, the chair faces +x (a person sitting on it looks towards +x, so
their left is +y); origin on the floor below the centre of the four leg floor contacts, which is
also the centre of the seat in x and y. Exactly mirror symmetric through the xz-plane.

Parts: ``seat`` (a slab, trapezoidal from above: front width >= back width), four ``leg`` prisms
(round: 12-sided, or square; straight or splayed outwards; optionally tapered) whose cross-sections
stay horizontal so that each leg stands flat on z = 0, a ``backrest`` tilted backwards about the
seat's back edge (a solid panel, or two posts + top rail + horizontal or vertical slats), and
optional ``arm`` rests (arm slab on a front and a rear post per side).

Sampled parameters (uniform unless noted):

* ``seat_height`` (top surface) 0.40-0.50 m; ``seat_depth`` 0.36-0.50 m; ``seat_width_front``
  0.38-0.52 m; ``seat_width_back`` = front * 0.85-1.0; ``seat_thickness`` 0.02-0.06 m.
* legs: ``leg_section`` round / square (50/50); ``leg_size`` (diameter / side at the top)
  0.025-0.05 m; ``leg_taper`` (bottom/top size) 0.6-1.0; ``leg_inset`` from the seat edges
  0.005-0.04 m; ``leg_splay``: 0 (50 %) or 0.01-0.05 m outwards in x and y at the floor.
* backrest: ``back_height`` above the seat 0.30-0.50 m; ``back_tilt`` 0-20 degrees;
  ``back_thickness`` 0.015-0.04 m (limited so the tilted bottom stays inside the seat);
  ``back_width`` = seat back width * 0.85-1.0; ``back_style`` panel / h_slats / v_slats (1/3 each):
  posts 0.02-0.04 m wide, top rail 0.05-0.12 m high, 2-4 horizontal or 3-5 vertical slats.
* ``arms`` (30 %): arm top 0.18-0.25 m above the seat, 0.04-0.06 m wide, 0.02-0.03 m thick.

Keypoints (all on the surface, exact vertices or face points):
seat_{front,back}_{left,right}: corners of the seat top surface, ``(+-d/2, +-w/2, seat_height)``
(front = +x, left = +y); leg_*: centre of each leg's floor contact (centre vertex of its bottom
cap, z = 0); back_top_{left,right}: the top corners of the backrest's front face (facing the sitter).
"""

from __future__ import annotations

import numpy as np

from .primitives import MeshBuilder, box, choice, prism, ring_angles, uniform

N_LEG_SIDES = 12


def _axis_box(x0, x1, y0, y1, z0, z1):
    bot = np.array([[x0, y0, z0], [x1, y0, z0], [x1, y1, z0], [x0, y1, z0]])
    top = bot.copy()
    top[:, 2] = z1
    return box(bot, top)


def generate(rng: np.random.Generator):
    hs = uniform(rng, 0.40, 0.50)
    d = uniform(rng, 0.36, 0.50)
    wf = uniform(rng, 0.38, 0.52)
    wb = wf * uniform(rng, 0.85, 1.0)
    ts = uniform(rng, 0.02, 0.06)
    leg_section = choice(rng, ("round", "square"))
    leg_size = uniform(rng, 0.025, 0.05)
    leg_taper = uniform(rng, 0.6, 1.0)
    inset = uniform(rng, 0.005, 0.04)
    splay = 0.0 if rng.random() < 0.5 else uniform(rng, 0.01, 0.05)
    hb = uniform(rng, 0.30, 0.50)
    tilt = float(np.deg2rad(uniform(rng, 0.0, 20.0)))
    tb = uniform(rng, 0.015, 0.04)
    tb = min(tb, 0.6 * ts / max(np.tan(tilt), 1e-9))  # tilted bottom edge stays inside the seat
    wbk = wb * uniform(rng, 0.85, 1.0)
    back_style = choice(rng, ("panel", "h_slats", "v_slats"))
    post_w = uniform(rng, 0.02, 0.04)
    rail_h = uniform(rng, 0.05, 0.12)
    n_slats = int(rng.integers(2, 5)) if back_style == "h_slats" else int(rng.integers(3, 6))
    has_arms = bool(rng.random() < 0.3)
    arm_h = uniform(rng, 0.18, 0.25)
    arm_w = uniform(rng, 0.04, 0.06)
    arm_t = uniform(rng, 0.02, 0.03)

    mb = MeshBuilder()

    # ---- seat: trapezoid (front width wf at x = +d/2, back width wb at x = -d/2) ----
    xf, xb_ = d / 2, -d / 2
    bot = np.array([[xb_, -wb / 2, hs - ts], [xf, -wf / 2, hs - ts], [xf, wf / 2, hs - ts], [xb_, wb / 2, hs - ts]])
    top = bot.copy()
    top[:, 2] = hs
    mb.add(*box(bot, top), "seat")

    def half_width(x):  # seat half width at x
        return 0.5 * (wb + (wf - wb) * (x - xb_) / d)

    # ---- legs ----
    legs = {}
    z_leg_top = hs - 0.5 * ts
    if leg_section == "round":
        c, s = ring_angles(N_LEG_SIDES)
        unit = 0.5 * np.stack([c, s], axis=1)
    else:
        unit = 0.5 * np.array([[1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]])
    for fb, sx in (("front", 1.0), ("back", -1.0)):
        x_top = sx * (d / 2 - inset - leg_size / 2)
        y_top = half_width(x_top) - inset - leg_size / 2
        top_c = np.array([x_top, y_top, z_leg_top])  # left leg; the right one is its mirror image
        bot_c = np.array([x_top + sx * splay, y_top + splay, 0.0])
        ring_t = np.c_[top_c[:2] + leg_size * unit, np.full(len(unit), z_leg_top)]
        ring_b = np.c_[bot_c[:2] + leg_size * leg_taper * unit, np.zeros(len(unit))]
        mirror = np.array([1.0, -1.0, 1.0])
        for lr, m in (("left", np.ones(3)), ("right", mirror)):
            V, F = prism(ring_b * m, ring_t * m)
            mb.add(V, F, "leg")
            legs[f"leg_{fb}_{lr}"] = bot_c * m

    # ---- backrest (local frame: u forward thickness, y, v up the backrest) ----
    ct, st = np.cos(tilt), np.sin(tilt)

    def to_world(u, y, v):
        u, y, v = np.broadcast_arrays(np.asarray(u, float), np.asarray(y, float), np.asarray(v, float))
        return np.stack([xb_ + u * ct - v * st, y, hs + u * st + v * ct], axis=-1)

    def local_box(u0, u1, y0, y1, v0, v1):
        uu = np.array([u0, u1, u1, u0])
        yy = np.array([y0, y0, y1, y1])
        return box(to_world(uu, yy, np.full(4, v0)), to_world(uu, yy, np.full(4, v1)))

    v_bot = -0.8 * ts
    half_b = wbk / 2
    if back_style == "panel":
        mb.add(*local_box(0.0, tb, -half_b, half_b, v_bot, hb), "backrest")
    else:
        mb.add(*local_box(0.0, tb, -half_b, half_b, hb - rail_h, hb), "backrest")  # top rail
        for sy in (1.0, -1.0):  # posts, slightly inside the rail's ends and faces
            y_in, y_out = half_b - post_w, half_b - 0.001
            y0, y1 = (y_in, y_out) if sy > 0 else (-y_out, -y_in)
            mb.add(*local_box(0.1 * tb, 0.9 * tb, y0, y1, v_bot, hb - 0.5 * rail_h), "backrest")
        span = hb - rail_h
        if back_style == "h_slats":
            slat_h = min(0.06, 0.5 * span / n_slats)
            for k in range(n_slats):
                vc = span * (k + 1) / (n_slats + 1)
                mb.add(*local_box(0.2 * tb, 0.8 * tb, -(half_b - 0.5 * post_w), half_b - 0.5 * post_w,
                                  vc - slat_h / 2, vc + slat_h / 2), "backrest")
        else:
            inner = half_b - post_w
            sw = min(0.03, 0.5 * 2 * inner / n_slats)
            for k in range(n_slats):
                yc = -inner + 2 * inner * (k + 1) / (n_slats + 1)
                mb.add(*local_box(0.2 * tb, 0.8 * tb, yc - sw / 2, yc + sw / 2, v_bot, hb - 0.5 * rail_h),
                       "backrest")
    back_top = {"back_top_left": to_world(tb, half_b, hb), "back_top_right": to_world(tb, -half_b, hb)}

    # ---- arms ----
    arms = None
    if has_arms:
        za = hs + arm_h
        y_out = wb / 2
        y_in = y_out - arm_w
        x_front = d / 2 - 0.03
        x_back = xb_ - arm_h * np.tan(tilt)  # meets the backrest's back face at arm height
        pw = 0.025
        for sy in (1.0, -1.0):
            y0, y1 = (y_in, y_out) if sy > 0 else (-y_out, -y_in)
            mb.add(*_axis_box(x_back, x_front, y0, y1, za - arm_t, za), "arm")
            yc0, yc1 = (y_in + 0.005, y_out - 0.005) if sy > 0 else (-y_out + 0.005, -y_in - 0.005)
            mb.add(*_axis_box(x_front - 0.03 - pw, x_front - 0.03, yc0, yc1, hs - 0.5 * ts, za - 0.5 * arm_t), "arm")
            xr = xb_ + tb + 0.01
            mb.add(*_axis_box(xr, xr + pw, yc0, yc1, hs - 0.5 * ts, za - 0.5 * arm_t), "arm")
        arms = {"height_above_seat": arm_h, "width": arm_w, "thickness": arm_t}

    V, F, parts, names = mb.build()
    keypoints = {
        "seat_front_left": np.array([xf, wf / 2, hs]),
        "seat_front_right": np.array([xf, -wf / 2, hs]),
        "seat_back_left": np.array([xb_, wb / 2, hs]),
        "seat_back_right": np.array([xb_, -wb / 2, hs]),
        "leg_front_left": legs["leg_front_left"],
        "leg_front_right": legs["leg_front_right"],
        "leg_back_left": legs["leg_back_left"],
        "leg_back_right": legs["leg_back_right"],
        "back_top_left": back_top["back_top_left"],
        "back_top_right": back_top["back_top_right"],
    }
    params = {
        "seat_height": hs,
        "seat_depth": d,
        "seat_width_front": wf,
        "seat_width_back": float(wb),
        "seat_thickness": ts,
        "leg_section": leg_section,
        "leg_size": leg_size,
        "leg_taper": leg_taper,
        "leg_inset": inset,
        "leg_splay": splay,
        "back_height": hb,
        "back_tilt_deg": float(np.rad2deg(tilt)),
        "back_thickness": float(tb),
        "back_width": float(wbk),
        "back_style": back_style,
        "back_post_width": post_w if back_style != "panel" else None,
        "back_rail_height": rail_h if back_style != "panel" else None,
        "back_n_slats": n_slats if back_style != "panel" else 0,
        "arms": arms,
    }
    return V, F, parts, names, keypoints, params
