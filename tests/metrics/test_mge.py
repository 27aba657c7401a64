"""mean Geodesic Error (CPNet Algorithm 1): hand-computed values, contracts, bad input."""

import numpy as np
import pytest

from semcorr_core.errors import InputError
from semcorr_core.metrics import mean_geodesic_error

# Two models with three points each, 1-D embeddings.
EMB = [
    np.array([[0.0], [10.0], [20.0]]),  # model 0
    np.array([[1.0], [19.0], [11.0]]),  # model 1: points 1 and 2 look swapped
]
GEO = [
    np.array([[0, 1, 2], [1, 0, 1], [2, 1, 0]], dtype=float),  # model 0: a polyline
    np.array([[0, 3, 4], [3, 0, 5], [4, 5, 0]], dtype=float),  # model 1
]
SETS = [
    {0: 0, 1: 0},  # set a: point 0 on both models
    {0: 1, 1: 1},  # set b: point 1 on both models
]


def test_hand_computed():
    r = mean_geodesic_error(EMB, SETS, GEO)
    # set a: p = (m0, f=0), (m1, f=1)
    #   q on m0 (pt 0): NN of 0 in [0,10,20] -> pt 0, d=0; NN of 1 -> pt 0, d=0
    #   q on m1 (pt 0): NN of 0 in [1,19,11] -> pt 0, d=0; NN of 1 -> pt 0, d=0      sum 0
    # set b: p = (m0, f=10), (m1, f=19)
    #   q on m0 (pt 1): NN of 10 -> pt 1, d(1,1)=0; NN of 19 -> pt 2 (20), d(1,2)=1
    #   q on m1 (pt 1): NN of 10 -> pt 2 (11), d(1,2)=5; NN of 19 -> pt 1, d=0       sum 6
    # mGE = 6 / (N_Omega * N_M^2) = 6 / (2 * 2^2) = 0.75
    assert r.mge == pytest.approx(0.75)
    assert r.n_pairs == 8
    assert r.per_set == pytest.approx([0.0, 6 / 4])
    assert not r.normalised


def test_model_scale_normalisation():
    r = mean_geodesic_error(EMB, SETS, GEO, model_scale=[2.0, 5.0])
    # set b: model-0 contribution 1 / 2 = 0.5, model-1 contribution 5 / 5 = 1 -> 1.5; mGE = 1.5 / 8
    assert r.mge == pytest.approx(0.1875)
    assert r.normalised


def test_callable_geodesic_and_pair_list_sets():
    calls = []

    def geo(m, a, b):
        calls.append(m)
        return GEO[m][a, b]

    sets = [[(0, 0), (1, 0)], [(0, 1), (1, 1)]]
    r = mean_geodesic_error(EMB, sets, geo)
    assert r.mge == pytest.approx(0.75)
    assert set(calls) == {0, 1}


def test_incomplete_set_and_perfect_embedding():
    # extra set with one point only (annotator skipped model 1): 1 pair, NN of 20 on m0 is itself -> 0
    r = mean_geodesic_error(EMB, SETS + [{0: 2}], GEO)
    assert r.n_pairs == 9
    assert r.mge == pytest.approx(6 / 9)
    # identical embeddings within a set, distinct across sets -> mGE = 0 (paper's sanity property)
    perfect = [np.array([[0.0], [10.0], [20.0]]), np.array([[0.0], [10.0], [20.0]])]
    assert mean_geodesic_error(perfect, SETS, GEO).mge == 0.0


def test_torch_embeddings():
    torch = pytest.importorskip("torch")
    r = mean_geodesic_error([torch.tensor(e) for e in EMB], SETS, [torch.tensor(g) for g in GEO])
    assert r.mge == pytest.approx(0.75)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(embeddings=[]), "empty"),
        (dict(embeddings=[EMB[0], np.zeros((3, 2))]), "dimension D"),
        (dict(embeddings=[EMB[0], np.array([[np.nan], [0.0], [1.0]])]), "NaN"),
        (dict(correspondence_sets=[]), "at least one"),
        (dict(correspondence_sets=[{}]), "empty"),
        (dict(correspondence_sets=[{0: 3}]), "out of range"),
        (dict(correspondence_sets=[{2: 0}]), "only 2 models"),
        (dict(geodesic=[GEO[0]]), "one matrix per model"),
        (dict(geodesic=[GEO[0], np.zeros((2, 2))]), r"must be \(3, 3\)"),
        (dict(geodesic=lambda m, a, b: np.full(len(a), np.nan)), "disconnected"),
        (dict(model_scale=[1.0, 0.0]), "> 0"),
        (dict(model_scale=[1.0]), "one positive value per model"),
    ],
)
def test_bad_input(kwargs, match):
    args = dict(embeddings=EMB, correspondence_sets=SETS, geodesic=GEO)
    args.update(kwargs)
    with pytest.raises(InputError, match=match):
        mean_geodesic_error(**args)


def test_accepts_correspondence_sets_object():
    from semcorr_core.data.correspondence_sets import CorrespondenceSets, PointRef

    cs = CorrespondenceSets(
        category="toy",
        models=["m0", "m1"],
        sets=[
            {0: PointRef(point_index=0), 1: PointRef(point_index=0)},
            {0: PointRef(point_index=1), 1: PointRef(point_index=1)},
        ],
    )
    assert mean_geodesic_error(EMB, cs, GEO).mge == pytest.approx(0.75)
    no_index = [{0: PointRef(xyz=(0.0, 0.0, 0.0))}]
    with pytest.raises(InputError, match="no point_index"):
        mean_geodesic_error(EMB, no_index, GEO)
