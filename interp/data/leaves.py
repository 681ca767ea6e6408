"""Moving leaves: the procedural occlusion dataset of section 3.1 and appendix D.

Each sequence shows disks of the same physical size at random depths, moving along
Gaussian-process trajectories in front of a uniform background. A disk's projected radius
is ``focal / depth``; its trajectory is smoother (longer GP length scale) and slower
(average image-plane speed ``speed / depth``) the farther away it is. The nearer disk, which
is also the larger one in the image, occludes the other (the default rule). Every sequence
contains a frame (its ``meeting_frame``) where the two first disks overlap by at least half
of the smaller disk's area, so at least half of the smaller disk is hidden there.

Randomness is counter based: sequence ``i`` is drawn from its own block of a Philox stream
keyed by the seed, so it is the same whether it is generated alone or among 10^5 others, and
whichever ``start``/``n`` window it is generated in. The train/test split is decided in
blocks of ten consecutive sequences, one of which is the test sequence (a 9:1 split), from a
second stream of the same seed.

Variants (appendix D): ``default``; ``depth-motion`` (disks move in depth, so their size
changes over the sequence and the occlusion order can change); ``brightness`` (the brighter
disk occludes the darker one, whatever their sizes); ``stochastic`` (the larger disk is in
front with the known probability :func:`p_larger_in_front` of the radius difference, the
smaller one otherwise); ``many`` (more than two disks, ``n_disks``; nearest in front).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from interp._util.errors import SEED_LIMIT, InterpError
from interp.data.dataset import Dataset

__all__ = [
    "LeavesConfig",
    "VARIANTS",
    "generate",
    "memory_estimate",
    "MAX_DISKS",
    "render",
    "p_larger_in_front",
    "split_is_test",
    "overlap_area",
]

VARIANTS = ("default", "depth-motion", "brightness", "stochastic", "many")
#: The most disks per sequence: the painter's order is stored as int8 (``layer``), and beyond a
#: few dozen disks of 3 to 9 px radius a 32x32 frame is covered many times over anyway.
MAX_DISKS = 128

# Uniforms drawn per sequence: a fixed count, so that the counter of sequence i is known.
_GLOBAL_DRAWS = 8  # background, meeting frame, meeting point (2), offset (2), coin, spare
# per disk: luminance, depth, end depth, anchor row, anchor col, spare, then 24 uniforms
# that Box-Muller turns into the GP noise of 2 axes x 12 frames (11 used)
_DISK_DRAWS = 6 + 24
_STREAM_SEQUENCES = 0
_STREAM_SPLIT = 1


@dataclasses.dataclass(frozen=True)
class LeavesConfig:
    """Parameters of the generator. The defaults are the dataset used by the shipped models.

    Distances are in pixels, times in frames; pixel ``(row, col)`` has its centre at
    ``(row, col)``, so the image spans ``[-0.5, size - 0.5]`` on both axes.
    """

    variant: str = "default"
    frames: int = 11
    size: int = 32
    n_disks: int = 2
    depth_range: tuple[float, float] = (1.0, 3.0)
    focal: float = 9.0  # projected radius = focal / depth: radii in [3, 9] px
    speed: float = 2.5  # RMS image-plane speed at depth 1, px/frame; scales as 1/depth
    length_scale: float = 2.0  # GP length scale at depth 1, frames; scales with depth
    meeting_margin: float = 8.0  # the meeting point lies at least this far from the border
    stochastic_scale: float = 1.0  # px of radius difference per logit (stochastic variant)
    min_hidden: float = 0.5  # fraction of the smaller disk hidden at the meeting frame

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise InterpError(
                f"unknown moving-leaves variant {self.variant!r}; choose one of {', '.join(VARIANTS)}"
            )
        if self.frames < 1 or self.frames > 11:
            raise InterpError(f"frames must be between 1 and 11, got {self.frames}")
        if self.size < 8:
            raise InterpError(f"size must be at least 8 pixels, got {self.size}")
        if isinstance(self.n_disks, bool) or not isinstance(self.n_disks, (int, np.integer)) \
                or not 2 <= self.n_disks <= MAX_DISKS:
            raise InterpError(f"n_disks must be an integer from 2 to {MAX_DISKS}, got {self.n_disks!r}")
        if self.variant != "many" and self.n_disks != 2:
            raise InterpError("more than two disks is the 'many' variant")
        lo, hi = self.depth_range
        if not 0 < lo <= hi:
            raise InterpError(f"depth_range must satisfy 0 < near <= far, got {self.depth_range}")
        if not 0 < self.min_hidden <= 1:
            raise InterpError(f"min_hidden must be in (0, 1], got {self.min_hidden}")

    @property
    def draws_per_sequence(self) -> int:
        m = _GLOBAL_DRAWS + _DISK_DRAWS * self.n_disks
        return -(-m // 4) * 4  # a whole number of Philox blocks

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "LeavesConfig":
        d = dict(d)
        if "depth_range" in d:
            d["depth_range"] = tuple(d["depth_range"])
        return cls(**d)


def _key(seed: int, stream: int) -> list[int]:
    if not isinstance(seed, (int, np.integer)) or not 0 <= seed < SEED_LIMIT:  # never wrapped to another seed
        raise InterpError(f"seed must be an integer in [0, 2**63), got {seed!r}")
    return [int(seed), stream]


def _uniforms(seed: int, stream: int, start: int, n: int, per_item: int) -> np.ndarray:
    """``per_item`` uniforms in (0, 1) for each item ``start .. start + n - 1`` of a stream.

    Item i always reads the same counter block, whatever ``start`` and ``n`` are.
    """
    assert per_item % 4 == 0
    bits = np.random.Philox(key=_key(seed, stream))
    bits.advance(start * per_item // 4)  # one Philox step yields four 64-bit words
    raw = bits.random_raw(n * per_item)
    u = ((raw >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53
    return u.reshape(n, per_item)


def _normals(u: np.ndarray) -> np.ndarray:
    """Box-Muller: an even number of uniforms along the last axis -> as many normals."""
    a, b = u[..., 0::2], u[..., 1::2]
    r = np.sqrt(-2.0 * np.log(a))
    return np.concatenate([r * np.cos(2 * np.pi * b), r * np.sin(2 * np.pi * b)], axis=-1)


def split_is_test(seed: int, index: np.ndarray) -> np.ndarray:
    """Whether each sequence index is in the test split (exactly one in each block of ten)."""
    index = np.asarray(index, dtype=np.int64)
    if index.size == 0:
        return np.zeros(index.shape, dtype=bool)
    block = index // 10
    lo, hi = int(block.min()), int(block.max())
    u = _uniforms(seed, _STREAM_SPLIT, lo, hi - lo + 1, 4)[:, 0]
    chosen = np.floor(u * 10).astype(np.int64)
    return chosen[block - lo] == index % 10


def p_larger_in_front(radius_difference) -> np.ndarray:
    """Probability that the larger disk is in front, under the ``stochastic`` rule.

    A logistic function of the radius difference |r1 - r2| (pixels) with the default
    ``stochastic_scale`` of 1 px per logit: 0.5 for equal disks, 0.88 at 2 px, 0.98 at 4 px.
    """
    return _p_larger(np.asarray(radius_difference, dtype=np.float64), LeavesConfig().stochastic_scale)


def _p_larger(dr: np.ndarray, scale: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.abs(dr) / scale))


def overlap_area(d, r1, r2) -> np.ndarray:
    """Area of the intersection of two disks of radii r1, r2 with centres d apart."""
    d, r1, r2 = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (d, r1, r2)))
    small, big = np.minimum(r1, r2), np.maximum(r1, r2)
    out = np.zeros(d.shape)
    inside = d <= big - small
    out[inside] = np.pi * small[inside] ** 2
    part = (~inside) & (d < small + big)
    dd, a, b = d[part], small[part], big[part]
    ca = np.clip((dd**2 + a**2 - b**2) / (2 * dd * a), -1, 1)
    cb = np.clip((dd**2 + b**2 - a**2) / (2 * dd * b), -1, 1)
    tri = 0.5 * np.sqrt(np.clip((-dd + a + b) * (dd + a - b) * (dd - a + b) * (dd + a + b), 0, None))
    out[part] = a**2 * np.arccos(ca) + b**2 * np.arccos(cb) - tri
    return out


def _distance_for_overlap(r_small: np.ndarray, r_big: np.ndarray, fraction: float) -> np.ndarray:
    """Largest centre distance at which ``fraction`` of the smaller disk's area is covered."""
    target = fraction * np.pi * r_small**2
    lo, hi = np.zeros_like(r_small), r_small + r_big
    for _ in range(50):  # bisection: the overlap area decreases with distance
        mid = 0.5 * (lo + hi)
        ok = overlap_area(mid, r_small, r_big) >= target
        lo, hi = np.where(ok, mid, lo), np.where(ok, hi, mid)
    return lo


