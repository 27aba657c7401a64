"""mean Geodesic Error (mGE) of per-point embeddings, Algorithm 1 of CPNet (seed 000).

What the paper defines (our reading of Sec. 5-6 and Algorithm 1)
-----------------------------------------------------------------
Given the models ``M_1 .. M_{N_M}`` of one category, an embedding function ``f`` (one vector per
point of a model) and the annotated correspondence sets ``Omega = {C_1 .. C_{N_Omega}}`` (each set
holds the points, one per model, that carry the same semantic label)::

    eps = 0
    for C in Omega:
        for p in C:
            for q in C:
                x = argmin_{x in M_q} ||f(x) - f(p)||_2     # M_q: the model q lies on
                eps += d_geo(q, x)                          # geodesic on M_q
    mGE = eps / (N_Omega * N_M**2)

i.e. for every annotated point ``p`` we look up its embedding nearest neighbour ``x`` on the model of
every other member ``q`` of the same set and accumulate how far (geodesically, on that model) ``x``
lands from the human-labelled ``q``. All ordered pairs are summed, including ``p == q`` and pairs on
the same model (the paper's denominator ``N_Omega * N_M^2`` counts them); for ``p == q`` the nearest
neighbour is normally ``p`` itself and contributes 0. mGE is computed per category; lower is better.

Implementation notes
--------------------
* Normaliser: CPNet sets are not complete (annotators may skip a point on a model), so we divide by
  the number of ordered pairs actually summed, ``sum_C |C|^2``. This equals ``N_Omega * N_M^2`` when
  every set has one point on every model, which is the paper's case.
* Distance unit: Algorithm 1 accumulates raw geodesic distances and states no rescaling; the CPNet
  models are ShapeNetCore meshes, which come in ShapeNet's normalised size, so the paper's numbers
  are in units of that normalised model size. Our models are metric, so :func:`mge` returns raw
  units (whatever the geodesic matrices hold, normally metres) unless ``model_scale`` is given: then
  every geodesic distance on model ``m`` is divided by ``model_scale[m]`` (pass e.g. each model's
  bounding-box diagonal to get a scale-free figure comparable across categories). State which one
  you report.
* Nearest neighbours use squared Euclidean embedding distance over *all* points of the model
  (``argmin`` ties go to the lowest point index). Geodesics are not computed here: pass per-model
  ``(P_m, P_m)`` matrices or a callable (see :data:`GeodesicFn`); ``semcorr_core.geometry`` provides them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from semcorr_core.errors import InputError
from semcorr_core.metrics._arrays import as_array

__all__ = ["MGEResult", "GeodesicFn", "mean_geodesic_error"]

#: ``fn(model_index, a, b) -> d`` with ``a``, ``b`` int arrays of equal length ``L`` (point indices on
#: that model) returning the ``L`` geodesic distances ``d_geo(a[i], b[i])``. ``a`` holds the annotated
#: point ``q`` (the same index repeated, so a per-source solver such as
#: ``semcorr_core.geometry.geodesic.GeodesicSolver.distances([q])`` can answer it in one call) and
#: ``b`` the retrieved nearest neighbours ``x``.
GeodesicFn = Callable[[int, np.ndarray, np.ndarray], np.ndarray]

#: one correspondence set: ``{model_index: point_index}`` or a sequence of ``(model_index, point_index)``.
#: Values may also be ``semcorr_core.data.correspondence_sets.PointRef`` (their ``point_index`` is used),
#: and a whole ``CorrespondenceSets`` object may be passed for ``correspondence_sets``.
CorrespondenceSet = Mapping[int, object] | Sequence[tuple[int, int]]


@dataclass(frozen=True)
class MGEResult:
    """mge: the mean over all ordered pairs; per_set: (N_Omega,) mean over each set's pairs;
    n_pairs: number of ordered pairs summed (the denominator)."""

    mge: float
    per_set: np.ndarray
    n_pairs: int
    normalised: bool


def _set_members(c: CorrespondenceSet, j: int, n_points: list[int]) -> np.ndarray:
    if isinstance(c, Mapping):
        items = []
        for m, ref in c.items():
            if hasattr(ref, "point_index"):  # PointRef
                if ref.point_index is None:
                    raise InputError(
                        f"correspondence set {j}, model {m}: the PointRef has no point_index; mGE works on "
                        "indexed model points - snap face/xyz references to the model's point cloud first"
                    )
                ref = ref.point_index
            items.append((m, ref))
    else:
        items = list(c)
    if not items:
        raise InputError(f"correspondence set {j} is empty; drop it or give it at least one (model, point)")
    try:
        arr = np.asarray(items, dtype=np.int64).reshape(len(items), 2)
    except (TypeError, ValueError):
        raise InputError(
            f"correspondence set {j} must be {{model_index: point_index}} or a list of (model_index, point_index) pairs"
        ) from None
    for m, i in arr:
        if not 0 <= m < len(n_points):
            raise InputError(f"correspondence set {j} names model {m}, but only {len(n_points)} models were given")
        if not 0 <= i < n_points[m]:
            raise InputError(f"correspondence set {j}: point {i} out of range for model {m} with {n_points[m]} points")
    return arr


def mean_geodesic_error(
    embeddings: Sequence[npt.ArrayLike],
    correspondence_sets: Sequence[CorrespondenceSet],
    geodesic: Sequence[npt.ArrayLike] | GeodesicFn,
    *,
    model_scale: Sequence[float] | npt.ArrayLike | None = None,
) -> MGEResult:
    """mGE (CPNet Algorithm 1) of ``embeddings`` w.r.t. the annotated ``correspondence_sets``.

    embeddings: one ``(P_m, D)`` array per model (same ``D`` for all), the embedding of every point.
    correspondence_sets: each ``{model_index: point_index}`` or ``[(model_index, point_index), ...]``
    (or ``{model_index: PointRef}``), or a ``CorrespondenceSets`` object; model indices index ``embeddings``.
    geodesic: per-model ``(P_m, P_m)`` geodesic distance matrices, or a :data:`GeodesicFn`.
    model_scale: optional per-model divisor for the geodesic distances (see module docstring).
    """
    if len(embeddings) == 0:
        raise InputError("embeddings is empty; pass one (P_m, D) array per model")
    emb = [as_array(e, f"embeddings[{m}]") for m, e in enumerate(embeddings)]
    dim = None
    for m, e in enumerate(emb):
        if e.ndim != 2 or e.shape[0] == 0:
            raise InputError(f"embeddings[{m}] must be (P_m, D) with P_m >= 1, got {e.shape}")
        if dim is None:
            dim = e.shape[1]
        elif e.shape[1] != dim:
            raise InputError(
                f"all embeddings must share the dimension D; model 0 has {dim}, model {m} has {e.shape[1]}"
            )
        if not np.all(np.isfinite(e)):
            raise InputError(f"embeddings[{m}] contains NaN/inf; check the model output")
    n_points = [e.shape[0] for e in emb]
    n_models = len(emb)

    if callable(geodesic):
        geo_fn: GeodesicFn = geodesic
    else:
        if len(geodesic) != n_models:
            raise InputError(f"geodesic must give one matrix per model ({n_models}), got {len(geodesic)}")
        mats = []
        for m, gm in enumerate(geodesic):
            a = as_array(gm, f"geodesic[{m}]")
            if a.shape != (n_points[m], n_points[m]):
                raise InputError(
                    f"geodesic[{m}] must be ({n_points[m]}, {n_points[m]}) to match embeddings[{m}], got {a.shape}"
                )
            mats.append(a)

        def geo_fn(m: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
            return mats[m][a, b]

    if model_scale is None:
        scale = np.ones(n_models)
    else:
        scale = as_array(model_scale, "model_scale")
        if scale.shape != (n_models,):
            raise InputError(f"model_scale must have one positive value per model ({n_models},), got {scale.shape}")
        if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
            raise InputError("model_scale values must be finite and > 0 (e.g. each model's bbox diagonal)")

    if hasattr(correspondence_sets, "sets"):  # a CorrespondenceSets object
        correspondence_sets = correspondence_sets.sets
    if len(correspondence_sets) == 0:
        raise InputError("correspondence_sets is empty; mGE needs at least one annotated set")

    total = 0.0
    n_pairs = 0
    per_set = np.empty(len(correspondence_sets))
    for j, c in enumerate(correspondence_sets):
        members = _set_members(c, j, n_points)  # (S, 2) rows (model, point)
        f_p = np.stack([emb[m][i] for m, i in members])  # (S, D): f(p) for every p in C
        set_sum = 0.0
        for m_q in np.unique(members[:, 0]):
            e_m = emb[m_q]
            # squared distances f(p) -> every point x of model M_q, nearest neighbour per p
            d2 = (f_p**2).sum(1)[:, None] - 2.0 * f_p @ e_m.T + (e_m**2).sum(1)[None, :]
            x = np.argmin(d2, axis=1)  # (S,)
            for q in members[members[:, 0] == m_q, 1]:
                d = np.asarray(geo_fn(int(m_q), np.full(len(x), q, dtype=np.int64), x), dtype=np.float64)
                if d.shape != x.shape or not np.all(np.isfinite(d)) or np.any(d < 0):
                    raise InputError(
                        f"geodesic distances on model {m_q} must be finite and >= 0 with one value per pair; "
                        "got NaN/inf/negative (disconnected mesh?) or a wrong shape"
                    )
                set_sum += float(d.sum()) / scale[m_q]
        s = len(members)
        per_set[j] = set_sum / (s * s)
        total += set_sum
        n_pairs += s * s
    return MGEResult(mge=total / n_pairs, per_set=per_set, n_pairs=n_pairs, normalised=model_scale is not None)
