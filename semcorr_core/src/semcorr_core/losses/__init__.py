"""Training losses for learned 3D semantics (issue #3), one loss per module.

Seed 000 (CPNet) - dense per-point embeddings from correspondence sets:

* :mod:`.pull` - Eq. 1, pull loss on positive pairs of a correspondence set.
* :mod:`.push` - Eq. 2 set distance, Eq. 3 geodesic-consistency push loss (margin = mean
  geodesic distance between the two sets), Eq. 4 combination (:class:`GeodesicConsistencyLoss`).
* :mod:`.hard_negatives` - Sec. 5.2 hard-negative mining (as many negatives as positives).

Seed 004 (Jamais Vu) - canonical prototype and dense canonical coordinates:

* :mod:`.procrustes_prototype` - Eq. 3, generalised Procrustes prototype, Kabsch-Umeyama, ``s >= 1``.
* :mod:`.keypoint_ce` - Eq. 4, keypoint-descriptor cross-entropy with a learned temperature.
* :mod:`.canonical_ce` - Eq. 4 extended to every point: soft-labelled classification against
  descriptors of canonical places (keypoints + surface anchors); the default embed3d loss.
* :mod:`.keypoint_retrieval` - the other direction of that similarity: each keypoint descriptor
  ranks the cloud's points (softmax over points), which is what nearest-embedding transfer uses.
* :mod:`.local_alignment` - Eq. 6, local geometric alignment with kNN (canonical) and
  pseudo-geodesic (posed) neighbourhoods.

2D dense descriptors (issue #4):

* :mod:`.pixel_contrastive` - InfoNCE between pixels of two crops of different instances,
  positives from the renderer's exact canonical correspondences.

Every function takes batched torch tensors, works on their device and raises
:class:`semcorr_core.errors.InputError` on bad input.
"""

from semcorr_core.losses.canonical_ce import DenseCanonicalCrossEntropy, canonical_ce_loss, soft_canonical_targets
from semcorr_core.losses.hard_negatives import mine_hard_negatives
from semcorr_core.losses.keypoint_ce import KeypointCrossEntropy, keypoint_ce_loss, keypoint_logits
from semcorr_core.losses.keypoint_retrieval import KeypointRetrieval, keypoint_retrieval_loss, keypoint_retrieval_targets
from semcorr_core.losses.pixel_contrastive import pixel_contrastive_loss
from semcorr_core.losses.local_alignment import LocalAlignmentResiduals, knn_neighbourhoods, local_alignment_loss
from semcorr_core.losses.procrustes_prototype import (
    ProcrustesPrototype,
    PrototypeAlignment,
    align_to_prototype,
    procrustes_prototype_loss,
)
from semcorr_core.losses.pull import (
    CorrespondencePoints,
    gather_correspondence_points,
    pairwise_embedding_distance,
    positive_pair_mask,
    pull_loss,
)
from semcorr_core.losses.push import (
    GeodesicConsistencyLoss,
    PushPullLossOutput,
    correspondence_set_distance,
    geodesic_push_loss,
)

__all__ = [
    "pixel_contrastive_loss",
    # CPNet (seed 000)
    "pull_loss",
    "geodesic_push_loss",
    "correspondence_set_distance",
    "GeodesicConsistencyLoss",
    "PushPullLossOutput",
    "mine_hard_negatives",
    "CorrespondencePoints",
    "gather_correspondence_points",
    "positive_pair_mask",
    "pairwise_embedding_distance",
    # Jamais Vu (seed 004)
    "procrustes_prototype_loss",
    "align_to_prototype",
    "ProcrustesPrototype",
    "PrototypeAlignment",
    "keypoint_ce_loss",
    "keypoint_logits",
    "KeypointCrossEntropy",
    "canonical_ce_loss",
    "soft_canonical_targets",
    "DenseCanonicalCrossEntropy",
    "keypoint_retrieval_loss",
    "keypoint_retrieval_targets",
    "KeypointRetrieval",
    "local_alignment_loss",
    "knn_neighbourhoods",
    "LocalAlignmentResiduals",
]