def _gp_paths(noise: np.ndarray, ell: np.ndarray, rms_step: np.ndarray, frames: int) -> np.ndarray:
    """Zero-mean squared-exponential GP paths, one per row of ``noise`` ([M, 2, frames]).

    The amplitude is set so that the per-frame displacement has 2-D RMS ``rms_step``:
    for k(t, t') = s^2 exp(-(t - t')^2 / (2 ell^2)), Var[x(t+1) - x(t)] = 2 s^2 (1 - rho_1).
    """
    t = np.arange(frames, dtype=np.float64)
    dt2 = (t[:, None] - t[None, :]) ** 2
    corr = np.exp(-dt2[None] / (2.0 * ell[:, None, None] ** 2))
    corr = corr + 1e-6 * np.eye(frames)[None]
    chol = np.linalg.cholesky(corr)  # [M, F, F]
    if frames > 1:
        rho1 = np.exp(-1.0 / (2.0 * ell**2))
        amp = (rms_step / np.sqrt(2.0)) / np.sqrt(2.0 * (1.0 - rho1))
    else:
        amp = np.zeros_like(ell)
    return amp[:, None, None] * np.einsum("mij,mcj->mci", chol, noise)


def sample_scenes(cfg: LeavesConfig, seed: int, start: int, n: int) -> dict[str, np.ndarray]:
    """Draw the scene parameters (no pixels) of sequences ``start .. start + n - 1``."""
    T, K = cfg.frames, cfg.n_disks
    u = _uniforms(seed, _STREAM_SEQUENCES, start, n, cfg.draws_per_sequence)
    g = u[:, :_GLOBAL_DRAWS]
    d = u[:, _GLOBAL_DRAWS : _GLOBAL_DRAWS + K * _DISK_DRAWS].reshape(n, K, _DISK_DRAWS)

    background = g[:, 0]
    luminance = d[:, :, 0]
    near, far = cfg.depth_range
    depth0 = near + (far - near) * d[:, :, 1]
    if cfg.variant == "depth-motion":
        depth1 = near + (far - near) * d[:, :, 2]
        w = np.linspace(0.0, 1.0, T) if T > 1 else np.zeros(1)
        depth = depth0[:, :, None] * (1 - w) + depth1[:, :, None] * w  # [n, K, T]
    else:
        depth = np.repeat(depth0[:, :, None], T, axis=2)
    radius = cfg.focal / depth
    mean_depth = depth.mean(axis=2)

    noise = _normals(d[:, :, 6 : 6 + 24]).reshape(n * K, 2, 12)[:, :, :T]
    ell = cfg.length_scale * mean_depth.reshape(-1)
    rms = cfg.speed / mean_depth.reshape(-1)
    paths = _gp_paths(noise, ell, rms, T).reshape(n, K, 2, T)

    # Place the paths: disks 0 and 1 meet at a random frame, overlapping by at least
    # cfg.min_hidden of the smaller one's area; further disks ('many') are placed uniformly.
    meet = np.minimum(np.floor(g[:, 1] * T).astype(np.int64), T - 1)
    lo_p, hi_p = cfg.meeting_margin - 0.5, cfg.size - 0.5 - cfg.meeting_margin
    point = lo_p + (hi_p - lo_p) * g[:, 2:4]  # [n, 2] (row, col)
    rows = np.arange(n)
    r_at = radius[rows, :, meet]  # [n, K]
    r_small, r_big = r_at[:, :2].min(axis=1), r_at[:, :2].max(axis=1)
    reach = _distance_for_overlap(r_small, r_big, cfg.min_hidden)
    dist = reach * np.sqrt(g[:, 4])
    angle = 2 * np.pi * g[:, 5]
    offset = np.stack([dist * np.sin(angle), dist * np.cos(angle)], axis=1)
    anchor = np.empty((n, K, 2))
    anchor[:, 0] = point
    anchor[:, 1] = point + offset
    anchor[:, 2:] = -0.5 + cfg.size * d[:, 2:, 3:5]  # empty unless the 'many' variant
    at_meet = paths[rows, :, :, meet]  # [n, K, 2]
    center = paths - at_meet[..., None] + anchor[..., None]  # [n, K, 2, T]
    center = np.moveaxis(center, 2, 3)  # [n, K, T, 2]

    # Painter's order, per frame: a larger "front key" is drawn later (nearer the viewer).
    p_larger = np.ones(n)
    if cfg.variant == "brightness":
        key = np.repeat(luminance[:, :, None], T, axis=2)
        p_larger = (np.argmax(r_at[:, :2], axis=1) == np.argmax(luminance[:, :2], axis=1)).astype(float)
    elif cfg.variant == "stochastic":
        p_larger = _p_larger(r_at[:, 0] - r_at[:, 1], cfg.stochastic_scale)
        larger_front = g[:, 6] < p_larger
        # The rule holds for the whole sequence: the chosen disk is given the nearer depth
        # order throughout (its size still says nothing certain about the order).
        bigger = (r_at[:, 0] >= r_at[:, 1]).astype(np.int64)  # 1 if disk 0 is the larger
        front_disk = np.where(larger_front, 1 - bigger, bigger)  # index of the disk in front
        key = np.zeros((n, K, T))
        key[rows, front_disk] = 1.0
    else:
        key = radius  # nearer = larger projection
    layer = np.argsort(np.argsort(key, axis=1, kind="stable"), axis=1, kind="stable")

    return {
        "background": background.astype(np.float32),
        "luminance": luminance.astype(np.float32),
        "depth": depth.astype(np.float32),
        "radius": radius.astype(np.float32),
        "center": center.astype(np.float32),
        "layer": layer.astype(np.int8),
        "meeting_frame": meet.astype(np.int8),
        "p_larger_front": p_larger.astype(np.float32),
    }


