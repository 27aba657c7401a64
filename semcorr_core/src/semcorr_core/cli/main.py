"""``semcorr``: one entry point, one sub-command per job.

Errors raised on purpose (:class:`semcorr_core.errors.SemcorrError`) end the program with exit
code 2 and their message, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from semcorr_core.errors import InputError, SemcorrError


def _range(text: str) -> tuple[float, float]:
    parts = text.replace(",", " ").split()
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"expected 'MIN,MAX' or a single value, got {text!r}")
    lo, hi = float(parts[0]), float(parts[1])
    if lo > hi:
        raise argparse.ArgumentTypeError(f"range {text!r} has min > max")
    return lo, hi


def _int_range(text: str) -> tuple[int, int]:
    lo, hi = _range(text)
    if lo != int(lo) or hi != int(hi) or lo < 0:
        raise argparse.ArgumentTypeError(f"expected non-negative integers 'MIN,MAX', got {text!r}")
    return int(lo), int(hi)


def _category_list(text: str) -> list[str]:
    from semcorr_core.data.categories import parse_category_list

    try:
        return parse_category_list(text)
    except SemcorrError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def cmd_synth(args: argparse.Namespace) -> int:
    import cv2

    from semcorr_core.data.dataset import write_dataset
    from semcorr_core.data.render import DepthNoiseConfig, SceneConfig
    from semcorr_core.data.shapes import generate_shapes
    from semcorr_core.outputs.draw import contact_sheet

    if args.instances < 1 or args.views < 1:
        raise SemcorrError("--instances and --views must be at least 1")
    shapes = generate_shapes(args.category, args.instances, args.seed)
    scene_cfg = SceneConfig(
        width=args.width,
        height=args.height,
        hfov_deg=args.hfov,
        objects_per_scene=args.objects,
        distractors_per_scene=args.distractors,
        elevation_deg=args.elevation,
    )
    ds = write_dataset(
        args.out, args.category, shapes, args.views, args.seed, scene_cfg,
        DepthNoiseConfig(enabled=not args.no_noise), progress=not args.quiet, workers=args.workers,
    )
    n_sheet = min(len(ds), args.sheet_frames)
    sheet = contact_sheet([ds.frame(i) for i in range(n_sheet)],
                          title=f"{args.category}: {len(ds)} frames, seed {args.seed} - colour+keypoints | depth | canonical")
    sheet_path = Path(args.out) / "contact_sheet.png"
    cv2.imwrite(str(sheet_path), sheet[..., ::-1])
    print(f"wrote {len(ds)} frames of {args.instances} {args.category} instances to {args.out}; picture: {sheet_path}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    import logging

    from semcorr_core.training.config import load_config

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cfg = load_config(args.config, args.overrides)
    if args.task == "embed3d":
        from semcorr_core.training.embed3d import train_embed3d

        summary = train_embed3d(cfg)
    elif args.task == "dense2d":
        from semcorr_core.training.dense2d import train_dense2d

        summary = train_dense2d(cfg)
        print(f"validation (held-out instances): {summary.get('validation')}")
    elif args.task == "shape_prior":
        from semcorr_core.training.shape_prior import train_shape_prior

        summary = train_shape_prior(cfg)
        print(f"shape prior: {summary['shape_prior']}; calibration: {summary['calibration']}")
    else:  # argparse restricts choices
        raise SemcorrError(f"unknown training task {args.task!r}")
    if "bundle" in summary:
        losses = summary["losses"]
        print(f"trained {args.task}: loss {losses[0]:.4f} -> {losses[-1]:.4f} over {len(losses)} epochs; "
              f"bundle: {summary['bundle']}")
    return 0


def cmd_detect(args: argparse.Namespace) -> int:
    import cv2
    import numpy as np

    from semcorr_core.bench.report import write_report
    from semcorr_core.data.categories import parse_category_list
    from semcorr_core.data.rgbd import make_rgbd, read_color, read_image
    from semcorr_core.geometry.camera import PinholeCamera
    from semcorr_core.pipeline import Detector, DetectorConfig, MultiCategoryDetector

    try:
        info = json.loads(Path(args.intrinsics).read_text())
    except FileNotFoundError:
        raise SemcorrError(f"intrinsics file not found: {args.intrinsics}") from None
    except json.JSONDecodeError as e:
        raise SemcorrError(f"{args.intrinsics} is not JSON ({e}); give a CameraInfo-like "
                           '{"width": W, "height": H, "k": [fx, 0, cx, 0, fy, cy, 0, 0, 1]}') from None
    camera = PinholeCamera.from_camera_info(info)
    mask = read_image(args.mask) if args.mask is not None else None
    if mask is not None and mask.ndim == 3:
        mask = mask[..., 0]
    frame = make_rgbd(read_color(args.color), read_image(args.depth), camera, depth_scale=args.depth_scale, mask=mask)
    categories = parse_category_list(args.category)
    config = DetectorConfig(descriptors=args.descriptors)
    if len(categories) == 1:
        detector = Detector.for_category(categories[0], None if args.bundle is None else str(args.bundle),
                                         None if args.dense2d is None else str(args.dense2d),
                                         backend=args.backend, config=config)
    else:
        if args.bundle is not None or args.dense2d is not None:
            raise SemcorrError("--bundle / --dense2d name one category's models; with several categories the shipped "
                               "ones are used")
        detector = MultiCategoryDetector.for_categories(categories, backend=args.backend, config=config)
    result = detector.detect(frame)
    label = ",".join(categories)
    payload = {"category": label, **result.to_dict()}
    text = write_report(payload, args.out)
    if args.vis is not None:
        from semcorr_core.outputs.detections import draw_detections

        Path(args.vis).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(args.vis), draw_detections(frame.color, result)[..., ::-1])
    if args.canonical_map is not None:
        cmap = np.full(frame.depth.shape + (3,), np.nan, np.float32)
        for obj in result.objects:
            cmap[obj.mask] = obj.canonical_map[obj.mask]
        np.save(args.canonical_map, cmap)
    print(text if args.out is None else
          f"{len(result.objects)} {label} object(s) in {result.timings_ms['total']:.0f} ms -> {args.out}")
    return 0


def cmd_pcd_to_rgbd(args: argparse.Namespace) -> int:
    import json

    import cv2

    from semcorr_core.data.keypointnet import read_pcd
    from semcorr_core.data.organised_cloud import organised_cloud_to_rgbd
    from semcorr_core.data.rgbd import depth_to_millimetres

    pc = read_pcd(args.cloud)
    if pc.height <= 1 or pc.width * pc.height != len(pc.points):
        raise SemcorrError(f"{args.cloud} is not an organised cloud (WIDTH {pc.width} x HEIGHT {pc.height} for "
                           f"{len(pc.points)} points): only a cloud with one point per pixel is an RGB-D frame")
    frame = organised_cloud_to_rgbd(pc.points.reshape(pc.height, pc.width, 3), pc.rgb)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out / "color.png"), frame.color[..., ::-1])
    cv2.imwrite(str(out / "depth.png"), depth_to_millimetres(frame.depth))
    (out / "intrinsics.json").write_text(json.dumps(frame.camera.to_camera_info(), indent=2) + "\n")
    c = frame.camera
    print(f"{args.cloud} -> {out}/color.png, depth.png (16-bit mm), intrinsics.json: {c.width}x{c.height}, "
          f"fx={c.fx:.2f} fy={c.fy:.2f} cx={c.cx:.2f} cy={c.cy:.2f}, fit residual {frame.reprojection_rms_px:.4f} px")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from semcorr_core.bench.report import write_report

    if args.what == "synth":
        from semcorr_core.bench.synth import run_synth_bench

        report = run_synth_bench(args.category, args.frames, args.seed, noise=not args.no_noise,
                                 width=args.width, height=args.height, workers=args.workers)
    elif args.what == "embed3d":
        from semcorr_core.bench.embed3d import run_embed3d_bench

        if args.bundle is None:
            raise SemcorrError("bench embed3d needs --bundle (written by `semcorr train embed3d`)")
        report = run_embed3d_bench(str(args.bundle), args.category, n_instances=args.instances, seed=args.seed,
                                   rotation=args.rotation, partial_views=args.partial_views)
    elif args.what == "pipeline":
        from semcorr_core.bench.pipeline import run_pipeline_bench

        report = run_pipeline_bench(args.category, args.frames, args.seed,
                                    bundle_path=None if args.bundle is None else str(args.bundle),
                                    gt_mask=args.gt_mask, noise=not args.no_noise, ablations=tuple(args.ablation),
                                    backend=args.backend, distractors=args.distractors, precision=args.precision,
                                    dense2d_path=None if args.dense2d is None else str(args.dense2d))
    elif args.what == "export":
        from semcorr_core.bench.export import run_export_bench

        report = run_export_bench(seed=args.seed)
    elif args.what == "categories":
        from semcorr_core.bench.categories import run_category_bench

        report = run_category_bench(args.categories, args.frames, args.seed, backend=args.backend)
    elif args.what == "tracking":
        from semcorr_core.bench.tracking import run_tracking_bench

        report = run_tracking_bench(args.category, sequences=args.sequences, frames=args.frames, seed=args.seed,
                                    backend=args.backend,
                                    bundle_path=None if args.bundle is None else str(args.bundle))
    elif args.what == "geodesic":
        from semcorr_core.bench.geodesic import geodesic_accuracy_report
        from semcorr_core.bench.report import new_report

        report = new_report("geodesic", **geodesic_accuracy_report())
    else:  # argparse restricts choices; kept for type checkers
        raise SemcorrError(f"unknown benchmark {args.what!r}")
    print(write_report(report, args.report))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """``semcorr export --format onnx|tensorrt``: a bundle's embedding network for deployment."""
    import tempfile

    import torch

    from semcorr_core.data.categories import get_category
    from semcorr_core.models.bundle import default_bundle_path, load_bundle
    from semcorr_core.models.export import check_onnx, export_onnx
    from semcorr_core.training.embed3d import normalise_clouds

    category = get_category(args.category).name
    bundle_path = str(args.bundle if args.bundle is not None else default_bundle_path(category))
    bundle = load_bundle(bundle_path, category=category)
    model = bundle.build_model("cpu").eval()
    out = Path(args.out)
    if args.format == "onnx":
        result = export_onnx(model, out, num_points=args.num_points)
        n = args.num_points or 1024
        probe = normalise_clouds(torch.rand(1, n, 3, generator=torch.Generator().manual_seed(0)))
        error = check_onnx(model, out, probe)
        print(json.dumps({"format": "onnx", "path": str(out), "bundle": bundle_path, "model": bundle.model_name,
                          "dynamic_points": result.dynamic_points, "fixed_points": result.num_points,
                          "opset": result.opset, "max_abs_error_vs_torch": error, "probe_points": n}, indent=2))
        return 0
    from semcorr_core.models.tensorrt_engine import (EngineProfile, build_serialized_engine, tensorrt_module,
                                                     write_engine_file)

    tensorrt_module()  # no TensorRT: a BackendError that says what to do, before any work
    profile = EngineProfile(*args.profile, *args.batch)
    with tempfile.TemporaryDirectory(prefix="semcorr-export-") as tmp:
        onnx_path = Path(tmp) / "model.onnx"
        export_onnx(model, onnx_path)
        data = build_serialized_engine(onnx_path, args.precision, profile, int(bundle.model_kwargs.get("in_features", 3)))
    out.parent.mkdir(parents=True, exist_ok=True)
    write_engine_file(out, data)
    print(json.dumps({"format": "tensorrt", "path": str(out), "bundle": bundle_path, "precision": args.precision,
                      "profile": profile.tag(), "bytes": len(data)}, indent=2))
    return 0


