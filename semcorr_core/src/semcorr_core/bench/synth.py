"""Rendering throughput of the synthetic engine (``semcorr bench synth``)."""

from __future__ import annotations

import time

import numpy as np

from semcorr_core.bench.report import new_report, timing_summary
from semcorr_core.data.dataset import frame_rng
from semcorr_core.data.render import DepthNoiseConfig, RaycastRenderer, SceneConfig, sample_scene
from semcorr_core.data.shapes import generate_shapes


def run_synth_bench(
    category: str = "mug",
    frames: int = 100,
    seed: int = 0,
    noise: bool = True,
    width: int = 640,
    height: int = 480,
    distractors: tuple[int, int] = (0, 0),
    warmup: int = 3,
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
    )
