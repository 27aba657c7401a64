"""Rendering throughput of the synthetic engine (``semcorr bench synth``)."""

from __future__ import annotations

import time

import numpy as np

from semcorr_core.bench.report import new_report, timing_summary
from semcorr_core.data.dataset import frame_rng, init_render_worker, render_worker_frame
from semcorr_core.data.render import DepthNoiseConfig, RaycastRenderer, SceneConfig, sample_scene
from semcorr_core.data.shapes import generate_shapes
from semcorr_core.geometry.transforms import apply_transform, invert_transform


def run_synth_bench(
    category: str = "mug",
    frames: int = 100,
    seed: int = 0,
    noise: bool = True,
    width: int = 640,
    height: int = 480,
    distractors: tuple[int, int] = (0, 0),
    warmup: int = 3,
    workers: int = 2,
) -> dict:
    """Render ``frames`` single-object scenes and time each (scene sampling + rendering + noise).

    Shape generation happens before timing: a dataset generates each instance once and renders it
    many times. Writing files is not included (that is disk speed, not the engine's).
    """
    shapes = generate_shapes(category, 8, seed)
    config = SceneConfig(width=width, height=height, objects_per_scene=(1, 1), distractors_per_scene=distractors)
    noise_cfg = DepthNoiseConfig(enabled=noise)
    renderer = RaycastRenderer(config.camera())
    total, sampling, rendering = [], [], []
    for k in range(warmup + frames):
        rng = frame_rng(seed, k)
        t0 = time.perf_counter()
        scene = sample_scene(shapes, rng, config, primary=shapes[k % len(shapes)])
        t1 = time.perf_counter()
        renderer.render(scene, rng, noise_cfg, color_noise_std=config.color_noise_std)
        t2 = time.perf_counter()
        if k >= warmup:
            total.append(t2 - t0)
            sampling.append(t1 - t0)
            rendering.append(t2 - t1)
    frame = timing_summary(total)
    throughput = measure_throughput(shapes, config, noise_cfg, seed, frames, workers) if workers > 1 else None
    exactness = measure_exactness(shapes, config, renderer, seed, n_frames=min(frames, 10))
    return new_report(
        "synth",
        category=category,
        width=width,
        height=height,
        noise=noise,
        distractors=list(distractors),
        frames=frames,
        frame=frame,
        fps_median=1000.0 / frame["median_ms"],
        stages={"sample_scene": timing_summary(sampling), "render": timing_summary(rendering)},
        target_fps=20.0,
        throughput=throughput,
        exactness=exactness,
    )


def _bench_job(job: tuple[int, int]) -> None:
    render_worker_frame(*job)  # the frame stays in the worker: only the time counts


def measure_throughput(shapes, config: SceneConfig, noise_cfg: DepthNoiseConfig, seed: int, frames: int,
                       workers: int) -> dict:
    import multiprocessing as mp

    jobs = [(k, k % len(shapes)) for k in range(frames)]
    with mp.get_context("fork").Pool(workers, initializer=init_render_worker,
                                     initargs=(shapes, config, noise_cfg, seed)) as pool:
        pool.map(_bench_job, jobs[: 2 * workers])  # warm-up
        t0 = time.perf_counter()
        pool.map(_bench_job, jobs, chunksize=2)
        wall = time.perf_counter() - t0
    return {"workers": workers, "frames": frames, "wall_s": wall, "fps": frames / wall}


def measure_exactness(shapes, config: SceneConfig, renderer: RaycastRenderer, seed: int, n_frames: int = 10) -> dict:
    """Largest disagreement, over the object pixels of ``n_frames`` noise-free frames, between
    (a) the GT canonical coordinate and the mesh point hit by the pixel's ray (metres) and
    (b) a pixel centre and the reprojection of its GT canonical point through the GT pose (pixels)."""
    max_canon, max_reproj, n_pixels = 0.0, 0.0, 0
    for k in range(n_frames):
        rng = frame_rng(seed + 1, k)
        scene = sample_scene(shapes, rng, config, primary=shapes[k % len(shapes)])
        f = renderer.render(scene, rng, DepthNoiseConfig(enabled=False), color_noise_std=0.0)
        for obj in f.objects:
            ys, xs = np.nonzero(f.instance_mask == obj.instance_index)
            hit_cam = f.camera.pixel_rays()[ys, xs] * f.depth_clean[ys, xs, None].astype(np.float64)
            canon = f.canonical[ys, xs].astype(np.float64)
            hit_canon = apply_transform(invert_transform(obj.pose), hit_cam)
            uv = f.camera.project(apply_transform(obj.pose, canon))
            max_canon = max(max_canon, float(np.linalg.norm(hit_canon - canon, axis=1).max(initial=0.0)))
            max_reproj = max(max_reproj, float(np.linalg.norm(uv - np.stack([xs, ys], 1), axis=1).max(initial=0.0)))
            n_pixels += len(xs)
    return {
        "frames": n_frames,
        "object_pixels": n_pixels,
        "max_canonical_vs_ray_hit_m": max_canon,
        "max_reprojection_px": max_reproj,
    }
