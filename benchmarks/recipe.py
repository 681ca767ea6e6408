"""recipe: training recipes side by side at equal compute (same data, seed, samples, schedule).

Each weighting of the loss (:class:`interp.loss.Weighting`) is one training run of
:func:`interp.train.train` from its own temporary card, identical but for the weighting keys;
every run keeps an average of its weights (EMA), and both the trained and the averaged weights
are scored, so "EMA or not" costs no extra training and sees exactly the same run. A
prediction-only network trained on the same data for the same samples gives the reference at
-10 dB input. The current recipe (cap 1, no average) is the baseline of every row.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np

from ._harness import Context, Memory, row

DESCRIPTION = (
    "Training recipes at equal compute: one run per loss weighting (the current `cap` = min(1/sigma^2, 1), "
    "the paper's 1/sigma^2, EDM's 1/sigma^2 + 1/sigma_data^2 (Karras et al. 2022) with sigma_data 0.1 and "
    "0.03, the latter near the std of the prediction residual, so high-noise windows weigh as much as "
    "low-noise ones; and edm0.03 on a U-net with an input-output skip, `skip = true`), trained by "
    "`interp.train.train` from cards identical but for these keys (same data, seed, samples, batch, "
    "schedule, width 32, tau 2, fp32 channels_last), each keeping an EMA of its weights (`ema_halflife` "
    "large, `ema_rampup` 0.05: the average's half-life is 5% of the samples seen). Every run is scored "
    "twice, trained weights (`NAME`) and averaged weights (`NAME+ema`), on held-out clips: output PSNR "
    "over input -20..50 dB (one window per test sequence, the same noise for all), the worst margin "
    "out - in over inputs 30..50 dB (>= -0.1 dB: the identity line kept), the gap to a prediction-only "
    "network trained the same way at -10 dB input; on moving leaves also the occlusion probes "
    "(13 radius differences x 64 samples, the paper's sampler, seed 0: invalid share, larger disk in "
    "front at |dr| >= 2 px, right disk in front at equal radii). Rows: value, difference from the current "
    "recipe (`diff`) and ratio. Full: 64k samples per run on moving leaves (100k sequences) and on DAVIS32 "
    "built from ../shared/data/davis-mini (skipped when absent; test videos car-roundabout and goat); "
    "smoke: width 8, 1k samples, tiny data, 2 probes x 4 samples."
)
ARMS = {  # name -> the [train] keys that differ ("skip" goes to [model])
    "cap1": {"weighting": "cap", "weight_cap": 1.0},
    "paper": {"weighting": "paper"},
    "edm0.1": {"weighting": "edm", "sigma_data": 0.1},
    "edm0.03": {"weighting": "edm", "sigma_data": 0.03},
    "edm0.03-skip": {"weighting": "edm", "sigma_data": 0.03, "skip": True},
}
BASELINE = "cap1"
PSNRS = (-20.0, -10.0, 0.0, 10.0, 20.0, 30.0, 40.0, 50.0)
IDENTITY = (30.0, 40.0, 50.0)  # inputs where a denoiser must not fall below the identity line
DAVIS_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "davis-mini"


def _card(folder: Path, name: str, data: str, train: dict, predict_only: bool = False, width: int = 32) -> Path:
    train = dict(train)
    skip = train.pop("skip", False)
    lines = ["[model]", "tau = 2", f"width = {width}", f"predict_only = {str(predict_only).lower()}",
             f"skip = {str(skip).lower()}", "", "[data]", data, "", "[train]"]
    lines += [f"{k} = {v!r}".replace("'", '"').replace("True", "true").replace("False", "false")
              for k, v in train.items()]
    path = folder / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _datasets(ctx: Context, folder: Path) -> dict[str, str]:
    """[data] tables of the datasets to compare on (DAVIS32 only where its source is here)."""
    out = {"leaves": f'source = "leaves"\nn = {400 if ctx.smoke else 100_000}\nseed = 0'}
    if ctx.smoke:  # a tiny natural-image set with a split, so the smoke run needs no ../shared
        from interp.data.natural import natural_test_set

        ds = natural_test_set(n=24, seed=0)
        ds.meta["test"] = np.arange(len(ds)) % 4 == 0
        ds.save(folder / "natural.npz")
        out["natural"] = f'source = "npz"\npath = "{folder / "natural.npz"}"'
    elif (DAVIS_ROOT / "JPEGImages").is_dir():
        from interp.cli.data import main as data_main

        path = folder / "davis32.npz"
        data_main(["davis32", "--root", str(DAVIS_ROOT), "--out", str(path), "--quiet"])
        out["davis32"] = f'source = "npz"\npath = "{path}"'
    else:
        ctx.log(f"recipe: {DAVIS_ROOT} not found; DAVIS32 skipped")
    return out


def _curve(net, test, n: int) -> dict[str, float]:
    from interp.training.evaluation import evaluate

    return evaluate(net, test, n=n, seed=4321, psnrs=PSNRS)


def _probes(net, smoke: bool) -> dict[str, float]:
    from interp.analysis.psychometrics import DEFAULT_DIFFERENCES, decision_targets, probe_grid, run_sweep

    probes = probe_grid((-2.0, 2.0) if smoke else DEFAULT_DIFFERENCES, tau=2)
    sweep = run_sweep(net, probes, 4 if smoke else 64, seed=0, **({"max_iter": 30} if smoke else {}))
    t = decision_targets(sweep.samples)
    return {"invalid": t["invalid_rate"], "larger_front": t["larger_front"]["freq"],
            "equal_right": t["equal_right"]["freq"]}


def run(ctx: Context) -> dict:
    import torch

    from interp.nets import checkpoint
    from interp.training.cards import read_card
    from interp.training.loop import train
    from interp.training.windows import load_clips

    samples = 1024 if ctx.smoke else 64_000
    width = 8 if ctx.smoke else 32
    common = {"recipe": "cpu", "samples": samples, "batch_size": 32 if ctx.smoke else 128, "seed": 0,
              "precision": "fp32", "channels_last": not ctx.smoke, "eval_every": 0.5, "eval_windows": 64,
              "checkpoint_seconds": 1e6, "ema_halflife": 1e9, "ema_rampup": 0.05,
              "threads": torch.get_num_threads()}
    cpu = ctx.on_cpu()  # training and scoring run on the CPU here
    results: dict[str, dict[str, dict]] = {}
    notes, rows = [], []
    with tempfile.TemporaryDirectory(prefix="recipe-") as tmp:
        folder = Path(tmp)
        for dname, data in _datasets(ctx, folder).items():
            scores: dict[str, dict] = {}
            mem: dict[str, Memory] = {}  # peak memory of each arm's training and scoring
            pred = _card(folder, f"{dname}-predict", data, {**common, "weighting": "paper"}, True, width)
            _, mem["predict"], _ = cpu.measure(lambda: train(pred, progress=False, log=ctx.log, keep_state=True))  # noqa: B023 - called at once
            _, test, _ = load_clips(read_card(pred))
            n_eval = min(len(test), 64 if ctx.smoke else 2000)
            predict = _curve(checkpoint.read(pred.with_suffix(".safetensors")).build(), test, n_eval)["predict"]
            for arm, keys in ARMS.items():
                card = _card(folder, f"{dname}-{arm}", data, {**common, **keys}, False, width)
                ctx.log(f"recipe: {dname} {arm}, {samples} samples")
                _, mem[arm], cfg = cpu.measure(lambda: train(card, progress=False, log=ctx.log, keep_state=True))  # noqa: B023 - called at once
                ck = checkpoint.read(card.with_suffix(".safetensors"))
                averaged = ck.build()
                trained = checkpoint.Checkpoint(ck.config, ck.train, {}, {}, ck.path).build()
                for label, net in ((arm, trained), (f"{arm}+ema", averaged)):
                    _, m, s = cpu.measure(lambda: _curve(net, test, n_eval))  # noqa: B023 - called at once
                    mem[arm] = mem[arm] | m
                    s["gap@-10dB"] = s["psnr_out@-10dB"] - predict
                    s["identity_margin"] = min(s[f"psnr_out@{p:g}dB"] - p for p in IDENTITY)
                    if dname == "leaves":
                        _, m, probes = cpu.measure(lambda: _probes(net, ctx.smoke))  # noqa: B023 - called at once
                        mem[arm] = mem[arm] | m
                        s.update(probes)
                    s["minutes"] = cfg["train_state"]["wall_seconds"] / 60
                    scores[label] = s
            results[dname] = scores
            base = scores[BASELINE]
            notes.append(f"{dname}: {samples} samples per run, width {width}, {n_eval} test windows; "
                         f"prediction-only network at the same budget: {predict:.2f} dB")
            header = " | ".join(f"{p:g}" for p in PSNRS)
            notes.append(f"{dname} output PSNR (dB) at input {header} dB:")
            for label, s in scores.items():
                curve = " / ".join(f"{s[f'psnr_out@{p:g}dB']:.2f}" for p in PSNRS)
                extra = (f"; invalid {100 * s['invalid']:.1f}%, larger in front {s['larger_front']:.3f}, "
                         f"equal radii {s['equal_right']:.3f}") if "invalid" in s else ""
                notes.append(f"  {label}: {curve}; margin 30-50 dB {s['identity_margin']:+.2f}; "
                             f"gap -10 dB {s['gap@-10dB']:+.2f}{extra}")
            metrics = [("psnr_out@-20dB", "output PSNR at -20 dB input", "dB"),
                       ("psnr_out@-10dB", "output PSNR at -10 dB input", "dB"),
                       ("psnr_out@0dB", "output PSNR at 0 dB input", "dB"),
                       ("psnr_out@20dB", "output PSNR at 20 dB input", "dB"),
                       ("psnr_out@40dB", "output PSNR at 40 dB input", "dB"),
                       ("psnr_out@50dB", "output PSNR at 50 dB input", "dB"),
                       ("identity_margin", "worst out - in over 30..50 dB input", "dB"),
                       ("gap@-10dB", "out at -10 dB minus prediction-only", "dB")]
            if "invalid" in base:
                metrics += [("invalid", "invalid probe samples", "fraction"),
                            ("larger_front", "larger disk in front, |dr| >= 2 px", "fraction"),
                            ("equal_right", "right disk in front, equal radii", "fraction")]
            for label, s in scores.items():
                for key, metric, unit in metrics:
                    a, b = s[key], base[key]
                    if not (math.isfinite(a) and math.isfinite(b)):  # e.g. no valid probe sample at all
                        notes.append(f"{dname}/{label}/{key}: not measurable ({a} against {b}), no row")
                        continue
                    ratio = 10.0 ** (-(a - b) / 10.0) if unit == "dB" else (a / b if b else math.nan)
                    rows.append(row(f"{dname}/{label}/{key}", metric, unit, a, baseline=BASELINE,
                                    ratio=ratio, diff=a - b, mem=mem[label.split("+")[0]],
                                    note=f"{a:.3f} against {b:.3f} for {BASELINE}; diff {a - b:+.3f}"
                                         + ("; ratio = output MSE ratio" if unit == "dB" else "")))
    notes.append("dB rows: ratio = 10^(-(value - baseline)/10), the output MSE ratio against the current "
                 "recipe (< 1 is better); fraction rows: ratio = value / baseline.")
    return {"rows": rows, "notes": notes, "scores": results}
