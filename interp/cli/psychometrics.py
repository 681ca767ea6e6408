"""``python -m interp.psychometrics``: occlusion sweeps of a checkpoint and their logistic fits
(:mod:`interp.analysis.psychometrics`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from interp._util.errors import InterpError
from interp._util.io import atomic_write
from interp.analysis.psychometrics import (
    DEFAULT_DIFFERENCES,
    INVALID_REASONS,
    MAX_BOOT,
    MAX_CHAINS,
    decision_targets,
    ideal_sweep,
    probe_grid,
    run_sweep,
    summarize,
)
from interp.cli.common import ArgumentParser, nonneg_int, positive_int, run, seed_int
from interp.nets import checkpoint

if TYPE_CHECKING:  # pragma: no cover - typing only
    pass


PROG = "python -m interp.psychometrics"


def _boot_count(text: str) -> int:
    """argparse type: a number of bootstrap resamples, an integer in [0, :data:`MAX_BOOT`]."""
    import argparse

    n = nonneg_int(text)
    if n > MAX_BOOT:
        raise argparse.ArgumentTypeError(f"expected at most {MAX_BOOT} resamples, got {n}")
    return n


def _parser() -> ArgumentParser:
    p = ArgumentParser(
        prog=PROG,
        description="Occlusion decisions of a trained moving-leaves denoiser: sample probe sequences, "
                    "classify which disk is in front, fit a logistic psychometric curve.",
    )
    p.add_argument("--ckpt", required=True, type=Path, help="checkpoint of a trained denoiser (tau >= 1)")
    p.add_argument("--out", required=True, type=Path, help="output folder (created if needed)")
    p.add_argument("--differences", type=float, nargs="+", default=list(DEFAULT_DIFFERENCES), metavar="DR",
                   help="radius differences right - left, in pixels (default: -4 .. 4)")
    p.add_argument("--mean-radius", type=float, default=7.0, help="mean of the two radii (default 7 px)")
    p.add_argument("--configs", type=positive_int, default=1,
                   help="scenes per difference: 1 = the canonical probe, more draw luminances, "
                        "direction and position from the seed (default 1)")
    p.add_argument("--n", type=positive_int, default=64, help="samples per probe (default 64, as in the paper)")
    p.add_argument("--seed", type=seed_int, default=0, help="seed of the scenes and the sampler (default 0)")
    p.add_argument("--truth", choices=("deterministic", "stochastic", "none"), default="deterministic",
                   help="occlusion rule to compare the frequencies with (default: deterministic)")
    p.add_argument("--boot", type=_boot_count, default=1000,
                   help=f"bootstrap resamples, 0 to {MAX_BOOT} (default 1000)")
    p.add_argument("--batch-size", type=positive_int, default=256, help="chains per network call (default 256)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


#: Samples shown per condition in examples.png.
EXAMPLES_PER_CONDITION = 4


def _save_figures(out: Path, summary: dict, sweep, probes, per_scene: int) -> None:
    """psychometric.png (choice frequency vs radius difference with the logistic fit) and
    examples.png (the first samples of each probe of the first scene, one row per radius
    difference, with their classification)."""
    import numpy as np

    from interp.plotting import plot_occlusion_examples, plot_psychometric, psychometric_table

    fig = plot_psychometric(psychometric_table(summary, sweep.onestep))
    with atomic_write(out / "psychometric.png") as f:
        fig.savefig(f, format="png", dpi=150)
    cond = np.stack([p.conditioning() for p in probes[:per_scene]])
    table = sweep.samples[sweep.samples["probe"] < per_scene]
    fig = plot_occlusion_examples(cond, sweep.frames[:per_scene], table, per_condition=EXAMPLES_PER_CONDITION)
    with atomic_write(out / "examples.png") as f:
        fig.savefig(f, format="png", dpi=120)


def main(argv=None) -> int:
    args = _parser().parse_args(argv)

    net = checkpoint.load(args.ckpt)
    if net.predict_only:
        raise InterpError(f"{args.ckpt} is a prediction-only network; sampling needs a denoiser")
    if net.tau < 1:
        raise InterpError(f"{args.ckpt} is unconditional (tau=0); occlusion probes need conditioning frames")
    chains = args.configs * len(args.differences) * args.n
    if chains > MAX_CHAINS:
        raise InterpError(f"--configs {args.configs} x {len(args.differences)} differences x --n {args.n} = "
                          f"{chains} sampling chains; at most {MAX_CHAINS} per run")
    try:
        probes = probe_grid(args.differences, mean_radius=args.mean_radius, configs=args.configs,
                            seed=args.seed, tau=int(net.tau))
    except ValueError as err:
        raise InterpError(f"cannot build the probes: {err}") from None
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InterpError(f"cannot create output folder {args.out}: {err.strerror or err}") from None
    scenes = [i // len(args.differences) for i in range(len(probes))]
    sweep = run_sweep(net, probes, args.n, args.seed, batch_size=args.batch_size, progress=not args.quiet,
                      scenes=scenes, keep_frames=True)
    truth = None if args.truth == "none" else args.truth
    summary = {"checkpoint": str(args.ckpt), "n_per_probe": args.n, "seed": args.seed,
               **summarize(sweep, truth, args.boot, args.seed)}
    ideal = ideal_sweep(probes, args.n, args.seed, rule=truth or "deterministic", scenes=scenes)
    summary["ideal"] = {"invalid_rate": float(1.0 - ideal["valid"].mean()),
                        "invalid_reasons": {r: int((ideal["reason"] == r).sum()) for r in INVALID_REASONS},
                        "targets": decision_targets(ideal)}
    with atomic_write(args.out / "samples.csv", "w") as f:
        sweep.samples.to_csv(f, index=False, float_format="%.6g")
    with atomic_write(args.out / "onestep.csv", "w") as f:
        sweep.onestep.to_csv(f, index=False, float_format="%.6g")
    with atomic_write(args.out / "fit.json", "w") as f:
        json.dump(summary, f, indent=2, default=float)
        f.write("\n")

    _save_figures(args.out, summary, sweep, probes, len(args.differences))

    fit = summary["logistic"]
    print(f"{len(probes)} probes x {args.n} samples; invalid {100 * summary['invalid_rate']:.1f}%")
    print(" dr    valid  P(right in front)  95% CI")
    for c in summary["conditions"]:
        fr = c["freq_right"]
        print(f"{c['dr']:+5.1f}  {c['n_valid']:5d}  {fr:6.3f}            [{c['ci_low']:.3f}, {c['ci_high']:.3f}]")
    print(f"logistic slope {fit['slope']:.3g} /px [{fit['slope_ci'][0]:.3g}, {fit['slope_ci'][1]:.3g}], "
          f"PSE {fit['pse']:+.3f} px [{fit['pse_ci'][0]:+.3f}, {fit['pse_ci'][1]:+.3f}]")
    print(f"one-step estimate: mean blend {summary['onestep_blend_mean']:.3f} (0 = a choice, 1 = an even mix)")
    t = summary["targets"]
    print(f"equal radii: right in front {t['equal_right']['freq']:.3f} of {t['equal_right']['n']} valid; "
          f"|dr| >= 2 px: larger in front {t['larger_front']['freq']:.3f} of {t['larger_front']['n']} valid")
    print(f"a perfect sampler of the training data (same probes, same classifier): invalid "
          f"{100 * summary['ideal']['invalid_rate']:.1f}%")
    if truth:
        cal = summary["calibration"]
        print(f"calibration error vs the {truth} rule: {cal['error']:.3f} "
              f"[{cal['error_ci'][0]:.3f}, {cal['error_ci'][1]:.3f}]")
    print(f"wrote {args.out}: samples.csv, onestep.csv, fit.json, psychometric.png, examples.png")
    return 0


def entry() -> None:
    """Run the command (``python -m`` entry point): exit with :func:`run`'s code."""
    sys.exit(run(main, PROG))
