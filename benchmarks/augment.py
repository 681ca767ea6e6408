"""augment: data augmentations for natural video, side by side at equal compute.

Horizontal flips and time reversal keep the statistics of natural video (a mirrored scene, or
one played backwards, is as likely as the original); vertical flips and negatives do not, and
are not tried. Each arm is one training run of :func:`interp.train.train` from a card identical
but for ``hflip`` / ``reverse`` (same clips, seed, samples, recipe), scored with its averaged
weights on the fixed held-out clips of the natural clip set.

An augmentation can only pay where the network sees its training clips many times over: the
long DAVIS32 runs see each of their 13,167 training clips about 114 times (1.5M samples). A run
of that length per arm is out of reach here, so the arms train on a seeded subset of the
training videos sized to the same number of passes (``PASSES``), and are scored on all the
test clips: the regime of the long runs, at a sixteenth of their compute. Both the test curve
and the same curve on the training subset are reported; their difference is the overfit.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np

from ._harness import Context, row

DESCRIPTION = (
    "Augmentations that keep natural video's statistics (horizontal flip `hflip`, time reversal "
    "`reverse`, both), each an arm trained by `interp.train.train` from a card identical but for these "
    "keys (tau 2, width 32, the `cpu` recipe: EDM weighting, averaged weights; same seed and samples), "
    "against no augmentation (the baseline, as the DAVIS32 set is trained). Full: the natural clip set of "
    "the DAVIS32 cards (davis-mini + footage, built from ../shared/data; skipped when absent); the arms "
    "train on a seeded subset of the training videos holding samples / 100 clips, so that 64k samples "
    "pass over each clip about 100 times, as the 1.5M-sample runs do over the whole set (about 114), "
    "and are scored on all 2,331 fixed held-out clips (one window each, the same noise for every arm): "
    "output PSNR at -10..50 dB input, the identity margin over 30..50 dB, and the overfit (PSNR on the "
    "training subset minus on the test clips, at 0 dB). Smoke: width 8, 1k samples, tiny natural set."
)
ARMS = {"none": {}, "hflip": {"hflip": True}, "reverse": {"reverse": True},
        "hflip+reverse": {"hflip": True, "reverse": True}}
BASELINE = "none"
PSNRS = (-10.0, 0.0, 10.0, 20.0, 30.0, 40.0, 50.0)
IDENTITY = (30.0, 40.0, 50.0)
PASSES = 100  # passes over each training clip, as in the long runs (1.5M samples / 13,167 clips)
REPO = Path(__file__).resolve().parents[1]
NATURAL_CARD = REPO / "models" / "in-progress" / "davis32-tau2.toml"  # whose [data] is the natural set


def training_subset(ds, n_clips: int, seed: int = 0):
    """The test clips and, for training, whole videos of the training split in a seeded order
    until they hold at least ``n_clips`` clips (a video's clips are never split)."""
    test = ds.meta["test"].astype(bool)
    videos = np.unique(ds.meta["video"][~test])
    order = np.random.default_rng(seed).permutation(videos)
    keep, count = [], 0
    for v in order:
        if count >= n_clips:
            break
        keep.append(v)
        count += int(((ds.meta["video"] == v) & ~test).sum())
    chosen = test | np.isin(ds.meta["video"], keep)
    return ds[chosen], keep


def _natural(ctx: Context, folder: Path, n_clips: int):
    """(path of the subset .npz, description) or None when the sources are absent."""
    if ctx.smoke:  # a tiny natural-image set with a split, so the smoke run needs no ../shared
        from interp.data.natural import natural_test_set

        ds = natural_test_set(n=24, seed=0)
        ds.meta["test"] = np.arange(len(ds)) % 4 == 0
        return ds.save(folder / "natural.npz"), "24 tiny natural clips (smoke)"
    from interp.data.sources import cached
    from interp.training.cards import read_card
    from interp.training.windows import card_relative, card_sources

    card = read_card(NATURAL_CARD)
    sources = card_sources(card)
    missing = [str(s["path"]) for s in sources if not Path(s["path"]).exists()]
    if missing:
        ctx.log(f"augment: {', '.join(missing)} not found; skipped")
        return None
    ds = cached(sources, card_relative(card, card.data["path"]), seed=int(card.data.get("seed", 0)), log=ctx.log)
    sub, videos = training_subset(ds, n_clips, seed=0)
    n_train = int((~sub.meta["test"].astype(bool)).sum())
    desc = (f"{n_train} training clips from {len(videos)} of the set's training videos "
            f"({', '.join(str(v) for v in videos)}); {int(sub.meta['test'].sum())} test clips")
    return sub.save(folder / "natural.npz"), desc


def _card(folder: Path, name: str, data: Path, train: dict, width: int) -> Path:
    lines = ["[model]", "tau = 2", f"width = {width}", "", "[data]", 'source = "npz"', f'path = "{data}"', "",
             "[train]"]
    lines += [f"{k} = {str(v).lower() if isinstance(v, bool) else repr(v)}".replace("'", '"') for k, v in train.items()]
    path = folder / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def run(ctx: Context) -> dict:
    import torch

    from interp.nets import checkpoint
    from interp.training.cards import read_card
    from interp.training.evaluation import evaluate
    from interp.training.loop import train
    from interp.training.windows import load_clips

    samples = 1024 if ctx.smoke else 64_000
    width = 8 if ctx.smoke else 32
    common = {"recipe": "cpu", "samples": samples, "batch_size": 32 if ctx.smoke else 128, "seed": 0,
              "precision": "fp32", "channels_last": not ctx.smoke, "eval_every": 0.5, "eval_windows": 64,
              "checkpoint_seconds": 1e6, "threads": torch.get_num_threads()}
    cpu = ctx.on_cpu()
    rows, notes, scores, mem = [], [], {}, {}
    with tempfile.TemporaryDirectory(prefix="augment-") as tmp:
        folder = Path(tmp)
        found = _natural(ctx, folder, samples // PASSES)
        if found is None:
            return {"rows": [], "notes": ["skipped: the natural clip set's sources are not here"], "scores": {}}
        data, desc = found
        notes.append(f"data: {desc}")
        for arm, keys in ARMS.items():
            card = _card(folder, arm.replace("+", "-"), data, {**common, **keys}, width)
            ctx.log(f"augment: {arm}, {samples} samples")
            _, mem[arm], cfg = cpu.measure(lambda: train(card, progress=False, log=ctx.log))  # noqa: B023 - called at once
            net = checkpoint.read(card.with_suffix(".safetensors")).build()
            train_clips, test_clips, _ = load_clips(read_card(card))

            def score(net=net, train_clips=train_clips, test_clips=test_clips):
                s = evaluate(net, test_clips, n=None, seed=4321, psnrs=PSNRS)
                s["train@0dB"] = evaluate(net, train_clips, n=None, seed=4321, psnrs=(0.0,))["psnr_out@0dB"]
                return s

            _, m, s = cpu.measure(score)
            mem[arm] = mem[arm] | m
            s["identity_margin"] = min(s[f"psnr_out@{p:g}dB"] - p for p in IDENTITY)
            s["overfit@0dB"] = s["train@0dB"] - s["psnr_out@0dB"]
            s["minutes"] = cfg["train_state"]["wall_seconds"] / 60
            s["passes"] = samples / len(train_clips)
            scores[arm] = s
    base = scores[BASELINE]
    notes.append(f"{samples} samples per arm, width {width}, about {base['passes']:.0f} passes over each training clip")
    header = " | ".join(f"{p:g}" for p in PSNRS)
    notes.append(f"output PSNR (dB, averaged weights, held-out clips) at input {header} dB:")
    for arm, s in scores.items():
        curve = " / ".join(f"{s[f'psnr_out@{p:g}dB']:.2f}" for p in PSNRS)
        notes.append(f"  {arm}: {curve}; margin 30-50 dB {s['identity_margin']:+.2f}; "
                     f"overfit at 0 dB {s['overfit@0dB']:+.2f} (train subset {s['train@0dB']:.2f}); "
                     f"{s['minutes']:.1f} min")
    metrics = [(f"psnr_out@{p:g}dB", f"output PSNR at {p:g} dB input, held-out clips", "dB") for p in PSNRS]
    metrics += [("identity_margin", "worst out - in over 30..50 dB input", "dB"),
                ("overfit@0dB", "PSNR on the training subset minus held-out, 0 dB input", "dB")]
    for arm, s in scores.items():
        for key, metric, unit in metrics:
            a, b = s[key], base[key]
            if not (math.isfinite(a) and math.isfinite(b)):
                notes.append(f"{arm}/{key}: not measurable ({a} against {b}), no row")
                continue
            # held-out PSNR: ratio = output MSE ratio (< 1 better); overfit: a dB gap, same ratio form
            rows.append(row(f"{arm}/{key}", metric, unit, a, baseline=BASELINE, ratio=10.0 ** (-(a - b) / 10.0),
                            diff=a - b, mem=mem[arm], note=f"{a:.3f} against {b:.3f} without augmentation; "
                                                            f"diff {a - b:+.3f}"))
    notes.append("ratio = 10^(-(value - baseline)/10): for held-out PSNR, the output MSE ratio against no "
                 "augmentation (< 1 is better).")
    return {"rows": rows, "notes": notes, "scores": scores}