def render(
    center: np.ndarray,
    radius: np.ndarray,
    luminance: np.ndarray,
    background: np.ndarray,
    layer: np.ndarray,
    size: int = 32,
    out: np.ndarray | None = None,
    workspace: torch.Tensor | None = None,
) -> np.ndarray:
    """Draw disks with antialiased edges, back to front.

    Shapes: ``center`` [N, K, T, 2] (row, col), ``radius`` and ``layer`` [N, K, T],
    ``luminance`` [N, K], ``background`` [N]. A pixel's coverage by a disk is the fraction of
    a unit-width ramp across the disk's edge, ``clip(r - dist + 1/2, 0, 1)``, so a disk's total
    coverage is its area to well under a pixel of radius. Returns float32 [N, T, size, size],
    written into ``out`` when given. ``workspace`` (float32, at least N*T*size*size elements)
    is scratch memory reused between calls, which spares the allocator fresh pages per chunk.
    """
    c = torch.as_tensor(center, dtype=torch.float32)
    r = torch.as_tensor(radius, dtype=torch.float32)
    lum = torch.as_tensor(luminance, dtype=torch.float32)
    N, K, T, _ = c.shape
    shape = (N, T, size, size)
    if out is None:
        out = np.empty(shape, dtype=np.float32)
    img = torch.from_numpy(out)
    if workspace is None:
        workspace = torch.empty(shape)
    cover = workspace.view(-1)[: img.numel()].view(shape)
    grid = torch.arange(size, dtype=torch.float32)
    dy2 = (grid - c[..., 0:1]) ** 2  # [N, K, T, size]
    dx2 = (grid - c[..., 1:2]) ** 2
    img.copy_(torch.as_tensor(background, dtype=torch.float32).reshape(N, 1, 1, 1).expand(shape))
    order = torch.as_tensor(np.argsort(layer, axis=1, kind="stable"))  # back to front, [N, K, T]
    for depth_slot in range(K):
        k = order[:, depth_slot]  # [N, T] which disk is drawn at this slot
        idx = k[:, None, :, None].expand(N, 1, T, size)
        y2 = torch.gather(dy2, 1, idx)[:, 0]  # [N, T, size]
        x2 = torch.gather(dx2, 1, idx)[:, 0]
        rk = torch.gather(r, 1, k[:, None, :])[:, 0]  # [N, T]
        lk = torch.gather(lum, 1, k)  # [N, T]
        # coverage = clip(r + 1/2 - dist, 0, 1), in place to keep memory passes few
        torch.add(y2[..., :, None], x2[..., None, :], out=cover).sqrt_()
        cover.neg_().add_(rk[..., None, None] + 0.5).clamp_(0.0, 1.0)
        img.lerp_(lk[..., None, None].expand_as(img), cover)  # img + cover * (lum - img)
    return out


