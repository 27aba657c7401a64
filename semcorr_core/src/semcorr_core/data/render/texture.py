"""Procedural surface colours (albedo) evaluated on 3D coordinates, so a texture sticks to a shape."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TEXTURE_KINDS = ("solid", "stripes", "checker", "noise")


@dataclass(frozen=True)
class Texture:
    kind: str
    color_a: tuple[float, float, float]  # RGB in [0, 1]
    color_b: tuple[float, float, float]
    frequency: float  # cycles per metre
    phase: tuple[float, float, float]

    def to_dict(self) -> dict:
        return {"kind": self.kind, "color_a": list(self.color_a), "color_b": list(self.color_b),
                "frequency": self.frequency, "phase": list(self.phase)}


def _hsv_to_rgb(h: float, s: float, v: float) -> tuple[float, float, float]:
    i = int(h * 6.0) % 6
    f = h * 6.0 - int(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]


def random_texture(
    rng: np.random.Generator,
    kinds: tuple[str, ...] = TEXTURE_KINDS,
    frequency: tuple[float, float] = (15.0, 60.0),
) -> Texture:
    """Random two-colour texture; ``frequency`` in cycles per metre (objects want fine patterns,
    a table top coarse ones that do not alias in the distance)."""
    h = float(rng.random())
    a = _hsv_to_rgb(h, float(rng.uniform(0.0, 0.9)), float(rng.uniform(0.35, 1.0)))
    b = _hsv_to_rgb((h + rng.uniform(0.2, 0.8)) % 1.0, float(rng.uniform(0.0, 0.9)), float(rng.uniform(0.2, 1.0)))
    return Texture(
        kind=str(rng.choice(kinds)),
        color_a=tuple(float(c) for c in a),
        color_b=tuple(float(c) for c in b),
        frequency=float(rng.uniform(*frequency)),
        phase=tuple(float(p) for p in rng.uniform(0, 1, 3)),
    )


def _value_noise(p: np.ndarray) -> np.ndarray:
    """Smooth pseudo-random field in [0, 1] from a few incommensurate sinusoids (cheap, seedless)."""
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    v = np.sin(1.7 * x + 0.3 * y) + np.sin(2.3 * y - 1.1 * z + 0.5) + np.sin(2.9 * z + 0.7 * x + 1.3)
    v += 0.5 * np.sin(5.1 * x - 4.3 * y + 3.7 * z)
    return 0.5 + v / 7.0


def albedo(texture: Texture, points: np.ndarray) -> np.ndarray:
    """(N, 3) float32 RGB albedo in [0, 1] of ``texture`` at (N, 3) surface coordinates (metres)."""
    a = np.asarray(texture.color_a, np.float32)
    b = np.asarray(texture.color_b, np.float32)
    if texture.kind == "solid" or len(points) == 0:
        return np.broadcast_to(a, (len(points), 3)).astype(np.float32)
    q = np.asarray(points, np.float32) * np.float32(texture.frequency) + np.asarray(texture.phase, np.float32)
    if texture.kind == "stripes":
        w = (np.floor(q[:, 2]) % 2).astype(np.float32)
    elif texture.kind == "checker":
        w = (np.floor(q).sum(axis=1) % 2).astype(np.float32)
    elif texture.kind == "noise":
        w = _value_noise(q * 0.25).astype(np.float32)
    else:
        raise ValueError(f"unknown texture kind {texture.kind!r}; use one of {TEXTURE_KINDS}")
    return a[None] + (b - a)[None] * w[:, None]


def texture_image(texture: Texture, size: int = 256) -> np.ndarray:
    """(size, size, 3) float32 RGB tile of ``texture`` covering one period of 1 / frequency metres
    in x and y (a seamless tile: the support plane repeats it)."""
    period = 1.0 / texture.frequency
    g = (np.arange(size, dtype=np.float32) + 0.5) / size * period
    x, y = np.meshgrid(g, g)
    pts = np.stack([x, y, np.zeros_like(x)], axis=-1).reshape(-1, 3)
    if texture.kind == "noise":  # periodic variant so the tile wraps without seams
        k = 2 * np.pi * np.array([1.0, 2.0, 3.0], np.float32)
        ph = np.asarray(texture.phase, np.float32) * 2 * np.pi
        w = (np.sin(k[0] * x / period + ph[0]) * np.sin(k[1] * y / period + ph[1])
             + 0.5 * np.sin(k[2] * (x + y) / period + ph[2]))
        w = (0.5 + w / 3.0).reshape(-1, 1).astype(np.float32)
        a, b = np.asarray(texture.color_a, np.float32), np.asarray(texture.color_b, np.float32)
        return (a + (b - a) * w).reshape(size, size, 3)
    return albedo(texture, pts).reshape(size, size, 3)
