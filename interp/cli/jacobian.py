"""``python -m interp.jacobian``: adaptive filters of a checkpoint at chosen pixels (:mod:`interp.analysis.jacobian`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from interp._util.errors import InterpError
from interp._util.io import atomic_write
from interp._util.labels import frame_position
from interp._util.metrics import psnr_from_mse
from interp.analysis.jacobian import filter_and_output, psnr_to_sigma
from interp.cli.common import ArgumentParser, nonneg_int, positive_int, run, seed_int
from interp.cli.sample import read_input
from interp.data.dataset import check_frame_size
from interp.data.leaves import generate
from interp.nets import checkpoint

if TYPE_CHECKING:  # pragma: no cover - typing only
    pass


PROG = "python -m interp.jacobian"


#: Observation noise of the CLI, as in Fig. 7 (about 16 dB).
DEFAULT_CLI_PSNR = 16.0


#: The CLI's example when no --input is given: sequence 0 of the test split of the first
#: DEFAULT_EXAMPLE_N moving-leaves sequences of seed DEFAULT_EXAMPLE_SEED (one test sequence
#: in each block of ten, so exactly one here).
DEFAULT_EXAMPLE_N = 10


DEFAULT_EXAMPLE_SEED = 0


DEFAULT_OUT = Path("jacobian-out")


def _pixel_arg(text: str):
    """argparse type: ``center`` or ``ROW,COL`` (non-negative integers)."""
    t = text.strip().lower()
    if t in ("center", "centre"):
        return "center"
    parts = t.replace(" ", "").split(",")
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        return int(parts[0]), int(parts[1])
    raise argparse.ArgumentTypeError(f"expected 'center' or ROW,COL (two non-negative integers), got {text!r}")


#: The ``--psnr`` range, in dB: sigma from 100 (noise swamps any frame) down to 1e-5. Far
#: outside it (-1e308 dB) the filters come out finite but meaningless.
CLI_PSNR_RANGE = (-40.0, 100.0)


def _psnr_arg(text: str) -> float:
    """argparse type: an input PSNR in dB, within :data:`CLI_PSNR_RANGE`."""
    lo, hi = CLI_PSNR_RANGE
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of dB, got {text!r}") from None
    if not lo <= v <= hi:  # NaN included
        raise argparse.ArgumentTypeError(f"expected a finite PSNR in [{lo:g}, {hi:g}] dB, got {text!r}")
    return v


def _parser() -> ArgumentParser:
    p = ArgumentParser(
        prog=PROG,
        description="Adaptive linear filter of one output pixel of a trained denoiser (paper Fig. 7): "
                    "the row of its input-output Jacobian, on the conditioning frames and the noisy observation.",
    )
    p.add_argument("--ckpt", required=True, type=Path, help="checkpoint of a trained denoiser")
    p.add_argument("--pixel", type=_pixel_arg, default="center", metavar="center|ROW,COL",
                   help="output pixel (default: center, i.e. (H // 2, W // 2))")
    p.add_argument("--input", default=None, metavar="FILE.npz:INDEX",
                   help="a dataset written by interp.data and the position (from 0) of a sequence in it "
                        f"(default: from the model's own kind of data: sequence 0 of the test split of "
                        f"interp.leaves.generate({DEFAULT_EXAMPLE_N}, seed={DEFAULT_EXAMPLE_SEED}) for a "
                        "moving-leaves model, clip 0 of the built-in natural test set "
                        f"(interp.data.natural.natural_test_set(1, seed={DEFAULT_EXAMPLE_SEED})) for a "
                        "model trained on natural video)")
    p.add_argument("--frame", type=nonneg_int, default=None, metavar="T",
                   help="index (from 0) of the frame to estimate; frames T-tau .. T-1 are the conditioning "
                        "(default: tau, i.e. the first tau frames)")
    p.add_argument("--psnr", type=_psnr_arg, default=DEFAULT_CLI_PSNR, metavar="DB",
                   help=f"noise level of the observation as an input PSNR (default {DEFAULT_CLI_PSNR:g} dB)")
    p.add_argument("--seed", type=seed_int, default=0, help="seed of the observation noise (default 0)")
    p.add_argument("--crop", type=positive_int, default=None, metavar="N",
                   help="zoom the filter panels to N x N pixels around the pixel (default: the whole frame); "
                        "the input panels mark the window, filters.npy keeps the whole filters")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help=f"output folder, created if needed (default: ./{DEFAULT_OUT})")
    return p


def is_leaves_model(config: dict | None) -> bool:
    """Whether a checkpoint config's training data are moving leaves: ``data.source`` is
    ``leaves``, or an ``npz`` file whose recorded source is a leaves dataset. A config without a
    data description (a checkpoint saved outside training) counts as moving leaves."""
    data = (config or {}).get("data")
    if not isinstance(data, dict) or "source" not in data:
        return True
    if data["source"] == "leaves":
        return True
    detail = data.get("source_detail")
    return isinstance(detail, dict) and detail.get("kind") == "leaves"


def _natural_example():
    """(frames [T, H, W], description): clip 0 of the built-in natural test set."""
    from interp.data.natural import BUILTIN_LABEL, natural_test_set

    ds = natural_test_set(1, seed=DEFAULT_EXAMPLE_SEED)
    return ds.frames[0], f"clip 0 of the {BUILTIN_LABEL} (seed {DEFAULT_EXAMPLE_SEED})"


def _build_hint(path: Path) -> str:
    """The ``python -m interp.data`` command that builds a dataset at ``path``."""
    if "leaves" in path.name.lower():
        return f"python -m interp.data leaves --n 1000 --seed 0 --out {path}"
    return f"python -m interp.data davis32 --root ../shared/data/davis-mini --out {path}"


def _read_input(spec: str):
    """:func:`interp.cli.sample.read_input`, with the command that builds a missing dataset."""
    path, sep, _ = spec.rpartition(":")
    if sep and path and not Path(path).exists():
        raise InterpError(f"dataset file {path} does not exist; build it with: {_build_hint(Path(path))}")
    return read_input(spec)


def _default_example(config: dict | None = None):
    """(frames [T, H, W], description) of the CLI's default input, from the model's kind of data."""
    if not is_leaves_model(config):
        return _natural_example()
    ds = generate(DEFAULT_EXAMPLE_N, seed=DEFAULT_EXAMPLE_SEED).test
    index = int(ds.meta["index"][0])
    return ds.frames[0], (f"moving-leaves test sequence 0 (sequence {index} of "
                          f"interp.leaves.generate({DEFAULT_EXAMPLE_N}, seed={DEFAULT_EXAMPLE_SEED}))")


def crop_window(pixel, size: int, shape) -> tuple[int, int]:
    """Top-left corner of the ``size`` x ``size`` window around ``pixel``, kept inside ``shape``."""
    (r, q), (H, W) = pixel, shape
    return (min(max(r - size // 2, 0), H - size), min(max(q - size // 2, 0), W - size))


def _plot(inputs: np.ndarray, filters: np.ndarray, pixel, labels: Sequence[str], title: str, crop: int | None = None):
    """Fig. 7 layout: inputs on top, their filters below (shared symmetric diverging scale).
    With ``crop``, the filters are shown on the ``crop`` x ``crop`` window around the pixel
    (outlined on the inputs)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    r0 = q0 = 0
    sums = [float(f.sum()) for f in filters]  # of the whole filters, cropped or not
    if crop is not None:
        r0, q0 = crop_window(pixel, crop, inputs.shape[-2:])
        filters = filters[:, r0:r0 + crop, q0:q0 + crop]

    n = len(filters)
    r, q = pixel
    cell = 1.6
    fig = Figure(figsize=(cell * n + 0.9, 2 * cell + 0.75))
    axes = fig.subplots(2, n, squeeze=False, gridspec_kw=dict(left=0.03, right=0.86, bottom=0.03,
                                                              top=0.84, wspace=0.08, hspace=0.22))
    m = float(np.abs(filters).max()) or 1.0
    im = None
    for j in range(n):
        top, bottom = axes[0, j], axes[1, j]
        top.imshow(inputs[j], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        top.axhline(r, color="white", lw=0.6, ls="--")
        top.axvline(q, color="white", lw=0.6, ls="--")
        top.set_title(labels[j], fontsize=7, pad=2)
        if crop is not None:
            top.add_patch(Rectangle((q0 - 0.5, r0 - 0.5), crop, crop, fill=False, ec="#ff7f0e", lw=0.9))
        im = bottom.imshow(filters[j], cmap="RdBu_r", vmin=-m, vmax=m, interpolation="nearest")
        bottom.plot([q - q0], [r - r0], marker="+", color="black", ms=6, mew=0.8)
        where = "" if crop is None else f" ({crop}x{crop} crop)"
        bottom.set_title(f"filter{where}, sum {sums[j]:+.3f}", fontsize=7, pad=2)
        for ax in (top, bottom):
            ax.set_xticks([])
            ax.set_yticks([])
    cax = fig.add_axes([0.885, 0.06, 0.025, 0.36])
    fig.colorbar(im, cax=cax).ax.tick_params(labelsize=6)
    fig.suptitle(title, fontsize=7)
    return fig


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    clip, source = None, None
    if args.input is not None:
        clip, data_path, index = _read_input(args.input)
        source = f"sequence {index} of {data_path}"

    net = checkpoint.load(args.ckpt)
    if net.predict_only:
        raise InterpError(f"{args.ckpt} is a prediction-only network; the adaptive filter needs a denoiser "
                          "net(y, c)")
    tau = net.tau
    if clip is None:
        clip, source = _default_example(getattr(net, "checkpoint_config", None))
    if not np.isfinite(clip).all():
        raise InterpError(f"{source} contains non-finite frames")
    T, H, W = clip.shape
    if T < tau + 1:
        raise InterpError(f"tau mismatch: {args.ckpt} needs tau={tau} conditioning frames and a frame to "
                          f"estimate, {source} has only {T} frame(s)")
    t = tau if args.frame is None else args.frame
    if t < tau:
        raise InterpError(f"--frame {t}: tau={tau} conditioning frames must come before it (use --frame >= {tau})")
    if t >= T:
        raise InterpError(f"--frame {t} is beyond the sequence's {T} frames (largest: {T - 1})")

    check_frame_size(clip, source)
    pixel = (H // 2, W // 2) if args.pixel == "center" else args.pixel
    if not (pixel[0] < H and pixel[1] < W):
        raise InterpError(f"--pixel {pixel[0]},{pixel[1]} is outside the {H}x{W} frame "
                          f"(rows 0 .. {H - 1}, columns 0 .. {W - 1})")
    if args.crop is not None and args.crop > min(H, W):
        raise InterpError(f"--crop {args.crop} is larger than the {H}x{W} frame (at most {min(H, W)})")
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InterpError(f"cannot create output folder {args.out}: {err.strerror or err}") from None

    import torch

    sigma = float(psnr_to_sigma(args.psnr))
    x = torch.from_numpy(np.ascontiguousarray(clip[t]))[None]
    cond = torch.from_numpy(np.ascontiguousarray(clip[t - tau:t]))
    z = torch.randn((1, H, W), generator=torch.Generator().manual_seed(args.seed))
    y = x + sigma * z
    filt, value = filter_and_output(net, y, cond, pixel, engine="autograd")  # see its docstring
    with torch.no_grad():
        x_hat = net(y[None], cond[None])[0]
    inputs = torch.cat([cond, y]).numpy()
    filters = filt.numpy().astype(np.float32)
    mse = float((x_hat.double() - x.double()).pow(2).mean())
    mse_in = float((y.double() - x.double()).pow(2).mean())
    est_psnr, in_psnr = float(psnr_from_mse(mse)), float(psnr_from_mse(mse_in))
    linear = float((filt.double() * torch.cat([cond, y]).double()).sum())

    with atomic_write(args.out / "filters.npy") as f:
        np.save(f, filters)
    labels = [f"{frame_position(t - tau + j, t - 1)}, conditioning" for j in range(tau)]
    labels.append(f"noisy {frame_position(t, t - 1)}, {in_psnr:.1f} dB")
    title = (f"{source}\nadaptive filter of x_hat[{pixel[0]}, {pixel[1]}] = {float(value):.4f} "
             f"({frame_position(t, t - 1)}; estimate PSNR {est_psnr:.1f} dB)")
    fig = _plot(inputs, filters, pixel, labels, title, crop=args.crop)
    with atomic_write(args.out / "filters.png") as f:
        fig.savefig(f, format="png", dpi=150)

    print(f"input: {source}; {frame_position(t, t - 1)} estimated from {frame_position(t - tau, t - 1)} .. "
          f"{frame_position(t - 1, t - 1)}" if tau else
          f"input: {source}; {frame_position(t, t - 1)} (tau = 0: no conditioning)")
    print(f"observation: PSNR {args.psnr:g} dB (sigma {sigma:.4g}, seed {args.seed}); "
          f"measured {in_psnr:.2f} dB")
    print(f"output x_hat[{pixel[0]}, {pixel[1]}] = {float(value):.6g} (clean {float(x[0, pixel[0], pixel[1]]):.6g}); "
          f"sum of filter * input = {linear:.6g}")
    for j in range(tau + 1):
        role = "conditioning" if j < tau else "observation"
        print(f"filter sum, {frame_position(t - tau + j, t - 1)} ({role}): {float(filters[j].sum()):+.6g}")
    print(f"estimate PSNR {est_psnr:.2f} dB against the clean {frame_position(t, t - 1)}")
    print(f"wrote {args.out}: filters.npy ([{tau + 1}, {H}, {W}]), filters.png")
    return 0


def entry() -> None:
    """Run the command (``python -m`` entry point): exit with :func:`run`'s code."""
    sys.exit(run(main, PROG))
