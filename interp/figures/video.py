"""The natural-video figures (6, 7, 8 and 12): adapters named in :mod:`interp.figures.registry`.

Each loads the models of its card names and the test clips, calls the analysis functions of
:mod:`interp.analysis.denoising` (and :mod:`interp.analysis.jacobian`) and lays their results out
as the figure's tidy table.

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
from interp._util.metrics import psnr
from interp.analysis.denoising import (
    curve_stats,
    curve_summary,
    denoise,
    denoising_curve,
    estimate_shift,
    filter_example,
    next_frame_samples,
    pick_motion,
    pick_moving,
    probe_sequences,
)
from interp.analysis.jacobian import crossing_psnr, evidence_partition
from interp.data.dataset import check_frame_size, load
from interp.data.natural import natural_video_test_set
from interp.figures.manifest import first_model
from interp.figures.models import load_model

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["denoising_curves", "adaptive_filter_example", "evidence_weighting", "natural_samples",
           "denoising_figure_table", "filter_figure_table", "evidence_figure_table", "estimate_shift", "probe_sequences"]

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


def _check_target(frames: np.ndarray, target: int, tau: int) -> int:
    T = frames.shape[1]
    if not isinstance(target, (int, np.integer)) or not tau <= target < T:
        raise InterpError(f"target frame must be an integer in {tau}..{T - 1} (tau = {tau}), got {target!r}")
    return int(target)


def _tensor(a: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(a))


# --------------------------------------------------------------------------- Fig. 6


def denoising_curves(models, psnrs: Sequence[float] = DEFAULT_CURVE_PSNRS, target: int = 10,
                     max_sequences: int | None = None, seed: int = 0, example: int = 0,
                     example_psnr: float = 0.0, data: str | None = None) -> "pd.DataFrame":
    """Denoising performance against noise level for each model (paper Fig. 6).

    Every model predicts the same frames: frame ``target`` of each test sequence, from the
    ``tau`` frames just before it (its own conditioning length) and, unless it is a
    prediction-only network, a noisy observation ``y = x + sigma z`` with ``sigma =
    10^(-p/20)`` (:func:`interp.analysis.denoising.denoising_curve`). The noise ``z`` is drawn
    once per level for the whole test set from one generator of ``seed`` and shared by all
    models. PSNR is computed per sequence, then averaged (mean and standard error,
    :func:`~interp.analysis.denoising.curve_summary`).

    Returns one table with a ``kind`` column:

    * ``curve``: ``model``, ``tau``, ``predict_only``, ``psnr_in``, ``psnr_out`` (mean over
      sequences), ``sem``, ``n`` (sequences); a prediction-only model has the same value at
      every level (it never sees y);
    * ``stat``: ``name`` / ``value`` rows of :func:`~interp.analysis.denoising.curve_stats`;
    * ``frame``: the example panel: ``panel`` (name), ``slot``, ``role`` and the pixels
      (``row``, ``col``, ``value``) of the conditioning frames, the noisy observation at
      ``example_psnr``, the true next frame and each model's estimate (``psnr`` of each
      estimate in the ``psnr_out`` column).

    Every row has ``data``, the test set's label.
    """

    if not models:
        raise InterpError("denoising_curves needs the models to compare (their card names)")
    frames, label = _test_clips(data)
    nets = {name: _load(name) for name in models}
    target = _check_target(frames, target, max(int(n.tau) for n in nets.values()))
    if max_sequences is not None:
        frames = frames[: int(max_sequences)]
    if not 0 <= int(example) < len(frames):
        raise InterpError(f"example must be a test-sequence index in 0..{len(frames) - 1}, got {example!r}")
    table = denoising_figure_table(nets, frames, psnrs, target, seed=seed, example=example,
                                   example_psnr=example_psnr)
    table["data"] = label
    table["example_sequence"] = int(example)
    table["target_frame"] = target
    return table


def denoising_figure_table(nets: dict, frames: np.ndarray, psnrs: Sequence[float] = DEFAULT_CURVE_PSNRS,
                           target: int = 10, *, seed: int = 0, example: int = 0,
                           example_psnr: float = 0.0) -> "pd.DataFrame":
    """Fig. 6's table for any networks and clips: what :func:`interp.plotting.plot_denoising_curves` draws.

    ``nets`` maps a name onto a denoiser (a network with ``tau`` and ``predict_only``
    attributes, or any callable with a ``tau``); ``frames`` [N, T, H, W] are the clips, frame
    ``target`` of each the one to estimate. The noise is drawn once per level for all clips
    from one generator of ``seed`` and shared by all networks
    (:func:`interp.analysis.denoising.denoising_curve` with ``noise``). Rows of ``kind``
    ``curve``, ``frame`` and ``stat`` as in :func:`denoising_curves`, without its ``data``,
    ``example_sequence`` and ``target_frame`` columns.
    """
    import pandas as pd
    import torch

    if not nets:
        raise InterpError("denoising_figure_table needs at least one network")
    frames = np.asarray(frames)
    if frames.ndim != 4:
        raise InterpError(f"frames must be clips [N, T, H, W], got shape {frames.shape}")
    max_tau = max(int(getattr(n, "tau", 0)) for n in nets.values())
    target = _check_target(frames, target, max_tau)
    ex = int(example)
    if not 0 <= ex < len(frames):
        raise InterpError(f"example must be a clip index in 0..{len(frames) - 1}, got {example!r}")
    clips = _tensor(frames)
    x = clips[:, target:target + 1]
    levels = np.asarray(list(psnrs), dtype=float)
    gen = torch.Generator().manual_seed(int(seed))
    noise = {float(p): torch.randn(x.shape, generator=gen) for p in levels}
    if float(example_psnr) not in noise:
        noise[float(example_psnr)] = torch.randn(x.shape, generator=gen)

    rows, frame_parts = [], []
    for name, net in nets.items():
        tau, predict_only = int(getattr(net, "tau", 0)), bool(getattr(net, "predict_only", False))
        c = clips[:, target - tau:target]
        curve = curve_summary(denoising_curve(net, x, c, levels, noise=noise))
        rows += [{"kind": "curve", "model": name, "tau": tau, "predict_only": predict_only,
                  "psnr_in": float(r.psnr_in), "psnr_out": r.psnr_out, "sem": r.sem, "n": int(r.n)}
                 for r in curve.itertuples()]
        example_row = denoising_curve(net, x[ex:ex + 1], c[ex:ex + 1], [example_psnr],
                                      noise={float(example_psnr): noise[float(example_psnr)][ex:ex + 1]})
        sigma = 10.0 ** (-float(example_psnr) / 20.0)
        est = denoise(net, x[ex:ex + 1] + sigma * noise[float(example_psnr)][ex:ex + 1], c[ex:ex + 1])
        frame_parts.append(dict(panel="prediction only" if predict_only else f"tau = {tau}",
                                role="estimate", model=name, tau=tau,
                                psnr_out=float(example_row["psnr_out"].iloc[0]), image=est[0, 0].numpy()))
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
    stats = curve_stats(table[table["kind"] == "curve"])
    if stats:
        table = pd.concat([table, pd.DataFrame([{"kind": "stat", "name": k, "value": v} for k, v in stats.items()])],
                          ignore_index=True)
    else:  # no curve gives a statistic (say, no tau = 0 network and no 0 dB level): the columns stay
        table["name"], table["value"] = pd.Series(dtype=object), np.nan
    return table


# --------------------------------------------------------------------------- Fig. 7


def adaptive_filter_example(models, psnr: float = 16.0, seed: int = 0, pixel: Sequence[int] | str = "center",
                            sequence: int | str = "auto", target: int = 10, direction: str = "left",
                            data: str | None = None) -> "pd.DataFrame":
    """The adaptive filters of one output pixel (paper Fig. 7).

    The first model's :func:`interp.analysis.denoising.filter_example` on a test sequence: its
    ``tau`` clean conditioning frames before frame ``target`` and a noisy observation of frame
    ``target`` at ``psnr`` dB. ``sequence = "auto"`` picks the test sequence whose pattern
    translates most steadily in ``direction``
    (:func:`~interp.analysis.denoising.pick_moving`), as in the paper's example of a pattern
    moving to the left.

    Returns rows of ``kind`` ``input`` and ``filter`` (``slot`` 0..tau, conditioning frames
    first, the observation last; ``label``; pixels), and ``stat`` rows (``name`` / ``value``):
    the columns of :class:`~interp.analysis.denoising.FilterExample`'s ``stats`` (the
    estimate's value at the pixel, each filter's sum, the PSNRs, the measured shift and the
    conditioning filters' offsets from the pixel).
    """

    name = first_model(models, "adaptive_filter_example")
    net = _load(name)
    if net.predict_only:
        raise InterpError(f"{name} is a prediction-only network; adaptive filters need a denoiser")
    tau = int(net.tau)
    frames, label = _test_clips(data)
    target = _check_target(frames, target, tau)
    index = pick_moving(frames, target, max(tau, 1), direction) if sequence == "auto" else int(sequence)
    if not 0 <= index < len(frames):
        raise InterpError(f"sequence must be 'auto' or a test-sequence index in 0..{len(frames) - 1}, got {sequence!r}")
    table = filter_figure_table(net, frames[index, target:target + 1], frames[index, target - tau:target], psnr,
                                seed, pixel)
    table["data"], table["sequence"], table["model"], table["tau"] = label, index, name, tau
    return table


def filter_figure_table(net, x, c, psnr: float = 16.0, seed: int = 0,
                        pixel: Sequence[int] | str = "center") -> "pd.DataFrame":
    """Fig. 7's table for any denoiser and clip: what :func:`interp.plotting.plot_adaptive_filters` draws.

    :func:`interp.analysis.denoising.filter_example` on one clip (``x`` [1, H, W] the clean
    next frame, ``c`` [tau, H, W] the past frames), laid out as rows of ``kind`` ``input`` and
    ``filter`` (``slot`` 0..tau, conditioning frames first, the observation last; ``label``;
    pixels) and ``stat`` rows (``name`` / ``value``, the columns of the example's ``stats``).
    """
    import pandas as pd

    x, c = _tensor(np.asarray(x)), _tensor(np.asarray(c))
    if x.ndim != 3 or c.ndim != 3:
        raise InterpError(f"one clip expected: x [1, H, W] and c [tau, H, W], got {tuple(x.shape)} and {tuple(c.shape)}")
    tau = c.shape[0]
    ex = filter_example(net, x, c, psnr, seed, pixel)
    inputs = np.concatenate([c.numpy(), ex.observation])
    labels = [f"t - {tau - 1 - k}" if k < tau - 1 else "t" for k in range(tau)] + [f"noisy t + 1 ({psnr:g} dB)"]
    parts = []
    for slot in range(tau + 1):
        parts.append(pd.DataFrame({"kind": "input", "slot": slot, "label": labels[slot], **_pixels(inputs[slot])}))
        parts.append(pd.DataFrame({"kind": "filter", "slot": slot, "label": labels[slot],
                                   **_pixels(ex.filters[slot])}))
    stats = ex.stats.drop(columns=["clip"]).iloc[0].to_dict()
    parts.append(pd.DataFrame([{"kind": "stat", "name": k, "value": v} for k, v in stats.items()]))
    return pd.concat(parts, ignore_index=True)


# --------------------------------------------------------------------------- Fig. 8


def evidence_weighting(models, psnrs: Sequence[float] = DEFAULT_EVIDENCE_PSNRS, seed: int = 0, n_noise: int = 4,
                       data: str | None = None) -> "pd.DataFrame":
    """The partition of eq. 7 across input noise levels for three probe sequences (Fig. 8).

    For each probe of :func:`interp.analysis.denoising.probe_sequences`, the first model's
    estimate of the last frame from its ``tau`` predecessors and a noisy observation is split
    into the observation's and the past's parts (:func:`interp.jacobian.evidence_partition`,
    ``n_noise`` draws per level), and the level where the observation's part starts to predict
    better than the past's is found (:func:`interp.jacobian.crossing_psnr`).

    Returns rows of ``kind`` ``curve`` (``probe``, ``psnr``, ``psnr_total``, ``psnr_c``,
    ``psnr_y``, the eq. 7 terms), ``frame`` (``probe``, ``slot``, pixels of its frames) and
    ``stat`` (``probe``, ``name`` = ``crossing_psnr``, ``value``; NaN when the curves do not
    cross in the range).
    """

    name = first_model(models, "evidence_weighting")
    net = _load(name)
    if net.predict_only or int(net.tau) < 1:
        raise InterpError(f"{name}: the evidence split needs a conditional denoiser (tau >= 1, not prediction-only)")
    tau = int(net.tau)
    frames, label = _test_clips(data)
    table = evidence_figure_table(net, probe_sequences(frames, tau + 1, seed), psnrs, seed, n_noise)
    table["data"], table["model"], table["tau"] = label, name, tau
    return table


def evidence_figure_table(net, probes: dict, psnrs: Sequence[float] = DEFAULT_EVIDENCE_PSNRS, seed: int = 0,
                          n_noise: int = 4) -> "pd.DataFrame":
    """Fig. 8's table for any denoiser and probes: what :func:`interp.plotting.plot_evidence_weighting` draws.

    ``probes`` maps a name onto ``(frames [tau + 1, H, W], description)`` (as
    :func:`interp.analysis.denoising.probe_sequences` returns them); each probe's last frame
    is estimated from the ones before it and split by
    :func:`interp.analysis.jacobian.evidence_partition`. Rows of ``kind`` ``curve``,
    ``frame`` and ``stat`` (``crossing_psnr``), as in :func:`evidence_weighting`.
    """
    import pandas as pd

    parts = []
    for k, (probe, (seq, what)) in enumerate(probes.items()):
        seq = np.asarray(seq)
        curve = evidence_partition(net, seq[-1:], seq[:-1], psnrs, seed=seed, n_noise=n_noise)
        curve = curve.drop(columns=["sequence"]).assign(kind="curve", probe=probe, probe_order=k, description=what)
        parts.append(curve)
        for slot in range(len(seq)):
            parts.append(pd.DataFrame({"kind": "frame", "probe": probe, "probe_order": k, "slot": slot,
                                       **_pixels(seq[slot])}))
        parts.append(pd.DataFrame([{"kind": "stat", "probe": probe, "probe_order": k, "name": "crossing_psnr",
                                    "value": crossing_psnr(curve)}]))
    return pd.concat(parts, ignore_index=True)


# --------------------------------------------------------------------------- Fig. 12


def natural_samples(models, sequence: int | str = "auto", n_samples: int = 6, seed: int = 0, target: int = 10,
                    max_iter: int = 1000, data: str | None = None) -> "pd.DataFrame":
    """Next-frame samples from several noise initialisations for a natural sequence (Fig. 12).

    Top row: the conditioning frames, the one-step estimate from pure noise (the blurry MMSE
    prediction) and the true next frame; bottom row: ``n_samples`` samples of Algorithm 2
    from different random starts (:func:`interp.analysis.denoising.next_frame_samples`).
    ``sequence = "auto"`` picks a test sequence with strong motion between its last two
    conditioning frames (:func:`~interp.analysis.denoising.pick_motion`). Returns the
    frame-grid layout of :func:`interp.plotting.plot_frame_grid`, with ``data``, ``sequence``,
    ``status`` (sampler status per sample) and ``psnr`` (of each estimate or sample against
    the true frame).
    """
    import pandas as pd

    name = first_model(models, "natural_samples")
    n_samples = check_int("n_samples", n_samples, 1)
    net = _load(name)
    if net.predict_only or int(net.tau) < 1:
        raise InterpError(f"{name}: sampling needs a conditional denoiser (tau >= 1, not prediction-only)")
    tau = int(net.tau)
    frames, label = _test_clips(data)
    target = _check_target(frames, target, tau)
    index = pick_motion(frames, target) if sequence == "auto" else int(sequence)
    if not 0 <= index < len(frames):
        raise InterpError(f"sequence must be 'auto' or a test-sequence index in 0..{len(frames) - 1}, got {sequence!r}")
    truth = frames[index, target]
    res = next_frame_samples(net, _tensor(frames[index, target - tau:target]), n_samples, seed,
                             x=_tensor(truth)[None], max_iter=max_iter)
    psnrs = res.table["psnr"].to_numpy()
    status = res.status
    panels = [(0, k, f"t - {tau - 1 - k}" if k < tau - 1 else "t", "conditioning", frames[index, target - tau + k],
               "", psnr(frames[index, target - tau + k], truth, dtype=np.float32)) for k in range(tau)]
    panels += [(0, tau, "one-step", "onestep", res.onestep, "", psnrs[0]),
               (0, tau + 1, "true t + 1", "truth", truth, "", float("nan"))]
    panels += [(1, k, f"sample {k + 1}" + ("" if status[k] == "converged" else f" ({status[k]})"),
                "sample", res.samples[k], str(status[k]), psnrs[1 + k]) for k in range(n_samples)]
    parts = [pd.DataFrame({"track": tr, "slot": sl, "label": lab, "role": role, **_pixels(img), "status": st,
                           "psnr": float(ps), "track_label": "inputs" if tr == 0 else "samples"})
             for tr, sl, lab, role, img, st, ps in panels]
    table = pd.concat(parts, ignore_index=True)
    table["data"], table["sequence"], table["model"], table["tau"] = label, index, name, tau
    return table
