#!/usr/bin/env bash
# Produce the shipped default embedding bundles (semcorr_core/.../models/default/embed3d_<cat>.pt)
# with our own training command and the committed configs, then benchmark each one.
#   scripts/train_default_models.sh [category ...] [-- key=value overrides for semcorr train]
# Seeded: the same machine type reproduces the same weights. Runs on CPU (7-9 min per category,
# the mug 19 min, on 2 cores) or on a GPU when torch sees one (train.device=auto).
set -euo pipefail
cd "$(dirname "$0")/.."
SEMCORR=${SEMCORR:-.venv/bin/semcorr}
DEST=semcorr_core/src/semcorr_core/models/default
categories=()
while (($#)); do
  if [[ $1 == -- ]]; then shift; break; fi
  categories+=("$1"); shift
done
((${#categories[@]})) || categories=(mug bottle bowl can chair)
mkdir -p "$DEST" out/bench
for c in "${categories[@]}"; do
  run=runs/default/$c
  rm -rf "$run"
  "$SEMCORR" train embed3d --config "training/configs/embed3d/$c.yaml" "train.out_dir=$run" train.progress=false "$@"
  cp "$run/bundle.pt" "$DEST/embed3d_$c.pt"
  "$SEMCORR" bench embed3d --category "$c" --bundle "$DEST/embed3d_$c.pt" --report "out/bench/embed3d_$c.json" > /dev/null
  echo "$c: $(du -h "$DEST/embed3d_$c.pt" | cut -f1) -> $DEST/embed3d_$c.pt; figures in out/bench/embed3d_$c.json"
done
