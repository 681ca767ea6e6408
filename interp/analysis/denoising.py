"""Denoising performance, adaptive-filter examples, probe sequences and next-frame samples of a
conditional denoiser on natural video (the computations behind paper Figs. 6, 7, 8 and 12).

Every function takes a denoiser ``net(y, c)`` (a loaded network, or any callable with the same
conventions; a prediction-only network ``net(c)`` where it says so) and clips as tensors or
arrays, and returns a tidy :class:`pandas.DataFrame` (one kind of row per table) or a small
dataclass. They never read model-card names or files: :mod:`interp.figures.video` loads the
figures' models and test clips and calls them.

* :func:`denoise`: a network's estimates for a batch of clips;
* :func:`denoising_curve`, :func:`curve_summary`, :func:`curve_stats`: output against input
  PSNR (Fig. 6), its mean over clips and the numbers the figure is judged by (slope of the
  single-image curve, gains from conditioning, where a curve meets the identity);
* :func:`estimate_shift`, :func:`pick_moving`, :func:`pick_motion`: the translation between
  two frames, and which test clip shows a steady translation (Fig. 7) or strong motion (Fig. 12);
* :func:`filter_example`: the adaptive filters of one output pixel with the measured motion
  and where the filters sit (Fig. 7);
* :func:`probe_sequences`: three probe sequences of decreasing unpredictability (Fig. 8; the
  evidence split itself is :func:`interp.analysis.jacobian.evidence_partition`);
* :func:`next_frame_samples`: the one-step estimate and samples of Algorithm 2 (Fig. 12).

Clips and batches follow :mod:`interp.analysis.jacobian`: one clip, unbatched (``x`` [1, H, W],
``c`` [tau, H, W]), or a batch of B >= 1 (``x`` [B, 1, H, W], ``c`` [B, tau, H, W]); clip b of a
batch gives the numbers it gives on its own. Noise is drawn per clip from the seed and the clip
itself (:func:`interp.analysis.jacobian.clip_seed`), or, in :func:`filter_example` and
:func:`next_frame_samples`, from the seed alone for every clip.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

import numpy as np

from interp._util.checks import check_int
from interp._util.errors import InterpError
from interp._util.metrics import psnr, psnr_from_mse
from interp.analysis.jacobian import adaptive_filter, clip_seed, filter_centroids, psnr_to_sigma, resolve_pixel

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd
    import torch

__all__ = ["denoise", "denoising_curve", "curve_summary", "curve_stats", "estimate_shift", "pick_moving", "pick_motion",
           "FilterExample", "filter_example", "probe_sequences", "NextFrameSamples", "next_frame_samples",
           "psnr_to_sigma", "DEFAULT_CURVE_PSNRS"]

#: Input PSNRs (dB) of Fig. 6: -20 to 50 in steps of 5.
DEFAULT_CURVE_PSNRS = tuple(float(p) for p in range(-20, 55, 5))


# --------------------------------------------------------------------------- inputs


def _as_tensor(a, name: str):
    import torch

    if isinstance(a, np.ndarray):
        a = torch.from_numpy(np.ascontiguousarray(a))
    if not isinstance(a, torch.Tensor):
        raise InterpError(f"{name} must be a tensor or an array, got {type(a).__name__}")
    if not a.is_floating_point():
        raise InterpError(f"{name} must hold floating-point values, got dtype {a.dtype}")
    if not bool(torch.isfinite(a).all()):
        raise InterpError(f"{name} holds non-finite values (NaN or inf)")
    return a


def _clips(x, c, *, x_name: str = "x", allow_no_c: bool = True):
    """(x [B, 1, H, W], c [B, tau, H, W], batched) from one clip or a batch."""
    x = _as_tensor(x, x_name)
    batched = x.ndim == 4
    if x.ndim == 2:
        x = x[None]
    if not batched:
        if x.ndim != 3 or x.shape[0] != 1:
            raise InterpError(f"{x_name} must be one frame [1, H, W] or [H, W], or a batch [B, 1, H, W], "
                              f"got shape {tuple(x.shape)}")
        x = x[None]
    if x.shape[1] != 1 or x.shape[0] == 0:
        raise InterpError(f"{x_name} must be a batch [B, 1, H, W] with B >= 1, got shape {tuple(x.shape)}")
    B, _, H, W = x.shape
    if c is None:
        if not allow_no_c:
            raise InterpError("c (the conditioning frames) is required")
        c = x.new_zeros((B, 0, H, W))
    c = _as_tensor(c, "c")
    if not batched and c.ndim == 3:
        c = c[None]
    if c.ndim != 4 or c.shape[0] != B or tuple(c.shape[-2:]) != (H, W):
        want = f"[B, tau, H, W] = [{B}, tau, {H}, {W}]" if batched else f"[tau, {H}, {W}]"
        raise InterpError(f"c must be the conditioning frames {want} to match {x_name}, got shape {tuple(c.shape)}")
    return x, c, batched


def _check_tau(net, tau: int) -> None:
    expected = getattr(net, "tau", None)
    if expected is not None and int(expected) != tau:
        raise InterpError(f"tau mismatch: the network takes tau={expected} conditioning frames, {tau} were given")


def _check_callable(net) -> None:
    if not callable(net):
        raise InterpError(f"the denoiser must be callable as net(y, c), got {type(net).__name__}")


def denoise(net: Callable, y, c, batch_size: int = 256) -> "torch.Tensor":
    """``net(y, c)`` for a batch ``y`` [B, 1, H, W], ``c`` [B, tau, H, W] (``net(c)`` for a
    prediction-only network), ``batch_size`` clips per call, without gradients."""
    import torch

    outs = []
    predict_only = bool(getattr(net, "predict_only", False))
    with torch.no_grad():
        for lo in range(0, c.shape[0], batch_size):
            cb = c[lo:lo + batch_size]
            out = net(cb) if predict_only else net(y[lo:lo + batch_size], cb)
            if not isinstance(out, torch.Tensor) or tuple(out.shape) != (cb.shape[0], 1, *c.shape[-2:]):
                got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                raise InterpError(f"the denoiser must return [B, 1, H, W] = {(cb.shape[0], 1, *c.shape[-2:])}, "
                                  f"got {got}")
            outs.append(out)
    return torch.cat(outs)


def _psnr_per_clip(x_hat, x) -> np.ndarray:
    return psnr_from_mse((x_hat.double() - x.double()).pow(2).flatten(1).mean(1).cpu().numpy())


# --------------------------------------------------------------------------- Fig. 6


def denoising_curve(net: Callable, x, c=None, psnrs: Sequence[float] = DEFAULT_CURVE_PSNRS, seed: int = 0, *,
                    noise: Mapping[float, "torch.Tensor"] | None = None, batch_size: int = 256) -> "pd.DataFrame":
    """Output PSNR against input PSNR of a denoiser, per clip (paper Fig. 6).

    For each input PSNR p the observation is ``y = x + sigma z`` with ``sigma = 10^(-p/20)``
    (intensity range 1) and ``z`` standard normal, and the estimate is ``net(y, c)`` (``net(c)``
    for a prediction-only network, which never sees ``y``).

    Parameters
    ----------
    net : callable
        ``net(y, c)`` with ``y`` [b, 1, H, W] and ``c`` [b, tau, H, W], returning [b, 1, H, W];
        or a network with ``predict_only = True``, called ``net(c)``.
    x : torch.Tensor or numpy.ndarray
        Clean next frames, ``[1, H, W]`` (one clip) or ``[B, 1, H, W]``.
    c : torch.Tensor or numpy.ndarray or None
        Conditioning frames ``[tau, H, W]`` (``[B, tau, H, W]`` with a batch), oldest first;
        ``None`` for tau = 0.
    psnrs : sequence of float
        Input PSNRs in dB.
    seed : int
        Seed of the noise: each clip draws, level by level in the order given, one
        ``[1, H, W]`` block from a generator seeded by ``clip_seed(seed, x[b])``, so a clip
        gets the same noise alone or in a batch, and every network gets the same noise for
        the same clip whatever its tau.
    noise : mapping of float to torch.Tensor, optional
        Standard-normal draws to use instead, ``{psnr: [B, 1, H, W]}`` (``[1, H, W]`` for one
        clip); :mod:`interp.figures.video` passes those of its one stream for the whole test
        set, so that the figure's tables stay as they were.
    batch_size : int
        Clips per network call.

    Returns
    -------
    pandas.DataFrame
        One row per (clip, input PSNR): ``clip`` (position in the batch, 0 for one clip),
        ``psnr_in`` (the nominal level, dB), ``psnr_noisy`` (PSNR of the observation actually
        drawn), ``psnr_out`` (PSNR of the estimate), ``mse_out``. For the identity denoiser
        ``psnr_out`` equals ``psnr_noisy``; a curve below the identity (``psnr_out <
        psnr_in``) means the denoiser makes its input worse.
    """
    import pandas as pd
    import torch

    _check_callable(net)
    seed = check_int("seed", seed, 0)
    batch_size = check_int("batch_size", batch_size, 1)
    levels = np.asarray(list(psnrs), dtype=float).reshape(-1)
    if levels.size == 0 or not np.isfinite(levels).all():
        raise InterpError(f"psnrs must be finite numbers (dB), got {list(levels)}")
    x, c, batched = _clips(x, c)
    _check_tau(net, c.shape[1])
    B = x.shape[0]
    if noise is None:
        gens = [torch.Generator().manual_seed(clip_seed(seed, x[b])) for b in range(B)]
        draws = {}
        for p in levels:
            draws.setdefault(float(p), torch.cat([torch.randn((1, *x.shape[1:]), generator=g) for g in gens]))
    else:
        draws = {}
        for p in levels:
            z = noise.get(float(p)) if hasattr(noise, "get") else None
            if z is None:
                raise InterpError(f"noise has no draw for input PSNR {float(p):g} dB")
            z = _as_tensor(z, "noise")
            z = z if z.ndim == 4 else z[None]
            if tuple(z.shape) != tuple(x.shape):
                raise InterpError(f"noise at {float(p):g} dB must have the shape of x, {tuple(x.shape)}, "
                                  f"got {tuple(z.shape)}")
            draws[float(p)] = z
    rows = []
    for p in levels:
        sigma = 10.0 ** (-p / 20.0)
        y = x + sigma * draws[float(p)].to(device=x.device, dtype=x.dtype)
        s = _psnr_per_clip(denoise(net, y, c, batch_size), x)
        noisy = _psnr_per_clip(y, x)
        rows.append(pd.DataFrame({"clip": np.arange(B), "psnr_in": float(p), "psnr_noisy": noisy, "psnr_out": s,
                                  "mse_out": 10.0 ** (-s / 10.0)}))
    table = pd.concat(rows, ignore_index=True)
    return table.sort_values("clip", kind="stable").reset_index(drop=True)  # levels in the order given


def curve_summary(table: "pd.DataFrame", by: Sequence[str] = ("psnr_in",)) -> "pd.DataFrame":
    """Mean over clips of :func:`denoising_curve`'s table (Fig. 6's points and error bars).

    Returns one row per group of ``by`` (default: per input PSNR, in the table's order):
    the ``by`` columns, ``psnr_out`` (mean of the per-clip PSNRs), ``sem`` (their standard
    error; 0 for one clip) and ``n`` (clips).
    """
    import pandas as pd

    by = list(by)
    missing = sorted({*by, "psnr_out"} - set(table.columns))
    if missing:
        raise InterpError(f"curve_summary: the table has no column(s) {', '.join(missing)}")
    rows = []
    for key, g in table.groupby(by, sort=False):
        s = g["psnr_out"].to_numpy(dtype=float)
        key = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(by, key)), "psnr_out": float(s.mean()),
                     "sem": float(s.std(ddof=1) / np.sqrt(len(s))) if len(s) > 1 else 0.0, "n": len(s)})
    return pd.DataFrame(rows)


def curve_stats(curves: "pd.DataFrame") -> dict:
    """The numbers Fig. 6 is judged by, from mean curves of several networks.

    ``curves`` has one row per (network, input PSNR) with ``tau``, ``predict_only``,
    ``psnr_in`` and ``psnr_out`` (:func:`curve_summary` with those columns). Returns a dict:
    ``slope_tau0`` (least-squares slope of the tau = 0 curve over input 0 to 30 dB; about 1/2
    for a single-image denoiser), ``identity_crossing_tau0`` (input PSNR where that curve
    falls to the identity, interpolated: above it the denoiser degrades its input),
    ``gain_tau{k}_at_0dB`` and ``gain_predict_at_0dB`` (output PSNR at input 0 dB minus tau =
    0's), ``predict_level`` (the prediction-only network's mean output PSNR) and
    ``psnr_tau{k}_at_0dB``. Keys whose curves are missing are left out.
    """
    out = {}
    base = curves[(curves["tau"] == 0) & ~curves["predict_only"].astype(bool)].sort_values("psnr_in")
    if len(base):
        sel = base[(base["psnr_in"] >= 0) & (base["psnr_in"] <= 30)]
        if len(sel) >= 2:
            out["slope_tau0"] = float(np.polyfit(sel["psnr_in"], sel["psnr_out"], 1)[0])
        gap = (base["psnr_out"] - base["psnr_in"]).to_numpy()
        p = base["psnr_in"].to_numpy()
        for i in range(len(p) - 1):
            if gap[i] > 0 >= gap[i + 1]:
                out["identity_crossing_tau0"] = float(p[i] + (p[i + 1] - p[i]) * gap[i] / (gap[i] - gap[i + 1]))
                break
        at0 = base.loc[base["psnr_in"] == 0, "psnr_out"]
        for (tau, pred), g in curves.groupby(["tau", "predict_only"]):
            v = g.loc[g["psnr_in"] == 0, "psnr_out"]
            if len(at0) and len(v) and not (tau == 0 and not pred):
                key = "predict" if pred else f"tau{int(tau)}"
                out[f"gain_{key}_at_0dB"] = float(v.iloc[0] - at0.iloc[0])
    pred = curves[curves["predict_only"].astype(bool)]
    if len(pred):
        out["predict_level"] = float(pred["psnr_out"].mean())
    for (tau, is_pred), g in curves.groupby(["tau", "predict_only"]):
        v = g.loc[g["psnr_in"] == 0, "psnr_out"]
        if len(v) and not is_pred:
            out[f"psnr_tau{int(tau)}_at_0dB"] = float(v.iloc[0])
    return out


# --------------------------------------------------------------------------- motion


def estimate_shift(a: np.ndarray, b: np.ndarray, max_shift: int = 4) -> tuple[int, int, float]:
    """The integer translation (dy, dx) that best maps frame ``a`` onto frame ``b``.

    Searches every shift up to ``max_shift`` pixels and compares the overlapping parts of
    ``b`` and ``a`` moved by (dy, dx); returns the shift with the lowest mean squared
    difference and that difference.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 2 or a.shape != b.shape:
        raise InterpError(f"estimate_shift takes two frames [H, W] of the same size, got {a.shape} and {b.shape}")
    h, w = a.shape
    best = (0, 0, np.inf)
    for dy in range(-max_shift, max_shift + 1):
        for dx in range(-max_shift, max_shift + 1):
            src = a[max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
            dst = b[max(0, dy):h - max(0, -dy), max(0, dx):w - max(0, -dx)]
            err = float(np.mean((src - dst) ** 2))
            if err < best[2]:
                best = (dy, dx, err)
    return best


def pick_moving(frames: np.ndarray, target: int, tau: int, direction: str = "left",
                min_speed: int = 1, max_speed: int = 3) -> int:
    """Index of the clip of ``frames`` [N, T, H, W] that best shows one pattern translating steadily.

    A candidate's frames ``target - tau .. target`` must move by the same integer shift
    between every pair of consecutive frames (:func:`estimate_shift`), horizontally in the
    given direction (``"left"`` or ``"right"``) at ``min_speed`` .. ``max_speed`` px/frame
    and at most 1 px vertically; among those, the one with the most texture (variance)
    around the centre wins. Falls back to the clip with the steadiest shift of any direction
    when none qualifies.
    """
    if direction not in ("left", "right"):
        raise InterpError(f"direction must be 'left' or 'right', got {direction!r}")
    sign = -1 if direction == "left" else 1
    best, best_score, fallback, fallback_err = None, -np.inf, 0, np.inf
    h, w = frames.shape[-2:]
    centre = (slice(h // 4, 3 * h // 4), slice(w // 4, 3 * w // 4))
    for i in range(len(frames)):
        shifts = [estimate_shift(frames[i, t - 1], frames[i, t]) for t in range(target - tau + 1, target + 1)]
        steady = len({(dy, dx) for dy, dx, _ in shifts}) == 1
        dy, dx, _ = shifts[0]
        err = float(np.mean([e for *_, e in shifts]))
        if steady and err < fallback_err:
            fallback, fallback_err = i, err
        if steady and abs(dy) <= 1 and min_speed <= sign * dx <= max_speed:
            score = float(frames[i, target][centre].var()) / (err + 1e-4)
            if score > best_score:
                best, best_score = i, score
    return best if best is not None else fallback


def pick_motion(frames: np.ndarray, target: int, quantile: float = 0.9) -> int:
    """Index of a clip of ``frames`` [N, T, H, W] with strong but not extreme motion (Fig. 12).

    The clips are ranked by the mean absolute difference between frames ``target - 2`` and
    ``target - 1``; the one at ``quantile`` of that ranking is returned.
    """
    if not 0.0 <= quantile <= 1.0:
        raise InterpError(f"quantile must be in [0, 1], got {quantile!r}")
    motion = np.abs(frames[:, target - 1] - frames[:, target - 2]).mean(axis=(1, 2))
    return int(np.argsort(motion)[int(quantile * (len(motion) - 1))])


# --------------------------------------------------------------------------- Fig. 7


@dataclasses.dataclass
class FilterExample:
    """Result of :func:`filter_example` (a leading batch axis on the arrays when given a batch).

    Attributes
    ----------
    observation : numpy.ndarray
        The noisy observation ``y``, ``[1, H, W]``.
    estimate : numpy.ndarray
        ``net(y, c)``, ``[1, H, W]``.
    filters : numpy.ndarray
        The adaptive filter of the pixel, ``[tau + 1, H, W]`` (conditioning frames first).
    stats : pandas.DataFrame
        One row per clip: ``clip``, ``pixel_row``, ``pixel_col``, ``output`` (the estimate at
        the pixel), ``psnr_in`` (of the observation), ``psnr_out`` (of the estimate),
        ``filter_sum_k`` (k = 0 .. tau), and for tau >= 1 ``shift_dy``, ``shift_dx`` (the
        pattern's measured motion, px/frame, :func:`estimate_shift` between the last two
        clean frames) and ``centroid_dy_k``, ``centroid_dx_k`` (where the filter on the
        conditioning frame k steps back sits relative to the pixel: the centre of its
        half-maximum core, :func:`~interp.analysis.jacobian.filter_centroids` with
        ``core=0.5``).
    """

    observation: np.ndarray
    estimate: np.ndarray
    filters: np.ndarray
    stats: "pd.DataFrame"


def filter_example(net: Callable, x, c, psnr: float = 16.0, seed: int = 0,
                   pixel: Sequence[int] | str = "center") -> FilterExample:
    """The adaptive filters of one output pixel on a noisy observation (paper Fig. 7).

    The observation is ``x + sigma z`` with ``sigma = 10^(-psnr/20)`` and ``z`` drawn from a
    generator seeded by ``seed`` (the same for every clip); the filter is the Jacobian row of
    ``pixel`` (:func:`~interp.analysis.jacobian.adaptive_filter`). A filter on the past
    frames displaced opposite to the motion, by the motion times the frame distance, is what
    a motion computation predicts.

    Parameters
    ----------
    net : callable
        A denoiser ``net(y, c)`` (not prediction-only).
    x, c
        The clean next frame and the conditioning frames: one clip (``[1, H, W]``,
        ``[tau, H, W]``) or a batch (``[B, 1, H, W]``, ``[B, tau, H, W]``).
    psnr : float
        Input PSNR of the observation, dB (the paper: about 16).
    seed : int
        Seed of the observation noise.
    pixel : (row, col) or ``"center"``
        The output pixel (``"center"`` is ``(H // 2, W // 2)``).
    """
    import pandas as pd
    import torch

    _check_callable(net)
    if getattr(net, "predict_only", False):
        raise InterpError("this is a prediction-only network; adaptive filters need a denoiser net(y, c)")
    seed = check_int("seed", seed, 0)
    xb, cb, batched = _clips(x, c)
    _check_tau(net, cb.shape[1])
    tau = cb.shape[1]
    H, W = xb.shape[-2:]
    r, col = (H // 2, W // 2) if pixel in ("center", "centre") else resolve_pixel(tuple(pixel), H, W)
    sigma = 10.0 ** (-float(psnr) / 20.0)
    ys, ests, fils, rows = [], [], [], []
    for b in range(xb.shape[0]):
        xi, ci = xb[b], cb[b]
        gen = torch.Generator().manual_seed(int(seed))
        y = xi + sigma * torch.randn(xi.shape, generator=gen).to(dtype=xi.dtype)
        filters = adaptive_filter(net, y, ci, (r, col)).detach().cpu().numpy()
        with torch.no_grad():
            x_hat = net(y[None], ci[None])[0]
        stats = {"clip": b, "pixel_row": r, "pixel_col": col, "output": float(x_hat[0, r, col]),
                 "psnr_in": float(_psnr_per_clip(y[None], xi[None])[0]),
                 "psnr_out": float(_psnr_per_clip(x_hat[None], xi[None])[0])}
        for slot in range(tau + 1):
            stats[f"filter_sum_{slot}"] = float(filters[slot].sum())
        if tau:
            frames = ci.cpu().numpy()
            pair = (frames[-2], frames[-1]) if tau >= 2 else (frames[-1], xi[0].cpu().numpy())
            dy, dx, _ = estimate_shift(*pair)
            stats["shift_dy"], stats["shift_dx"] = float(dy), float(dx)
            cent = filter_centroids(filters[:tau], core=0.5)
            for k in range(tau):  # k = 1: the most recent conditioning frame
                cy, cx = cent[tau - 1 - k]
                stats[f"centroid_dy_{k + 1}"], stats[f"centroid_dx_{k + 1}"] = float(cy - r), float(cx - col)
        ys.append(y.cpu().numpy())
        ests.append(x_hat.cpu().numpy())
        fils.append(filters)
        rows.append(stats)
    pick = (lambda v: np.stack(v)) if batched else (lambda v: v[0])
    return FilterExample(observation=pick(ys), estimate=pick(ests), filters=pick(fils), stats=pd.DataFrame(rows))


# --------------------------------------------------------------------------- Fig. 8


def probe_sequences(frames: np.ndarray, n_frames: int, seed: int = 0) -> dict[str, tuple[np.ndarray, str]]:
    """Three probe sequences of decreasing unpredictability (Fig. 8), ``n_frames`` each.

    Built from the frames of test clips ``frames`` [N, T, H, W] (their last frames are used)
    so that their statistics are natural:

    * ``non-rigid texture``: the most textured frame, warped in every frame by a new smooth
      random displacement field (about 1.5 px), so the next frame's pixels cannot be read off
      the past;
    * ``moving object``: a still frame as background with a disk-shaped patch of another
      frame moving right at 1 px/frame in front of it;
    * ``static smooth regions``: three regions with straight boundaries, each a smooth
      gray-level ramp, the same in every frame.

    Returns {name: (frames [n_frames, H, W] float32 in [0, 1], description)}; split each into
    its past ``seq[:-1]`` and next frame ``seq[-1:]`` for
    :func:`~interp.analysis.jacobian.evidence_partition`.
    """
    from scipy.ndimage import gaussian_filter, map_coordinates

    frames = np.asarray(frames)
    if frames.ndim != 4 or len(frames) < 2:
        raise InterpError(f"frames must be at least two clips [N, T, H, W], got shape {frames.shape}")
    rng = np.random.default_rng(seed)
    T, H, W = n_frames, frames.shape[-2], frames.shape[-1]
    last = frames[:, -1]
    order = np.argsort([f.var() for f in last])
    textured, smooth_bg = last[order[-1]], last[order[len(order) // 2]]
    rr, cc = np.meshgrid(np.arange(H, dtype=float), np.arange(W, dtype=float), indexing="ij")
    warped = []
    for _ in range(T):
        d = [gaussian_filter(rng.standard_normal((H, W)), 3.0, mode="wrap") for _ in range(2)]
        d = [v * 1.5 / (v.std() + 1e-8) for v in d]
        warped.append(map_coordinates(textured, [rr + d[0], cc + d[1]], order=1, mode="reflect"))
    texture = np.clip(np.stack(warped), 0, 1)

    patch = last[order[-2]]
    radius = H / 5
    moving = []
    for t in range(T):
        cy, cx = H / 2, W / 2 - (T - 1) / 2 + t  # 1 px/frame, centred on the last frame's middle
        mask = np.clip(radius + 0.5 - np.hypot(rr - cy, cc - cx), 0, 1)
        shifted = map_coordinates(patch, [rr, cc - (t - (T - 1) / 2)], order=1, mode="reflect")
        moving.append(mask * shifted + (1 - mask) * smooth_bg)
    moving = np.clip(np.stack(moving), 0, 1)

    # three regions meeting at straight boundaries (a wedge and two half-planes), each a gentle ramp
    region = np.where(cc < 0.4 * W + 0.3 * rr, 0, np.where(rr < 0.55 * H - 0.2 * cc, 1, 2))
    ramps = [0.2 + 0.15 * rr / H, 0.5 + 0.15 * cc / W, 0.85 - 0.15 * (rr + cc) / (H + W)]
    static = np.choose(region, ramps)
    static = np.repeat(static[None], T, axis=0)
    return {
        "non-rigid texture": (texture.astype(np.float32), "a test frame warped by a new smooth random field each frame"),
        "moving object": (moving.astype(np.float32), "a disk of texture moving right over a still background"),
        "static smooth regions": (static.astype(np.float32), "three smooth regions with straight boundaries, still"),
    }


# --------------------------------------------------------------------------- Fig. 12


@dataclasses.dataclass
class NextFrameSamples:
    """Result of :func:`next_frame_samples` (a leading batch axis on the arrays when given a batch).

    Attributes
    ----------
    onestep : numpy.ndarray
        The one-step estimate from pure noise, ``[H, W]``.
    samples : numpy.ndarray
        ``[n, H, W]``; NaN for a chain that did not converge.
    status : numpy.ndarray
        ``[n]`` sampler status of each chain (``converged``, ``max_iter``, ``diverged``).
    table : pandas.DataFrame
        One row per (clip, estimate): ``clip``, ``kind`` (``onestep`` or ``sample``),
        ``index`` (sample number, 0 for the one-step estimate), ``status`` (empty for the
        one-step estimate), ``psnr`` (against the true next frame when one was given, NaN for
        a failed chain or without it).
    """

    onestep: np.ndarray
    samples: np.ndarray
    status: np.ndarray
    table: "pd.DataFrame"


def next_frame_samples(net: Callable, c, n: int = 6, seed: int = 0, *, x=None,
                       max_iter: int = 1000) -> NextFrameSamples:
    """The one-step estimate and ``n`` samples of the next frame given the past (paper Fig. 12).

    The one-step estimate is :func:`interp.analysis.sampler.one_step` and the samples are
    :func:`interp.analysis.sampler.sample` (Algorithm 2), each clip with its own call and the
    same ``seed``, so a clip gets the same samples alone or in a batch.

    Parameters
    ----------
    net : callable
        A denoiser ``net(y, c)``.
    c : torch.Tensor or numpy.ndarray
        Conditioning frames, ``[tau, H, W]`` (one clip) or ``[B, tau, H, W]``.
    n : int
        Samples per clip.
    seed : int
        Seed of the sampler (and of the one-step estimate's noise).
    x : torch.Tensor or numpy.ndarray, optional
        The true next frames (``[1, H, W]`` or ``[H, W]``, ``[B, 1, H, W]`` with a batch), to
        compute each estimate's PSNR.
    max_iter : int
        The sampler's iteration limit per chain.
    """
    import pandas as pd

    from interp.analysis.sampler import one_step, sample

    _check_callable(net)
    n = check_int("n", n, 1)
    seed = check_int("seed", seed, 0)
    c = _as_tensor(c, "c")
    batched = c.ndim == 4
    if c.ndim not in (3, 4):
        raise InterpError(f"c must be [tau, H, W] (one clip) or [B, tau, H, W], got shape {tuple(c.shape)}")
    cb = c if batched else c[None]
    truth = None
    if x is not None:
        x = _as_tensor(x, "x")
        xb = x if x.ndim == 4 else (x[None] if x.ndim == 3 else x[None, None])
        if xb.shape[0] != cb.shape[0] or tuple(xb.shape[1:]) != (1, *cb.shape[-2:]):
            raise InterpError(f"x must be the true next frames [B, 1, H, W] matching c, got shape {tuple(x.shape)}")
        truth = xb[:, 0].cpu().numpy()
    ones, samples, statuses, rows = [], [], [], []
    for b in range(cb.shape[0]):
        est = one_step(net, cb[b], 1, seed)[0, 0].cpu().numpy()
        xs, info = sample(net, cb[b], n, seed=seed, max_iter=max_iter, return_info=True, warn=False)
        xs = xs[:, 0].cpu().numpy()

        def psnr_of(a, ref=None if truth is None else truth[b]):
            if ref is None or not np.isfinite(a).all():
                return float("nan")
            return psnr(a, ref, dtype=np.float32)

        rows.append({"clip": b, "kind": "onestep", "index": 0, "status": "", "psnr": psnr_of(est)})
        rows += [{"clip": b, "kind": "sample", "index": k, "status": str(info.status[k]), "psnr": psnr_of(xs[k])}
                 for k in range(n)]
        ones.append(est)
        samples.append(xs)
        statuses.append(np.asarray(info.status))
    pick = (lambda v: np.stack(v)) if batched else (lambda v: v[0])
    return NextFrameSamples(onestep=pick(ones), samples=pick(samples), status=pick(statuses),
                            table=pd.DataFrame(rows))
