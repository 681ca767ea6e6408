"""The conditional-entropy figure (beyond the paper): an analysis named in :mod:`interp.figures.registry`.

A thin adapter over :mod:`interp.analysis.entropy`: it picks the test clips and the models,
calls :func:`~interp.analysis.entropy.conditional_entropy` and
:func:`~interp.analysis.entropy.uncertainty_map`, and lays their results out as one tidy table
for :func:`interp.plotting.plot_entropy`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from interp._util.checks import check_int
from interp._util.errors import InterpError
from interp._util.labels import conditioning_labels, frame_label
from interp.analysis.entropy import conditional_entropy, saving, uncertainty_map
from interp.data.dataset import check_frame_size, load
from interp.data.leaves import generate
from interp.data.natural import REPO_ROOT, natural_video_test_set
from interp.figures.cache import _cache_inputs
from interp.figures.manifest import model_files
from interp.figures.models import load_model
from interp.training.cards import read_card

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd

__all__ = ["entropy_and_uncertainty"]

DAVIS_VIDEOS: tuple[str, ...] = ()  # every test video: the fixed held-out natural clips


@_cache_inputs("entropy_and_uncertainty")
def _inputs(spec) -> list:
    """The data file the analysis reads (its fingerprint joins the figure's cache key)."""
    data = spec.params.get("data")
    if not data:
        return []
    return [Path(data) if Path(data).is_absolute() else REPO_ROOT / data]


def _natural_clips(data: str | None, videos: Sequence[str]) -> tuple[np.ndarray, str]:
    """(frames [N, T, H, W], label): the test split of ``data`` restricted to ``videos`` (all when
    empty); when ``data`` is not there, the figures' natural-video test set."""
    path = None if data is None else Path(data)
    if path is not None and not path.is_absolute():
        path = REPO_ROOT / path
    if path is None or not path.is_file():
        ds, label = natural_video_test_set()
        return ds.frames, label
    ds = load(path)
    if "test" not in ds.meta:
        raise InterpError(f"{data} has no train/test split (no 'test' metadata)")
    ds = ds.test
    label = f"{path.name} test split"
    if videos:
        if "video" not in ds.meta:
            raise InterpError(f"{data} names no videos (no 'video' metadata); give videos = []")
        keep = np.isin(ds.meta["video"].astype(str), list(videos))
        if not keep.any():
            raise InterpError(f"none of the videos {', '.join(videos)} is in the test split of {data}")
        ds = ds[np.flatnonzero(keep)]
        label += f" ({', '.join(v.split('/')[-1] for v in videos)})"
    elif "video" in ds.meta:
        label += f" ({len(set(ds.meta['video'].astype(str)))} held-out videos)"
    check_frame_size(ds.frames, data)
    return ds.frames, label


def _leaves_clips(card, n: int, cache: dict) -> tuple[np.ndarray, np.ndarray, str]:
    """(frames, p_larger_front, variant): the first ``n`` test-split sequences of a moving-leaves
    card's own data set (cached in ``cache`` by data set)."""
    key = (int(card.data.get("n", 100_000)), int(card.data.get("seed", 0)), card.data.get("variant", "default"))
    if key not in cache:
        n_data, seed, variant = key
        frames, p, lo = [], [], 0
        while sum(len(f) for f in frames) < n and lo < n_data:
            ds = generate(min(1000, n_data - lo), seed, variant, start=lo)
            frames.append(ds.frames[ds.meta["test"]])
            p.append(ds.meta["p_larger_front"][ds.meta["test"]])
            lo += 1000
        frames, p = np.concatenate(frames)[:n], np.concatenate(p)[:n]
        if len(frames) < 2:
            raise InterpError(f"{card.path}: its data set has fewer than 2 test sequences")
        cache[key] = (frames, p, variant)
    return cache[key]


def _binary_entropy_bits(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-12, 1 - 1e-12)
    return -(p * np.log2(p) + (1 - p) * np.log2(1 - p))


def _prediction_bound(net, frames: np.ndarray, targets: np.ndarray, seed: int, n_boot: int, ci: float):
    """Bits per pixel of 1/2 log2(2 pi e m), m the prediction-only network's per-pixel MSE, with a
    bootstrap interval over clips: an upper bound on h(x_{t+1} | past) for any predictor (the
    Gaussian of the same error power has the largest entropy)."""
    import torch

    tau = int(net.tau)
    rows = np.arange(len(frames))
    x = torch.from_numpy(frames[rows, targets])[:, None]
    c = torch.from_numpy(np.stack([frames[rows, targets - tau + k] for k in range(tau)], 1))
    with torch.no_grad():
        est = torch.cat([net(c[lo:lo + 256]) for lo in range(0, len(c), 256)])
    e = (est.double() - x.double()).pow(2).flatten(1).mean(1).numpy()
    bits = lambda m: 0.5 * np.log2(2 * math.pi * math.e * m)
    rng = np.random.default_rng([seed, 3])
    draws = bits(e[rng.integers(0, len(e), size=(n_boot, len(e)))].mean(1)) if n_boot else np.zeros(0)
    a = (1 - ci) / 2
    lo, hi = np.quantile(draws, [a, 1 - a]) if n_boot else (np.nan, np.nan)
    return float(bits(e.mean())), float(lo), float(hi), float(e.mean())


def entropy_and_uncertainty(models, data: str | None = "data/davis32-footage.npz", videos: Sequence[str] = DAVIS_VIDEOS,
                            clips: int = 256, leaves_clips: int = 128, levels: int = 22, n_boot: int = 500,
                            seed: int = 0, n_samples: int = 32, shown_samples: int = 4,
                            occlusion_model: str = "leaves-tau2", natural_model: str = "davis32-tau2",
                            target: int = 10, max_iter: int = 1000) -> "pd.DataFrame":
    """Conditional entropy of the next frame against tau, and per-pixel uncertainty maps.

    Natural video: every natural-video model of ``models`` (``[data]`` not ``leaves``) on the same
    ``clips`` test clips of ``data`` (restricted to ``videos``; the figures' natural test set when
    the file is absent), each with one target frame drawn per clip in [max tau, T - 1], the same
    for every model (paired: the bits each extra past frame saves get their own interval). A
    prediction-only model gives the Gaussian bound 1/2 log2(2 pi e MSE) instead. Moving leaves:
    every leaves model on ``leaves_clips`` test sequences of its own card's data set; for the
    ``stochastic`` variant also the randomness of its occlusion rule, the mean binary entropy of
    "larger disk in front" per sequence spread over the frame's pixels (the most it can add to
    one frame). All estimates by :func:`interp.analysis.entropy.conditional_entropy` with
    ``levels`` noise levels on [1e-5, 1e2] and ``n_boot`` bootstrap resamples (95% intervals).

    Maps: :func:`interp.analysis.entropy.uncertainty_map` (``n_samples`` samples, ``seed``) for the
    ambiguous occlusion probe (equal radii, :class:`interp.psychometrics.Probe`) under
    ``occlusion_model``, and for the natural clip with the most motion (90th percentile) into
    frame ``target`` under ``natural_model``.

    Returns one table: ``kind`` ``entropy`` rows (``family``, ``model``, ``tau``, ``estimate``:
    ``denoiser``, ``prediction bound`` or ``rule``; ``bits`` and ``ci_low`` / ``ci_high`` in
    differential bits per pixel, ``bits_8bit`` = bits + log2(255), tails, ``saved_*``,
    ``clips``, ``levels``, ``data``), ``map`` rows (``probe``, ``panel``, ``slot``, ``label``,
    ``row``, ``col``, ``value``) and ``stat`` rows (``name``, ``value``) for the gallery.
    """
    import pandas as pd
    import torch

    from interp.analysis.psychometrics import Probe
    from interp.figures import adapters

    clips = check_int("clips", clips, 2)
    leaves_clips = check_int("leaves_clips", leaves_clips, 2)
    n_samples = check_int("n_samples", n_samples, 2)
    shown_samples = min(check_int("shown_samples", shown_samples, 0), n_samples)
    seed = check_int("seed", seed, 0)
    models = list(models)
    for name in (occlusion_model, natural_model):
        if name not in models:
            raise InterpError(f"map model {name!r} is not among the figure's models ({', '.join(models)})")
    progress = adapters.PROGRESS_BARS
    cards = {name: read_card(model_files(name)[0]) for name in models}
    nets = {name: load_model(name).eval().float() for name in models}
    natural = [m for m in models if cards[m].data.get("source") != "leaves"]
    leaves = [m for m in models if cards[m].data.get("source") == "leaves"]
    ci = 0.95
    shift = math.log2(255)
    rows: list[dict] = []

    def entropy_row(family, name, est, label, **extra):
        s = est.summary.iloc[0]
        return {"kind": "entropy", "family": family, "model": name, "tau": int(s["tau"]), "estimate": "denoiser",
                "bits": s["h_bits_per_pixel"], "ci_low": s["h_bits_ci_low"], "ci_high": s["h_bits_ci_high"],
                "bits_8bit": s["h_bits_per_pixel"] + shift, "tail_low_bits": s["tail_low_bits"],
                "tail_high_bits": s["tail_high_bits"], "gaussian_bits": s["gaussian_bits_per_pixel"],
                "clips": int(s["clips"]), "levels": int(s["levels"]), "data": label, **extra}

    # ---- natural video: entropy against tau, paired on the same target frames
    frames, label = _natural_clips(data, videos)
    rng = np.random.default_rng([seed, 7])
    if clips < len(frames):
        frames = frames[np.sort(rng.choice(len(frames), clips, replace=False))]
    max_tau = max([int(nets[m].tau) for m in natural], default=0)
    T = frames.shape[1]
    if T < max_tau + 1:
        raise InterpError(f"natural clips of {T} frames are too short for tau = {max_tau}")
    targets = rng.integers(max_tau, T, size=len(frames))
    estimates = {}
    for name in sorted((m for m in natural if not nets[m].predict_only), key=lambda m: int(nets[m].tau)):
        est = conditional_entropy(nets[name], frames, seed=seed, targets=targets, levels=levels, n_boot=n_boot,
                                  ci=ci, progress=progress)
        tau = int(nets[name].tau)
        extra = {}
        if estimates:
            prev_name, prev = estimates[max(estimates)]
            extra = {"saved_vs": prev_name, **saving(est, prev)}
        estimates[tau] = (name, est)
        rows.append(entropy_row("natural", name, est, label, **extra))
    for name in (m for m in natural if nets[m].predict_only):
        b, lo, hi, mse = _prediction_bound(nets[name], frames, targets, seed, n_boot, ci)
        rows.append({"kind": "entropy", "family": "natural", "model": name, "tau": int(nets[name].tau),
                     "estimate": "prediction bound", "bits": b, "ci_low": lo, "ci_high": hi, "bits_8bit": b + shift,
                     "gaussian_bits": b, "clips": len(frames), "levels": 0, "data": label, "prediction_mse": mse})

    # ---- moving leaves: each model on its own data set's test split
    cache: dict = {}
    for name in leaves:
        lf, p, variant = _leaves_clips(cards[name], leaves_clips, cache)
        tau = int(nets[name].tau)
        lt = np.random.default_rng([seed, 8]).integers(tau, lf.shape[1], size=len(lf))
        est = conditional_entropy(nets[name], lf, seed=seed, targets=lt, levels=levels, n_boot=n_boot, ci=ci,
                                  progress=progress)
        llabel = f"moving leaves ({variant}) test split"
        rows.append(entropy_row("leaves", name, est, llabel, variant=variant))
        if variant == "stochastic" and not any(r.get("estimate") == "rule" for r in rows):
            rule = float(_binary_entropy_bits(p).mean()) / (lf.shape[-2] * lf.shape[-1])
            rows.append({"kind": "entropy", "family": "leaves", "model": "occlusion rule", "tau": tau,
                         "estimate": "rule", "bits": rule, "ci_low": np.nan, "ci_high": np.nan,
                         "clips": len(lf), "levels": 0, "data": llabel, "variant": variant})

    # ---- uncertainty maps
    maps = []
    occ = nets[occlusion_model]
    probe = Probe(radius_left=7.0, radius_right=7.0, tau=int(occ.tau))
    nat = nets[natural_model]
    ntau = int(nat.tau)
    if not ntau <= target < T:
        raise InterpError(f"target must be a frame index in {ntau} .. {T - 1}, got {target}")
    motion = np.abs(frames[:, target - 1] - frames[:, target - 2]).mean(axis=(1, 2)) if ntau >= 2 else \
        np.abs(frames[:, target] - frames[:, target - 1]).mean(axis=(1, 2))
    index = int(np.argsort(motion)[int(0.9 * (len(motion) - 1))])
    cases = [("occlusion probe", occlusion_model, occ, probe.conditioning(), None),
             ("natural clip", natural_model, nat, frames[index, target - ntau:target], frames[index, target])]
    for probe_name, name, net, c, truth in cases:
        um = uncertainty_map(net, torch.from_numpy(np.ascontiguousarray(c)), n_samples, seed=seed,
                             max_iter=max_iter)
        panels = [("conditioning", k, lab, c[k]) for k, lab in enumerate(conditioning_labels(len(c)))]
        panels.append(("onestep", 0, "one-step", um.onestep))
        ok = np.flatnonzero(np.isfinite(um.samples).all(axis=(1, 2)))
        panels += [("sample", k, f"sample {k + 1}", um.samples[i]) for k, i in enumerate(ok[:shown_samples])]
        if truth is not None:
            panels.append(("truth", 0, f"true {frame_label(1)}", truth))
        panels.append(("std", 0, f"std of {int(um.converged)} samples", um.std))
        h, w = um.std.shape
        rr, cc = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        for panel, slot, lab, img in panels:
            maps.append(pd.DataFrame({"kind": "map", "probe": probe_name, "model": name, "panel": panel, "slot": slot,
                                      "label": lab, "row": rr.ravel(), "col": cc.ravel(),
                                      "value": np.asarray(img, dtype=float).ravel(),
                                      "data": label if truth is not None else "ambiguous occlusion probe (equal radii)"}))
        rows.append({"kind": "stat", "probe": probe_name,
                     "name": f"mean per-pixel std of {int(um.converged)} samples ({name})",
                     "value": f"{np.nanmean(um.std):.3g} (max {np.nanmax(um.std):.3g})"})

    # ---- key numbers for the gallery (at most 12: the gallery shows no more)
    table = pd.DataFrame(rows)
    ent = table[table["kind"] == "entropy"]

    def interval(r, off=0.0, fmt=".3f"):
        return f"{r['bits'] + off:{fmt}} [{r['ci_low'] + off:{fmt}}, {r['ci_high'] + off:{fmt}}]"

    stats = []
    for _, r in ent[ent["family"] == "natural"].iterrows():
        what = "prediction-only bound" if r["estimate"] == "prediction bound" else f"tau={int(r['tau'])}"
        stats.append((f"{r['model']} ({what}), bits/px of 8-bit frames", interval(r, shift)))
    if "saved_vs" in ent:
        first = ent[ent["saved_vs"].notna()].head(1)
        for _, r in first.iterrows():
            stats.append((f"bits/px saved by {r['model']} over {r['saved_vs']}",
                          f"{r['saved_bits']:+.3f} [{r['saved_ci_low']:+.3f}, {r['saved_ci_high']:+.3f}]"))
    lv = ent[(ent["family"] == "leaves") & (ent["estimate"] == "denoiser")]
    if len(lv):
        lo, hi = lv.loc[lv["bits"].idxmin()], lv.loc[lv["bits"].idxmax()]
        stats.append((f"moving leaves, {len(lv)} models: lowest ({lo['model']}), differential bits/px", interval(lo)))
        stats.append((f"moving leaves: highest ({hi['model']}), differential bits/px", interval(hi)))
    for _, r in ent[ent["estimate"] == "rule"].iterrows():
        stats.append(("randomness of the stochastic occlusion rule, at most (bits/px)", f"{r['bits']:.2g}"))
    stat_rows = pd.DataFrame([{"kind": "stat", "name": k, "value": v, "probe": ""} for k, v in stats])
    stat_rows["data"] = label  # the natural test data, named in the first row as the other figures do
    table.loc[table["kind"] == "stat", "data"] = label
    return pd.concat([stat_rows, table[table["kind"] == "stat"], ent, *maps], ignore_index=True)
