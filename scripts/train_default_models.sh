#!/usr/bin/env bash
# Produce the shipped default models (semcorr_core/.../models/default/) with our own training
# commands and the committed configs, then benchmark each one:
#   embed3d_<cat>.pt  - 3D point embeddings + prototype (`semcorr train embed3d`)
#   dense2d_<cat>.pt  - 2D dense descriptors paired with that prototype (`semcorr train dense2d`)
#   shape_prior_<cat>.pt - keypoint shape prior, noise calibrated on that detector (`semcorr train
#                       shape_prior`; categories with a training/configs/shape_prior/<cat>.yaml: the chair)
#   scripts/train_default_models.sh [category ...] [-- key=value overrides for semcorr train]
#   STAGES=dense2d scripts/train_default_models.sh mug   # only the 2D model (keeps the 3D bundle)
# Seeded: the same machine type reproduces the same weights. Runs on CPU (embed3d 7-9 min per
# category, the mug 19 min; dense2d ~9 min, on 2 cores) or on a GPU when torch sees one
# (train.device=auto). A new embed3d bundle needs its dense2d model retrained (the detector
# refuses a pair whose prototype fingerprints differ), so the default runs both.
set -euo pipefail
cd "$(dirname "$0")/.."
SEMCORR=${SEMCORR:-.venv/bin/semcorr}
DEST=semcorr_core/src/semcorr_core/models/default
STAGES=${STAGES:-embed3d dense2d shape_prior}
categories=()
while (($#)); do
  if [[ $1 == -- ]]; then shift; break; fi
  categories+=("$1"); shift
done
((${#categories[@]})) || categories=(mug bottle bowl can chair)
mkdir -p "$DEST" out/bench
for c in "${categories[@]}"; do
  if [[ " $STAGES " == *" embed3d "* ]]; then
    run=runs/default/$c
    rm -rf "$run"
    "$SEMCORR" train embed3d --config "training/configs/embed3d/$c.yaml" "train.out_dir=$run" train.progress=false "$@"
    cp "$run/bundle.pt" "$DEST/embed3d_$c.pt"
    "$SEMCORR" bench embed3d --category "$c" --bundle "$DEST/embed3d_$c.pt" --report "out/bench/embed3d_$c.json" > /dev/null
    echo "$c: $(du -h "$DEST/embed3d_$c.pt" | cut -f1) -> $DEST/embed3d_$c.pt; figures in out/bench/embed3d_$c.json"
  fi
  if [[ " $STAGES " == *" dense2d "* ]]; then
    run=runs/default/dense2d_$c
    rm -rf "$run"
    "$SEMCORR" train dense2d --config "training/configs/dense2d/$c.yaml" "data.bundle=$DEST/embed3d_$c.pt" \
      "train.out_dir=$run" train.progress=false "$@"
    cp "$run/dense2d.pt" "$DEST/dense2d_$c.pt"
    echo "$c: $(du -h "$DEST/dense2d_$c.pt" | cut -f1) -> $DEST/dense2d_$c.pt"
  fi
  if [[ " $STAGES " == *" shape_prior "* && -f training/configs/shape_prior/$c.yaml ]]; then
    run=runs/default/shape_prior_$c
    rm -rf "$run"
    "$SEMCORR" train shape_prior --config "training/configs/shape_prior/$c.yaml" "data.bundle=$DEST/embed3d_$c.pt" \
      "train.out_dir=$run"  # no "$@": those overrides are the networks' training keys
    cp "$run/shape_prior.pt" "$DEST/shape_prior_$c.pt"
    echo "$c: $(du -h "$DEST/shape_prior_$c.pt" | cut -f1) -> $DEST/shape_prior_$c.pt"
  fi
done
