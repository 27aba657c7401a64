#!/usr/bin/env bash
# README's main job on the embedded default (the shipped mug model and sample bag):
# 1. the ROS 2 perception node (`semcorr ros run`, over real DDS on loopback) fed the shipped
#    sample bag (semcorr_core/.../bags/sample/mug_orbit, 20 frames with ground truth) by
#    `semcorr bag eval --live`: annotated frames (the node's ~/debug_image) as PNGs, latency,
#    losses and keypoint figures in out/demo/bag_live.json;
# 2. the same bag offline (`semcorr bag eval`): the same figures without ROS, to compare;
# 3. when ../shared/data is beside the repository, a real stereo frame of a mug through `semcorr detect`;
# 4. a seeded synthetic frame through `semcorr detect`, the synthetic engine's contact sheet, and
#    the model's held-out embedding figures.
# Needs ROS in the environment (make demo sources scripts/ros_env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/demo}
SEMCORR=${SEMCORR:-.venv/bin/semcorr}
PY=${PY:-.venv/bin/python}
REAL_CLOUD=../shared/data/pcl_test_rgbd/table_scene_mug_stereo_textured.pcd
rm -rf "$OUT"
mkdir -p "$OUT"
# the node and the replayer talk over loopback only, on a domain of their own
export ROS_DOMAIN_ID=${ROS_DOMAIN_ID:-42} ROS_AUTOMATIC_DISCOVERY_RANGE=${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}
# 1 Hz stays below the node's throughput on a 2-core CPU: no frame should be lost
$SEMCORR bag eval --live --hz 1 --out-dir "$OUT/bag_live" --report "$OUT/bag_live.json" > /dev/null
$SEMCORR bag eval --report "$OUT/bag_offline.json" > /dev/null
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
print(f"semcorr demo (shipped mug model, sample bag) -> {out}")
live, off = (json.loads((out / f"bag_{m}.json").read_text()) for m in ("live", "offline"))


def kp(r, group):
    g = r.get(group) or {}
    return f"median {100 * g['median_m']:.1f} cm, PCK@2cm {g['pck3d_2cm']:.2f}" if g.get("n") else "none"


lat = live["latency_ms"]
latency = f"latency p50 {lat['p50']:.0f} ms, p95 {lat['p95']:.0f} ms" if lat["p50"] is not None else "no answer"
print(f"  ROS node on the sample bag: {live['frames_received']}/{live['frames_sent']} frames answered on ~/keypoints "
      f"({live['frames_lost']} lost) at {live['send_rate_hz']:g} Hz in; {latency}; node exit code {live['node_exit_code']}")
print(f"    visible keypoints {kp(live, 'visible')}; occluded {kp(live, 'occluded')}")
print(f"    offline on the same bag: visible {kp(off, 'visible')}; occluded {kp(off, 'occluded')}")
print(f"    annotated frames: {live['annotated_frames']}/frame_*.png; figures {out / 'bag_live.json'}")
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