def memory_estimate(n: int, config: LeavesConfig | None = None, chunk: int = 512) -> int:
    """Bytes :func:`generate` needs for ``n`` sequences, about: the frames, the metadata (twice:
    per chunk, then joined) and one chunk's scene arrays (GP covariances and their factors)."""
    cfg = config if config is not None else LeavesConfig()
    T, K, S = cfg.frames, cfg.n_disks, cfg.size
    frames = T * S * S * 4
    meta = 2 * (K * (4 + T * (4 + 4 + 8 + 1)) + 4 + 1 + 4 + 8 + 1)
    m = min(chunk, n)
    # per disk of a chunk: the GP correlation, its regularised copy and Cholesky factor (float64),
    # and the rows and columns of squared distances the renderer gathers from (float32)
    scratch = m * (K * (3 * T * T * 8 + 2 * T * S * 4) + cfg.draws_per_sequence * 8 + T * S * S * 4)
    return n * (frames + meta) + scratch


def generate(
    n: int,
    seed: int = 0,
    variant: str = "default",
    *,
    start: int = 0,
    config: LeavesConfig | None = None,
    chunk: int = 512,
    progress: bool = False,
):
    """Generate moving-leaves sequences ``start .. start + n - 1`` of the seed's dataset.

    Parameters
    ----------
    n : int
        Number of sequences (> 0).
    seed : int
        Seed of the whole dataset; sequence i and the split depend on it alone.
    variant : str
        One of :data:`VARIANTS` (ignored when ``config`` is given).
    start : int
        Index of the first sequence.
    config : LeavesConfig, optional
        Full generator parameters.
    chunk : int
        Sequences rendered at once (memory bound only; the result does not depend on it).
    progress : bool
        Show a progress bar.

    Returns
    -------
    interp.data.Dataset
        ``frames`` float32 [n, frames, size, size] in [0, 1] and per-sequence metadata:
        ``index``, ``test``, ``background``, ``luminance`` [n, K], ``depth``, ``radius`` and
        ``layer`` [n, K, T] (``layer`` 0 is the back), ``center`` [n, K, T, 2] (row, col),
        ``meeting_frame`` and ``p_larger_front``.
    """
    cfg = config if config is not None else LeavesConfig(variant=variant)
    if not isinstance(n, (int, np.integer)) or n <= 0:
        raise InterpError(f"n must be a positive integer, got {n!r}")
    if not isinstance(start, (int, np.integer)) or start < 0:
        raise InterpError(f"start must be a non-negative integer, got {start!r}")
    if start + n > np.iinfo(np.int64).max:
        raise InterpError(f"start + n must stay below 2**63 (sequence indices are int64), got start={start}")
    _key(seed, 0)
    frames = np.empty((n, cfg.frames, cfg.size, cfg.size), dtype=np.float32)
    parts: list[dict[str, np.ndarray]] = []
    workspace = torch.empty(min(chunk, n) * cfg.frames * cfg.size * cfg.size)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, unit="seq", desc=f"moving leaves ({cfg.variant})")
    for lo in range(0, n, chunk):
        m = min(chunk, n - lo)
        scene = sample_scenes(cfg, seed, start + lo, m)
        render(scene["center"], scene["radius"], scene["luminance"], scene["background"],
               scene["layer"], cfg.size, out=frames[lo : lo + m], workspace=workspace)
        parts.append(scene)
        if bar is not None:
            bar.update(m)
    if bar is not None:
        bar.close()
    meta = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    index = np.arange(start, start + n, dtype=np.int64)
    meta["index"] = index
    meta["test"] = split_is_test(seed, index)
    source = {"kind": "leaves", "seed": int(seed), "config": cfg.to_dict()}
    return Dataset(frames=frames, meta=meta, source=source)
