"""norm_choice: no normalization against bias-free batch norm, same batches, same steps."""

from __future__ import annotations

import numpy as np
import torch

from interp.nets.unet import UNet
from interp.training.evaluation import evaluate
from interp.training.windows import lr_at

from ._harness import Context, row
from ._training import StepOptions, Trainer, draw_batch, leaves_clips

DESCRIPTION = (
    "Two U-nets with the same initial convolution weights (seed 0), one without normalization "
    "and one with bias-free batch normalization (divide by a running RMS, learned gain, no shift), "
    "trained on the same batches with the `cpu` recipe's step (bf16 autocast + channels_last) and "
    "the training schedule's halvings; both evaluated in eval mode (batch norm on its running "
    "statistics, so both nets are homogeneous) with `interp.train.evaluate` at input PSNR 0, 20, 40 "
    "and 50 dB and for the one-step estimate from sigma = 3. Full: width 32, 600 steps of batch 64. "
    "On a GPU both train there and are evaluated on the CPU."
)
TAU = 2
PSNRS = (0.0, 20.0, 40.0, 50.0)


def _nets(width: int) -> dict[str, UNet]:
    nets = {}
    for norm in ("none", "batch"):
        torch.manual_seed(0)  # same convolution weights: the norm layers hold no random state
        nets[norm] = UNet(tau=TAU, width=width, norm=norm)
    return nets


def run(ctx: Context) -> dict:
    width = 8 if ctx.smoke else 32
    bs = 16 if ctx.smoke else 64
    total = 6 if ctx.smoke else 600
    n_seq = 400 if ctx.smoke else 20_000
    n_eval = 64 if ctx.smoke else 1024
    lr = 1e-3
    train, test = leaves_clips(n_seq)
    opts = StepOptions(bf16=True, channels_last=True)
    trainers = {k: Trainer(v, opts, copy_net=False, device=ctx.torch_device) for k, v in _nets(width).items()}
    gen = torch.Generator().manual_seed(1)
    losses = {k: [] for k in trainers}
    ctx.log(f"norm_choice: {total} steps of batch {bs}, width {width}")

    def train_both():
        for step in range(total):
            batch = draw_batch(train, bs, TAU, gen)
            for k, tr in trainers.items():
                tr.set_lr(lr_at(step / total, lr))
                losses[k].append(tr.step(*batch))
        return {k: evaluate(tr.eval_net(), test, n=n_eval, seed=1234, psnrs=PSNRS) for k, tr in trainers.items()}

    seconds, mem, res = ctx.measure(train_both)
    rows = []
    for key in [f"psnr_out@{p:g}dB" for p in PSNRS] + ["onestep"]:
        a, b = res["none"][key], res["batch"][key]
        rows.append(row(f"{key}", "test output PSNR", "dB", a, baseline="batch", baseline_values=b,
                        ratio=10.0 ** (-(a - b) / 10.0), none_db=a, batch_db=b,
                        note=f"no norm {a:.2f} dB, bias-free batch norm {b:.2f} dB; ratio = "
                             "10^(-(none - batch)/10), the output MSE ratio none/batch",
                        mem=mem))
    return {"rows": rows, "notes": [
        f"width {width}, batch {bs}, {total} steps ({seconds:.1f} s with the evaluation; peak memory of both "
        f"in every row), {len(train)} training / {len(test)} test sequences, "
        f"{n_eval} evaluation windows; final training loss (mean of last 20 steps): "
        + ", ".join(f"{k} {np.mean(v[-20:]):.4g}" for k, v in losses.items())]}
