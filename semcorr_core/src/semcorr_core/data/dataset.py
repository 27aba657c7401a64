"""Synthetic RGB-D datasets on disk: writing (``semcorr synth``) and reading them back.

Layout (format ``semcorr-synth``, version 1)::

    DIR/dataset.json                  category, seed, configs, camera_info, frame list
    DIR/instances/<shape_id>.npz      vertices, faces, keypoint_names, keypoints, face_parts, params, symmetry
    DIR/frames/<frame_id>/color.png   8-bit RGB (stored BGR by PNG convention of OpenCV)
    DIR/frames/<frame_id>/depth.png   16-bit depth in millimetres, 0 = no reading (sensor noise applied)
    DIR/frames/<frame_id>/mask.png    16-bit instance ids: 0 background/plane, 1..N category objects,
                                      1000+j distractors
    DIR/frames/<frame_id>/gt.npz      depth_clean (float32 m), canonical (H,W,3 float32, NaN off-object),
                                      face_id (int32, -1 off-object), barycentric (H,W,3 float32)
    DIR/frames/<frame_id>/annotations.json   camera_info, camera_pose, per-object pose and keypoints
    DIR/contact_sheet.png             a picture of the first frames for a person to look at
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from semcorr_core.data.render import DepthNoiseConfig, Frame, ObjectAnnotation, RaycastRenderer, SceneConfig, sample_scene
from semcorr_core.data.shape import ShapeInstance, Symmetry
from semcorr_core.errors import DatasetFormatError
from semcorr_core.geometry.camera import PinholeCamera

FORMAT_NAME = "semcorr-synth"
FORMAT_VERSION = 1


def frame_rng(seed: int, index: int) -> np.random.Generator:
    """Generator of frame ``index``: each frame is reproducible on its own."""
    return np.random.default_rng([int(seed), 1, int(index)])


def save_instance(path: Path, shape: ShapeInstance) -> None:
    np.savez_compressed(
        path,
        category=shape.category,
        instance_id=shape.instance_id,
        vertices=shape.vertices,
        faces=shape.faces,
        keypoint_names=np.array(shape.keypoint_names),
        keypoints=shape.keypoint_array,
        face_parts=shape.face_parts if shape.face_parts is not None else np.zeros(0, np.int64),
        part_names=np.array(shape.part_names),
        params=json.dumps(shape.params),
        symmetry=json.dumps(shape.symmetry.to_dict()),
    )


def load_instance(path: Path) -> ShapeInstance:
    try:
        with np.load(path, allow_pickle=False) as z:
            names = [str(n) for n in z["keypoint_names"]]
            parts = z["face_parts"]
            return ShapeInstance(
                category=str(z["category"]),
                instance_id=str(z["instance_id"]),
                vertices=z["vertices"],
                faces=z["faces"],
                keypoints={n: k for n, k in zip(names, z["keypoints"])},
                symmetry=Symmetry.from_dict(json.loads(str(z["symmetry"]))),
                face_parts=parts if parts.size else None,
                part_names=tuple(str(p) for p in z["part_names"]),
                params=json.loads(str(z["params"])),
            )
    except (OSError, KeyError, ValueError) as e:
        raise DatasetFormatError(f"cannot read shape instance {path}: {e}") from None


def write_frame(frame_dir: Path, frame: Frame) -> None:
    frame_dir.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(frame_dir / "color.png"), frame.color[..., ::-1])
    cv2.imwrite(str(frame_dir / "depth.png"), frame.depth_mm)
    cv2.imwrite(str(frame_dir / "mask.png"), frame.instance_mask)
    np.savez_compressed(
        frame_dir / "gt.npz",
        depth_clean=frame.depth_clean,
        canonical=frame.canonical,
        face_id=frame.face_id,
        barycentric=frame.barycentric,
    )
    ann = {
        "camera_info": frame.camera.to_camera_info(),
        "camera_pose": frame.camera_pose.tolist(),
        "objects": [o.to_dict() for o in frame.objects],
    }
    (frame_dir / "annotations.json").write_text(json.dumps(ann, indent=1))


def read_frame(frame_dir: Path) -> Frame:
    """Read a frame written by :func:`write_frame`. ``depth`` comes back from the 16-bit PNG (mm
    quantised); ``depth_clean`` is exact."""
    try:
        ann = json.loads((frame_dir / "annotations.json").read_text())
        color = cv2.imread(str(frame_dir / "color.png"), cv2.IMREAD_COLOR)
        depth = cv2.imread(str(frame_dir / "depth.png"), cv2.IMREAD_UNCHANGED)
        mask = cv2.imread(str(frame_dir / "mask.png"), cv2.IMREAD_UNCHANGED)
        if color is None or depth is None or mask is None:
            raise OSError("missing or unreadable PNG")
        with np.load(frame_dir / "gt.npz") as z:
            gt = {k: z[k] for k in z.files}
    except (OSError, KeyError, ValueError) as e:
        raise DatasetFormatError(f"frame {frame_dir} is incomplete or corrupt: {e}") from None
    return Frame(
        color=np.ascontiguousarray(color[..., ::-1]),
        depth=depth.astype(np.float32) / 1000.0,
        depth_clean=gt["depth_clean"],
        instance_mask=mask,
        canonical=gt["canonical"],
        face_id=gt["face_id"],
        barycentric=gt["barycentric"],
        camera=PinholeCamera.from_camera_info(ann["camera_info"]),
        camera_pose=np.asarray(ann["camera_pose"]),
        objects=[ObjectAnnotation.from_dict(o) for o in ann["objects"]],
    )


@dataclass
class SynthDataset:
    """A dataset directory opened for reading."""

    root: Path
    meta: dict

    @classmethod
    def open(cls, root: str | Path) -> "SynthDataset":
        root = Path(root)
        meta_path = root / "dataset.json"
        if not meta_path.is_file():
            raise DatasetFormatError(f"{root} is not a semcorr dataset (no dataset.json); create one with `semcorr synth`")
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != FORMAT_NAME or meta.get("version") != FORMAT_VERSION:
            raise DatasetFormatError(
                f"{meta_path} has format {meta.get('format')!r} version {meta.get('version')!r}; "
                f"this semcorr reads {FORMAT_NAME!r} version {FORMAT_VERSION}: regenerate it with `semcorr synth`"
            )
        return cls(root, meta)

    def __len__(self) -> int:
        return len(self.meta["frames"])

    def frame(self, index: int) -> Frame:
        return read_frame(self.root / "frames" / self.meta["frames"][index]["id"])

    def instance(self, shape_id: str) -> ShapeInstance:
        return load_instance(self.root / "instances" / f"{shape_id}.npz")


_WORKER: dict = {}


def init_render_worker(shapes, scene_config, noise, seed, out=None) -> None:
    """Per-process state for :func:`render_worker_frame` (a pool initialiser, or called directly)."""
    _WORKER.update(shapes=shapes, scene_config=scene_config, noise=noise, seed=seed,
                   out=None if out is None else Path(out), renderer=RaycastRenderer(scene_config.camera()))


def render_worker_frame(k: int, primary_index: int):
    """Frame ``k`` (reproducible from ``(seed, k)``) around shape ``primary_index``, using the
    state set by :func:`init_render_worker`. Returns ``(scene, frame)``."""
    w = _WORKER
    rng = frame_rng(w["seed"], k)
    scene = sample_scene(w["shapes"], rng, w["scene_config"], primary=w["shapes"][primary_index])
    return scene, w["renderer"].render(scene, rng, w["noise"], color_noise_std=w["scene_config"].color_noise_std)


def _render_job(job: tuple[int, int, int]) -> dict:
    k, i, v = job
    w = _WORKER
    scene, frame = render_worker_frame(k, i)
    fid = f"{k:06d}"
    write_frame(w["out"] / "frames" / fid, frame)
    return {"id": fid, "primary_shape": w["shapes"][i].instance_id, "view": v, "scene": scene.meta}


def write_dataset(
    out: str | Path,
    category: str,
    shapes: list[ShapeInstance],
    views_per_instance: int,
    seed: int,
    scene_config: SceneConfig = SceneConfig(),
    noise: DepthNoiseConfig = DepthNoiseConfig(),
    progress: bool = False,
    workers: int = 1,
) -> SynthDataset:
    """Render ``views_per_instance`` frames around each shape (as the frame's primary object;
    further objects are drawn from the same pool) and write them under ``out``.

    Frame ``k`` depends only on ``(seed, k)``, so the output is identical for any ``workers``.
    """
    out = Path(out)
    (out / "instances").mkdir(parents=True, exist_ok=True)
    for s in shapes:
        save_instance(out / "instances" / f"{s.instance_id}.npz", s)
    jobs = [(k, i, v) for k, (i, v) in enumerate((i, v) for i in range(len(shapes)) for v in range(views_per_instance))]
    init_args = (shapes, scene_config, noise, seed, out)
    if workers > 1:
        import multiprocessing as mp

        pool = mp.get_context("fork").Pool(workers, initializer=init_render_worker, initargs=init_args)
        results = pool.imap(_render_job, jobs, chunksize=4)
    else:
        pool = None
        init_render_worker(*init_args)
        results = map(_render_job, jobs)
    if progress:
        from tqdm import tqdm

        results = tqdm(results, total=len(jobs), desc=f"rendering {category}", unit="frame")
    try:
        frames = list(results)
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    meta = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "category": category,
        "seed": int(seed),
        "instances": [s.instance_id for s in shapes],
        "keypoint_names": list(shapes[0].keypoint_names) if shapes else [],
        "symmetry": shapes[0].symmetry.to_dict() if shapes else None,
        "camera_info": scene_config.camera().to_camera_info(),
        "scene_config": scene_config.to_dict(),
        "noise_config": noise.to_dict(),
        "frames": frames,
    }
    (out / "dataset.json").write_text(json.dumps(meta, indent=1))
    return SynthDataset.open(out)
