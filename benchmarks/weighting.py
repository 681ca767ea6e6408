"""weighting: the loss weightings side by side where the answer is known, and on natural video.

The EDM weighting chosen by ``recipe`` (64k samples, every arm far from both ends) kept the clean
end in the long DAVIS32 runs, but at 0.6M samples their middle had stopped improving: 20 dB in ->
21.3 dB out, and at 0 dB 7 dB under the prediction-only network on the same clips (see
docs/experiments.md). This benchmark compares the weightings on two measures that show it:

* **translating**: the synthetic video of :mod:`interp.data.translating`, whose exact conditional
  MMSE is known at every noise level; each arm is scored by its MSE over the exact MMSE at
  sigma^2 = 1e-4 .. 1e2 (1 is the best any denoiser can do), their geometric mean and the worst.
  At sigma^2 = 100 the ratio is ~5 for a network that ignores the past frame.
* **natural**: the natural clip set of the DAVIS32 cards (davis-mini + footage) at full size,
  scored on its fixed held-out clips: output PSNR at -10..50 dB input, the identity margin over
  30..50 dB and the gap to a prediction-only network trained alike at -10 and 0 dB.

Arms: the current recipe (``edm0.1``, the baseline), the earlier ``cap1`` and ``adaptive``
(:class:`interp.training.loss.AdaptiveWeighting`: each noise band's error over its own running
mean). Every arm is a run of :func:`interp.train.train` from a card identical but for the weighting
keys (same data, seed, samples, schedule, averaged weights); the averaged weights are scored.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np

from ._harness import Context, row

DESCRIPTION = (
    "Loss weightings at equal compute, each a run of `interp.train.train` from a card identical but for "
    "the weighting keys (the `cpu` recipe otherwise: Adam lr 1e-3 halved at 50% and every 10% after, "
    "averaged weights, scored): the current EDM 1/sigma^2 + 1/0.1^2 (`edm0.1`, baseline), the earlier "
    "cap min(1/sigma^2, 1) (`cap1`) and `adaptive` (each noise band's squared error over its own "
    "running mean: Kendall et al. 2018's uncertainty weighting per noise level, as in EDM2). "
    "translating: the synthetic video of interp.data.translating (tau 1, width 8, 16x16, 20k training "
    "clips, 1000 test clips), whose exact conditional MMSE is known: MSE / MMSE at sigma^2 = 1e-4..1e2, "
    "geometric mean and worst (1 is optimal); full 320k samples per arm. natural: the DAVIS32 cards' "
    "clip set (davis-mini + footage, built from ../shared/data; skipped when absent), tau 2, width 32, "
    "64k samples per arm, scored on all 2,331 fixed held-out clips: output PSNR at -10..50 dB input, "
    "identity margin over 30..50 dB, gap to a prediction-only network trained alike. Smoke: width 4, "
    "1k samples, tiny data."
)
ARMS = {"edm0.1": {"weighting": "edm", "sigma_data": 0.1},
        "cap1": {"weighting": "cap", "weight_cap": 1.0},
        "adaptive": {"weighting": "adaptive"}}
BASELINE = "edm0.1"
SIGMA2 = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 1e2)
PSNRS = (-10.0, 0.0, 10.0, 20.0, 30.0, 40.0, 50.0)
IDENTITY = (30.0, 40.0, 50.0)
REPO = Path(__file__).resolve().parents[1]
NATURAL_CARD = REPO / "models" / "in-progress" / "davis32-tau2.toml"  # whose [data] is the natural set


def _card(folder: Path, name: str, data: Path, train: dict, tau: int, width: int, predict_only: bool = False) -> Path:
    lines = ["[model]", f"tau = {tau}", f"width = {width}", f"predict_only = {str(predict_only).lower()}", "",
             "[data]", 'source = "npz"', f'path = "{data}"', "", "[train]"]
    lines += [f"{k} = {str(v).lower() if isinstance(v, bool) else repr(v)}".replace("'", '"') for k, v in train.items()]
    path = folder / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _translating(folder: Path, smoke: bool):
    from interp.data.dataset import Dataset
    from interp.data.translating import TranslatingVideo

    video = TranslatingVideo()
    n_train, n_test = (200, 50) if smoke else (20_000, 1000)
    frames = np.concatenate([video.clips(n_train, seed=1), video.clips(n_test, seed=2)])
    ds = Dataset(frames, {"test": np.arange(len(frames)) >= n_train}, {"kind": "translating video"})
    return ds.save(folder / "translating.npz"), video, frames[n_train:]


def _ratios(net, video, test: np.ndarray) -> dict[str, float]:
    """MSE of the network over the exact conditional MMSE at each of SIGMA2 (fixed noise)."""
    import torch

    x, c = torch.from_numpy(test[:, 1:]), torch.from_numpy(test[:, :1])
    g = torch.Generator().manual_seed(4321)
    out = {}
    for s2 in SIGMA2:
        z = torch.randn(x.shape, generator=g)
        with torch.no_grad():
            mse = float((net(x + math.sqrt(s2) * z, c) - x).pow(2).mean())
        out[f"ratio@{s2:g}"] = mse / float(video.mmse(s2)[0])
    r = [out[f"ratio@{s2:g}"] for s2 in SIGMA2]
    out["geomean"] = float(np.exp(np.mean(np.log(r))))
    out["worst"] = max(r)
    return out


def _natural(ctx: Context, folder: Path):
    if ctx.smoke:  # a tiny natural-image set with a split, so the smoke run needs no ../shared
        from interp.data.natural import natural_test_set

        ds = natural_test_set(n=24, seed=0)
        ds.meta["test"] = np.arange(len(ds)) % 4 == 0
        return ds.save(folder / "natural.npz")
    from interp.data.sources import cached
    from interp.training.cards import read_card
    from interp.training.windows import card_sources

    card = read_card(NATURAL_CARD)
    sources = card_sources(card)
    if any(not Path(s["path"]).exists() for s in sources):
        ctx.log("weighting: the natural clip set's sources are not here; natural skipped")
        return None
    path = folder / "natural.npz"  # built here (as the cards build it: same sources and seed)
    cached(sources, path, seed=int(card.data.get("seed", 0)), log=ctx.log)
    return path


def run(ctx: Context) -> dict:
    import torch

    from interp.nets import checkpoint
    from interp.training.cards import read_card
    from interp.training.evaluation import evaluate
    from interp.training.loop import train
    from interp.training.windows import load_clips

    cpu = ctx.on_cpu()
    common = {"recipe": "cpu", "seed": 0, "precision": "fp32", "eval_every": 0.5, "eval_windows": 64,
              "checkpoint_seconds": 1e6, "threads": torch.get_num_threads()}
    rows, notes, scores, mem = [], [], {"translating": {}, "natural": {}}, {}
    with tempfile.TemporaryDirectory(prefix="weighting-") as tmp:
        folder = Path(tmp)
        # ---- the translating video: distance to the exact MMSE at each noise level
        data, video, test = _translating(folder, ctx.smoke)
        samples = 1024 if ctx.smoke else 320_000
        for arm, keys in ARMS.items():
            card = _card(folder, f"translating-{arm}", data, {**common, **keys, "samples": samples, "batch_size": 64,
                                                              "channels_last": False}, tau=1, width=4 if ctx.smoke else 8)
            ctx.log(f"weighting: translating {arm}, {samples} samples")
            _, m, cfg = cpu.measure(lambda: train(card, progress=False, log=ctx.log))  # noqa: B023 - called at once
            mem[f"translating/{arm}"] = m
            s = _ratios(checkpoint.read(card.with_suffix(".safetensors")).build(), video, test)
            s["minutes"] = cfg["train_state"]["wall_seconds"] / 60
            scores["translating"][arm] = s
        notes.append(f"translating: {samples} samples per arm, width {4 if ctx.smoke else 8}, {len(test)} test clips; "
                     f"MSE / exact MMSE at sigma^2 = {', '.join(f'{s:g}' for s in SIGMA2)} (1 is optimal; ~5 at "
                     f"sigma^2 = 100 for a network that ignores the past frame):")
        for arm, s in scores["translating"].items():
            notes.append(f"  {arm}: " + " / ".join(f"{s[f'ratio@{s2:g}']:.2f}" for s2 in SIGMA2)
                         + f"; geometric mean {s['geomean']:.2f}, worst {s['worst']:.2f}; {s['minutes']:.1f} min")
        base = scores["translating"][BASELINE]
        for arm, s in scores["translating"].items():
            for key in [f"ratio@{s2:g}" for s2 in SIGMA2] + ["geomean", "worst"]:
                what = "geometric mean over levels of" if key == "geomean" else "worst level's" if key == "worst" \
                    else f"at sigma^2 = {key[6:]},"
                rows.append(row(f"translating/{arm}/{key}", f"{what} MSE / exact MMSE", "x", s[key],
                                baseline=BASELINE, ratio=s[key] / base[key], mem=mem[f"translating/{arm}"],
                                note=f"{s[key]:.3f} against {base[key]:.3f} for {BASELINE}"))

        # ---- natural video: the held-out curve and the prediction-only gap
        natural = _natural(ctx, folder)
        if natural is None:
            notes.append("natural: skipped (the natural clip set's sources are not here)")
            return {"rows": rows, "notes": notes, "scores": scores}
        samples = 1024 if ctx.smoke else 64_000
        width = 4 if ctx.smoke else 32
        nat = {**common, "samples": samples, "batch_size": 32 if ctx.smoke else 128, "channels_last": not ctx.smoke}
        pred = _card(folder, "natural-predict", natural, nat, tau=2, width=width, predict_only=True)
        ctx.log(f"weighting: natural prediction-only, {samples} samples")
        train(pred, progress=False, log=ctx.log)
        _, test_clips, _ = load_clips(read_card(pred))
        predict = evaluate(checkpoint.read(pred.with_suffix(".safetensors")).build(), test_clips, n=None,
                           seed=4321)["predict"]
        for arm, keys in ARMS.items():
            card = _card(folder, f"natural-{arm}", natural, {**nat, **keys}, tau=2, width=width)
            ctx.log(f"weighting: natural {arm}, {samples} samples")
            _, m, cfg = cpu.measure(lambda: train(card, progress=False, log=ctx.log))  # noqa: B023 - called at once
            mem[f"natural/{arm}"] = m
            s = evaluate(checkpoint.read(card.with_suffix(".safetensors")).build(), test_clips, n=None, seed=4321,
                         psnrs=PSNRS)
            s["identity_margin"] = min(s[f"psnr_out@{p:g}dB"] - p for p in IDENTITY)
            s["gap@-10dB"], s["gap@0dB"] = s["psnr_out@-10dB"] - predict, s["psnr_out@0dB"] - predict
            s["minutes"] = cfg["train_state"]["wall_seconds"] / 60
            scores["natural"][arm] = s
    notes.append(f"natural: {samples} samples per arm, width {width}, {len(test_clips)} held-out clips; "
                 f"prediction-only network at the same budget: {predict:.2f} dB; output PSNR at input "
                 + " | ".join(f"{p:g}" for p in PSNRS) + " dB:")
    for arm, s in scores["natural"].items():
        notes.append(f"  {arm}: " + " / ".join(f"{s[f'psnr_out@{p:g}dB']:.2f}" for p in PSNRS)
                     + f"; margin 30-50 dB {s['identity_margin']:+.2f}; gap to prediction -10 dB "
                       f"{s['gap@-10dB']:+.2f}, 0 dB {s['gap@0dB']:+.2f}; {s['minutes']:.1f} min")
    base = scores["natural"][BASELINE]
    keys = [f"psnr_out@{p:g}dB" for p in PSNRS] + ["identity_margin", "gap@-10dB", "gap@0dB"]
    for arm, s in scores["natural"].items():
        for key in keys:
            a, b = s[key], base[key]
            rows.append(row(f"natural/{arm}/{key}", key.replace("psnr_out@", "output PSNR at input "), "dB", a,
                            baseline=BASELINE, ratio=10.0 ** (-(a - b) / 10.0), diff=a - b, mem=mem[f"natural/{arm}"],
                            note=f"{a:.3f} against {b:.3f} for {BASELINE}; diff {a - b:+.3f}; ratio = output MSE ratio"))
    notes.append("translating rows: ratio = value / baseline (< 1 is nearer the optimum); natural rows: "
                 "ratio = 10^(-(value - baseline)/10), the output MSE ratio (< 1 is better).")
    return {"rows": rows, "notes": notes, "scores": scores}
