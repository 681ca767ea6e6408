"""Occlusion decisions as a psychophysics experiment (section 3.1, Figs. 3, 4 and 11).

Two disks approach each other on a collision course. The network sees ``tau`` clean frames
in which they do not touch, and pure noise in place of the next frame, in which they overlap:
it has to decide which disk will be in front. Sampling many next frames and counting the
decisions gives a choice frequency; sweeping the radius difference between the disks (the
depth cue of the moving-leaves world) gives a psychometric curve, fitted by a logistic
function whose slope is the network's sensitivity to the cue and whose zero crossing (the
point of subjective equality, PSE) is its bias.

The pieces, usable on their own:

* :class:`Probe` describes one probe sequence (radii, luminances, background, speeds,
  direction of approach, position) and renders it (:meth:`Probe.frames`);
  :func:`probe_grid` builds a sweep of radius differences.
* :func:`classify` reads, from the pixels of a sampled next frame, which disk is in front,
  and marks samples where neither is (a disk lost, a blend, a failed chain) as invalid.
* :func:`run_sweep` samples every probe with any denoiser (Algorithm 2) and returns one row
  per sample, plus the one-step (MMSE) estimate of each probe and how much it blends the two
  options.
* :func:`choice_frequencies` (with Wilson intervals), :func:`fit_logistic` (with bootstrap
  intervals for slope and PSE) and :func:`calibration` (against a known probability, for the
  ``stochastic`` moving-leaves variant) summarise the table.

CLI::

    python -m interp.psychometrics --ckpt models/leaves-tau2.safetensors --out runs/psy
    python -m interp.psychometrics --ckpt models/leaves-stochastic-tau2.safetensors \
        --truth stochastic --out runs/psy-stochastic

Geometry. The disks move along the unit vector ``u = (sin a, cos a)`` (row, col) for a
direction ``a`` in degrees (0: along the columns, left to right). The "left" disk is the one
that starts on the ``-u`` side and moves along ``+u``; the "right" disk moves along ``-u``.
Their speeds default to the moving-leaves rule, faster for nearer (larger) disks:
``speed_factor * 2.5 * r / focal`` pixels per frame, i.e. ``speed_factor`` times the
root-mean-square step of a disk of that radius in the training data. Frames are numbered
``0 .. tau``; the last is the one to predict. In frame ``tau - 1`` the edges are ``gap``
pixels apart (with the 1-pixel antialiasing ramp, ``gap >= 1`` means no pixel is touched by
both disks); in frame ``tau`` they have moved into each other by ``v_left + v_right - gap``
pixels, and the overlap lens is centred on ``center``.

Sign convention: ``dr = radius_right - radius_left``; a positive ``dr`` means the right disk
is the larger, hence (deterministic rule) the one in front. The curve is the frequency of
"right disk in front" against ``dr``.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from interp._util.errors import InterpError, short_repr
from interp.analysis.sampler import one_step, sample
from interp.data.leaves import LeavesConfig, p_larger_in_front, render, sample_scenes, split_is_test

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd


FOCAL = 9.0  # moving leaves: radius = focal / depth (appendix D, interp.leaves)


LEAVES_SPEED = 2.5  # moving leaves: RMS step = 2.5 / depth pixels per frame


#: Radius differences of the default sweep (pixels).
DEFAULT_DIFFERENCES = (-4.0, -3.0, -2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0)


MIN_CONTRAST = 0.2  # luminances (two disks, background) must differ by at least this


INVALID_REASONS = ("failed", "mixed", "apart", "lost_left", "lost_right")


MAX_CHAINS = 1_000_000  # the CLI refuses larger sweeps up front (about a day on a 2-core CPU)


#: The most bootstrap resamples (``--boot``, ``n_boot``): each is a logistic refit, about 1 ms, so
#: 10^5 take minutes; 10^9 would run for weeks (and its table alone would take 16 GB).
MAX_BOOT = 100_000


DECISION_BAND = 2  # pixels around the lens compared with the two possible next frames


@dataclasses.dataclass(frozen=True)
class Probe:
    """One probe sequence: two disks on a collision course (see the module docstring).

    Parameters
    ----------
    radius_left, radius_right : float
        Radii in pixels.
    luminance_left, luminance_right, background : float
        Gray levels in [0, 1]; each pair must differ by at least 0.2 so that a pixel can be
        attributed to one of them.
    speed_left, speed_right : float, optional
        Pixels per frame; default ``speed_factor * 2.5 * radius / 9`` (nearer disks move
        faster, as in the training data).
    speed_factor : float
        Multiplier of the default speeds (1 = the training data's RMS step).
    direction : float
        Direction of approach in degrees (0: the left disk moves towards +col).
    center : (float, float)
        (row, col) of the centre of the overlap lens in the predicted frame.
    gap : float
        Distance in pixels between the edges in the last conditioning frame.
    tau : int
        Conditioning frames (the network's tau).
    size : int
        Frame side in pixels.

    The defaults keep the probe inside the training distribution while leaving an overlap
    wide enough to read: in the moving-leaves data (seed 0, first 5000 sequences), in the
    frame where the two disks first touch they have closed in on each other by a median
    2.0 px since the frame before (90th percentile 3.5, 99th 5.4) and interpenetrate by a
    median 0.9 px (95th percentile 2.9). The default probe closes by 3.9 px and
    interpenetrates by 2.9 px.
    """

    radius_left: float = 7.0
    radius_right: float = 7.0
    luminance_left: float = 0.2
    luminance_right: float = 0.9
    background: float = 0.55
    speed_left: float | None = None
    speed_right: float | None = None
    speed_factor: float = 1.0
    direction: float = 0.0
    center: tuple[float, float] = (15.5, 15.5)
    gap: float = 1.0
    tau: int = 2
    size: int = 32

    def __post_init__(self) -> None:
        for name in ("radius_left", "radius_right"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 1.5):
                raise InterpError(f"probe {name} must be a number >= 1.5 px, got {v!r}")
        for name in ("luminance_left", "luminance_right", "background"):
            v = getattr(self, name)
            if not (math.isfinite(v) and 0.0 <= v <= 1.0):
                raise InterpError(f"probe {name} must be in [0, 1], got {v!r}")
        lums = {"left": self.luminance_left, "right": self.luminance_right, "background": self.background}
        names = list(lums)
        for i in range(3):
            for j in range(i + 1, 3):
                if abs(lums[names[i]] - lums[names[j]]) < MIN_CONTRAST:
                    raise InterpError(
                        f"probe luminances of {names[i]} ({lums[names[i]]:g}) and {names[j]} "
                        f"({lums[names[j]]:g}) differ by less than {MIN_CONTRAST:g}: choices could not be read")
        if not isinstance(self.tau, int) or isinstance(self.tau, bool) or self.tau < 1:
            raise InterpError(f"probe tau must be an integer >= 1, got {self.tau!r}")
        if not isinstance(self.size, int) or isinstance(self.size, bool) or self.size < 8:
            raise InterpError(f"probe size must be an integer >= 8, got {self.size!r}")
        for name in ("speed_factor", "direction", "gap"):
            if not math.isfinite(getattr(self, name)):
                raise InterpError(f"probe {name} must be finite, got {getattr(self, name)!r}")
        if self.gap < 0:
            raise InterpError(f"probe gap must be >= 0, got {self.gap:g}")
        vl, vr = self.speeds
        if not (vl >= 0 and vr >= 0 and math.isfinite(vl) and math.isfinite(vr)):
            raise InterpError(f"probe speeds must be finite and >= 0, got {vl:g} and {vr:g}")
        depth = vl + vr - self.gap  # how far the disks interpenetrate in the predicted frame
        if depth < 2.0:
            raise InterpError(
                f"probe disks overlap by only {depth:.2f} px in the predicted frame (speeds {vl:.2f} + {vr:.2f} "
                f"minus gap {self.gap:g}); at least 2 px are needed to read a choice")
        small, big = sorted((self.radius_left, self.radius_right))
        if self.distance(self.tau) <= big - small + 1.0:
            raise InterpError("probe disks overlap so much that the smaller one is hidden whole in the predicted frame")
        # Disks may be cut by the frame's edge, as in the training data, but their centres and
        # the overlap lens of the predicted frame stay inside it.
        c = self.centers()  # [2, T, 2]
        if (c < -0.5).any() or (c > self.size - 0.5).any():
            raise InterpError("probe disk centres leave the frame; move the centre, slow the disks down or shrink them")
        lens = self.radius_left + self.radius_right - self.distance(self.tau)
        m = np.asarray(self.center, dtype=np.float64)
        if (m - lens / 2 < 0).any() or (m + lens / 2 > self.size - 1).any():
            raise InterpError("the overlap of the probe disks falls outside the frame; move the centre")

    # -- geometry
    @property
    def dr(self) -> float:
        """``radius_right - radius_left`` (the independent variable of Fig. 4)."""
        return float(self.radius_right - self.radius_left)

    @property
    def speeds(self) -> tuple[float, float]:
        """(left, right) speeds in pixels per frame."""
        default = lambda r: self.speed_factor * LEAVES_SPEED * r / FOCAL  # noqa: E731
        vl = default(self.radius_left) if self.speed_left is None else float(self.speed_left)
        vr = default(self.radius_right) if self.speed_right is None else float(self.speed_right)
        return vl, vr

    @property
    def unit(self) -> np.ndarray:
        a = math.radians(self.direction)
        return np.array([math.sin(a), math.cos(a)])

    def distance(self, t: int) -> float:
        """Distance between the centres in frame ``t`` (0 .. tau)."""
        vl, vr = self.speeds
        d_last = self.radius_left + self.radius_right + self.gap  # frame tau - 1
        return d_last - (t - (self.tau - 1)) * (vl + vr)

    def centers(self) -> np.ndarray:
        """Disk centres, ``[2 (left, right), tau + 1, 2 (row, col)]``."""
        vl, vr = self.speeds
        u, m = self.unit, np.asarray(self.center, dtype=np.float64)
        d = self.distance(self.tau)
        # the lens spans [c_left + r_left, c_right - r_right] along u; centre it on m
        c_left = m - 0.5 * (d + self.radius_left - self.radius_right) * u
        c_right = c_left + d * u
        back = (self.tau - np.arange(self.tau + 1))[:, None]  # frames before the last
        return np.stack([c_left - back * vl * u, c_right + back * vr * u])

    def frames(self, front: str | None = None) -> np.ndarray:
        """Render the probe: ``[tau + 1, size, size]`` float32.

        The conditioning frames are frames ``0 .. tau - 1``. The last frame is a possible
        next frame with the ``front`` disk (``"left"`` or ``"right"``) in front; by default
        the larger one (the left one for equal radii).
        """
        if front is None:
            front = "right" if self.dr > 0 else "left"
        if front not in ("left", "right"):
            raise InterpError(f"front must be 'left' or 'right', got {front!r}")
        T = self.tau + 1
        layer = np.zeros((1, 2, T), dtype=np.int64)
        layer[0, 1 if front == "right" else 0] = 1
        radius = np.repeat(np.array([[self.radius_left], [self.radius_right]]), T, axis=1)[None]
        lum = np.array([[self.luminance_left, self.luminance_right]])
        return render(self.centers()[None], radius, lum, np.array([self.background]), layer, self.size)[0]

    def conditioning(self) -> np.ndarray:
        """The ``tau`` clean conditioning frames, ``[tau, size, size]`` float32."""
        return self.frames()[: self.tau]

    def params(self) -> dict:
        """The probe's parameters as flat columns (for the tidy tables)."""
        vl, vr = self.speeds
        return {
            "dr": self.dr, "radius_left": self.radius_left, "radius_right": self.radius_right,
            "luminance_left": self.luminance_left, "luminance_right": self.luminance_right,
            "background": self.background, "speed_left": vl, "speed_right": vr,
            "direction": self.direction, "center_row": self.center[0], "center_col": self.center[1],
            "gap": self.gap, "tau": self.tau,
        }


def probe_grid(differences: Sequence[float] = DEFAULT_DIFFERENCES, *, mean_radius: float = 7.0,
               configs: int = 1, seed: int = 0, tau: int = 2, **overrides) -> list[Probe]:
    """Probes for a sweep of radius differences: ``configs`` scenes times ``differences``.

    Scene 0 is the canonical probe (:class:`Probe`'s defaults: horizontal approach through
    the frame centre, a dark left disk and a light right disk on a mid-gray background).
    Scenes 1, 2, ... draw the nuisance parameters from ``seed``: the luminances (all pairs at
    least 0.2 apart), the direction of approach (uniform) and the lens centre (within 2 px of
    the frame centre). Within a scene only the radii change: ``mean_radius -+ dr / 2``.
    ``overrides`` are passed to every :class:`Probe` (e.g. ``speed_factor``, ``gap``).
    """
    differences = [float(d) for d in differences]
    if not differences:
        raise InterpError("probe_grid needs at least one radius difference")
    if not isinstance(configs, int) or configs < 1:
        raise InterpError(f"configs must be a positive integer, got {configs!r}")
    rng = np.random.default_rng(seed)
    scenes: list[dict] = [{}]
    while len(scenes) < configs:
        lum = rng.uniform(0.0, 1.0, size=3)
        if min(abs(lum[0] - lum[1]), abs(lum[0] - lum[2]), abs(lum[1] - lum[2])) < 0.25:
            continue  # redraw until the three gray levels are well apart
        jitter = rng.uniform(-2.0, 2.0, size=2)
        scenes.append({
            "luminance_left": round(float(lum[0]), 3), "luminance_right": round(float(lum[1]), 3),
            "background": round(float(lum[2]), 3), "direction": round(float(rng.uniform(0, 360)), 1),
            "center": (15.5 + round(float(jitter[0]), 2), 15.5 + round(float(jitter[1]), 2)),
        })
    probes = []
    for scene in scenes:
        for d in differences:
            kw = {**scene, **overrides}
            probes.append(Probe(radius_left=mean_radius - d / 2, radius_right=mean_radius + d / 2, tau=tau, **kw))
    return probes


def regions(probe: Probe, margin: float = 1.0) -> dict[str, np.ndarray]:
    """Boolean masks ``[size, size]`` of the predicted frame, ``margin`` pixels inside edges.

    ``overlap``: inside both disks; ``left`` / ``right``: inside one disk and clear of the
    other; ``background``: clear of both.
    """
    c = probe.centers()[:, probe.tau]  # [2, 2]
    grid = np.arange(probe.size, dtype=np.float64)
    rr, cc = np.meshgrid(grid, grid, indexing="ij")
    dist = [np.hypot(rr - c[k, 0], cc - c[k, 1]) for k in range(2)]
    r = (probe.radius_left, probe.radius_right)
    inside = [dist[k] <= r[k] - margin for k in range(2)]
    outside = [dist[k] >= r[k] + margin for k in range(2)]
    return {
        "overlap": inside[0] & inside[1],
        "left": inside[0] & outside[1],
        "right": inside[1] & outside[0],
        "background": outside[0] & outside[1],
    }


SEARCH = 4.0  # pixels: how far from its constant-velocity place a disk is looked for


_COARSE, _FINE = 0.5, 0.125  # grid steps of the position search, pixels


_LOCATE_CHUNK = 128  # frames located at once: about 250 MB of float64 work arrays at the peak


def coverage(center: np.ndarray, radius: float, size: int) -> np.ndarray:
    """The renderer's antialiased coverage of disks at ``center`` [..., 2]: [..., size, size]."""
    g = np.arange(size, dtype=np.float64)
    dy = g - center[..., 0, None]
    dx = g - center[..., 1, None]
    d = np.sqrt(dy[..., :, None] ** 2 + dx[..., None, :] ** 2)
    return np.clip(radius + 0.5 - d, 0.0, 1.0)


def locate(frames, probe: Probe, *, tolerance: float = 0.3, search: float = SEARCH) -> np.ndarray:
    """Where each disk is in each predicted frame: centres ``[N, 2 (left, right), 2 (row, col)]``.

    The next frame is uncertain in more than the depth order: in the moving-leaves data a
    disk's next step scatters by about 0.6 px (standard deviation, each axis, in windows like
    the default probe; :func:`motion_scatter`) around where its last step points, so probable
    next frames show the disks a little off the probe's constant-velocity places. Each disk
    is therefore located before its pixels are read: its centre is the least-squares fit of
    a disk of its known radius and gray on the background, over the pixels that do not show
    the other disk's gray (so the fit uses only what is visible of it, whichever disk is in
    front), searched on a grid within ``search`` pixels of the constant-velocity centre
    (0.5 px steps, then 0.125 px around the best); a second pass refits each disk away from
    the other one as found. Frames are taken 128 at a time (bounded memory).
    """
    x = np.asarray(frames, dtype=np.float64)
    if len(x) > _LOCATE_CHUNK:
        return np.concatenate([locate(x[i:i + _LOCATE_CHUNK], probe, tolerance=tolerance, search=search)
                               for i in range(0, len(x), _LOCATE_CHUNK)])
    n, size = len(x), probe.size
    L, R, B = probe.luminance_left, probe.luminance_right, probe.background
    tol = tolerance * min(abs(L - R), abs(L - B), abs(R - B))
    nominal = probe.centers()[:, probe.tau]  # [2, 2]
    radii = (probe.radius_left, probe.radius_right)
    lums = (L, R)
    k = int(round(search / _COARSE))
    steps = np.arange(-k, k + 1) * _COARSE
    coarse = np.stack(np.meshgrid(steps, steps, indexing="ij"), -1).reshape(-1, 2)  # [S, 2]
    j = int(round(_COARSE / _FINE))
    fine_steps = np.arange(-j, j + 1) * _FINE
    fine = np.stack(np.meshgrid(fine_steps, fine_steps, indexing="ij"), -1).reshape(-1, 2)  # [F, 2]
    xb = np.nan_to_num(x - B).reshape(n, -1)

    def refine(start, use, disk):  # best of the fine grid around each frame's start centre
        a = lums[disk] - B
        cand = start[:, None] + fine[None]  # [N, F, 2]
        cov = coverage(cand, radii[disk], size).reshape(n, len(fine), -1)  # [N, F, P]
        err = np.einsum("np,nfp->nf", use * xb, -2.0 * a * cov) + a * a * np.einsum("np,nfp->nf", use, cov * cov)
        return cand[np.arange(n), err.argmin(1)]

    out = np.empty((n, 2, 2))
    for disk in range(2):
        # pass 1: the pixels that do not show the other disk's gray, wherever it is
        other = lums[1 - disk]
        use = (np.abs(np.nan_to_num(x, nan=other) - other) >= tol).reshape(n, -1).astype(np.float64)
        a = lums[disk] - B
        cov = coverage(nominal[disk] + coarse, radii[disk], size).reshape(len(coarse), -1)  # [S, P]
        # sum over used pixels of (x - B - a cov)^2, less the term that does not depend on the shift
        err = -2.0 * a * ((use * xb) @ cov.T) + a * a * (use @ (cov * cov).T)  # [N, S]
        out[:, disk] = refine(nominal[disk] + coarse[err.argmin(1)], use, disk)
    # pass 2: away from the other disk as found (its antialiased rim is a blend that the
    # one-disk model would mistake for this disk's edge)
    first = out.copy()
    for disk in range(2):
        rim = coverage(first[:, 1 - disk], radii[1 - disk] + 1.0, size).reshape(n, -1) > 0
        use = (~rim & np.isfinite(x).reshape(n, -1)).astype(np.float64)
        out[:, disk] = refine(refine(first[:, disk], use, disk), use, disk)  # twice: reaches 1 px away
    return out


def _masks(centers: np.ndarray, probe: Probe, margin: float) -> dict[str, np.ndarray]:
    """Like :func:`regions`, for disks at ``centers`` [N, 2, 2]: masks [N, H, W]."""
    g = np.arange(probe.size, dtype=np.float64)
    r = (probe.radius_left, probe.radius_right)
    dist = [np.hypot(g[None, :, None] - centers[:, k, 0, None, None], g[None, None, :] - centers[:, k, 1, None, None])
            for k in range(2)]
    inside = [dist[k] <= r[k] - margin for k in range(2)]
    outside = [dist[k] >= r[k] + margin for k in range(2)]
    return {"overlap": inside[0] & inside[1], "left": inside[0] & outside[1], "right": inside[1] & outside[0]}


def _futures(centers: np.ndarray, probe: Probe) -> tuple[np.ndarray, np.ndarray]:
    """The next frame with the left / the right disk in front, disks at ``centers`` [N, 2, 2]."""
    n = len(centers)
    radius = np.tile(np.array([[[probe.radius_left], [probe.radius_right]]]), (n, 1, 1))
    lum = np.tile(np.array([[probe.luminance_left, probe.luminance_right]]), (n, 1))
    bg = np.full(n, probe.background)
    frames = []
    for front in (0, 1):
        layer = np.zeros((n, 2, 1), dtype=np.int64)
        layer[:, front] = 1
        frames.append(render(centers[:, :, None], radius, lum, bg, layer, probe.size)[:, 0])
    return frames[0].astype(np.float64), frames[1].astype(np.float64)


SOFTNESS = (0.0, 0.25, 0.5, 0.75, 1.0)  # edge blurs (Gaussian s.d., pixels) a sample is read with


def _blur(frames: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Each frame blurred by its own Gaussian standard deviation (0: as it is)."""
    from scipy.ndimage import gaussian_filter

    out = frames.copy()
    for i, s in enumerate(sigma):
        if s > 0:
            out[i] = gaussian_filter(frames[i], float(s), mode="nearest")
    return out


def _softness(x: np.ndarray, fut_l: np.ndarray, fut_r: np.ndarray) -> np.ndarray:
    """How soft each frame's edges are: the blur of :data:`SOFTNESS` that brings the nearer
    of the two futures closest to it (least squares over the frame)."""
    xf = np.nan_to_num(x)
    err = np.stack([np.minimum(((xf - _blur(fut_l, np.full(len(x), s))) ** 2).sum(axis=(1, 2)),
                               ((xf - _blur(fut_r, np.full(len(x), s))) ** 2).sum(axis=(1, 2)))
                    for s in SOFTNESS])  # [S, N]
    return np.asarray(SOFTNESS)[err.argmin(0)] if len(x) else np.zeros(0)


def classify(frames, probe: Probe, *, tolerance: float = 0.3, agree: float = 0.75,
             overlap_margin: float = 0.5, disk_margin: float = 1.0, search: float = SEARCH) -> dict[str, np.ndarray]:
    """Which disk is in front in each predicted frame, read from its pixels.

    First each disk is located (:func:`locate`): a probable next frame may show the disks up
    to a pixel or two off the probe's constant-velocity places, as the training data's own
    next frames do. The two possible futures are rendered with the disks there, and blurred
    as much as the frame's own edges are (a Gaussian of standard deviation in
    :data:`SOFTNESS`, the one that fits the frame best: a network's samples are rarely
    pixel-sharp, and soft edges are not a blend). A pixel matches a future when it is within
    ``tolerance`` times the smallest contrast between the probe's three gray levels of it,
    and a frame is a valid choice of ``"right"`` (or ``"left"``) when at least ``agree`` of
    the overlap pixels (pixel centres at least ``overlap_margin`` inside both disks) match
    the future with that disk in front; so that no disk was dropped or repainted, at least
    ``agree`` of each disk's own pixels (``disk_margin`` inside it and clear of the other)
    match it; and, so that the frame really shows two whole disks, at least ``agree`` of
    the pixels within ``DECISION_BAND`` (2) pixels of the lens (where the two futures
    differ) match it. An even blend of the two grays in the overlap matches neither.
    Otherwise the frame is invalid, with the first reason that applies: ``"failed"`` (the
    frame is not finite: a chain that did not converge), ``"lost_left"`` / ``"lost_right"``
    (that disk's visible part does not look like it, or it is nowhere within ``search``
    pixels of its place), ``"apart"`` (the disks stopped short of each other: where they
    are, they overlap in fewer than 4 pixels, so there is no decision to read), ``"mixed"``
    (the overlap is a blend, or split between the two, or its surroundings match neither
    future).

    Parameters
    ----------
    frames : array-like
        ``[N, H, W]`` or ``[N, 1, H, W]`` predicted frames (a single ``[H, W]`` frame works).

    Returns
    -------
    dict of numpy arrays, one entry per frame
        ``choice`` (``"left"``, ``"right"`` or ``""``), ``right_front`` (1.0, 0.0 or NaN),
        ``valid`` (bool), ``reason`` (``""`` when valid), ``weight_right`` (the mean of
        ``(x - L) / (R - L)`` clipped to [0, 1] over the overlap where the disks were found,
        or over the probe's own overlap when they overlap in fewer than 4 pixels: 0 is the
        left disk's gray, 1 the right one's, 0.5 an even blend; NaN for non-finite frames),
        ``overlap_right`` and ``overlap_left`` (fractions of overlap pixels matching each
        disk), ``left_ok``, ``right_ok`` (fractions of each disk's own pixels matching its
        luminance), ``future_match`` (fraction of the pixels around the lens matching the
        future whose gray fills most of the overlap), ``centers`` ([N, 2, 2], where each disk
        was found) and ``shift`` ([N, 2]: how far each disk is from the probe's
        constant-velocity place, pixels), ``interpenetration`` (how far the disks, where
        they were found, reach into each other, pixels) and ``softness`` (the blur the frame
        was read with).
    """
    from scipy.ndimage import binary_dilation

    x = np.asarray(frames, dtype=np.float64)
    if x.ndim == 2:
        x = x[None]
    if x.ndim == 4 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 3 or x.shape[1:] != (probe.size, probe.size):
        raise InterpError(f"classify expects frames [N, {probe.size}, {probe.size}], got shape {np.shape(frames)}")
    if regions(probe, overlap_margin)["overlap"].sum() < 4:
        raise InterpError("the probe's overlap region is smaller than 4 pixels; increase the speeds")
    n = len(x)
    L, R, B = probe.luminance_left, probe.luminance_right, probe.background
    tol = tolerance * min(abs(L - R), abs(L - B), abs(R - B))
    finite = np.isfinite(x).all(axis=(1, 2))
    centers = locate(x, probe, tolerance=tolerance, search=search)
    shift = np.linalg.norm(centers - probe.centers()[None, :, probe.tau], axis=-1)  # [N, 2]
    depth = probe.radius_left + probe.radius_right - np.linalg.norm(centers[:, 0] - centers[:, 1], axis=-1)
    m = _masks(centers, probe, overlap_margin)
    own = _masks(centers, probe, disk_margin)
    ov_mask = m["overlap"]
    found = ov_mask.sum(axis=(1, 2)) >= 4
    ov_mask = np.where(found[:, None, None], ov_mask, regions(probe, overlap_margin)["overlap"][None])

    def frac(mask, value):  # fraction of each frame's masked pixels within tol of value(s) (1 if none)
        hit = (np.abs(x - value) < tol) & mask
        count = mask.sum(axis=(1, 2))
        return np.where(count > 0, hit.sum(axis=(1, 2)) / np.maximum(count, 1), 1.0)

    fut_l, fut_r = _futures(centers, probe)
    soft = _softness(x, fut_l, fut_r)
    fut_l, fut_r = _blur(fut_l, soft), _blur(fut_r, soft)
    frac_l, frac_r = frac(ov_mask, fut_l), frac(ov_mask, fut_r)
    chosen = np.where((frac_r >= agree)[:, None, None], fut_r, fut_l)
    left_ok, right_ok = frac(own["left"], chosen), frac(own["right"], chosen)
    window = np.stack([binary_dilation(np.abs(a - b) > 1e-6, iterations=DECISION_BAND)
                       for a, b in zip(fut_l, fut_r)]) if n else np.zeros((0, probe.size, probe.size), bool)
    hit = (np.abs(x - chosen) < tol) & window
    meets = np.where(window.any(axis=(1, 2)), hit.sum(axis=(1, 2)) / np.maximum(window.sum(axis=(1, 2)), 1), 0.0)
    weight = np.where(ov_mask, np.clip((x - L) / (R - L), 0.0, 1.0), 0.0).sum(axis=(1, 2)) / ov_mask.sum(axis=(1, 2))
    weight[~finite] = np.nan
    edge = search - 0.5 * _FINE

    reason = np.full(n, "", dtype=object)
    reason[(frac_l < agree) | (meets < agree)] = "mixed"
    reason[(frac_r >= agree) & (meets >= agree)] = ""
    reason[~found] = "apart"
    reason[(right_ok < agree) | (shift[:, 1] > edge)] = "lost_right"
    reason[(left_ok < agree) | (shift[:, 0] > edge)] = "lost_left"
    reason[~finite] = "failed"
    valid = reason == ""
    choice = np.where(valid, np.where(frac_r >= agree, "right", "left"), "").astype(object)
    right_front = np.where(valid, (choice == "right").astype(float), np.nan)
    return {"choice": choice, "right_front": right_front, "valid": valid, "reason": reason,
            "weight_right": weight, "overlap_right": frac_r, "overlap_left": frac_l,
            "left_ok": left_ok, "right_ok": right_ok, "future_match": meets,
            "centers": centers, "shift": shift, "interpenetration": depth, "softness": soft}


def _scatter_of(gap: float, closing: float, n_sequences: int, seed: int, tolerance: float) -> np.ndarray:
    """:func:`motion_scatter`'s computation, for a gap and a closing speed (pixels)."""
    found = []
    for lo in range(0, n_sequences, 50_000):
        sc = sample_scenes(LeavesConfig(), seed, lo, min(50_000, n_sequences - lo))
        c = sc["center"][:, :2].astype(np.float64)  # [m, 2, T, 2]
        r = sc["radius"][:, :2, 0].astype(np.float64)
        d = np.linalg.norm(c[:, 0] - c[:, 1], axis=-1)  # [m, T]
        gap_t = d[:, 1:-1] - r.sum(1)[:, None]
        close = d[:, :-2] - d[:, 1:-1]
        i, t = np.nonzero((np.abs(gap_t - gap) <= tolerance) & (np.abs(close - closing) <= tolerance))
        t = t + 1
        a, b = c[i, 0], c[i, 1]  # [k, T, 2]; u points from a to b, so a plays the left disk
        k = np.arange(len(i))
        u = b[k, t] - a[k, t]
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        across = np.stack([-u[:, 1], u[:, 0]], 1)
        pair = []
        for x in (a, b):
            e = x[k, t + 1] - (2 * x[k, t] - x[k, t - 1])
            pair.append(np.stack([(e * u).sum(1), (e * across).sum(1)], 1))
        found.append(np.stack(pair, 1))
    return np.concatenate(found) if found else np.zeros((0, 2, 2))


_SCATTER: dict[tuple, np.ndarray] = {}  # motion_scatter's results, per (gap, closing speed, data)


def motion_scatter(probe: Probe, *, n_sequences: int = 300_000, seed: int = 0,
                   tolerance: float = 0.5) -> np.ndarray:
    """How the moving-leaves data continue probe-like windows: ``[M, 2 (left, right), 2]``.

    Over the first ``n_sequences`` sequences of the default moving-leaves data (``seed``),
    the windows whose two disks are apart in the last conditioning frame with the probe's
    ``gap`` between their edges and have closed in on each other by the probe's closing speed
    (both within ``tolerance`` pixels). For each window and each disk, where the disk really
    is in the next frame minus where its last step points, as (along the line from the
    left disk to the right one, across it). Computed from the scene parameters (no pixels).
    """
    vl, vr = probe.speeds
    key = (float(probe.gap), float(vl + vr), int(n_sequences), int(seed), float(tolerance))
    if key not in _SCATTER:
        _SCATTER[key] = _scatter_of(probe.gap, vl + vr, n_sequences, seed, tolerance)
    out = _SCATTER[key].copy()
    if len(out) < 50:
        raise InterpError(f"only {len(out)} windows of the moving-leaves data look like this probe "
                         f"(gap {probe.gap:g} px, closing speed {vl + vr:.2f} px/frame): it lies outside the data")
    return out


def ideal_futures(probe: Probe, n: int, *, rule: str = "deterministic", seed: int = 0,
                  scatter: np.ndarray | None = None) -> np.ndarray:
    """Next frames of ``probe`` as the training data would continue it: ``[n, H, W]``.

    Each disk lands where its last step points plus a displacement drawn from
    :func:`motion_scatter` (the data's own windows like this probe), and the front disk is
    drawn from the ``rule`` (:func:`truth_probability`). Classifying these frames tells what
    a perfect sampler of the training distribution would score on the probe: its invalid
    rate is the floor that no model can go below.
    """
    rng = np.random.default_rng(seed)
    if scatter is None:
        scatter = motion_scatter(probe)
    pick = scatter[rng.integers(len(scatter), size=n)]  # [n, 2, 2]
    u = probe.unit
    across = np.array([-u[1], u[0]])
    shift = pick[..., :1] * u + pick[..., 1:] * across  # [n, 2, 2]
    centers = probe.centers()[None, :, probe.tau] + shift
    right = rng.random(n) < float(truth_probability([probe.dr], rule)[0])
    layer = np.zeros((n, 2, 1), dtype=np.int64)
    layer[right, 1] = 1
    layer[~right, 0] = 1
    radius = np.tile(np.array([[[probe.radius_left], [probe.radius_right]]]), (n, 1, 1))
    lum = np.tile(np.array([[probe.luminance_left, probe.luminance_right]]), (n, 1))
    return render(centers[:, :, None], radius, lum, np.full(n, probe.background), layer, probe.size)[:, 0]


@dataclasses.dataclass
class Sweep:
    """Result of :func:`run_sweep`.

    Attributes
    ----------
    samples : pandas.DataFrame
        One row per sample: ``probe`` (index), ``scene``, the probe's parameters
        (:meth:`Probe.params`), ``seed``, ``sample``, ``status`` (sampler), ``iterations``,
        and :func:`classify`'s ``choice``, ``right_front``, ``valid``, ``reason``,
        ``weight_right``.
    onestep : pandas.DataFrame
        One row per probe: its parameters, ``weight_right`` of the one-step estimate
        (``0``: left gray, ``1``: right gray) and ``blend`` (``1 - |2 w - 1|``: 0 when the
        estimate shows one disk in front, 1 for an even mixture), ``overlap_right`` /
        ``overlap_left`` (fractions of overlap pixels matching each disk).
    frames : numpy.ndarray or None
        ``[P, n, H, W]`` sampled frames when ``keep_frames`` was set.
    onestep_frames : numpy.ndarray
        ``[P, H, W]`` one-step estimates.
    """

    samples: "pd.DataFrame"
    onestep: "pd.DataFrame"
    frames: np.ndarray | None
    onestep_frames: np.ndarray

    def invalid_rate(self) -> float:
        return float(1.0 - self.samples["valid"].mean())


def run_sweep(denoiser: Callable, probes: Sequence[Probe], n: int = 64, seed: int = 0, *,
              batch_size: int = 256, keep_frames: bool = False, progress: bool = False,
              scenes: Sequence[int] | None = None, **sampler_options) -> Sweep:
    """Sample ``n`` next frames for each probe and classify every one.

    All probes' chains run together through :func:`interp.sampler.sample` (the chains of
    probe ``p`` are rows ``p * n .. p * n + n - 1``; the seed fixes them all). The one-step
    estimate of each probe is :func:`interp.sampler.one_step` from the same seed.

    Parameters
    ----------
    denoiser : callable
        ``denoiser(y, c)`` as for :func:`interp.sampler.sample` (a network from
        :func:`interp.load`, or any blind denoiser).
    probes : sequence of Probe
        All with the same ``tau`` and ``size``.
    n : int
        Samples per probe (the paper: 64).
    scenes : sequence of int, optional
        A scene label per probe (default: from :func:`probe_grid`'s layout it cannot be
        guessed, so 0 for all).
    sampler_options
        Passed to :func:`interp.sampler.sample` (``beta``, ``h0``, ``max_iter`` ...).
    """
    import pandas as pd
    import torch

    probes = list(probes)
    if not probes:
        raise InterpError("run_sweep needs at least one probe")
    if len({(p.tau, p.size) for p in probes}) != 1:
        raise InterpError("all probes of a sweep must have the same tau and size")
    if scenes is None:
        scenes = [0] * len(probes)
    if len(scenes) != len(probes):
        raise InterpError("scenes must give one label per probe")
    cond = torch.from_numpy(np.stack([p.conditioning() for p in probes]))
    chunks = []
    step = max(1, 4096 // n)  # probes per sampler call: bounds memory and shows progress
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(probes), desc="probes", unit="probe", file=sys.stderr)
    for lo in range(0, len(probes), step):
        part = sample(denoiser, cond[lo:lo + step], n, seed=seed + lo, batch_size=batch_size,
                      return_info=True, warn=False, **sampler_options)
        chunks.append(part)
        if bar is not None:
            bar.update(min(step, len(probes) - lo))
    if bar is not None:
        bar.close()
    frames = np.concatenate([c[0][:, :, 0].numpy() for c in chunks])  # [P, n, H, W]
    status = np.concatenate([c[1].status for c in chunks])
    iters = np.concatenate([c[1].iterations for c in chunks])
    est = one_step(denoiser, cond, 1, seed=seed, batch_size=batch_size)[:, 0, 0].numpy()  # [P, H, W]

    rows, est_rows = [], []
    for i, p in enumerate(probes):
        cls = classify(frames[i], p)
        rows.append(pd.DataFrame({
            "probe": i, "scene": scenes[i], **p.params(), "seed": seed, "sample": np.arange(n),
            "status": status[i], "iterations": iters[i],
            **{k: cls[k] for k in ("choice", "right_front", "valid", "reason", "weight_right")},
        }))
        e = classify(est[i], p)
        w = float(e["weight_right"][0])
        est_rows.append({"probe": i, "scene": scenes[i], **p.params(), "seed": seed, "weight_right": w,
                         "blend": 1.0 - abs(2.0 * w - 1.0), "overlap_right": float(e["overlap_right"][0]),
                         "overlap_left": float(e["overlap_left"][0])})
    table = pd.concat(rows, ignore_index=True)
    table["valid"] = table["valid"].astype(bool)
    return Sweep(samples=table, onestep=pd.DataFrame(est_rows), frames=frames if keep_frames else None,
                 onestep_frames=est)


def wilson_interval(k, n, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion ``k / n`` (arrays broadcast)."""
    from scipy.stats import norm

    k, n = np.asarray(k, dtype=np.float64), np.asarray(n, dtype=np.float64)
    z = norm.ppf(0.5 + level / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z**2 / n
        mid = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return np.clip(mid - half, 0, 1), np.clip(mid + half, 0, 1)


def choice_frequencies(samples: "pd.DataFrame", by: Sequence[str] = ("dr",), level: float = 0.95) -> "pd.DataFrame":
    """Per condition: ``n`` samples, ``n_valid``, ``k_right`` (right in front), ``freq_right``
    (among valid samples) with its Wilson interval ``ci_low`` / ``ci_high``, and
    ``invalid_rate``."""
    g = samples.groupby(list(by), sort=True)
    out = g.agg(n=("valid", "size"), n_valid=("valid", "sum"), k_right=("right_front", "sum")).reset_index()
    out["n_valid"] = out["n_valid"].astype(int)
    out["k_right"] = out["k_right"].astype(int)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["freq_right"] = out["k_right"] / out["n_valid"].where(out["n_valid"] > 0)
    out["ci_low"], out["ci_high"] = wilson_interval(out["k_right"], out["n_valid"], level)
    out["invalid_rate"] = 1.0 - out["n_valid"] / out["n"]
    return out


@dataclasses.dataclass
class LogisticFit:
    """A logistic psychometric function ``P(right) = 1 / (1 + exp(-slope (dr - pse)))``.

    ``slope`` (per pixel of radius difference) is the sensitivity, ``pse`` (pixels) the point
    of subjective equality; ``*_ci`` are bootstrap percentile intervals at ``level``.
    """

    slope: float
    pse: float
    slope_ci: tuple[float, float]
    pse_ci: tuple[float, float]
    n: int
    n_boot: int
    level: float
    C: float

    def predict(self, dr) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.slope * (np.asarray(dr, dtype=np.float64) - self.pse)))

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def _logistic(x: np.ndarray, y: np.ndarray, C: float) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression

    if y.min() == y.max():  # one class only: the slope is unidentifiable
        return math.nan, math.nan
    model = LogisticRegression(C=C, max_iter=1000).fit(x[:, None], y.astype(int))
    slope, intercept = float(model.coef_[0, 0]), float(model.intercept_[0])
    return slope, (-intercept / slope if slope != 0 else math.nan)


def fit_logistic(dr, right_front, *, n_boot: int = 1000, seed: int = 0, level: float = 0.95,
                 C: float = 100.0) -> LogisticFit:
    """Fit ``P(right in front | dr)`` to binary choices by logistic regression (scikit-learn).

    A weak L2 penalty (``C``; sklearn's inverse regularisation strength, summed over all
    samples) keeps the slope finite when the choices are perfectly separated, as they are
    for a model that always puts the larger disk in front; the slope is then a lower bound
    set by ``C``, which the returned object records. Non-finite choices (invalid samples)
    are dropped. The intervals come from ``n_boot`` bootstrap refits that resample choices
    within each ``dr`` (the design is kept).
    """
    n_boot = _check_boot(n_boot)
    x = np.asarray(dr, dtype=np.float64)
    y = np.asarray(right_front, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 2 or len(np.unique(x)) < 2:
        raise InterpError("a logistic fit needs valid choices at two or more radius differences")
    slope, pse = _logistic(x, y, C)
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(x == v) for v in np.unique(x)]
    boot = np.full((n_boot, 2), np.nan)
    for b in range(n_boot):
        idx = np.concatenate([rng.choice(g, size=len(g)) for g in groups])
        boot[b] = _logistic(x[idx], y[idx], C)
    q = [50 * (1 - level), 50 * (1 + level)]
    with np.errstate(invalid="ignore"):
        s_ci = tuple(float(v) for v in np.nanpercentile(boot[:, 0], q)) if n_boot else (math.nan, math.nan)
        p_ci = tuple(float(v) for v in np.nanpercentile(boot[:, 1], q)) if n_boot else (math.nan, math.nan)
    return LogisticFit(slope=slope, pse=pse, slope_ci=s_ci, pse_ci=p_ci, n=int(len(x)), n_boot=n_boot,
                       level=level, C=C)


def fit_or_nan(samples: "pd.DataFrame", n_boot: int, seed: int) -> LogisticFit:
    """:func:`fit_logistic` of a sweep table, or an all-NaN fit when its valid choices cannot
    support one (a model whose samples are all invalid still gets a summary)."""
    try:
        return fit_logistic(samples["dr"], samples["right_front"], n_boot=n_boot, seed=seed)
    except ValueError:
        nan = (math.nan, math.nan)
        return LogisticFit(math.nan, math.nan, nan, nan, int(samples["valid"].sum()), n_boot, 0.95, 100.0)


def truth_probability(dr, rule: str = "deterministic") -> np.ndarray:
    """Probability that the right disk is in front under a moving-leaves occlusion rule.

    ``"deterministic"`` (the default variant): the larger disk, 1/2 for equal radii (nothing
    tells them apart). ``"stochastic"``: the larger disk with the known probability
    :func:`interp.leaves.p_larger_in_front` of the ``stochastic`` variant.
    """
    dr = np.asarray(dr, dtype=np.float64)
    if rule == "deterministic":
        return np.where(dr > 0, 1.0, np.where(dr < 0, 0.0, 0.5))
    if rule == "stochastic":
        p_large = p_larger_in_front(dr)
        return np.where(dr >= 0, p_large, 1.0 - p_large)
    raise InterpError(f"unknown occlusion rule {rule!r}; choose 'deterministic' or 'stochastic'")


def calibration(samples: "pd.DataFrame", rule: str = "stochastic", *, n_boot: int = 1000, seed: int = 0,
                level: float = 0.95) -> dict:
    """Calibration of the sampled choice frequencies against the known probability.

    Per condition (``dr``), the frequency of "right in front" among valid samples is compared
    with :func:`truth_probability`; the calibration error is the mean absolute difference
    across conditions. Its interval comes from ``n_boot`` bootstrap resamples of the valid
    samples within each condition.

    Returns
    -------
    dict
        ``error`` (mean |freq - p|), ``error_ci`` (low, high), ``max_error``, ``rule`` and
        ``per_condition`` (a DataFrame: ``dr``, ``freq_right``, ``p_true``, ``abs_error`` ...).
    """
    n_boot = _check_boot(n_boot)
    freq = choice_frequencies(samples)
    freq["p_true"] = truth_probability(freq["dr"], rule)
    freq["abs_error"] = (freq["freq_right"] - freq["p_true"]).abs()
    valid = samples[samples["valid"]]
    rng = np.random.default_rng(seed)
    per = [(truth_probability(float(d), rule), g["right_front"].to_numpy()) for d, g in valid.groupby("dr")]
    errs = np.empty(n_boot)
    for b in range(n_boot):
        errs[b] = np.mean([abs(v[rng.integers(0, len(v), len(v))].mean() - p) for p, v in per]) if per else np.nan
    q = [50 * (1 - level), 50 * (1 + level)]
    ci = (math.nan, math.nan)
    if n_boot and per:
        ci = tuple(float(v) for v in np.percentile(errs, q))
    # conditions without a single valid sample have no frequency: they are left out (NaN)
    return {"error": float(freq["abs_error"].mean()), "error_ci": ci, "max_error": float(freq["abs_error"].max()),
            "rule": rule, "level": level, "per_condition": freq}


# ------------------------------------------------------------- the training world's contacts
def contact_test(denoiser: Callable, *, n_sequences: int = 60_000, seed: int = 0, variant: str = "default",
                 sigmas: Sequence[float] = (0.2, 0.5, 1.0), min_dr: float = 1.5, min_contrast: float = 0.25,
                 min_lens: int = 4, noise_seed: int = 0, batch: int = 256) -> "pd.DataFrame":
    """Does the denoiser know which disk goes in front? A test on the data's own first contacts.

    The probes ask for samples, which also need good motion extrapolation. This asks the
    denoiser directly, on the training world: from the test split of ``n_sequences``
    moving-leaves sequences (dataset ``seed``, ``variant``), every first contact (frame ``t``:
    the two meeting disks overlap, in ``t - 1`` they did not) whose radii differ by at least
    ``min_dr`` px, whose grays differ by at least ``min_contrast``, and whose lens (pixels inside
    both disks) has at least ``min_lens`` pixels. Its next frame is observed at each noise level
    ``sigma`` twice, with the same noise: as rendered, and with the two disks' depth order
    reversed (everything else identical), given the real frames before it. The lens of each
    estimate is read as a weight on the larger disk, ``(mean - L_small) / (L_large - L_small)``.

    A denoiser that only removes noise follows the observation: weight near 1 for the
    rendered frame of the default variant (larger in front) and near 0 for the reversed one.
    One that has learned the occlusion rule pulls the reversed observation towards the larger
    disk, the more so the less the noisy observation says (larger ``sigma``).

    Returns
    -------
    pandas.DataFrame
        One row per (contact, sigma, observation): ``sequence``, ``frame``, ``dr`` (|r1 - r2|,
        px), ``lens_pixels``, ``larger_in_front`` (in the rendered frame), ``sigma``, ``shown``
        (``"rendered"`` or ``"reversed"``) and ``weight_larger``.
    """
    import pandas as pd
    import torch

    tau = int(getattr(denoiser, "tau", 2))
    if tau < 1:
        raise InterpError("the contact test needs a conditional denoiser (tau >= 1)")
    cfg = LeavesConfig(variant=variant)
    grid = np.arange(cfg.size) + 0.0
    rr, cc = np.meshgrid(grid, grid, indexing="ij")
    picked: list[dict] = []
    for lo in range(0, n_sequences, 4096):
        m = min(4096, n_sequences - lo)
        sc = sample_scenes(cfg, seed, lo, m)
        test = split_is_test(seed, np.arange(lo, lo + m))
        c, r = sc["center"][:, :2], sc["radius"][:, :2]  # [m, 2, T, 2], [m, 2, T]
        gap = np.hypot(*np.moveaxis(c[:, 0] - c[:, 1], -1, 0)) - r.sum(axis=1)  # [m, T]; < 0: overlap
        for i in np.flatnonzero(test):
            hits = np.flatnonzero((gap[i, tau:] < 0) & (gap[i, tau - 1:-1] >= 0))
            if not len(hits):
                continue
            t = int(hits[0]) + tau
            lum = sc["luminance"][i, :2]
            if abs(r[i, 0, t] - r[i, 1, t]) < min_dr or abs(lum[0] - lum[1]) < min_contrast:
                continue
            inside = [np.hypot(rr - c[i, k, t, 0], cc - c[i, k, t, 1]) <= r[i, k, t] - 0.5 for k in (0, 1)]
            lens = inside[0] & inside[1]
            if lens.sum() < min_lens:
                continue
            picked.append({"sequence": lo + int(i), "frame": t, "lens": lens,
                           **{k: v[i] for k, v in sc.items()}})
    columns = ["sequence", "frame", "dr", "lens_pixels", "larger_in_front", "sigma", "shown", "weight_larger"]
    if not picked:
        return pd.DataFrame(columns=columns)
    stack = lambda key: np.stack([p[key] for p in picked])  # noqa: E731
    layer = stack("layer")
    reversed_layer = layer.copy()
    reversed_layer[:, [0, 1]] = layer[:, [1, 0]]
    args = (stack("center"), stack("radius"), stack("luminance"), stack("background"))
    movies = {"rendered": render(*args, layer, cfg.size), "reversed": render(*args, reversed_layer, cfg.size)}
    t_idx = np.array([p["frame"] for p in picked])
    rows_i = np.arange(len(picked))
    cond = torch.from_numpy(np.stack([movies["rendered"][j, t - tau:t] for j, t in enumerate(t_idx)]))
    target = {k: torch.from_numpy(v[rows_i, t_idx]).unsqueeze(1) for k, v in movies.items()}
    big = np.array([int(np.argmax(p["radius"][:2, p["frame"]])) for p in picked])
    lum = stack("luminance")[:, :2]
    l_big, l_small = lum[rows_i, big], lum[rows_i, 1 - big]
    lens = stack("lens")
    in_front = np.array([int(np.argmax(p["layer"][:2, p["frame"]])) for p in picked]) == big
    gen = torch.Generator().manual_seed(int(noise_seed))
    rows = []
    for sigma in sigmas:
        z = torch.randn(target["rendered"].shape, generator=gen)
        for shown, x in target.items():
            y = x + float(sigma) * z
            with torch.no_grad():
                est = torch.cat([denoiser(y[k:k + batch], cond[k:k + batch]) for k in range(0, len(y), batch)])
            est = est[:, 0].double().numpy()
            lens_mean = (est * lens).sum(axis=(1, 2)) / lens.sum(axis=(1, 2))
            weight = (lens_mean - l_small) / (l_big - l_small)
            for j, p in enumerate(picked):
                rows.append({"sequence": p["sequence"], "frame": p["frame"],
                             "dr": float(abs(p["radius"][0, p["frame"]] - p["radius"][1, p["frame"]])),
                             "lens_pixels": int(lens[j].sum()), "larger_in_front": bool(in_front[j]),
                             "sigma": float(sigma), "shown": shown, "weight_larger": float(weight[j])})
    return pd.DataFrame(rows, columns=columns)


def _check_boot(n_boot) -> int:
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or not 0 <= n_boot <= MAX_BOOT:
        raise InterpError(f"n_boot must be an integer in [0, {MAX_BOOT}], got {short_repr(n_boot)}")
    return int(n_boot)


def summarize(sweep: Sweep, truth: str | None, n_boot: int, seed: int) -> dict:
    """The numbers a sweep is judged by, as a JSON-ready dict (see :func:`main`)."""
    s = sweep.samples
    freq = choice_frequencies(s)
    fit = fit_or_nan(s, n_boot, seed)
    out = {
        "n_samples": int(len(s)), "invalid_rate": sweep.invalid_rate(),
        "invalid_reasons": {r: int((s["reason"] == r).sum()) for r in INVALID_REASONS},
        "logistic": fit.as_dict(),
        "conditions": freq.to_dict(orient="records"),
        "onestep_blend_mean": float(sweep.onestep["blend"].mean()),
    }
    if truth:
        cal = calibration(s, truth, n_boot=n_boot, seed=seed)
        out["calibration"] = {k: v for k, v in cal.items() if k != "per_condition"}
    out["targets"] = decision_targets(s)
    return out


def decision_targets(samples: "pd.DataFrame", far: float = 2.0) -> dict:
    """Issue 5's numbers for a sweep table (one row per sample).

    ``invalid_rate``; ``equal_right`` (frequency of the right disk in front among valid
    samples at equal radii, with its Wilson interval and count); ``larger_front`` (frequency
    of the larger disk in front among valid samples with ``|dr| >= far`` pixels, interval,
    count).
    """
    s = samples
    valid = s[s["valid"].astype(bool)]
    eq = valid[valid["dr"] == 0]
    big = valid[valid["dr"].abs() >= far]
    larger = ((big["dr"] > 0) == (big["right_front"] > 0.5)).to_numpy()

    def rate(k, n):
        lo, hi = wilson_interval([k], [n])
        return {"freq": float(k / n) if n else float("nan"), "ci": [float(lo[0]), float(hi[0])], "n": int(n)}

    return {"invalid_rate": float(1.0 - s["valid"].astype(bool).mean()) if len(s) else float("nan"),
            "equal_right": rate(int((eq["right_front"] > 0.5).sum()), len(eq)),
            "larger_front": {**rate(int(larger.sum()), len(big)), "far": far}}


def ideal_sweep(probes: Sequence[Probe], n: int = 64, seed: int = 0, rule: str = "deterministic",
                scenes: Sequence[int] | None = None) -> "pd.DataFrame":
    """A perfect sampler's table for the same probes (:func:`ideal_futures`, classified).

    The same columns as :func:`run_sweep`'s samples, less the sampler's: what a model that
    samples exactly the training data's next frames would score, the reference for a
    network's invalid rate and choice frequencies.
    """
    import pandas as pd

    scenes = [0] * len(probes) if scenes is None else scenes
    cache: dict[tuple[float, float], np.ndarray] = {}
    rows = []
    for i, p in enumerate(probes):
        key = (round(p.gap, 3), round(sum(p.speeds), 3))
        if key not in cache:
            cache[key] = motion_scatter(p)
        cls = classify(ideal_futures(p, n, rule=rule, seed=seed + i, scatter=cache[key]), p)
        rows.append(pd.DataFrame({
            "probe": i, "scene": scenes[i], **p.params(), "seed": seed, "sample": np.arange(n),
            **{k: cls[k] for k in ("choice", "right_front", "valid", "reason", "weight_right")}}))
    table = pd.concat(rows, ignore_index=True)
    table["valid"] = table["valid"].astype(bool)
    return table


@dataclasses.dataclass
class ProbeTrial:
    """Result of :func:`probe_trial`: one probe's inputs, estimates and samples (Figs. 3, 11).

    Attributes
    ----------
    conditioning : numpy.ndarray
        The probe's conditioning frames ``[tau, H, W]``.
    noise : numpy.ndarray
        The pure-noise observation y_0 of the first chain, ``[H, W]``.
    onestep : numpy.ndarray
        The one-step estimate x_hat(y_0, c), ``[H, W]``.
    state_iterations : numpy.ndarray
        The iterations k at which the first chain's states are kept, ``[S]``.
    states : numpy.ndarray
        The first chain's states y_k at those iterations, ``[S, H, W]``.
    iterations : int
        K, the first chain's number of iterations.
    samples : numpy.ndarray
        ``[n, H, W]``; NaN for a chain that did not converge.
    choices : pandas.DataFrame
        One row per sample: ``sample``, ``status`` (sampler) and :func:`classify`'s
        ``choice``, ``right_front``, ``valid``, ``reason``, ``weight_right``.
    """

    conditioning: np.ndarray
    noise: np.ndarray
    onestep: np.ndarray
    state_iterations: np.ndarray
    states: np.ndarray
    iterations: int
    samples: np.ndarray
    choices: "pd.DataFrame"


def probe_trial(denoiser: Callable, probe: Probe, n: int = 6, seed: int = 0, *, n_states: int = 4,
                max_iter: int = 1000) -> ProbeTrial:
    """Sample ``n`` next frames of one occlusion probe and read each one's decision (Figs. 3, 11).

    The probe's conditioning frames go to :func:`interp.analysis.sampler.sample` (``seed``,
    the whole trace kept); the first chain's initial noise, its one-step estimate and its
    states at ``n_states`` evenly spaced iterations are kept for display, and every sample is
    classified (:func:`classify`).

    Parameters
    ----------
    denoiser : callable
        ``denoiser(y, c)`` as for :func:`interp.sample`.
    probe : Probe
        The probe (its ``tau`` must be the denoiser's).
    n : int
        Samples.
    seed : int
        Sampler seed.
    n_states : int
        States of the first chain to keep (0: none).
    max_iter : int
        The sampler's iteration limit per chain.
    """
    import pandas as pd
    import torch

    from interp._util.checks import check_int

    if not isinstance(probe, Probe):
        raise InterpError(f"probe must be an interp.analysis.psychometrics.Probe, got {type(probe).__name__}")
    n = check_int("n", n, 1)
    n_states = check_int("n_states", n_states, 0)
    seed = check_int("seed", seed, 0)
    c = torch.from_numpy(probe.conditioning())
    xs, info = sample(denoiser, c, n, seed=seed, trace=True, return_info=True, warn=False, max_iter=max_iter)
    xs = xs[:, 0].numpy()
    cls = classify(xs, probe)
    K = int(info.iterations[0])
    ks = sorted({int(round(K * j / (n_states + 1))) for j in range(1, n_states + 1)} - {0})
    states = np.stack([info.trace_y[0, k, 0].numpy() for k in ks]) if ks else np.zeros((0, *xs.shape[1:]))
    choices = pd.DataFrame({"sample": np.arange(n), "status": np.asarray(info.status),
                            **{k: cls[k] for k in ("choice", "right_front", "valid", "reason", "weight_right")}})
    return ProbeTrial(conditioning=probe.conditioning(), noise=info.trace_y[0, 0, 0].numpy(),
                      onestep=info.trace_xhat[0, 0, 0].numpy(), state_iterations=np.asarray(ks, dtype=np.int64),
                      states=states, iterations=K, samples=xs, choices=choices)


@dataclasses.dataclass
class PsychometricSweep:
    """Result of :func:`psychometric_sweep`: one table per kind of row, and the fit.

    Attributes
    ----------
    samples : pandas.DataFrame
        One row per sample (:class:`Sweep`'s ``samples``).
    onestep : pandas.DataFrame
        One row per probe (:class:`Sweep`'s ``onestep``).
    conditions : pandas.DataFrame
        One row per ``dr``: :func:`choice_frequencies` (and ``p_true``, the rule's
        probability, with a ``truth`` rule).
    curve : pandas.DataFrame
        The fitted logistic ``p_fit`` (and ``p_true``) on a fine grid of ``dr``.
    summary : dict
        ``slope``, ``slope_low``, ``slope_high``, ``pse``, ``pse_low``, ``pse_high``,
        ``invalid_rate``, ``onestep_blend``, ``n_boot``, ``truth``, ``ideal_invalid_rate``
        (a perfect sampler of the training data on the same probes, :func:`ideal_sweep`),
        ``invalid_apart``, ``invalid_mixed``, ``equal_right``, ``equal_right_n``,
        ``larger_front``, ``larger_front_n`` (:func:`decision_targets`), and with a ``truth``
        rule ``calibration_error``, ``calibration_low``, ``calibration_high``.
    """

    samples: "pd.DataFrame"
    onestep: "pd.DataFrame"
    conditions: "pd.DataFrame"
    curve: "pd.DataFrame"
    summary: dict

    def table(self, highlight: Sequence[float] = ()) -> "pd.DataFrame":
        """All of it as one long table with a ``kind`` column (``sample``, ``onestep``,
        ``condition``, ``curve`` and one ``fit`` row holding the summary): the layout
        :func:`interp.plotting.plot_psychometric` draws. Conditions whose ``dr`` is in
        ``highlight`` are marked (column ``highlight``) and drawn red."""
        import pandas as pd

        cond = self.conditions.assign(kind="condition")
        cond["highlight"] = cond["dr"].isin([float(h) for h in highlight])
        if "p_true" in cond.columns:  # after highlight, as the figure's CSV has always had it
            cond = cond[[c for c in cond.columns if c != "p_true"] + ["p_true"]]
        return pd.concat([self.samples.assign(kind="sample"), self.onestep.assign(kind="onestep"), cond,
                          self.curve.assign(kind="curve"), pd.DataFrame([{"kind": "fit", **self.summary}])],
                         ignore_index=True)


def psychometric_sweep(denoiser: Callable, probes: Sequence[Probe], n: int = 64, seed: int = 0, *,
                       truth: str = "deterministic", n_boot: int = 1000, scenes: Sequence[int] | None = None,
                       max_iter: int = 1000, progress: bool = False,
                       dr_range: tuple[float, float] | None = None) -> PsychometricSweep:
    """Choice frequencies against radius difference with a logistic fit (Fig. 4, calibration).

    Runs :func:`run_sweep` (``n`` samples per probe) and summarises it: frequencies with
    Wilson intervals (:func:`choice_frequencies`), a logistic fit with bootstrap intervals
    (:func:`fit_or_nan`), the invalid rates against a perfect sampler's (:func:`ideal_sweep`
    under ``truth``, or the deterministic rule for ``truth="none"``), :func:`decision_targets`
    and, for a ``truth`` rule, :func:`calibration`. The fitted curve spans ``dr_range``
    (default: the probes' smallest and largest ``dr``) widened by half a pixel each side.
    """
    if truth not in ("deterministic", "stochastic", "none"):
        raise InterpError(f"truth must be 'deterministic', 'stochastic' or 'none', got {truth!r}")
    probes = list(probes)
    sweep = run_sweep(denoiser, probes, n, seed, scenes=scenes, max_iter=max_iter, progress=progress)
    return summarize_sweep(sweep, probes, seed, truth=truth, n_boot=n_boot, scenes=scenes, dr_range=dr_range)


def summarize_sweep(sweep: Sweep, probes: Sequence[Probe], seed: int = 0, *, truth: str = "deterministic",
                    n_boot: int = 1000, scenes: Sequence[int] | None = None,
                    dr_range: tuple[float, float] | None = None) -> PsychometricSweep:
    """The summary of :func:`psychometric_sweep` for a sweep already run (:func:`run_sweep` on
    ``probes`` with ``seed``); the perfect sampler's reference draws as many samples per probe."""
    import pandas as pd

    if truth not in ("deterministic", "stochastic", "none"):
        raise InterpError(f"truth must be 'deterministic', 'stochastic' or 'none', got {truth!r}")
    probes = list(probes)
    n = int(len(sweep.samples) // max(len(probes), 1))
    cond = choice_frequencies(sweep.samples)
    fit = fit_or_nan(sweep.samples, n_boot, seed)
    lo, hi = dr_range if dr_range is not None else (min(p.dr for p in probes), max(p.dr for p in probes))
    grid = np.linspace(lo - 0.5, hi + 0.5, 201)
    curve = pd.DataFrame({"dr": grid, "p_fit": fit.predict(grid)})
    summary = {"slope": fit.slope, "slope_low": fit.slope_ci[0], "slope_high": fit.slope_ci[1],
               "pse": fit.pse, "pse_low": fit.pse_ci[0], "pse_high": fit.pse_ci[1],
               "invalid_rate": sweep.invalid_rate(), "onestep_blend": float(sweep.onestep["blend"].mean()),
               "n_boot": n_boot, "truth": truth}
    ideal = ideal_sweep(probes, n, seed, rule="deterministic" if truth == "none" else truth, scenes=scenes)
    summary["ideal_invalid_rate"] = float(1.0 - ideal["valid"].mean())
    for reason in ("apart", "mixed"):
        summary[f"invalid_{reason}"] = float((sweep.samples["reason"] == reason).mean())
    targets = decision_targets(sweep.samples)
    summary.update(equal_right=targets["equal_right"]["freq"], equal_right_n=targets["equal_right"]["n"],
                   larger_front=targets["larger_front"]["freq"], larger_front_n=targets["larger_front"]["n"])
    if truth != "none":
        cond["p_true"] = truth_probability(cond["dr"], truth)
        curve["p_true"] = truth_probability(grid, truth)
        cal = calibration(sweep.samples, truth, n_boot=n_boot, seed=seed)
        summary.update(calibration_error=cal["error"], calibration_low=cal["error_ci"][0],
                       calibration_high=cal["error_ci"][1])
    return PsychometricSweep(samples=sweep.samples, onestep=sweep.onestep, conditions=cond, curve=curve,
                             summary=summary)
