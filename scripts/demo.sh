#!/usr/bin/env bash
# README's main job on the embedded default: the shipped mug model (semcorr_core/.../models/default)
# on a seeded synthetic frame and, when ../shared/data is beside the repository, on a real stereo
# frame of a mug; the synthetic engine's contact sheet; the model's held-out figures.
# The ROS node replaying the sample bag replaces this when issue #5 lands.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/demo}
SEMCORR=${SEMCORR:-.venv/bin/semcorr}
PY=${PY:-.venv/bin/python}
REAL_CLOUD=../shared/data/pcl_test_rgbd/table_scene_mug_stereo_textured.pcd
rm -rf "$OUT"
$SEMCORR synth --category mug --instances 4 --views 3 --seed 0 --distractors 0,1 --out "$OUT/synth" --quiet
# one synthetic frame through the detector (its own segmenter, no ground truth used)
frame="$OUT/synth/frames/000000"
$PY -c "import json,sys; d=json.load(open(sys.argv[1])); json.dump(d['camera_info'], open(sys.argv[2], 'w'))" \
  "$OUT/synth/dataset.json" "$OUT/synth/intrinsics.json"
$SEMCORR detect --color "$frame/color.png" --depth "$frame/depth.png" --intrinsics "$OUT/synth/intrinsics.json" \
  --category mug --out "$OUT/detect_synth.json" --vis "$OUT/detect_synth.png" > /dev/null
if [[ -f $REAL_CLOUD ]]; then
  $SEMCORR pcd-to-rgbd "$REAL_CLOUD" --out "$OUT/real_mug" > /dev/null
  $SEMCORR detect --color "$OUT/real_mug/color.png" --depth "$OUT/real_mug/depth.png" \
    --intrinsics "$OUT/real_mug/intrinsics.json" --category mug --out "$OUT/detect_real_mug.json" \
    --vis "$OUT/detect_real_mug.png" > /dev/null
fi
$SEMCORR bench embed3d --category mug --bundle semcorr_core/src/semcorr_core/models/default/embed3d_mug.pt \
  --report "$OUT/bench_embed3d_mug.json" > /dev/null
$PY - "$OUT" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
print(f"semcorr demo (shipped mug model) -> {out}")
for name in ("detect_synth", "detect_real_mug"):
    path = out / f"{name}.json"
    if not path.is_file():
        print(f"  {name}: skipped (../shared/data/pcl_test_rgbd not found)")
        continue
    d = json.loads(path.read_text())
    print(f"  {name}: {len(d['objects'])} mug(s) in {d['timings_ms']['total']:.0f} ms; picture {out / (name + '.png')}")
    for o in d["objects"][:1]:
        for k in o["keypoints"]:
            x, y, z = k["xyz"]
            print(f"    {k['name']:14s} xyz=({x:+.3f}, {y:+.3f}, {z:+.3f}) m  uv=({k['u']:.0f}, {k['v']:.0f})  "
                  f"{'visible' if k['visible'] else 'occluded'}")
b = json.loads((out / "bench_embed3d_mug.json").read_text())
print(f"  held-out embedding figures: keypoint transfer PCK-3D full {b['pck3d_full']:.2f}, partial views "
      f"{b['pck3d_partial']:.2f}; mGE {b['mge_trained']:.3f} (untrained {b['mge_random']:.3f}, FPFH {b['mge_fpfh']:.3f})")
print(f"  synthetic data: {out / 'synth' / 'contact_sheet.png'}")
PY
