"""ShapeInstance / Symmetry records: validation, reflection algebra, serialisation."""

from __future__ import annotations

import numpy as np
import pytest

from semcorr_core.data.shape import ShapeInstance, Symmetry
from semcorr_core.errors import InputError


def test_reflection_matrix_and_swaps():
    sym = Symmetry("reflection", (0.0, 1.0, 0.0), (("a_left", "a_right"),))
    np.testing.assert_array_equal(sym.reflection_matrix(), np.diag([1.0, -1.0, 1.0]))
    assert sym.swapped_name("a_left") == "a_right" and sym.swapped_name("a_right") == "a_left"
    assert sym.swapped_name("middle") == "middle"
    assert Symmetry.from_dict(sym.to_dict()) == sym
    np.testing.assert_array_equal(Symmetry("rotation_z").reflection_matrix(), np.eye(3))


@pytest.mark.parametrize(
    "kwargs, words",
    [({"kind": "spin"}, "unknown symmetry"), ({"kind": "reflection"}, "plane_normal"),
     ({"kind": "reflection", "plane_normal": (0.0, 2.0, 0.0)}, "unit")],
)
def test_bad_symmetry(kwargs, words):
    with pytest.raises(InputError, match=words):
        Symmetry(**kwargs)


def test_surface_points_are_barycentric_interpolation():
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 2, 0]], float)
    s = ShapeInstance("x", "t", v, [[0, 1, 2]], {"k": [0, 0, 0]})
    # weights (0.2, 0.3, 0.5): 0.3 * (1,0,0) + 0.5 * (0,2,0) = (0.3, 1.0, 0)
    np.testing.assert_allclose(s.surface_points([0], [[0.2, 0.3, 0.5]]), [[0.3, 1.0, 0.0]])
    assert s.bbox_diagonal() == pytest.approx(np.sqrt(5.0))
    assert s.keypoint_array.shape == (1, 3) and s.keypoint_names == ("k",)


@pytest.mark.parametrize(
    "vertices, faces, words",
    [(np.zeros((3, 2)), [[0, 1, 2]], "vertices"), (np.zeros((3, 3)), [[0, 1]], "faces"),
     (np.zeros((3, 3)), [[0, 1, 3]], "out of range")],
)
def test_bad_mesh_arrays(vertices, faces, words):
    with pytest.raises(InputError, match=words):
        ShapeInstance("x", "t", vertices, faces, {})
