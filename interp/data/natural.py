"""A built-in natural test set: scikit-image photographs moved by simulated camera and object motion.

The natural-video figures (6, 7, 8 and 12) need test clips with the statistics of natural
images. When DAVIS32 has been built (:mod:`interp.davis`), they use its test split; otherwise
they fall back to this set, which needs nothing but the photographs that ship inside the
scikit-image wheel (no download) and is labelled as such wherever it is used
(:data:`BUILTIN_LABEL`). :func:`natural_video_test_set` makes that choice.

How a clip is made (all draws from the clip's own generator, ``numpy.random.default_rng([seed,
i])``, so clip ``i`` is the same whatever ``n`` is):

1. A background photograph (one of :data:`PHOTOS`) is mapped to grayscale as DAVIS32 is
   (ITU-R 601-2 luma of the 8-bit RGB values, Pillow's ``convert("L")``, divided by 255) and
   shrunk by area averaging (box filter) by a random factor (log-uniform in
   ``NaturalConfig.scale_range``, lowered where the photograph is too small for the path).
2. Camera motion: the background content moves by ``d_t = v t + a t^2 / 2`` pixels (row, col)
   in frame ``t = 0 .. 10``, a constant velocity ``v`` (random direction, speed uniform in
   ``camera_speed``) plus a small constant acceleration ``a`` (normal, ``camera_accel`` px per
   frame^2 per axis). Frame ``t`` is the shrunk photograph resampled at ``p + o - d_t`` (cubic
   spline interpolation, subpixel), for the 32x32 pixels ``p`` of a crop whose corner ``o`` is
   drawn so that the whole path stays inside the photograph.
3. An object (with probability ``object_probability``): a patch cut from another photograph
   (its own shrink factor), seen through a mask (disk, ellipse or wobbly blob, radius uniform in
   ``object_radius``) whose edge is either hard (a one-pixel antialiasing ramp) or soft (a
   smoothstep ramp of half-width uniform in ``soft_edge_width``; the core stays opaque).
   Texture and mask move rigidly together, in front of the background, along their own path:
   relative to the background at a speed uniform in ``object_speed`` (so it always occludes
   and disoccludes background), with its own small acceleration, passing within
   ``object_offset`` pixels of the crop centre at the middle frame. Frame =
   ``alpha * object + (1 - alpha) * background``.

Frames are float32 in [0, 1] (cubic interpolation can overshoot slightly; values are clipped).
Per-clip metadata (first axis N): ``index``, ``photo``, ``scale`` (shrink factor),
``camera_velocity`` [N, 2] and ``camera_acceleration`` [N, 2] (of the background content,
px/frame and px/frame^2, (row, col)), ``camera_speed``, ``background_motion`` [N, T, 2]
(``d_t``: where the content of frame 0 has moved to in frame t), ``has_object``,
``object_photo``, ``object_scale``, ``object_shape``, ``object_edge``, ``object_radius``,
``object_speed`` (relative to the background, px/frame), ``object_velocity`` [N, 2] (image
plane, px/frame, at the middle frame), ``object_center`` [N, T, 2], ``object_alpha`` [N, T, H, W]
(the object's opacity in each frame; zero where there is no object) and ``test`` (all True:
the whole set is test data). Clips without an object have empty strings and zeros in the
object fields (NaN centres).

Every background draw comes before the object's, so the same seed with
``object_probability=0`` gives exactly the backgrounds of the clips with objects: a frame equals
its background wherever ``object_alpha`` is 0.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from interp._util.errors import InterpError
from interp._util.resources import ROOT
from interp.data.dataset import Dataset, check_frame_size, load

__all__ = ["PHOTOS", "BUILTIN_NAME", "BUILTIN_LABEL", "DAVIS32_FILES", "ENV_VAR", "NaturalConfig",
           "photo", "natural_test_set", "natural_video_test_set"]

#: scikit-image photographs used (all bundled in the wheel: none needs a download).
PHOTOS = ("astronaut", "brick", "camera", "chelsea", "coffee", "coins", "grass", "gravel",
          "immunohistochemistry", "moon", "motorcycle", "page", "rocket", "text")
BUILTIN_NAME = "builtin-natural"
BUILTIN_LABEL = "built-in natural test set (scikit-image photographs, simulated motion), not DAVIS"
#: Where :func:`natural_video_test_set` looks for DAVIS32, relative to the repository root.
DAVIS32_FILES = ("data/davis32.npz", "data/davis32-mini.npz")
#: Environment variable naming a DAVIS32 file to use before any of :data:`DAVIS32_FILES`.
ENV_VAR = "INTERP_DAVIS32"
REPO_ROOT = ROOT

_SPLINE_MARGIN = 3  # pixels kept between the sampled coordinates and a photograph's edge
SHAPES = ("disk", "ellipse", "blob")
EDGES = ("hard", "soft")


@dataclasses.dataclass(frozen=True)
class NaturalConfig:
    """Parameters of the built-in natural test set (distances in frame pixels, times in frames)."""

    frames: int = 11
    size: int = 32
    photos: tuple[str, ...] = PHOTOS
    scale_range: tuple[float, float] = (2.5, 8.0)  # photograph pixels per frame pixel
    camera_speed: tuple[float, float] = (0.0, 1.5)
    camera_accel: float = 0.08
    object_probability: float = 1.0
    object_photos: tuple[str, ...] = PHOTOS
    object_scale_range: tuple[float, float] = (2.0, 6.0)
    object_radius: tuple[float, float] = (4.0, 10.0)
    object_speed: tuple[float, float] = (0.5, 2.5)  # relative to the background
    object_accel: float = 0.08
    object_offset: float = 6.0  # the object's centre at the middle frame: within this of the crop centre
    soft_edge_width: tuple[float, float] = (1.0, 3.0)  # half-width of a soft edge's ramp, pixels

    def __post_init__(self) -> None:
        if not (isinstance(self.frames, int) and self.frames >= 2):
            raise InterpError(f"frames must be an integer >= 2, got {self.frames!r}")
        if not (isinstance(self.size, int) and self.size >= 8):
            raise InterpError(f"size must be an integer >= 8, got {self.size!r}")
        for name in ("photos", "object_photos"):
            names = getattr(self, name)
            unknown = [p for p in names if p not in PHOTOS]
            if not names or unknown:
                raise InterpError(f"{name} must be names from {', '.join(PHOTOS)}; got {list(names)}")
        if self.object_probability > 0 and len(set(self.photos) | set(self.object_photos)) < 2:
            raise InterpError("objects need at least two different photographs")
        for name in ("scale_range", "camera_speed", "object_scale_range", "object_radius", "object_speed",
                     "soft_edge_width"):
            lo, hi = getattr(self, name)
            if not (math.isfinite(lo) and math.isfinite(hi) and 0 <= lo <= hi):
                raise InterpError(f"{name} must be a range 0 <= low <= high, got {(lo, hi)}")
        if self.scale_range[0] < 1 or self.object_scale_range[0] < 1:
            raise InterpError("shrink factors must be >= 1 (photographs are never enlarged)")
        if not 0.0 <= self.object_probability <= 1.0:
            raise InterpError(f"object_probability must be in [0, 1], got {self.object_probability!r}")

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


# --------------------------------------------------------------------------- photographs


@functools.lru_cache(maxsize=None)
def photo(name: str) -> np.ndarray:
    """A bundled scikit-image photograph as float32 grayscale in [0, 1] (read-only).

    RGB photographs are mapped with ITU-R 601-2 luma (Pillow's ``convert("L")``), as DAVIS32
    frames are; grayscale ones are taken as they are. Everything is divided by 255.
    """
    if name not in PHOTOS:
        raise InterpError(f"unknown photograph {name!r}; choose one of {', '.join(PHOTOS)}")
    import skimage.data
    from PIL import Image

    img = skimage.data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(skimage.data, name)()
    img = np.asarray(img)
    if img.dtype != np.uint8:
        raise InterpError(f"scikit-image photograph {name!r} is {img.dtype}, expected 8-bit")
    if img.ndim == 3:
        img = np.asarray(Image.fromarray(np.ascontiguousarray(img[..., :3])).convert("L"))
    out = img.astype(np.float32) / 255.0
    out.flags.writeable = False
    return out


def _shrink(img: np.ndarray, factor: float) -> np.ndarray:
    """``img`` shrunk by area averaging (box filter) by ``factor`` (DAVIS32's shrink)."""
    from PIL import Image

    h, w = img.shape
    size = (max(1, int(round(w / factor))), max(1, int(round(h / factor))))
    out = Image.fromarray(np.ascontiguousarray(img), mode="F").resize(size, resample=Image.Resampling.BOX)
    return np.asarray(out, dtype=np.float32)


def _spline(img: np.ndarray) -> np.ndarray:
    from scipy.ndimage import spline_filter

    return spline_filter(img.astype(np.float64), order=3, mode="mirror")


def _sample(coeffs: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Cubic-spline values of a prefiltered image at (rows, cols) (any common shape)."""
    from scipy.ndimage import map_coordinates

    out = map_coordinates(coeffs, np.stack([rows.ravel(), cols.ravel()]), order=3, mode="mirror",
                          prefilter=False)
    return out.reshape(rows.shape)


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(math.log(lo), math.log(hi)))) if hi > lo else float(lo)


def _velocity(rng: np.random.Generator, speed_range: tuple[float, float]) -> np.ndarray:
    speed = rng.uniform(*speed_range)
    angle = rng.uniform(0.0, 2.0 * math.pi)
    return speed * np.array([math.sin(angle), math.cos(angle)])


# --------------------------------------------------------------------------- objects


def _signed_distance(shape: str, params: dict, dr: np.ndarray, dc: np.ndarray) -> np.ndarray:
    """Approximate signed distance (pixels, negative inside) to the mask's edge, centred at 0."""
    if shape == "disk":
        return np.hypot(dr, dc) - params["radius"]
    if shape == "ellipse":
        a, b, th = params["a"], params["b"], params["angle"]
        u = math.cos(th) * dc + math.sin(th) * dr
        v = -math.sin(th) * dc + math.cos(th) * dr
        rho = np.hypot(u / a, v / b)
        grad = np.hypot(u / a**2, v / b**2) / np.maximum(rho, 1e-9)  # |grad rho|
        return np.where(rho > 1e-6, (rho - 1.0) / np.maximum(grad, 1e-9), -min(a, b))
    # blob: a disk whose radius wobbles with the angle (harmonics 2..4)
    phi = np.arctan2(dr, dc)
    r = np.full_like(phi, params["radius"])
    for k, (amp, phase) in enumerate(zip(params["amps"], params["phases"]), start=2):
        r = r + params["radius"] * amp * np.cos(k * phi + phase)
    return np.hypot(dr, dc) - r


def _draw_object(rng: np.random.Generator, cfg: NaturalConfig) -> tuple[str, dict]:
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    radius = float(rng.uniform(*cfg.object_radius))
    if shape == "disk":
        return shape, {"radius": radius}
    if shape == "ellipse":
        ratio = float(rng.uniform(0.6, 0.9))
        return shape, {"radius": radius, "a": radius, "b": radius * ratio, "angle": float(rng.uniform(0, math.pi))}
    return shape, {"radius": radius, "amps": rng.uniform(0.0, 0.12, size=3).tolist(),
                   "phases": rng.uniform(0.0, 2 * math.pi, size=3).tolist()}


# --------------------------------------------------------------------------- one clip


def _clip(rng: np.random.Generator, cfg: NaturalConfig) -> tuple[np.ndarray, dict]:
    """One clip [T, S, S] float32 and its metadata (see the module docstring)."""
    T, S = cfg.frames, cfg.size
    t = np.arange(T, dtype=np.float64)
    grid_r, grid_c = np.meshgrid(np.arange(S, dtype=np.float64), np.arange(S, dtype=np.float64), indexing="ij")

    # background: photograph, camera path, shrink factor, crop corner
    name = cfg.photos[int(rng.integers(len(cfg.photos)))]
    full = photo(name)
    v = _velocity(rng, cfg.camera_speed)
    a = rng.normal(0.0, cfg.camera_accel, size=2)
    d = v[None] * t[:, None] + 0.5 * a[None] * t[:, None] ** 2  # [T, 2] content displacement
    extent = S - 1 + (d.max(0) - d.min(0)) + 2 * _SPLINE_MARGIN + 2
    max_factor = float(min(full.shape[0] / extent[0], full.shape[1] / extent[1]))
    if max_factor < 1.0:
        raise InterpError(f"photograph {name!r} ({full.shape[0]}x{full.shape[1]}) is too small for a "
                          f"{S}x{S} crop moving {float(np.abs(d).max()):.1f} px")
    lo, hi = cfg.scale_range
    factor = _log_uniform(rng, min(lo, max_factor), min(hi, max_factor))
    bg = _shrink(full, factor)
    # corner o: every sample p + o - d_t stays at least _SPLINE_MARGIN inside the shrunk photograph
    o_lo = _SPLINE_MARGIN + d.max(0)
    o_hi = np.array(bg.shape, dtype=np.float64) - 1 - _SPLINE_MARGIN - (S - 1) + d.min(0)
    o = np.array([rng.uniform(o_lo[k], max(o_lo[k], o_hi[k])) for k in range(2)])
    coeffs = _spline(bg)
    rows = grid_r[None] + o[0] - d[:, 0, None, None]
    cols = grid_c[None] + o[1] - d[:, 1, None, None]
    frames = _sample(coeffs, rows, cols)

    meta = {"photo": name, "scale": factor, "camera_velocity": v, "camera_acceleration": a,
            "camera_speed": float(np.hypot(*v)), "background_motion": d, "has_object": False,
            "object_photo": "", "object_scale": 0.0, "object_shape": "", "object_edge": "",
            "object_radius": 0.0, "object_speed": 0.0, "object_velocity": np.zeros(2),
            "object_center": np.full((T, 2), np.nan), "object_alpha": np.zeros((T, S, S), np.float32)}
    if rng.uniform() >= cfg.object_probability:
        return np.clip(frames, 0.0, 1.0).astype(np.float32), meta

    # object: shape and edge, path (relative to the background, then in the image plane)
    shape, params = _draw_object(rng, cfg)
    edge = EDGES[int(rng.integers(len(EDGES)))]
    width = float(rng.uniform(*cfg.soft_edge_width)) if edge == "soft" else 1.0
    w_rel = _velocity(rng, cfg.object_speed)
    b = rng.normal(0.0, cfg.object_accel, size=2)
    mid = (T - 1) / 2.0
    centre = (S - 1) / 2.0 + rng.uniform(-cfg.object_offset, cfg.object_offset, size=2)
    bg_mid = v * mid + 0.5 * a * mid**2  # background displacement at the middle frame
    tm = (t - mid)[:, None]
    # object path = background path (relative to the middle frame) + its own motion
    m = centre[None] + (d - bg_mid[None]) + w_rel[None] * tm + 0.5 * b[None] * tm**2  # [T, 2]
    u = v + a * mid + w_rel  # image-plane velocity at the middle frame

    # texture: a patch of another photograph, attached to the object
    others = [p for p in cfg.object_photos if p != name] or list(cfg.object_photos)  # another one if possible
    oname = others[int(rng.integers(len(others)))]
    ofull = photo(oname)
    reach = params["radius"] * 1.5 + width + 2  # alpha is 0 beyond it
    omax = float(min(ofull.shape) / (2 * reach + 2 * _SPLINE_MARGIN + 2))
    olo, ohi = cfg.object_scale_range
    ofactor = _log_uniform(rng, min(olo, omax), min(ohi, omax))
    tex = _shrink(ofull, ofactor)
    q = np.array([rng.uniform(reach + _SPLINE_MARGIN, max(reach + _SPLINE_MARGIN, n - 1 - reach - _SPLINE_MARGIN))
                  for n in tex.shape])
    dr = grid_r[None] - m[:, 0, None, None]
    dc = grid_c[None] - m[:, 1, None, None]
    sd = _signed_distance(shape, params, dr, dc)
    if edge == "hard":
        alpha = np.clip(0.5 - sd, 0.0, 1.0)
    else:
        x = np.clip((width - sd) / (2.0 * width), 0.0, 1.0)
        alpha = x * x * (3.0 - 2.0 * x)  # smoothstep from sd = width (0) to sd = -width (1)
    inside = alpha > 0
    texture = np.zeros_like(frames)
    if inside.any():
        texture[inside] = _sample(_spline(tex), np.clip(q[0] + dr[inside], 0, tex.shape[0] - 1),
                                  np.clip(q[1] + dc[inside], 0, tex.shape[1] - 1))
    frames = alpha * texture + (1.0 - alpha) * frames
    meta.update({"has_object": True, "object_photo": oname, "object_scale": ofactor, "object_shape": shape,
                 "object_edge": edge, "object_radius": params["radius"],
                 "object_speed": float(np.hypot(*w_rel)), "object_velocity": u, "object_center": m,
                 "object_alpha": alpha.astype(np.float32)})
    return np.clip(frames, 0.0, 1.0).astype(np.float32), meta


# --------------------------------------------------------------------------- the test set


def natural_test_set(n: int = 500, seed: int = 0, config: NaturalConfig | None = None) -> Dataset:
    """The built-in natural test set: ``n`` clips [T, 32, 32] of moving photographs (see the module
    docstring).

    Parameters
    ----------
    n : int
        Number of clips.
    seed : int
        Clip ``i`` is drawn from ``numpy.random.default_rng([seed, i])``: the same for a seed,
        whatever ``n`` is.
    config : NaturalConfig, optional
        Generator parameters (default :class:`NaturalConfig`).

    Returns
    -------
    interp.data.Dataset
        Frames [n, T, S, S] float32 in [0, 1]; metadata as in the module docstring, ``test``
        all True; ``source["name"]`` is ``"builtin-natural"`` and ``source["label"]`` the
        label figures print (:data:`BUILTIN_LABEL`).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InterpError(f"n must be a positive integer, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InterpError(f"seed must be a non-negative integer, got {seed!r}")
    cfg = config or NaturalConfig()
    clips, metas = [], []
    for i in range(int(n)):
        frames, meta = _clip(np.random.default_rng([int(seed), i]), cfg)
        clips.append(frames)
        metas.append(meta)
    meta_arrays = {k: np.asarray([m[k] for m in metas]) for k in metas[0]}
    for k in ("photo", "object_photo", "object_shape", "object_edge"):
        meta_arrays[k] = meta_arrays[k].astype(str)
    for k, arr in meta_arrays.items():
        if arr.dtype == np.float64:
            meta_arrays[k] = arr.astype(np.float32)
    meta_arrays["index"] = np.arange(int(n), dtype=np.int32)
    meta_arrays["test"] = np.ones(int(n), dtype=bool)
    import skimage

    source = {"name": BUILTIN_NAME, "label": BUILTIN_LABEL, "seed": int(seed), "n": int(n),
              "config": cfg.to_dict(), "scikit_image": skimage.__version__,
              "grayscale": "ITU-R 601-2 luma / 255", "shrink": "box (area average)",
              "interpolation": "cubic spline"}
    return Dataset(frames=np.stack(clips), meta=meta_arrays, source=source)


def davis_candidates(prefer: Sequence[str | os.PathLike]) -> list[Path]:
    out = []
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise InterpError(f"${ENV_VAR} names {path}, which is not a file (unset it to use "
                              f"{', '.join(str(p) for p in prefer)} or the built-in natural test set)")
        out.append(path)
    for p in prefer:
        p = Path(p)
        out.append(p if p.is_absolute() else REPO_ROOT / p)
    return out


def natural_video_test_set(prefer: Sequence[str | os.PathLike] = DAVIS32_FILES, *, n: int = 500,
                           seed: int = 0) -> tuple[Dataset, str]:
    """The natural-video test clips the figures use, and a label saying what they are.

    The first of these that exists is used: the file named by ``$INTERP_DAVIS32`` (when set;
    it must then exist), then each of ``prefer`` (relative paths are taken from the
    repository root); its test split is returned, labelled e.g. ``"DAVIS32 test split
    (davis32-mini.npz: car-roundabout, goat)"``. When none exists, the built-in natural test
    set (:func:`natural_test_set` with ``n`` and ``seed``) is returned with
    :data:`BUILTIN_LABEL`. A DAVIS32 file that exists but cannot be read is an error, not a
    reason to fall back.
    """
    if isinstance(prefer, (str, os.PathLike)):
        prefer = (prefer,)
    for path in davis_candidates(prefer):
        if not path.is_file():
            continue
        ds = load(path)
        if "test" in ds.meta:
            ds = ds.test
        if len(ds) == 0:
            raise InterpError(f"{path}: the DAVIS32 test split is empty")
        check_frame_size(ds.frames, path)
        if "video" in ds.meta:
            videos = list(dict.fromkeys(str(v) for v in ds.meta["video"]))
        else:
            videos = [str(v) for v in ds.source.get("test_videos", [])]
        shown = ", ".join(videos[:6]) + (f", ... ({len(videos)} videos)" if len(videos) > 6 else "")
        return ds, f"DAVIS32 test split ({path.name}: {shown})" if shown else f"DAVIS32 test split ({path.name})"
    return natural_test_set(n, seed), BUILTIN_LABEL
