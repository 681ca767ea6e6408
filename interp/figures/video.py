"""The natural-video figures (6, 7, 8 and 12): analyses named in :mod:`interp.figures.registry`.

Every analysis here reads its test sequences from :func:`interp.natural.natural_video_test_set`:
the DAVIS32 test split when it has been built (``data/davis32.npz`` or
``data/davis32-mini.npz``, or ``$INTERP_DAVIS32``), else the built-in natural test set made from
scikit-image photographs; the table's ``data`` column says which, and the figures print it.

* ``denoising_curves`` (Fig. 6): output against input PSNR for several conditioning lengths;
* ``adaptive_filter_example`` (Fig. 7): the Jacobian row of the centre pixel, one filter per
  input frame;
* ``evidence_weighting`` (Fig. 8): the partition of eq. 7 for three probe sequences of
  different predictability, and where the observation starts to outweigh the past;
* ``natural_samples`` (Fig. 12): next-frame samples from several noise initialisations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from interp._util.checks import check_int
from interp._util.errors import InterpError
from interp._util.metrics import psnr, psnr_from_mse
from interp.analysis.jacobian import adaptive_filter, crossing_psnr, evidence_partition, filter_centroids, resolve_pixel
from interp.analysis.sampler import one_step, sample
from interp.data.dataset import check_frame_size, load
from interp.data.natural import natural_video_test_set
from interp.figures.manifest import first_model
from interp.figures.models import load_model

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["denoising_curves", "adaptive_filter_example", "evidence_weighting", "natural_samples",
           "estimate_shift", "probe_sequences"]

DEFAULT_CURVE_PSNRS = tuple(range(-20, 55, 5))  # Fig. 6's horizontal axis
DEFAULT_EVIDENCE_PSNRS = tuple(range(-20, 75, 5))  # Fig. 8's horizontal axis


# --------------------------------------------------------------------------- shared pieces


def _load(name: str):
    """The network of a model-card name, in eval mode (fp32), checked against its card."""
    return load_model(name).eval().float()


def _test_clips(data: str | None = None):
    """(frames [N, T, H, W], label): the natural-video test sequences the figures use."""
    if data is not None:
        ds = load(data)
        ds = ds.test if "test" in ds.meta else ds
        check_frame_size(ds.frames, data)
        return ds.frames, f"{data}"

    ds, label = natural_video_test_set()
    return ds.frames, label


def _pixels(frame: np.ndarray) -> dict:
    h, w = frame.shape
    rr, cc = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    return {"row": rr.ravel(), "col": cc.ravel(), "value": np.asarray(frame, dtype=float).ravel()}


def _psnr_per_sequence(x_hat, x) -> np.ndarray:
    return psnr_from_mse((x_hat.double() - x.double()).pow(2).flatten(1).mean(1).cpu().numpy())


def _estimate(net, y, c, batch_size: int = 256):
    """net(y, c) (or net(c) for a prediction-only network), batched, without gradients."""
    import torch

    outs = []
    with torch.no_grad():
        for lo in range(0, c.shape[0], batch_size):
            cb = c[lo:lo + batch_size]
            outs.append(net(cb) if net.predict_only else net(y[lo:lo + batch_size], cb))
    return torch.cat(outs)


def _check_target(frames: np.ndarray, target: int, tau: int) -> int:
    T = frames.shape[1]
    if not isinstance(target, (int, np.integer)) or not tau <= target < T:
        raise InterpError(f"target frame must be an integer in {tau}..{T - 1} (tau = {tau}), got {target!r}")
    return int(target)


def estimate_shift(a: np.ndarray, b: np.ndarray, max_shift: int = 4) -> tuple[int, int, float]:
    """The integer translation (dy, dx) that best maps frame ``a`` onto frame ``b``.

    Searches every shift up to ``max_shift`` pixels and compares the overlapping parts of
    ``b`` and ``a`` moved by (dy, dx); returns the shift with the lowest mean squared
    difference and that difference.
    """
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


# --------------------------------------------------------------------------- Fig. 6


def denoising_curves(models, psnrs: Sequence[float] = DEFAULT_CURVE_PSNRS, target: int = 10,
                     max_sequences: int | None = None, seed: int = 0, example: int = 0,
                     example_psnr: float = 0.0, data: str | None = None) -> "pd.DataFrame":
    """Denoising performance against noise level for each model (paper Fig. 6).

    Every model predicts the same frames: frame ``target`` of each test sequence, from the
    ``tau`` frames just before it (its own conditioning length) and, unless it is a
    prediction-only network, a noisy observation ``y = x + sigma z`` with ``sigma =
    10^(-p/20)``. The noise ``z`` is drawn once per level (seeded) and shared by all models.
    PSNR is computed per sequence, then averaged (mean and standard error).

    Returns one table with a ``kind`` column:

    * ``curve``: ``model``, ``tau``, ``predict_only``, ``psnr_in``, ``psnr_out`` (mean over
      sequences), ``sem``, ``n`` (sequences); a prediction-only model has the same value at
      every level (it never sees y);
    * ``stat``: ``name`` / ``value`` rows: ``slope_tau0`` (least-squares slope of the tau = 0
      curve over input 0 to 30 dB), ``gain_tau{k}_at_0dB`` (each model's output PSNR at input
      0 dB minus tau = 0's), ``predict_level`` and ``identity_crossing_tau0`` (input PSNR where
      tau = 0's curve meets the identity, interpolated);
    * ``frame``: the example panel: ``panel`` (name), ``slot``, ``role`` and the pixels
      (``row``, ``col``, ``value``) of the conditioning frames, the noisy observation at
      ``example_psnr``, the true next frame and each model's estimate (``psnr`` of each
      estimate in the ``psnr_out`` column).

    Every row has ``data``, the test set's label.
    """
    import pandas as pd
    import torch

    if not models:
        raise InterpError("denoising_curves needs the models to compare (their card names)")
    frames, label = _test_clips(data)
    nets = {name: _load(name) for name in models}
    max_tau = max(int(n.tau) for n in nets.values())
    target = _check_target(frames, target, max_tau)
    if max_sequences is not None:
        frames = frames[: int(max_sequences)]
    if not 0 <= int(example) < len(frames):
        raise InterpError(f"example must be a test-sequence index in 0..{len(frames) - 1}, got {example!r}")
    clips = torch.from_numpy(np.ascontiguousarray(frames))
    x = clips[:, target:target + 1]
    levels = np.asarray(list(psnrs), dtype=float)
    gen = torch.Generator().manual_seed(int(seed))
    noise = {float(p): torch.randn(x.shape, generator=gen) for p in levels}
    if float(example_psnr) not in noise:
        noise[float(example_psnr)] = torch.randn(x.shape, generator=gen)

    rows, frame_parts = [], []
    ex = int(example)
    for name, net in nets.items():
        tau = int(net.tau)
        c = clips[:, target - tau:target]
        for p in levels:
            sigma = 10.0 ** (-p / 20.0)
            s = _psnr_per_sequence(_estimate(net, x + sigma * noise[float(p)], c), x)
            rows.append({"kind": "curve", "model": name, "tau": tau, "predict_only": bool(net.predict_only),
                         "psnr_in": float(p), "psnr_out": float(s.mean()),
                         "sem": float(s.std(ddof=1) / np.sqrt(len(s))) if len(s) > 1 else 0.0, "n": len(s)})
        sigma = 10.0 ** (-float(example_psnr) / 20.0)
        y_ex = x[ex:ex + 1] + sigma * noise[float(example_psnr)][ex:ex + 1]
        est = _estimate(net, y_ex, c[ex:ex + 1])
        frame_parts.append(dict(panel=f"tau = {tau}" if not net.predict_only else "prediction only",
                                role="estimate", model=name, tau=tau,
                                psnr_out=float(_psnr_per_sequence(est, x[ex:ex + 1])[0]), image=est[0, 0].numpy()))
    sigma = 10.0 ** (-float(example_psnr) / 20.0)
    y_ex = (x[ex] + sigma * noise[float(example_psnr)][ex])[0].numpy()
    firsts = [dict(panel=f"t - {max_tau - 1 - k}" if k < max_tau - 1 else "t", role="conditioning",
                   image=frames[ex, target - max_tau + k]) for k in range(max_tau)]
    firsts.append(dict(panel=f"noisy, {example_psnr:g} dB", role="observation", image=y_ex))
    firsts.append(dict(panel="true next frame", role="truth", image=frames[ex, target]))
    parts = [pd.DataFrame(rows)]
    for slot, item in enumerate(firsts + frame_parts):
        image = item.pop("image")
        parts.append(pd.DataFrame({"kind": "frame", "slot": slot, **item, **_pixels(image)}))
    table = pd.concat(parts, ignore_index=True)
    stats = _curve_stats(table[table["kind"] == "curve"])
    table = pd.concat([table, pd.DataFrame([{"kind": "stat", "name": k, "value": v} for k, v in stats.items()])],
                      ignore_index=True)
    table["data"] = label
    table["example_sequence"] = ex
    table["target_frame"] = target
    return table


def _curve_stats(curves: "pd.DataFrame") -> dict:
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


# --------------------------------------------------------------------------- Fig. 7


def _pick_moving(frames: np.ndarray, target: int, tau: int, direction: str = "left",
                 min_speed: int = 1, max_speed: int = 3) -> int:
    """Index of the test sequence that best shows one pattern translating steadily.

    A candidate's frames ``target - tau .. target`` must move by the same integer shift
    between every pair of consecutive frames (:func:`estimate_shift`), horizontally in the
    given direction at ``min_speed`` .. ``max_speed`` px/frame and at most 1 px vertically;
    among those, the one with the most texture (variance) around the centre wins. Falls back
    to the candidate with the steadiest shift of any direction when none qualifies.
    """
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


def adaptive_filter_example(models, psnr: float = 16.0, seed: int = 0, pixel: Sequence[int] | str = "center",
                            sequence: int | str = "auto", target: int = 10, direction: str = "left",
                            data: str | None = None) -> "pd.DataFrame":
    """The adaptive filters of one output pixel (paper Fig. 7).

    The first model's Jacobian row for ``pixel`` (:func:`interp.jacobian.adaptive_filter`)
    on a test sequence: its ``tau`` clean conditioning frames before frame ``target`` and a
    noisy observation of frame ``target`` at ``psnr`` dB. ``sequence = "auto"`` picks the test
    sequence whose pattern translates most steadily in ``direction`` (see
    :func:`_pick_moving`), as in the paper's example of a pattern moving to the left.

    Returns rows of ``kind`` ``input`` and ``filter`` (``slot`` 0..tau, conditioning frames
    first, the observation last; ``label``; pixels), and ``stat`` rows (``name`` / ``value``):
    the estimate's value at the pixel, each filter's sum, the estimate's PSNR and the
    observation's, the measured shift of the pattern (``shift_dy``, ``shift_dx`` px/frame),
    and each conditioning filter's offset from the pixel (``centroid_dy_k``, ``centroid_dx_k``;
    k = 1 is the most recent frame): the centre of its half-maximum core, as in
    ``filter_centroids(..., core=0.5)``. A filter displaced opposite to the
    motion, by the motion times the frame distance, is what a motion computation predicts.
    """
    import pandas as pd
    import torch

    name = first_model(models, "adaptive_filter_example")
    net = _load(name)
    if net.predict_only:
        raise InterpError(f"{name} is a prediction-only network; adaptive filters need a denoiser")
    tau = int(net.tau)
    frames, label = _test_clips(data)
    target = _check_target(frames, target, tau)
    index = _pick_moving(frames, target, max(tau, 1), direction) if sequence == "auto" else int(sequence)
    if not 0 <= index < len(frames):
        raise InterpError(f"sequence must be 'auto' or a test-sequence index in 0..{len(frames) - 1}, got {sequence!r}")
    H, W = frames.shape[-2:]
    r, cpix = (H // 2, W // 2) if pixel in ("center", "centre") else resolve_pixel(tuple(pixel), H, W)
    x = torch.from_numpy(np.ascontiguousarray(frames[index, target]))[None]
    c = torch.from_numpy(np.ascontiguousarray(frames[index, target - tau:target]))
    gen = torch.Generator().manual_seed(int(seed))
    sigma = 10.0 ** (-float(psnr) / 20.0)
    y = x + sigma * torch.randn(x.shape, generator=gen)
    filters = adaptive_filter(net, y, c, (r, cpix)).detach().numpy()
    with torch.no_grad():
        x_hat = net(y[None], c[None])[0]
    inputs = np.concatenate([c.numpy(), y.numpy()])
    labels = [f"t - {tau - 1 - k}" if k < tau - 1 else "t" for k in range(tau)] + [f"noisy t + 1 ({psnr:g} dB)"]
    parts = []
    for slot in range(tau + 1):
        parts.append(pd.DataFrame({"kind": "input", "slot": slot, "label": labels[slot], **_pixels(inputs[slot])}))
        parts.append(pd.DataFrame({"kind": "filter", "slot": slot, "label": labels[slot], **_pixels(filters[slot])}))
    stats = {"pixel_row": r, "pixel_col": cpix, "output": float(x_hat[0, r, cpix]),
             "psnr_in": float(_psnr_per_sequence(y[None], x[None])[0]),
             "psnr_out": float(_psnr_per_sequence(x_hat[None], x[None])[0])}
    for slot in range(tau + 1):
        stats[f"filter_sum_{slot}"] = float(filters[slot].sum())
    if tau:
        dy, dx, _ = estimate_shift(frames[index, target - 2] if tau >= 2 else frames[index, target - 1],
                                   frames[index, target - 1] if tau >= 2 else frames[index, target])
        stats["shift_dy"], stats["shift_dx"] = float(dy), float(dx)
        cent = filter_centroids(filters[:tau], core=0.5)
        for k in range(tau):  # k = 1: the most recent conditioning frame
            cy, cx = cent[tau - 1 - k]
            stats[f"centroid_dy_{k + 1}"], stats[f"centroid_dx_{k + 1}"] = float(cy - r), float(cx - cpix)
    parts.append(pd.DataFrame([{"kind": "stat", "name": k, "value": v} for k, v in stats.items()]))
    table = pd.concat(parts, ignore_index=True)
    table["data"], table["sequence"], table["model"], table["tau"] = label, index, name, tau
    return table


# --------------------------------------------------------------------------- Fig. 8


def probe_sequences(frames: np.ndarray, n_frames: int, seed: int = 0) -> dict[str, tuple[np.ndarray, str]]:
    """Three probe sequences of decreasing unpredictability (Fig. 8), ``n_frames`` each.

    Built from the test set's frames so that their statistics are natural:

    * ``non-rigid texture``: the most textured test frame, warped in every frame by a new
      smooth random displacement field (about 1.5 px), so the next frame's pixels cannot be
      read off the past;
    * ``moving object``: a still test frame as background with a disk-shaped patch of another
      test frame moving right at 1 px/frame in front of it;
    * ``static smooth regions``: three regions with straight boundaries, each a smooth
      gray-level ramp, the same in every frame.

    Returns {name: (frames [n_frames, H, W] in [0, 1], description)}.
    """
    from scipy.ndimage import gaussian_filter, map_coordinates

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


def evidence_weighting(models, psnrs: Sequence[float] = DEFAULT_EVIDENCE_PSNRS, seed: int = 0, n_noise: int = 4,
                       data: str | None = None) -> "pd.DataFrame":
    """The partition of eq. 7 across input noise levels for three probe sequences (Fig. 8).

    For each probe of :func:`probe_sequences`, the first model's estimate of the last frame
    from its ``tau`` predecessors and a noisy observation is split into the observation's and
    the past's parts (:func:`interp.jacobian.evidence_partition`, ``n_noise`` draws per
    level), and the level where the observation's part starts to predict better than the
    past's is found (:func:`interp.jacobian.crossing_psnr`).

    Returns rows of ``kind`` ``curve`` (``probe``, ``psnr``, ``psnr_total``, ``psnr_c``,
    ``psnr_y``, the eq. 7 terms), ``frame`` (``probe``, ``slot``, pixels of its frames) and
    ``stat`` (``probe``, ``name`` = ``crossing_psnr``, ``value``; NaN when the curves do not
    cross in the range).
    """
    import pandas as pd

    name = first_model(models, "evidence_weighting")
    net = _load(name)
    if net.predict_only or int(net.tau) < 1:
        raise InterpError(f"{name}: the evidence split needs a conditional denoiser (tau >= 1, not prediction-only)")
    tau = int(net.tau)
    frames, label = _test_clips(data)
    parts = []
    for k, (probe, (seq, what)) in enumerate(probe_sequences(frames, tau + 1, seed).items()):
        curve = evidence_partition(net, seq[-1:], seq[:-1], psnrs, seed=seed, n_noise=n_noise)
        curve = curve.drop(columns=["sequence"]).assign(kind="curve", probe=probe, probe_order=k, description=what)
        parts.append(curve)
        for slot in range(tau + 1):
            parts.append(pd.DataFrame({"kind": "frame", "probe": probe, "probe_order": k, "slot": slot,
                                       **_pixels(seq[slot])}))
        parts.append(pd.DataFrame([{"kind": "stat", "probe": probe, "probe_order": k, "name": "crossing_psnr",
                                    "value": crossing_psnr(curve)}]))
    table = pd.concat(parts, ignore_index=True)
    table["data"], table["model"], table["tau"] = label, name, tau
    return table


# --------------------------------------------------------------------------- Fig. 12


def natural_samples(models, sequence: int | str = "auto", n_samples: int = 6, seed: int = 0, target: int = 10,
                    max_iter: int = 1000, data: str | None = None) -> "pd.DataFrame":
    """Next-frame samples from several noise initialisations for a natural sequence (Fig. 12).

    Top row: the conditioning frames, the one-step estimate from pure noise (the blurry MMSE
    prediction) and the true next frame; bottom row: ``n_samples`` samples of Algorithm 2
    from different random starts. ``sequence = "auto"`` picks the test sequence with the most
    motion between its last two conditioning frames. Returns the frame-grid layout of
    :func:`interp.plotting.plot_frame_grid`, with ``data``, ``sequence``, ``status`` (sampler
    status per sample) and ``psnr`` (of each estimate or sample against the true frame).
    """
    import pandas as pd
    import torch

    name = first_model(models, "natural_samples")
    n_samples = check_int("n_samples", n_samples, 1)
    net = _load(name)
    if net.predict_only or int(net.tau) < 1:
        raise InterpError(f"{name}: sampling needs a conditional denoiser (tau >= 1, not prediction-only)")
    tau = int(net.tau)
    frames, label = _test_clips(data)
    target = _check_target(frames, target, tau)
    if sequence == "auto":
        motion = np.abs(frames[:, target - 1] - frames[:, target - 2]).mean(axis=(1, 2))
        index = int(np.argsort(motion)[int(0.9 * (len(motion) - 1))])  # strong but not extreme motion
    else:
        index = int(sequence)
    if not 0 <= index < len(frames):
        raise InterpError(f"sequence must be 'auto' or a test-sequence index in 0..{len(frames) - 1}, got {sequence!r}")
    c = torch.from_numpy(np.ascontiguousarray(frames[index, target - tau:target]))
    truth = frames[index, target]
    onestep = one_step(net, c, 1, seed)[0, 0].numpy()
    samples, info = sample(net, c, n_samples, seed=seed, max_iter=max_iter, return_info=True, warn=False)
    samples = samples[:, 0].numpy()

    def psnr_of(a, role):
        if role == "truth" or not np.isfinite(a).all():
            return float("nan")
        return psnr(a, truth, dtype=np.float32)

    panels = [(0, k, f"t - {tau - 1 - k}" if k < tau - 1 else "t", "conditioning", frames[index, target - tau + k], "")
              for k in range(tau)]
    panels += [(0, tau, "one-step", "onestep", onestep, ""), (0, tau + 1, "true t + 1", "truth", truth, "")]
    panels += [(1, k, f"sample {k + 1}" + ("" if info.status[k] == "converged" else f" ({info.status[k]})"),
                "sample", samples[k], str(info.status[k])) for k in range(n_samples)]
    parts = [pd.DataFrame({"track": tr, "slot": sl, "label": lab, "role": role, **_pixels(img), "status": st,
                           "psnr": psnr_of(img, role), "track_label": "inputs" if tr == 0 else "samples"})
             for tr, sl, lab, role, img, st in panels]
    table = pd.concat(parts, ignore_index=True)
    table["data"], table["sequence"], table["model"], table["tau"] = label, index, name, tau
    return table


