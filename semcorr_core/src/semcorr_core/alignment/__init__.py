"""Category-level alignment: observed points with per-point embeddings -> canonical -> camera.

* :mod:`.upright` - similarity with the rotation about the support-plane normal only (heading,
  scale, translation), closed form + 2-point RANSAC.
* :mod:`.prototype` - correspondences from point embeddings to the bundle's dense canonical
  prototype, and the robust fit of the canonical -> gravity-frame transform (a rotation-symmetric
  category gets an axis + scale fit instead, since its heading carries no information).
"""

from semcorr_core.alignment.prototype import (
    PrototypeAlignment,
    align_to_prototype,
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
]
