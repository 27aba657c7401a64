"""CPU ray-casting renderer (Open3D RaycastingScene) with exact per-pixel ground truth.

Rays are generated here, not by Open3D, so pixel (i, j) is sampled exactly at its centre
u = i, v = j in the OpenCV convention that :class:`PinholeCamera` uses. Each ray direction has
z = 1, so the hit parameter ``t`` *is* the z-depth.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import open3d as o3d

from semcorr_core.data.render.frame import BACKGROUND_ID, DISTRACTOR_ID_BASE, Frame, ObjectAnnotation
from semcorr_core.data.render.noise import DepthNoiseConfig, GaussianNoisePool, apply_depth_noise
from semcorr_core.data.render.scene import Scene, SceneObject
from semcorr_core.data.render.texture import albedo, texture_image
from semcorr_core.errors import InputError
from semcorr_core.geometry.camera import PinholeCamera
from semcorr_core.geometry.transforms import apply_transform, invert_transform


class RaycastRenderer:
    """Renders :class:`Scene` objects for one camera model.

    noise_pool_seed:
        Seed of the pre-drawn Gaussian field that pixel and depth noise are cropped from (drawing
        fresh normals for every pixel costs more than the ray casting).
    visibility_tol:
        A keypoint is *visible* when it projects inside the image and the camera ray towards it
        meets no surface more than ``visibility_tol`` metres (in z) in front of it.
    """

    def __init__(self, camera: PinholeCamera, visibility_tol: float = 0.002, noise_pool_seed: int = 0):
        self.camera = camera
        self.visibility_tol = float(visibility_tol)
        self._dirs64 = camera.pixel_rays().reshape(-1, 3)  # z = 1 directions, float64 for exact hits
        self._dirs = self._dirs64.astype(np.float32).reshape(camera.height, camera.width, 3)
        rays = np.concatenate([np.zeros_like(self._dirs), self._dirs], axis=-1)
        self._rays = o3d.core.Tensor(np.ascontiguousarray(rays.reshape(-1, 6)))  # flat, like a region table
        self._unit_dirs = (self._dirs64 / np.linalg.norm(self._dirs64, axis=1, keepdims=True)).astype(np.float32)
        self._noise = GaussianNoisePool(camera.shape, seed=noise_pool_seed)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid = -1

    def cast(self, scene: o3d.t.geometry.RaycastingScene, rays: np.ndarray) -> dict[str, np.ndarray]:
        """Cast (..., 6) rays (origin, direction) and return numpy arrays."""
        out = scene.cast_rays(o3d.core.Tensor(np.ascontiguousarray(rays, dtype=np.float32)))
        return {k: v.numpy() for k, v in out.items()}

    def _build(
        self, scene: Scene
    ) -> tuple[o3d.t.geometry.RaycastingScene, list[SceneObject | None], list[np.ndarray]]:
        """Ray-casting scene in the camera frame; returns it, the owner of each geometry id
        (None = support plane) and each geometry's camera-frame vertices in float64."""
        world_to_cam = invert_transform(scene.camera_pose)
        rc = o3d.t.geometry.RaycastingScene()
        owners: list[SceneObject | None] = []
        verts_cam: list[np.ndarray] = []
        s = scene.plane_half_size
        plane_v = np.array([[-s, -s, 0], [s, -s, 0], [s, s, 0], [-s, s, 0]]) + scene.plane_center
        plane_f = np.array([[0, 1, 2], [0, 2, 3]])
        for verts, faces, owner in [(plane_v, plane_f, None)] + [
            (o.vertices, o.faces, o) for o in scene.objects + scene.distractors
        ]:
            T = world_to_cam if owner is None else world_to_cam @ owner.pose
            v_cam = apply_transform(T, verts)
            gid = rc.add_triangles(
                o3d.core.Tensor(v_cam.astype(np.float32)), o3d.core.Tensor(np.asarray(faces, dtype=np.uint32))
            )
            assert gid == len(owners)
            owners.append(owner)
            verts_cam.append(v_cam)
        return rc, owners, verts_cam

    def _executor(self) -> ThreadPoolExecutor:
        # created on first use, so a renderer built before a fork does not carry a dead thread
        if self._pool is None or self._pool_pid != os.getpid():
            self._pool, self._pool_pid = ThreadPoolExecutor(max_workers=1), os.getpid()
        return self._pool

    def _object_region(self, verts_cam: list[np.ndarray]) -> np.ndarray:
        """Flat indices of pixels inside the (1-pixel padded) image boxes of the given meshes."""
        H, W = self.camera.shape
        mask = np.zeros((H, W), bool)
        for v in verts_cam:
            if (v[:, 2] <= 1e-3).any():  # reaches behind the camera: no finite box
                mask[:] = True
                break
            uv = self.camera.project(v)
            u0, v0 = np.floor(uv.min(0)).astype(int) - 1
            u1, v1 = np.ceil(uv.max(0)).astype(int) + 1
            mask[max(v0, 0) : max(min(v1 + 1, H), 0), max(u0, 0) : max(min(u1 + 1, W), 0)] = True
        return np.flatnonzero(mask)

    def _ray_table(self, region: np.ndarray) -> o3d.core.Tensor:
        if len(region) == self._dirs.shape[0] * self._dirs.shape[1]:
            return self._rays
        rays = np.zeros((len(region), 6), np.float32)
        rays[:, 3:] = self._dirs.reshape(-1, 3)[region]
        return o3d.core.Tensor(rays)

    def _plane_hits(self, scene: Scene, world_to_cam: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Closed-form hits of every pixel ray with the finite support plane: z-depth (0 = miss),
        the cosine between each pixel ray and the plane normal, and the hit mask, all flat."""
        n = world_to_cam[:3, 2]  # world +z in the camera frame
        offset = float(n @ world_to_cam[:3, 3])  # plane: n . x = offset
        dirs = self._dirs.reshape(-1, 3)
        with np.errstate(divide="ignore"):
            t = np.float32(offset) / (dirs @ n.astype(np.float32))
        # world x, y of the hit (camera->world rows applied to t * d), to clip to the table square
        R, c = scene.camera_pose[:3, :3], scene.camera_pose[:3, 3] - scene.plane_center
        hx = (dirs @ R[0].astype(np.float32)) * t + np.float32(c[0])
        hy = (dirs @ R[1].astype(np.float32)) * t + np.float32(c[1])
        s = np.float32(scene.plane_half_size)
        valid = (t > 0) & (np.abs(hx) <= s) & (np.abs(hy) <= s)
        depth = np.where(valid, t, np.float32(0.0)).astype(np.float32)
        view_dot = self._unit_dirs @ n.astype(np.float32)
        return depth, view_dot, valid

    def _plane_color(self, scene: Scene, world_to_cam: np.ndarray, tile_px: int = 128) -> np.ndarray:
        tile = (texture_image(scene.plane_texture, tile_px) * 255.0 + 0.5).astype(np.uint8)
        period = 1.0 / scene.plane_texture.frequency
        # texture pixel (a, b) -> world (a, b) * period / tile_px on z = 0 -> image
        tex_to_world = np.diag([period / tile_px, period / tile_px, 1.0])
        plane_to_image = self.camera.K @ world_to_cam[:3][:, [0, 1, 3]]
        image_to_tex = np.linalg.inv(plane_to_image @ tex_to_world)
        H, W = self.camera.shape
        warped = cv2.warpPerspective(
            tile, image_to_tex, (W, H), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_WRAP
        )
        return warped.astype(np.float32) * np.float32(1.0 / 255.0)

    def render(
        self,
        scene: Scene,
        rng: np.random.Generator,
        noise: DepthNoiseConfig = DepthNoiseConfig(),
        color_noise_std: float = 2.0,
    ) -> Frame:
        cam = self.camera
        if scene.camera != cam:
            raise InputError(
                "scene was sampled for a different camera than this renderer's; "
                "build the renderer from the same SceneConfig.camera()"
            )
        H, W = cam.shape
        rc, owners, verts_cam = self._build(scene)
        n_obj = len(scene.objects)
        # exact re-intersection tables for category objects (geometry ids 1..n_obj)
        ray_tables = [None] + [_face_ray_table(verts_cam[g][owners[g].faces]) for g in range(1, n_obj + 1)]
        world_to_cam = invert_transform(scene.camera_pose)
        # Only pixels near objects need ray casting; everywhere else the ray meets the support plane
        # (or nothing), which is solved in closed form. Casting all 300k rays costs more than the rest.
        region = self._object_region(verts_cam[1:])
        depth_flat, view_dot, valid = self._plane_hits(scene, world_to_cam)
        gid = np.zeros(H * W, np.uint32)
        if len(region):
            rh = {k: v.numpy() for k, v in rc.cast_rays(self._ray_table(region)).items()}
            r_valid = np.isfinite(rh["t_hit"])
            depth_flat[region] = np.where(r_valid, rh["t_hit"], np.float32(0.0))
            valid[region] = r_valid
            normals = rh["primitive_normals"]  # only region pixels: the plane's normal is known
            view_dot[region] = np.einsum("nc,nc->n", normals, self._unit_dirs[region])
            gid[region] = np.where(r_valid, rh["geometry_ids"], np.uint32(0))

        instance = np.full(H * W, BACKGROUND_ID, np.uint16)
        canonical = np.full((H * W, 3), np.nan, np.float32)
        face_id = np.full(H * W, -1, np.int32)
        bary = np.zeros((H * W, 3), np.float32)
        on_object = np.flatnonzero(gid > 0)
        obj_gid = gid[on_object]
        region_pos = np.empty(H * W, np.int64)  # full-image index -> position in the region arrays
        region_pos[region] = np.arange(len(region))
        painted: list[tuple[np.ndarray, np.ndarray]] = []  # (pixels, albedo) per object
        for g in range(1, len(owners)):
            owner = owners[g]
            pix = on_object[obj_gid == g]
            if not len(pix):
                continue
            f = rh["primitive_ids"][region_pos[pix]].astype(np.int64)
            obj_index = g - 1
            if obj_index < n_obj:
                # Embree's float32 test is off by up to ~2e-5 m at a few metres; redo the hit on the
                # found face in float64 (Moller-Trumbore) so ground truth is exact to ~1e-7 m.
                t_exact, b = _intersect_faces(self._dirs64[pix], ray_tables[g][f])
                depth_flat[pix] = t_exact
                tri = owner.vertices[owner.faces[f]]
                local = b[:, 0:1] * tri[:, 0] + b[:, 1:2] * tri[:, 1] + b[:, 2:3] * tri[:, 2]
                instance[pix] = obj_index + 1
                canonical[pix] = local
                face_id[pix] = f
                bary[pix] = b
            else:
                uv = rh["primitive_uvs"][region_pos[pix]]
                b = np.stack([1.0 - uv[:, 0] - uv[:, 1], uv[:, 0], uv[:, 1]], axis=-1)
                tri = owner.vertices[owner.faces[f]]
                local = b[:, 0:1] * tri[:, 0] + b[:, 1:2] * tri[:, 1] + b[:, 2:3] * tri[:, 2]
                instance[pix] = DISTRACTOR_ID_BASE + (obj_index - n_obj)
            painted.append((pix, albedo(owner.texture, local)))

        # Depth noise and colour are independent from here on: noise runs on the second core
        # (numpy and OpenCV release the GIL) with its own generator, so results stay reproducible.
        depth_clean = depth_flat.reshape(H, W)
        noise_rng = np.random.default_rng(rng.integers(2**63))
        pending = self._executor().submit(
            apply_depth_noise, depth_clean, cam.fx, noise_rng, noise, np.abs(view_dot).reshape(H, W), self._noise
        )

        light_cam = (world_to_cam[:3, :3] @ scene.light_dir_world).astype(np.float32)
        # Lambert with normals turned towards the camera: light counts when it is on the seen side.
        # The whole plane shares one shade: its normal towards the camera is world +z or -z.
        ambient = np.float32(scene.ambient)
        seen_side = 1.0 if scene.camera_pose[2, 3] >= 0 else -1.0
        plane_lit = max(0.0, seen_side * float(scene.light_dir_world[2]))
        shade = np.full(H * W, ambient + (1 - ambient) * np.float32(plane_lit), np.float32)
        if len(region):
            n_dot_l = normals @ light_cam
            r_dot = view_dot[region]
            lit = np.where((r_dot < 0) == (n_dot_l > 0), np.abs(n_dot_l), np.float32(0.0))
            shade[region] = ambient + (1 - ambient) * lit
        # Support plane (and empty background) first, objects painted over it. The plane is a
        # homography of its texture tile: one warp instead of per-pixel texture arithmetic.
        color = self._plane_color(scene, world_to_cam).reshape(H * W, 3)
        for pix, rgb in painted:
            color[pix] = rgb
        color *= (shade * np.float32(255.0))[:, None]
        color[~valid] = np.asarray(scene.background_rgb, np.float32) * np.float32(255.0)
        color = color.reshape(H, W, 3)
        if color_noise_std > 0:
            color += self._noise.sample(rng, (H, W))[..., None] * np.float32(color_noise_std)
        color_u8 = np.clip(color, 0, 255).astype(np.uint8)
        instance = instance.reshape(H, W)
        canonical = canonical.reshape(H, W, 3)
        face_id = face_id.reshape(H, W)
        bary = bary.reshape(H, W, 3)
        depth = pending.result()

        objects = [
            self._annotate(rc, i + 1, o, world_to_cam, instance) for i, o in enumerate(scene.objects)
        ]
        return Frame(
            color=color_u8,
            depth=depth,
            depth_clean=depth_clean,
            instance_mask=instance,
            canonical=canonical,
            face_id=face_id,
            barycentric=bary,
            camera=cam,
            camera_pose=scene.camera_pose.copy(),
            objects=objects,
        )

    def _annotate(
        self,
        rc: o3d.t.geometry.RaycastingScene,
        index: int,
        obj: SceneObject,
        world_to_cam: np.ndarray,
        instance: np.ndarray,
    ) -> ObjectAnnotation:
        shape = obj.shape
        pose = world_to_cam @ obj.pose
        kps = apply_transform(pose, shape.keypoint_array)
        uv = self.camera.project(kps)
        in_front = kps[:, 2] > 1e-6
        in_image = in_front & self.camera.in_image(uv)
        visible = np.zeros(len(kps), bool)
        if in_front.any():
            dirs = kps[in_front] / kps[in_front, 2:3]  # z = 1: the hit parameter is z-depth
            rays = np.concatenate([np.zeros_like(dirs), dirs], axis=1)
            t_hit = self.cast(rc, rays)["t_hit"]
            visible[in_front] = t_hit >= kps[in_front, 2] - self.visibility_tol
        visible &= in_image
        ys, xs = np.nonzero(instance == index)
        bbox = (
            (int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1))
            if len(xs)
            else (0, 0, 0, 0)
        )
        return ObjectAnnotation(
            instance_index=index,
            category=shape.category,
            shape_id=shape.instance_id,
            pose=pose,
            keypoint_names=shape.keypoint_names,
            keypoints_cam=kps,
            keypoints_uv=uv,
            keypoints_visible=visible,
            keypoints_in_image=in_image,
            pixel_count=int(len(xs)),
            bbox_xywh=bbox,
        )


def _face_ray_table(tri: np.ndarray) -> np.ndarray:
    """Per-face constants (F, 10) that reduce a ray-from-origin / triangle intersection to three
    dot products with the ray direction (Moller-Trumbore with the origin at 0: every term that
    does not involve the direction is fixed per face)."""
    v0, e1, e2 = tri[:, 0], tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    s = -v0
    q = np.cross(s, e1)
    return np.concatenate(
        [np.cross(e2, e1), np.cross(e2, s), q, np.einsum("nc,nc->n", e2, q)[:, None]], axis=1
    )


def _intersect_faces(dirs: np.ndarray, table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rays from the origin along ``dirs`` (N, 3) against faces given by rows of
    :func:`_face_ray_table` (N, 10). Returns the ray parameter t (N,) and the barycentric weights
    (N, 3) of the face's three vertices."""
    inv_det = 1.0 / np.einsum("nc,nc->n", dirs, table[:, 0:3])
    u = np.einsum("nc,nc->n", dirs, table[:, 3:6]) * inv_det
    v = np.einsum("nc,nc->n", dirs, table[:, 6:9]) * inv_det
    t = table[:, 9] * inv_det
    return t, np.stack([1.0 - u - v, u, v], axis=-1)
