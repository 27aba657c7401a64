"""Category-level alignment: observed points with per-point embeddings -> canonical -> camera.

* :mod:`.upright` - similarity with the rotation about the support-plane normal only (heading,
  scale, translation), closed form + 2-point RANSAC.
* :mod:`.prototype` - correspondences from point embeddings to the bundle's dense canonical
  prototype, and the robust fit of the canonical -> gravity-frame transform (a rotation-symmetric
  category gets an axis + scale fit instead, since its heading carries no information).
* :mod:`.body_axis` - the axis of a round body with one symmetry-breaking part (the mug) from
  the matches on the body, after the similarity fit.
"""

from semcorr_core.alignment.body_axis import BodyAxis, BodyProfile, body_radius_profile, refine_body_axis
from semcorr_core.alignment.prototype import (
    PrototypeAlignment,
    align_to_prototype,
    fit_axis_position,
    prototype_correspondences,
)
from semcorr_core.alignment.upright import UprightRansacResult, fit_upright_similarity, ransac_upright_similarity

__all__ = [
    "fit_upright_similarity",
    "ransac_upright_similarity",
    "UprightRansacResult",
    "prototype_correspondences",
    "align_to_prototype",
    "PrototypeAlignment",
    "fit_axis_position",
    "BodyAxis",
    "BodyProfile",
    "body_radius_profile",
    "refine_body_axis",
]
