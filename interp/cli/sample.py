"""``python -m interp.sample``: next-frame samples from a checkpoint (Algorithm 2, :mod:`interp.analysis.sampler`)."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from interp._util.errors import InterpError
from interp._util.io import atomic_write, available_memory
from interp._util.labels import frame_label, frame_position
from interp.analysis.sampler import (
    BETA,
    H0,
    MAX_ITER,
    SHOW_FRAMES,
    SHOW_SEQUENCES,
    generate_recursive,
    grid_table,
    one_step,
    sample,
)
from interp.cli.common import ArgumentParser, nonneg_int, positive_int, run, seed_int, unit_float
from interp.data.dataset import check_frame_size, load
from interp.nets import checkpoint
from interp.plotting.outputs import plot_prediction
from interp.plotting.plots import plot_frame_grid

if TYPE_CHECKING:  # pragma: no cover - typing only
    pass


PROG = "python -m interp.sample"


def _parser() -> ArgumentParser:
    p = ArgumentParser(
        prog=PROG,
        description="Sample probable next frames of a clip with a trained denoiser (Algorithm 2).",
    )
    p.add_argument("--ckpt", required=True, type=Path, help="checkpoint of a trained denoiser")
    p.add_argument("--input", required=True, metavar="FILE.npz:INDEX",
                   help="a dataset written by interp.data and the position (from 0) of a sequence in it")
    p.add_argument("--frame", type=nonneg_int, default=None, metavar="T",
                   help="index (from 0) of the frame to predict; frames T-tau .. T-1 are the "
                        "conditioning (default: tau, i.e. the first tau frames)")
    p.add_argument("--n", type=positive_int, default=16, help="samples to draw (default 16)")
    p.add_argument("--seed", type=seed_int, default=0, help="sampler seed (default 0)")
    p.add_argument("--out", required=True, type=Path, help="output folder (created if needed)")
    p.add_argument("--recursive", type=positive_int, default=None, metavar="K",
                   help="also generate K frames recursively, one-step and sampled (Fig. 5)")
    p.add_argument("--beta", type=unit_float, default=BETA, help=f"injected noise proportion (default {BETA})")
    p.add_argument("--h0", type=float, default=H0, help=f"step-size schedule (default {H0})")
    p.add_argument("--max-iter", type=positive_int, default=MAX_ITER,
                   help=f"iteration limit per chain (default {MAX_ITER})")
    p.add_argument("--batch-size", type=positive_int, default=256, help="chains per denoiser call (default 256)")
    return p


def read_input(spec: str):
    """``FILE.npz:INDEX`` -> (frames [T, H, W] float32, path, index)."""
    path, sep, index = spec.rpartition(":")
    if not sep or not path:
        raise InterpError(f"--input must be FILE.npz:INDEX, got {spec!r}")
    try:
        i = int(index)
    except ValueError:
        raise InterpError(f"--input {spec!r}: the index {index!r} is not an integer") from None
    ds = load(path)
    if not 0 <= i < len(ds):
        raise InterpError(f"--input {spec!r}: index {i} is out of range "
                          f"(the file has {len(ds)} sequences, 0 .. {len(ds) - 1})")
    return ds.frames[i], Path(path), i


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_write(path) as f:
        np.save(f, array)


#: The most samples ``python -m interp.sample`` draws in samples.png (all of them go to samples.npy):
#: 10^4 panels made a figure 10^6 pixels wide that peaked at 4.5 GB.
SHOW_SAMPLES = 64


# floats alive per pixel and per channel of the width, per item of a network call in eval mode
# (the U-net's feature maps with their skip copies; measured 8 to 13 at widths 16 and 4)
_INFER_FLOATS = 13


def _check_memory(args, net, tau: int, size: tuple[int, int]) -> None:
    """``out of memory (...)`` before sampling when the chains, their network calls and the
    outputs need more than this machine has (checked before anything is allocated)."""
    h, w = size
    frame = h * w * 4
    calls = min(args.n, args.batch_size) * _INFER_FLOATS * max(1, int(getattr(net, "width", 1))) * frame
    chains = args.n * frame * 8  # y, its noise block, residual, estimate, sample, last y, copies
    k = args.recursive or 0
    recursive = (args.n + 1) * (tau + k) * frame * 2 if k else 0
    history = args.n * args.max_iter * 8 * (1 + k)  # sigma_k of every chain, per generated frame (SampleInfo)
    need = calls + chains + recursive + history
    have = available_memory()
    if have is not None and need > have:
        what = f"--n {args.n}" + (f" and --recursive {k}" if k else "") + f" at batch size {args.batch_size}"
        raise InterpError(f"out of memory ({what} on {h}x{w} frames with a width-{getattr(net, 'width', '?')} "
                          f"network need about {need / 2**30:.1f} GiB; {have / 2**30:.1f} GiB are available)")


def _save_png(path: Path, table) -> None:
    fig = plot_frame_grid(table)
    with atomic_write(path) as f:
        fig.savefig(f, format="png", dpi=150)


def _save_prediction(path: Path, cond: np.ndarray, samples: np.ndarray, truth: np.ndarray | None, t: int,
                     title: str) -> list[float] | None:
    """prediction.png: conditioning frames, the true frame ``t`` when known, the samples with their
    PSNR against it; returns the PSNRs (None without a true frame)."""
    from interp._util.metrics import psnr_from_mse

    psnr = None
    if truth is not None:
        with np.errstate(invalid="ignore"):
            mse = ((samples.astype(np.float64) - truth.astype(np.float64)[None]) ** 2).mean(axis=(1, 2))
        psnr = [float(v) for v in psnr_from_mse(mse)]
    tau = len(cond)
    labels = [frame_position(t - tau + j, t - 1) for j in range(tau)]
    fig = plot_prediction(cond, samples, truth=truth, psnr=psnr, cond_labels=labels,
                          truth_label=f"true {frame_position(t, t - 1)}", title=title)
    with atomic_write(path) as f:
        fig.savefig(f, format="png", dpi=150)
    return psnr


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if not (math.isfinite(args.h0) and 0 < args.h0 <= 1):
        raise InterpError(f"--h0 must be in (0, 1], got {args.h0:g}")
    clip, data_path, index = read_input(args.input)

    net = checkpoint.load(args.ckpt)
    if net.predict_only:
        raise InterpError(f"{args.ckpt} is a prediction-only network; sampling needs a denoiser")
    tau = net.tau
    T, H, W = clip.shape
    if T < tau:
        raise InterpError(f"tau mismatch: {args.ckpt} needs tau={tau} conditioning frames, "
                          f"sequence {index} of {data_path} has only {T}")
    t = tau if args.frame is None else args.frame
    if t < tau:
        raise InterpError(f"--frame {t}: tau={tau} conditioning frames must come before it (use --frame >= {tau})")
    if t > T:
        raise InterpError(f"--frame {t} is beyond the sequence's {T} frames (largest: {T})")

    check_frame_size(clip, f"sequence {index} of {data_path}")
    _check_memory(args, net, tau, (H, W))
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InterpError(f"cannot create output folder {args.out}: {err.strerror or err}") from None

    cond = torch.from_numpy(np.ascontiguousarray(clip[t - tau:t]))
    opts = dict(beta=args.beta, h0=args.h0, max_iter=args.max_iter, batch_size=args.batch_size)
    samples, info = sample(net, cond, args.n, seed=args.seed, return_info=True, warn=False, **opts)
    est = one_step(net, cond, 1, seed=args.seed, batch_size=args.batch_size)
    out = args.out
    _save_npy(out / "samples.npy", samples.numpy())
    _save_npy(out / "onestep.npy", est.numpy())
    _save_npy(out / "conditioning.npy", cond.numpy())
    table = info.table()

    with atomic_write(out / "chains.csv", "w") as f:
        table.to_csv(f, index=False, float_format="%.6g")
    panels = [(frame_label(j - tau + 1), "conditioning", cond[j].numpy()) for j in range(tau)]
    panels.append(("one-step", "onestep", est[0, 0].numpy()))
    shown = min(args.n, SHOW_SAMPLES)
    panels += [(f"sample {j + 1}", "sample", samples[j, 0].numpy()) for j in range(shown)]
    name = f"sequence {index}, {frame_position(t, t - 1)}" + (f" (first {shown} of {args.n} samples)" if shown < args.n else "")
    _save_png(out / "samples.png", grid_table([(name, panels)]))
    truth = np.asarray(clip[t]) if t < T else None
    pred_title = (f"sequence {index} of {data_path.name}: {frame_position(t - tau, t - 1)} .. "
                  f"{frame_position(t - 1, t - 1)} condition {frame_position(t, t - 1)}"
                  + ("" if truth is not None else " (not in the sequence: no true frame)")
                  + (f"; first {shown} of {args.n} samples" if shown < args.n else ""))
    psnr = _save_prediction(out / "prediction.png", cond.numpy(), samples[:shown, 0].numpy(), truth, t, pred_title)
    written = ["samples.npy", "onestep.npy", "conditioning.npy", "chains.csv", "samples.png", "prediction.png"]
    print(f"{info.summary()}")
    if psnr is not None:
        finite = [v for v in psnr if math.isfinite(v)]
        if finite:
            print(f"sample PSNR against the true {frame_position(t, t - 1)}: mean {sum(finite) / len(finite):.2f} dB "
                  f"(min {min(finite):.2f}, max {max(finite):.2f}; shown samples)")
    if shown < args.n:
        print(f"samples.png shows the first {shown} of the {args.n} samples (all are in samples.npy)")

    if args.recursive:
        K = args.recursive
        rec_s, infos = generate_recursive(net, cond, K, "sample", args.seed, n=args.n, return_info=True,
                                          warn=False, **opts)
        rec_o = generate_recursive(net, cond, K, "onestep", args.seed, n=1, batch_size=args.batch_size)
        _save_npy(out / "recursive_samples.npy", rec_s.numpy())
        _save_npy(out / "recursive_onestep.npy", rec_o.numpy())
        import pandas as pd

        rec_table = pd.concat(
            [inf.table().assign(frame=t + j) for j, inf in enumerate(infos)], ignore_index=True)
        with atomic_write(out / "recursive_chains.csv", "w") as f:
            rec_table.to_csv(f, index=False, float_format="%.6g")

        frames_shown, seqs_shown = min(K, SHOW_FRAMES), min(args.n, SHOW_SEQUENCES)

        def row(seq: torch.Tensor, role: str):
            return [(frame_label(j - tau + 1), "conditioning" if j < tau else role, seq[j].numpy())
                    for j in range(tau + frames_shown)]

        grid = [("one-step", row(rec_o[0], "onestep"))]
        grid += [(f"sample {i + 1}", row(rec_s[i], "sample")) for i in range(seqs_shown)]
        _save_png(out / "recursive.png", grid_table(grid))
        written += ["recursive_samples.npy", "recursive_onestep.npy", "recursive_chains.csv", "recursive.png"]
        failed = int((rec_table["status"] != "converged").sum())
        note = f", {failed} chain(s) failed or skipped" if failed else ""
        print(f"recursive: {K} frames x {args.n} sequences{note}")
        if frames_shown < K or seqs_shown < args.n:
            print(f"recursive.png shows the first {frames_shown} frames of the first {seqs_shown} sequences "
                  f"(all are in recursive_samples.npy)")
    print(f"wrote {out}: {', '.join(written)}")
    return 0


def entry() -> None:
    """Run the command (``python -m`` entry point): exit with :func:`run`'s code."""
    sys.exit(run(main, PROG))
