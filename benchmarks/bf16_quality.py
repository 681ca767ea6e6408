"""bf16_quality: does bf16 + channels_last training keep the low-noise denoising quality?"""

from __future__ import annotations

from functools import partial

import numpy as np
import torch

from interp.training.evaluation import evaluate
from interp.training.windows import lr_at

from ._harness import Context, Memory, row
from ._training import StepOptions, Trainer, draw_batch, leaves_clips, make_net

DESCRIPTION = (
    "Two identical U-nets (same initial weights, seed 0) trained on the same batches for the same "
    "number of steps, one with the eager fp32 step and one with bf16 autocast + channels_last "
    "(the `cpu` recipe), steps interleaved; both are then evaluated in fp32 (contiguous, eval mode) "
    "with `interp.train.evaluate` on the test split at input PSNR 0, 20 and 40 dB (same windows "
    "and noise for both). The issue's rule: the fastest option may be the default if the test "
    "output PSNR stays within 0.2 dB at input 40 dB. Full: width 32, 600 steps of batch 64 with "
    "the training schedule's learning-rate halvings; one seed, so the difference also holds "
    "run-to-run optimisation noise. On a GPU both train there (bf16 autocast on cuda) and are "
    "evaluated on the CPU."
)
TAU = 2
PSNRS = (0.0, 20.0, 40.0)
TOLERANCE_DB = 0.2


def run(ctx: Context) -> dict:
    width = 8 if ctx.smoke else 32
    bs = 16 if ctx.smoke else 64
    total = 6 if ctx.smoke else 600
    n_seq = 400 if ctx.smoke else 20_000
    n_eval = 64 if ctx.smoke else 1024
    lr = 1e-3

    ctx.log(f"bf16_quality: generating {n_seq} sequences")
    train, test = leaves_clips(n_seq)
    net = make_net(TAU, width, seed=0)
    ref_opts, cand_opts = StepOptions(), StepOptions(bf16=True, channels_last=True)
    ref, cand = Trainer(net, ref_opts, device=ctx.torch_device), Trainer(net, cand_opts, device=ctx.torch_device)
    gen = torch.Generator().manual_seed(1)
    secs = {ref_opts.label: [], cand_opts.label: []}
    losses = {ref_opts.label: [], cand_opts.label: []}
    ctx.log(f"bf16_quality: {total} steps of batch {bs}, width {width}, both precisions interleaved")
    mem = {ref_opts.label: Memory(), cand_opts.label: Memory()}
    for step in range(total):
        batch = tuple(t.to(ctx.torch_device) for t in draw_batch(train, bs, TAU, gen))
        for tr in (ref, cand) if step % 2 == 0 else (cand, ref):  # A B B A: no order bias
            tr.set_lr(lr_at(step / total, lr))
            dt, m, loss = ctx.measure(partial(tr.step, *batch))
            secs[tr.opts.label].append(dt)
            losses[tr.opts.label].append(loss)
            mem[tr.opts.label] = mem[tr.opts.label] | m
        if (step + 1) % max(1, total // 10) == 0:
            ctx.log(f"  step {step + 1}/{total}: loss fp32 {np.mean(losses[ref_opts.label][-20:]):.4g}, "
                    f"bf16 {np.mean(losses[cand_opts.label][-20:]):.4g}")
    for lab, v in losses.items():
        if not np.isfinite(v).all():
            raise AssertionError(f"{lab} training diverged")

    ctx.log(f"bf16_quality: evaluating both on {n_eval} test windows")
    res, eval_mem = {}, Memory()
    for lab, tr in ((ref_opts.label, ref), (cand_opts.label, cand)):
        _, m, res[lab] = ctx.on_cpu().measure(partial(evaluate, tr.eval_net(), test, n=n_eval, seed=1234,
                                                      psnrs=PSNRS))
        eval_mem = eval_mem | m

    skip = min(2, total - 1)  # the first steps are warm-up
    r_rate = bs / np.asarray(secs[ref_opts.label][skip:])
    c_rate = bs / np.asarray(secs[cand_opts.label][skip:])
    rows = [
        row(f"speed/{ref_opts.label}", "training throughput", "samples/s", r_rate, baseline=ref_opts.label,
            baseline_values=r_rate, mem=mem[ref_opts.label], note="per-step rates during this benchmark's training"),
        row(f"speed/{cand_opts.label}", "training throughput", "samples/s", c_rate, baseline=ref_opts.label,
            baseline_values=r_rate, mem=mem[cand_opts.label],
            note="per-step rates, steps interleaved with fp32 (A B B A ...)"),
    ]
    keys = [f"psnr_out@{p:g}dB" for p in PSNRS] + ["onestep"]
    for key in keys:
        a, b = res[ref_opts.label][key], res[cand_opts.label][key]
        diff = b - a
        is_40 = key == "psnr_out@40dB"
        rows.append(row(f"delta_{key}", "test output PSNR, bf16 - fp32", "dB", diff, baseline=ref_opts.label,
                        ratio=10.0 ** (-diff / 10.0), fp32_db=a, bf16_db=b, mem=eval_mem,
                        target=-TOLERANCE_DB if is_40 else None,
                        meets_target=bool(diff >= -TOLERANCE_DB) if is_40 else None,
                        note=f"fp32 {a:.3f} dB, bf16+channels_last {b:.3f} dB; ratio = 10^(-diff/10), "
                             "the output MSE ratio bf16/fp32 (geometric mean over windows)"
                             + ("; target: bf16 at most 0.2 dB below fp32" if is_40 else "")))
    return {"rows": rows, "notes": [
        f"width {width}, batch {bs}, {total} steps ({total * bs} samples), Adam lr {lr:g} with "
        f"interp.train.lr_at halvings, {len(train)} training / {len(test)} test sequences, "
        f"{n_eval} evaluation windows.",
        "final training-loss (last 20 steps, mean): " + ", ".join(
            f"{k} {np.mean(v[-20:]):.4g}" for k, v in losses.items()),
    ]}