def _int_triple(text: str) -> tuple[int, int, int]:
    try:
        a, b, c = (int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected three integers MIN,OPT,MAX, got {text!r}") from None
    return a, b, c


def cmd_prototype(args: argparse.Namespace) -> int:
    """``semcorr prototype rebuild``: a bundle's keypoint database built again from its weights."""
    from semcorr_core.models.bundle import load_bundle, save_bundle
    from semcorr_core.training.embed3d import rebuild_prototype

    bundle = load_bundle(args.bundle)
    out = save_bundle(args.out or args.bundle, rebuild_prototype(bundle))
    print(f"rebuilt the {bundle.category} prototype of {args.bundle} -> {out}")
    return 0


def cmd_ros(args: argparse.Namespace) -> int:
    """``semcorr ros run``: the perception node with the launch file's parameter file (semcorr_ros.runner)."""
    try:
        from semcorr_ros.runner import run
    except ImportError as e:
        raise SemcorrError(f"semcorr ros needs ROS 2 and the semcorr_ros package: run make setup, then "
                           f"`source scripts/ros_env.sh` ({e})") from None
    return run(params_file=args.params, remaps=args.remap, params=args.param, namespace=args.namespace,
               extra=args.ros_args, use_default_params=not args.no_default_params)


def _bag_topics(args: argparse.Namespace):
    from semcorr_core.bags import BagTopics

    d = BagTopics()
    return BagTopics(color=args.color_topic or d.color, depth=args.depth_topic or d.depth,
                     camera_info=args.info_topic or d.camera_info, ground_truth=args.truth_topic or d.ground_truth)


def _ros_import(what: str):
    try:
        import semcorr_ros.bag_tools as tools
    except ImportError as e:
        raise SemcorrError(f"semcorr bag {what} needs ROS 2 and the semcorr_ros package: run make setup, then "
                           f"`source scripts/ros_env.sh` ({e})") from None
    return tools


def cmd_bag(args: argparse.Namespace) -> int:
    """``semcorr bag synth|eval|replay|convert`` (semcorr_core.bags; live parts in semcorr_ros.bag_tools)."""
    from semcorr_core.bags import default_sample_bag

    if args.bag_command == "synth":
        from semcorr_core.bags import write_synthetic_bag

        summary = write_synthetic_bag(args.out, args.category, frames=args.frames, seed=args.seed, rate_hz=args.rate,
                                      orbit_deg=args.orbit, width=args.width, height=args.height,
                                      noise=not args.no_noise, compress=not args.no_compress,
                                      topics=_bag_topics(args), overwrite=args.overwrite)
        print(json.dumps(summary.to_dict(), indent=2))
        return 0
    if args.bag_command == "convert":
        from semcorr_core.bags import convert_ros1_bag

        print(json.dumps(convert_ros1_bag(args.src, args.dst, overwrite=args.overwrite), indent=2))
        return 0
    bag = args.bag if args.bag is not None else default_sample_bag()
    topics = _bag_topics(args)
    if args.bag_command == "replay":
        tools = _ros_import("replay")
        from semcorr_core.bags import BagTopics

        out_topics = BagTopics.node_inputs(args.namespace) if args.namespace else None
        if args.hz is not None and args.rate != 1.0:
            raise InputError("give --rate (a factor on the recorded timing) or --hz (fixed frames per second), not both")
        if args.loops < 1:
            raise InputError(f"--loops must be >= 1, got {args.loops}")
        print(json.dumps(tools.replay(bag, topics=topics, out_topics=out_topics, rate=args.rate, hz=args.hz,
                                      loops=args.loops, slop_ns=int(args.slop * 1e9)), indent=2))
        return 0
    if args.live:
        node_params = list(args.param)
        if args.bundle is not None:
            node_params.append(f"model_bundle:={args.bundle.resolve()}")
        if args.backend != "auto":
            node_params.append(f"backend:={args.backend}")
        if args.no_start_node and (node_params or args.params or args.category):
            raise InputError("--no-start-node measures a node already running: --category, --bundle, --backend, "
                             "--params and -p would not reach it (set them where that node was started)")
        tools = _ros_import("eval --live")
        report = tools.live_eval(bag, category=args.category, topics=topics, hz=args.hz, out_dir=args.out_dir,
                                 start_node=not args.no_start_node, params_file=args.params,
                                 node_params=node_params, slop_ns=int(args.slop * 1e9))
    else:
        from semcorr_core.bags.evaluate import evaluate_bag

        if args.params or args.param or args.out_dir or args.no_start_node:
            raise InputError("--params, -p, --out-dir and --no-start-node belong to --live")

        report = evaluate_bag(bag, args.category, bundle_path=args.bundle, backend=args.backend, topics=topics,
                              slop_ns=int(args.slop * 1e9))
    from semcorr_core.bench.report import write_report

    print(write_report(report, args.report))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from semcorr_core.data.categories import CATEGORY_NAMES

    p = argparse.ArgumentParser(prog="semcorr", description="Category-level semantic keypoints from RGB-D.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("synth", help="render a synthetic RGB-D dataset for a category (seeded, reproducible)")
    s.add_argument("--category", required=True, help=f"one of {', '.join(CATEGORY_NAMES)}")
    s.add_argument("--instances", type=int, default=10, help="number of procedural shape instances")
    s.add_argument("--views", type=int, default=10, help="frames rendered around each instance")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True, type=Path, help="output directory")
    s.add_argument("--width", type=int, default=640)
    s.add_argument("--height", type=int, default=480)
    s.add_argument("--hfov", type=float, default=55.0, help="horizontal field of view, degrees")
    s.add_argument("--objects", type=_int_range, default=(1, 1), help="category objects per scene, MIN,MAX")
    s.add_argument("--distractors", type=_int_range, default=(0, 4), help="distractor objects per scene, MIN,MAX")
    s.add_argument("--elevation", type=_range, default=(5.0, 80.0), help="camera elevation range, degrees, MIN,MAX")
    s.add_argument("--no-noise", action="store_true", help="switch the depth-sensor noise model off")
    s.add_argument("--workers", type=int, default=1, help="render in this many processes (output is identical)")
    s.add_argument("--sheet-frames", type=int, default=8, help="frames shown in contact_sheet.png")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_synth)

    t = sub.add_parser("train", help="train a model from layered YAML configs; key=value overrides win")
    t.add_argument("task", choices=["embed3d", "dense2d", "shape_prior"])
    t.add_argument("--config", action="append", required=True, type=Path,
                   help="YAML config (repeatable; later files win; a file may name `_base_`)")
    t.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help="dotted overrides, e.g. train.epochs=5 data.category=bowl (may follow --config)")
    t.set_defaults(func=cmd_train)

    d = sub.add_parser("detect", help="one RGB-D frame -> category objects with metric keypoints (JSON + picture)")
    d.add_argument("--color", required=True, type=Path, help="colour image (PNG/JPEG, RGB)")
    d.add_argument("--depth", required=True, type=Path,
                   help="depth registered to colour: 16-bit PNG in sensor units (see --depth-scale) or 32-bit float TIFF in metres")
    d.add_argument("--intrinsics", required=True, type=Path, help='JSON {"width", "height", "k": 3x3 row-major}')
    d.add_argument("--category", required=True,
                   help=f"one of {', '.join(CATEGORY_NAMES)}, or several comma-separated in priority order "
                        "(each object gets the category whose fit explains it best)")
    d.add_argument("--mask", type=Path, default=None, help="instance mask image (0 = background); default: segment")
    d.add_argument("--depth-scale", type=float, default=None, help="metres per depth unit for 16-bit depth (default 0.001)")
    d.add_argument("--bundle", type=Path, default=None, help="model bundle (default: the shipped one)")
    d.add_argument("--dense2d", type=Path, default=None,
                   help="2D descriptor model paired with the bundle (default: the shipped one)")
    d.add_argument("--descriptors", default="auto", choices=["auto", "3d", "2d", "fused"],
                   help="match points to the prototype with 3D embeddings, 2D dense descriptors or both fused "
                        "(auto: fused where a 2D model fits the bundle)")
    d.add_argument("--backend", default="auto", choices=["auto", "torch", "onnxruntime", "tensorrt"],
                   help="embedding network runtime (auto: onnxruntime where it serves the device, else torch)")
    d.add_argument("--out", type=Path, default=None, help="write the JSON here (default: print it)")
    d.add_argument("--vis", type=Path, default=None, help="write the picture here (PNG)")
    d.add_argument("--canonical-map", type=Path, default=None, help="write the (H, W, 3) canonical map here (.npy)")
    d.set_defaults(func=cmd_detect)

    c = sub.add_parser("pcd-to-rgbd", help="organised .pcd cloud -> color.png, depth.png (16-bit mm), "
                                           "intrinsics.json (fitted) for `semcorr detect`")
    c.add_argument("cloud", type=Path, help="organised PCD file (WIDTH x HEIGHT points, x y z [rgb])")
    c.add_argument("--out", required=True, type=Path, help="output directory")
    c.set_defaults(func=cmd_pcd_to_rgbd)

    b = sub.add_parser("bench", help="measure speed/accuracy figures, print JSON (and write --report)")
    b.add_argument("what", choices=["synth", "geodesic", "embed3d", "pipeline", "tracking", "categories", "export"])
    b.add_argument("--categories", type=_category_list, default=["mug", "bottle", "bowl", "can"],
                   help="categories: the categories detected together, comma-separated in priority order")
    b.add_argument("--sequences", type=int, default=5, help="tracking: static-camera sequences")
    b.add_argument("--bundle", type=Path, default=None,
                   help="model bundle (embed3d: required; pipeline: default the shipped one)")
    b.add_argument("--backend", default="auto", choices=["auto", "torch", "onnxruntime", "tensorrt"],
                   help="pipeline: embedding network runtime")
    b.add_argument("--gt-mask", action="store_true", help="pipeline: give the detector the true instance masks")
    b.add_argument("--precision", choices=["fp32", "fp16"], default="fp32",
                   help="pipeline: embedding network precision (fp16 on a CPU: torch emulates it, slowly)")
    b.add_argument("--distractors", type=_int_range, default=(0, 4),
                   help="pipeline: distractor objects per frame, MIN,MAX (0,0: the one-object latency)")
    b.add_argument("--ablation", action="append", default=[],
                   choices=["prior_only", "no_refinement", "descriptors_3d", "descriptors_2d", "fused", "energy",
                            "energy_soft_iou", "no_segment_join", "no_join_inside", "no_part_side", "no_deformation",
                            "no_floor_contacts", "no_corners", "no_mirror", "no_shape_prior",
                            "no_corner_retry", "prior_gaussian", "corner_measured_normals",
                            "corner_declared_normals", "no_corner_edge_outset", "corner_outer_top_layer",
                            "no_corner_top_seed", "corner_support_15mm", "corner_declared_step_2px",
                            "no_corner_face_patch"],
                   help="pipeline: also run this detector variant on the same frames (repeatable); prior_only = "
                        "keypoints by the category-level fit alone; no_refinement = the robust fit alone; "
                        "descriptors_3d / descriptors_2d / fused = match with 3D embeddings, 2D dense "
                        "descriptors, or both fused; energy = plus the multi-start alignment-energy refinement "
                        "(energy_soft_iou: and its soft-IoU stage); "
                        "no_segment_join = every segment apart; no_join_inside = only pieces on an object's "
                        "fitted surface join it, not those inside its bounding box; no_part_side = the mug's "
                        "handle side by the "
                        "descriptors alone; no_deformation = no per-keypoint deformation; "
                        "no_floor_contacts = leg contacts where the fit puts them; no_corners = a chair's seat "
                        "and backrest corners not looked for on their faces; no_mirror = a chair's keypoints not "
                        "completed through the mirror plane of its found leg pairs; no_shape_prior = keypoints "
                        "not conditioned on the category's keypoint shape prior; no_corner_retry = box corners "
                        "not looked for again where the prior puts them; prior_gaussian = the found keypoints "
                        "taken as Gaussian, not Student-t, measurements by the prior; corner_measured_normals / "
                        "corner_declared_normals = every corner face along its points' / the declared normal; "
                        "no_corner_edge_outset = unseen corner faces end at the outermost reading; "
                        "corner_outer_top_layer = a seat's top in its outermost layer, as the other faces; "
                        "no_corner_top_seed = a backrest's top corners sought where the fit puts them, not at the "
                        "observed top first; corner_support_15mm = a corner face needs a point within 1.5 cm "
                        "of the corner, not 2 cm; corner_declared_step_2px = a seat corner's points sorted into its "
                        "faces by 2-pixel, not 3-pixel, stencil normals; no_corner_face_patch = a backrest top's front "
                        "face found on its points' normals near the corner, not fitted as a plane over twice "
                        "the search radius first")
    b.add_argument("--dense2d", type=Path, default=None,
                   help="pipeline: 2D descriptor model for the 2D / fused variants (default the shipped one)")
    b.add_argument("--instances", type=int, default=12, help="held-out test instances (embed3d)")
    b.add_argument("--partial-views", type=int, default=4, help="single views rendered per test instance (embed3d)")
    b.add_argument("--rotation", choices=["z", "so3"], default="z",
                   help="embed3d input frame: z = gravity-aligned with a random heading (what the pipeline "
                        "feeds), so3 = any rotation")
    b.add_argument("--category", default="mug")
    b.add_argument("--frames", type=int, default=100)
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--width", type=int, default=640)
    b.add_argument("--height", type=int, default=480)
    b.add_argument("--no-noise", action="store_true")
    b.add_argument("--workers", type=int, default=2, help="processes for the throughput figure (1 = skip it)")
    b.add_argument("--report", type=Path, default=None, help="also write the JSON report here")
    b.set_defaults(func=cmd_bench)

    bg = sub.add_parser("bag", help="ROS 2 bags: write a synthetic one, evaluate, replay into the graph, convert ROS 1")
    bg_sub = bg.add_subparsers(dest="bag_command", required=True)

    def topic_args(q):
        q.add_argument("--color-topic", default=None, help="colour topic in the bag (default /camera/color/image_raw)")
        q.add_argument("--depth-topic", default=None,
                       help="depth topic in the bag (default /camera/aligned_depth_to_color/image_raw)")
        q.add_argument("--info-topic", default=None, help="camera_info topic (default /camera/color/camera_info)")
        q.add_argument("--truth-topic", default=None, help="ground-truth topic (default /semcorr/ground_truth)")

    bs = bg_sub.add_parser("synth", help="a synthetic sequence (camera orbiting a static scene) with ground truth")
    bs.add_argument("--category", required=True, help=f"one of {', '.join(CATEGORY_NAMES)}")
    bs.add_argument("--out", required=True, type=Path, help="bag directory to write")
    bs.add_argument("--frames", type=int, default=30)
    bs.add_argument("--seed", type=int, default=0)
    bs.add_argument("--rate", type=float, default=10.0, help="frame rate of the stamps, Hz")
    bs.add_argument("--orbit", type=float, default=40.0, help="azimuth the camera travels over the sequence, degrees")
    bs.add_argument("--width", type=int, default=640)
    bs.add_argument("--height", type=int, default=480)
    bs.add_argument("--no-noise", action="store_true", help="switch the depth-sensor noise model off")
    bs.add_argument("--no-compress", action="store_true", help="no zstd file compression")
    bs.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    topic_args(bs)
    bs.set_defaults(func=cmd_bag)

    be = bg_sub.add_parser("eval", help="the pipeline over a bag's frames against its ground truth (offline, or "
                                        "--live through the running ROS node)")
    be.add_argument("bag", nargs="?", type=Path, default=None, help="bag (default: the shipped sample bag)")
    be.add_argument("--category", default=None, help="default: the ground truth's")
    be.add_argument("--bundle", type=Path, default=None,
                    help="model bundle (default: the shipped one; --live: given to the node as model_bundle)")
    be.add_argument("--backend", default="auto", choices=["auto", "torch", "onnxruntime", "tensorrt"])
    be.add_argument("--live", action="store_true",
                    help="start the node, replay the bag into it, measure publish -> ~/keypoints latency and losses")
    be.add_argument("--hz", type=float, default=2.0, help="--live: frames sent per second")
    be.add_argument("--out-dir", type=Path, default=None, help="--live: annotated frames (PNG) and the node log here")
    be.add_argument("--no-start-node", action="store_true", help="--live: measure a node already running in /camera")
    be.add_argument("--params", type=Path, default=None, help="--live: node parameter file (default: the launch file's)")
    be.add_argument("-p", "--param", action="append", default=[], metavar="NAME:=VALUE",
                    help="--live: node parameter override (repeatable)")
    be.add_argument("--slop", type=float, default=0.05, help="colour/depth pairing tolerance, seconds")
    be.add_argument("--report", type=Path, default=None, help="also write the JSON report here")
    topic_args(be)
    be.set_defaults(func=cmd_bag)

    bp = bg_sub.add_parser("replay", help="publish a bag's colour, depth and camera_info into the live graph")
    bp.add_argument("bag", nargs="?", type=Path, default=None, help="bag (default: the shipped sample bag)")
    bp.add_argument("--rate", type=float, default=1.0, help="speed factor on the recorded timing")
    bp.add_argument("--hz", type=float, default=None, help="fixed frames per second instead of the recorded timing")
    bp.add_argument("--loops", type=int, default=1)
    bp.add_argument("--namespace", default=None,
                    help="publish on NS/color/image_raw, NS/aligned_depth_to_color/image_raw, NS/color/camera_info "
                         "instead of the bag's topic names")
    bp.add_argument("--slop", type=float, default=0.05, help="colour/depth pairing tolerance, seconds")
    topic_args(bp)
    bp.set_defaults(func=cmd_bag)

    bc = bg_sub.add_parser("convert", help="ROS 1 .bag -> ROS 2 bag directory (rosbags)")
    bc.add_argument("src", type=Path)
    bc.add_argument("dst", type=Path)
    bc.add_argument("--overwrite", action="store_true")
    bc.set_defaults(func=cmd_bag)

    ex = sub.add_parser("export", help="a bundle's embedding network as ONNX (checked against torch) or as a "
                                       "TensorRT engine (built on the target GPU)")
    ex.add_argument("--format", required=True, choices=["onnx", "tensorrt"])
    ex.add_argument("--category", default="mug")
    ex.add_argument("--bundle", type=Path, default=None, help="model bundle (default: the shipped one)")
    ex.add_argument("--out", required=True, type=Path, help="output .onnx / .engine file")
    ex.add_argument("--num-points", type=int, default=None, help="onnx: bake this point count in (default dynamic)")
    ex.add_argument("--precision", choices=["fp32", "fp16"], default="fp32", help="tensorrt engine precision")
    ex.add_argument("--profile", type=_int_triple, default=(256, 1024, 4096),
                    help="tensorrt: points MIN,OPT,MAX of the optimisation profile")
    ex.add_argument("--batch", type=_int_triple, default=(1, 1, 8), help="tensorrt: batch MIN,OPT,MAX")
    ex.set_defaults(func=cmd_export)

    pr = sub.add_parser("prototype", help="model bundle keypoint database (prototype) tools")
    pr_sub = pr.add_subparsers(dest="prototype_command", required=True)
    rb = pr_sub.add_parser("rebuild", help="build a bundle's prototype again from its weights and training config "
                                           "(what `semcorr train` ends with; learned keypoint descriptors kept)")
    rb.add_argument("--bundle", type=Path, required=True)
    rb.add_argument("--out", type=Path, default=None, help="write here (default: replace --bundle)")
    rb.set_defaults(func=cmd_prototype)

    ros = sub.add_parser("ros", help="ROS 2: run the perception node here (where `ros2 launch` is not available)")
    ros_sub = ros.add_subparsers(dest="ros_command", required=True)
    r = ros_sub.add_parser("run", help="start the perception node with the launch file's parameter file; "
                                       "SIGINT/SIGTERM stop it (exit code 0)")
    r.add_argument("--params", type=Path, default=None,
                   help="parameter YAML (default: the installed share/semcorr_ros/params/perception.yaml, else "
                        "launch/params/perception.yaml)")
    r.add_argument("--no-default-params", action="store_true",
                   help="without --params: give the node no parameter file (its built-in defaults)")
    r.add_argument("--namespace", default=None, help="node namespace; its relative input topics resolve under it")
    r.add_argument("-r", "--remap", action="append", default=[], metavar="FROM:=TO",
                   help="topic remap, e.g. color/image_raw:=/camera/color/image_raw (repeatable)")
    r.add_argument("-p", "--param", action="append", default=[], metavar="NAME:=VALUE",
                   help="parameter override, wins over the file, e.g. qos_reliability:=reliable (repeatable)")
    r.add_argument("--ros-args", dest="ros_args", nargs=argparse.REMAINDER, default=[],
                   help="everything after this goes to rclpy as --ros-args")
    r.set_defaults(func=cmd_ros)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # overrides may come after --config (`semcorr train embed3d --config f.yaml key=value`), which
    # plain parse_args does not accept for a positional list: collect KEY=VALUE leftovers here.
    args, rest = parser.parse_known_args(argv)
    if rest:
        if args.command != "train" or any("=" not in r or r.startswith("-") for r in rest):
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        args.overrides = list(args.overrides) + rest
    try:
        return int(args.func(args) or 0)
    except SemcorrError as e:
        print(f"semcorr {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
