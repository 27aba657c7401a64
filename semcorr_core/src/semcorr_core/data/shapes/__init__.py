"""Procedural category shape engine: seeded, reproducible families of triangle meshes.

Public API::

    generate_shape(category, seed, instance_id=None, *, index=None) -> ShapeInstance
    generate_shapes(category, n, seed) -> list[ShapeInstance]
    instance_rng(seed, index) -> numpy.random.Generator

Categories: mug, bottle, bowl, can, chair (see ``semcorr_core.data.categories`` for keypoint
names, symmetry and the canonical frame; each module's docstring lists the sampled parameter ranges
and the exact keypoint construction). Every instance is a union of closed, outward-oriented
triangle-mesh components in the canonical frame (metres, +z up, standing on z = 0), with a part
label per face and its sampled parameters in ``params`` (JSON-serialisable).

Reproducibility: ``generate_shape(cat, seed)`` with an int seed uses ``numpy.random.default_rng(seed)``;
``generate_shapes(cat, n, seed)[i]`` equals ``generate_shape(cat, seed, index=i)`` (the i-th child of
``SeedSequence(seed)``), so any instance of a set can be regenerated on its own.
"""

from __future__ import annotations

import hashlib
import json
import numbers

import numpy as np

from semcorr_core.data.categories import CATEGORY_NAMES, get_category
from semcorr_core.data.shape import ShapeInstance
from semcorr_core.errors import InputError

from . import bottle, bowl, can, chair, mug

__all__ = ["generate_shape", "generate_shapes", "instance_rng", "CATEGORY_NAMES"]

_GENERATORS = {
    "mug": mug.generate,
    "bottle": bottle.generate,
    "bowl": bowl.generate,
    "can": can.generate,
    "chair": chair.generate,
}


def _check_seed(seed) -> int:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise InputError(f"seed must be a non-negative int or a numpy Generator, got {type(seed).__name__} {seed!r}")
    if int(seed) < 0:
        raise InputError(f"seed must be non-negative, got {seed}; use any int >= 0")
    return int(seed)


def instance_rng(seed: int, index: int) -> np.random.Generator:
    """Generator of instance ``index`` of the set seeded with ``seed`` (child ``index`` of
    ``SeedSequence(seed)``; independent streams for different indices)."""
    seed = _check_seed(seed)
    index = _check_seed(index)
    return np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(index,)))


def generate_shape(
    category: str,
    seed: int | np.random.Generator,
    instance_id: str | None = None,
    *,
    index: int | None = None,
) -> ShapeInstance:
    """One procedural instance of ``category`` in its canonical frame.

    seed: an int (``default_rng(seed)``, or with ``index`` the stream of that instance of a set),
    or a ``numpy.random.Generator`` (consumed). instance_id: defaults to
    ``"{category}-s{seed}"`` / ``"{category}-s{seed}-i{index}"``, or for a Generator a digest of
    the sampled parameters.
    """
    spec = get_category(category)
    if isinstance(seed, np.random.Generator):
        if index is not None:
            raise InputError("index only applies to an int seed; pass instance_rng(seed, index) or an int seed")
        rng = seed
        default_id = None
    else:
        s = _check_seed(seed)
        if index is None:
            rng = np.random.default_rng(s)
            default_id = f"{spec.name}-s{s}"
        else:
            rng = instance_rng(s, index)
            default_id = f"{spec.name}-s{s}-i{int(index)}"
    V, F, parts, names, kps, params = _GENERATORS[spec.name](rng)
    keypoints = {k: np.asarray(kps[k], dtype=np.float64) for k in spec.keypoint_names}
    if set(kps) != set(spec.keypoint_names):  # pragma: no cover - generator bug guard
        raise RuntimeError(f"{spec.name} generator produced keypoints {sorted(kps)}")
    if instance_id is None:
        if default_id is None:
            digest = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
            default_id = f"{spec.name}-p{digest}"
        instance_id = default_id
    return ShapeInstance(
        category=spec.name,
        instance_id=str(instance_id),
        vertices=V,
        faces=F,
        keypoints=keypoints,
        symmetry=spec.symmetry,
        face_parts=parts,
        part_names=tuple(names),
        params=params,
    )


def generate_shapes(category: str, n: int, seed: int) -> list[ShapeInstance]:
    """``n`` instances; instance ``i`` equals ``generate_shape(category, seed, index=i)``."""
    get_category(category)
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral) or n < 0:
        raise InputError(f"n must be a non-negative int, got {n!r}")
    s = _check_seed(seed)
    return [generate_shape(category, s, index=i) for i in range(int(n))]
