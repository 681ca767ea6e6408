"""``python -m interp.entropy``: conditional entropy of the next frame from a checkpoint's denoising curve
(:mod:`interp.analysis.entropy`)."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from interp._util.errors import InterpError
from interp._util.io import atomic_write, sigterm_as_interrupt
from interp.analysis.entropy import LEVELS, SIGMA2_MAX, SIGMA2_MIN, EntropyEstimate, conditional_entropy, saving
from interp.cli.common import ArgumentParser, nonneg_int, open_unit_float, positive_int, run, seed_int
from interp.data.dataset import check_frame_size, load
from interp.nets import checkpoint
from interp.plotting.entropy import plot_entropy

if TYPE_CHECKING:  # pragma: no cover - typing only
    pass


PROG = "python -m interp.entropy"


def _positive_float(text: str) -> float:
    import argparse

    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {v:g}")
    return v


def _parser() -> ArgumentParser:
    p = ArgumentParser(prog=PROG, description=(
        "Estimate the conditional entropy of the next frame given the past (bits per pixel) from trained "
        "denoisers' MSE across noise levels (I-MMSE); with several checkpoints of different tau, the bits "
        "each extra past frame saves."))
    p.add_argument("--ckpt", required=True, nargs="+", type=Path, help="checkpoint(s) of trained denoisers")
    p.add_argument("--data", required=True, type=Path, help="a dataset .npz written by interp.data")
    p.add_argument("--out", required=True, type=Path, help="output folder (created if needed)")
    p.add_argument("--split", choices=("test", "train", "all"), default="test",
                   help="which clips of the dataset (default: the held-out test split)")
    p.add_argument("--clips", type=positive_int, default=None,
                   help="use this many clips, a seeded random subset (default: all of the split)")
    p.add_argument("--levels", type=positive_int, default=LEVELS, help=f"noise levels (default {LEVELS})")
    p.add_argument("--sigma2-min", type=_positive_float, default=SIGMA2_MIN,
                   help=f"smallest noise variance (default {SIGMA2_MIN:g})")
    p.add_argument("--sigma2-max", type=_positive_float, default=SIGMA2_MAX,
                   help=f"largest noise variance (default {SIGMA2_MAX:g})")
    p.add_argument("--repeats", type=positive_int, default=1, help="noise draws per clip and level (default 1)")
    p.add_argument("--boot", type=nonneg_int, default=1000, help="bootstrap resamples of the clips (default 1000)")
    p.add_argument("--ci", type=open_unit_float, default=0.95, help="coverage of the interval (default 0.95)")
    p.add_argument("--bit-depth", type=positive_int, default=8, help="quantisation of [0, 1] for the bits (default 8)")
    p.add_argument("--seed", type=seed_int, default=0, help="seed of the frames, noise and bootstrap (default 0)")
    p.add_argument("--batch-size", type=positive_int, default=256, help="clips per network call (default 256)")
    p.add_argument("--device", default="cpu", help="torch device for the networks (default cpu)")
    p.add_argument("--calibrate", action="store_true",
                   help="rescale each network's residual per noise level by a cross-fitted gain (a tighter upper bound)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv=None) -> int:
    """``python -m interp.entropy``: see the module docstring."""
    args = _parser().parse_args(argv)
    with sigterm_as_interrupt():  # SIGTERM, like Ctrl-C, leaves no partial output file
        return _main(args)


def _main(args) -> int:
    import pandas as pd

    if args.levels < 2:
        raise InterpError(f"--levels must be at least 2, got {args.levels}")
    if args.sigma2_min >= args.sigma2_max:
        raise InterpError(f"--sigma2-min ({args.sigma2_min:g}) must be below --sigma2-max ({args.sigma2_max:g})")
    if args.bit_depth > 32:
        raise InterpError(f"--bit-depth must be at most 32, got {args.bit_depth}")
    try:
        device = torch.device(args.device)
    except RuntimeError:
        raise InterpError(f"--device {args.device!r} is not a torch device (cpu, cuda, cuda:1, ...)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InterpError(f"--device {args.device}: CUDA is not available on this machine")
    names = [p.stem for p in args.ckpt]
    if len(set(names)) != len(names):
        raise InterpError(f"two checkpoints share a name: {', '.join(names)}")
    nets = []
    for path in args.ckpt:
        net = checkpoint.load(path)
        if net.predict_only:
            raise InterpError(f"{path} is a prediction-only network; the entropy needs a denoiser")
        nets.append(net)
    ds = load(args.data)
    if args.split != "all":
        if "test" not in ds.meta:
            raise InterpError(f"{args.data} has no train/test split (no 'test' metadata); use --split all")
        ds = ds.test if args.split == "test" else ds.train
    frames = ds.frames
    if len(frames) < 2:
        raise InterpError(f"the {args.split} split of {args.data} has {len(frames)} clip(s); at least 2 are needed")
    check_frame_size(frames, args.data)
    max_tau = max(int(n.tau) for n in nets)
    T = frames.shape[1]
    if T < max_tau + 1:
        raise InterpError(f"clips of {args.data} have {T} frames; tau={max_tau} needs at least {max_tau + 1}")
    rng = np.random.default_rng([args.seed, 2])
    if args.clips is not None and args.clips < len(frames):
        if args.clips < 2:
            raise InterpError("--clips must be at least 2 (the bootstrap resamples clips)")
        frames = frames[np.sort(rng.choice(len(frames), args.clips, replace=False))]
    targets = rng.integers(max_tau, T, size=len(frames))  # the same frames for every model: paired
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InterpError(f"cannot create output folder {args.out}: {err.strerror or err}") from None

    results = []
    order = sorted(range(len(nets)), key=lambda i: (int(nets[i].tau), i))
    for i in order:
        net = nets[i].to(device)
        if not args.quiet:
            print(f"{names[i]} (tau={net.tau}) on {len(frames)} clips", file=sys.stderr)
        est = conditional_entropy(
            net, frames, seed=args.seed, tau=int(net.tau), targets=targets, levels=args.levels,
            sigma2_min=args.sigma2_min, sigma2_max=args.sigma2_max, repeats=args.repeats, n_boot=args.boot,
            ci=args.ci, bit_depth=args.bit_depth, batch_size=args.batch_size, calibrate=args.calibrate,
            progress=not args.quiet)
        results.append((names[i], args.ckpt[i], est))
    curves, rows = [], []
    previous: dict[int, tuple[str, EntropyEstimate]] = {}
    for name, path, est in results:
        tau = int(est.summary["tau"].iloc[0])
        curves.append(est.curve.assign(model=name, tau=tau))
        row = {"model": name, "checkpoint": str(path), "data": str(args.data), "split": args.split,
               **est.summary.to_dict("records")[0], "saved_vs": "", "saved_bits": np.nan,
               "saved_ci_low": np.nan, "saved_ci_high": np.nan}
        smaller = [k for k in previous if k < tau]
        if smaller:
            ref_name, ref = previous[max(smaller)]
            row.update(saved_vs=ref_name, **saving(est, ref))
        previous.setdefault(tau, (name, est))
        rows.append(row)
    curve = pd.concat(curves, ignore_index=True)
    curve = curve[["model", "tau", *[c for c in curve.columns if c not in ("model", "tau")]]]
    summary = pd.DataFrame(rows)
    with atomic_write(args.out / "curve.csv", "w") as f:
        curve.to_csv(f, index=False, float_format="%.8g")
    with atomic_write(args.out / "summary.csv", "w") as f:
        summary.to_csv(f, index=False, float_format="%.8g")
    fig = plot_entropy(curve, summary)
    with atomic_write(args.out / "entropy.png") as f:
        fig.savefig(f, format="png", dpi=150)

    depth = args.bit_depth
    print(f"conditional entropy of the next frame, bits per pixel ({depth}-bit frames; "
          f"{100 * args.ci:g}% bootstrap interval over {len(frames)} clips):")
    for r in rows:
        saved = (f"  saves {r['saved_bits']:+.3f} [{r['saved_ci_low']:+.3f}, {r['saved_ci_high']:+.3f}] vs {r['saved_vs']}"
                 if r["saved_vs"] else "")
        print(f"  {r['model']} (tau={r['tau']}): {r['quantised_bits_per_pixel']:.3f} "
              f"[{r['quantised_ci_low']:.3f}, {r['quantised_ci_high']:.3f}]  "
              f"(tails {r['tail_low_bits']:+.2g} low, {r['tail_high_bits']:+.2g} high){saved}")
    print(f"wrote {args.out}: curve.csv, summary.csv, entropy.png")
    return 0


def entry() -> None:
    """Run the command (``python -m`` entry point): exit with :func:`run`'s code."""
    sys.exit(run(main, PROG))
