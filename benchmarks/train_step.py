"""train_step: training samples/s of the U-net per precision / layout / compile option."""

from __future__ import annotations

import numpy as np
import torch

from ._harness import Candidate, Context, error_row, interleaved, row
from ._training import StepOptions, Trainer, draw_batch, leaves_clips, make_net

DESCRIPTION = (
    "Training samples/s of `interp.unet.UNet` (tau 2; full: width 32, batch 128, 32x32 frames) for "
    "the training step of `interp.train.train` (forward, loss mean((x_hat - x)^2)/sigma^2, backward, "
    "Adam) on a fixed batch, so data loading is excluded (see train_data_overhead). Variants: eager "
    "fp32 (the baseline), bf16 autocast, channels_last, both, and torch.compile of fp32 and of bf16 + "
    "channels_last, interleaved round by round with the baseline. torch.compile's warm-up (its first "
    "calls, which compile) is excluded from the timing and reported in the note; a variant whose "
    "compilation fails stays in the table with its error. FLOPs per training sample are counted from "
    "the network by torch.utils.flop_counter.FlopCounterMode on one 32x32 sample: forward and "
    "backward of the step (convolutions, transposed convolutions and their gradients; Adam's "
    "elementwise work is not counted). The share of the arithmetic limit is achieved FLOP/s over the "
    "peak FLOP/s of the same precision measured in the same rounds: the faster of a large square "
    "matmul and a large 3x3 convolution of that precision. Smoke: width 8, batch 16, and of the "
    "compile variants only bf16 + channels_last."
)

TAU = 2


def count_flops(width: int, size: int = 32) -> tuple[float, float]:
    """(forward FLOPs, forward + backward FLOPs) of one training sample, counted from the U-net.

    The backward pass is the training step's: gradients of the weights and of every activation,
    but not of the inputs, which do not require grad (as in training).
    """
    from torch.utils.flop_counter import FlopCounterMode

    net = make_net(TAU, width)
    y, c = torch.rand(1, 1, size, size), torch.rand(1, TAU, size, size)
    with FlopCounterMode(display=False) as fwd:
        net(y, c)
    with FlopCounterMode(display=False) as both:
        net(y, c).pow(2).mean().backward()
    return float(fwd.get_total_flops()), float(both.get_total_flops())


def peak_candidates(n: int, conv: tuple[int, int, int], device: torch.device,
                    reps: int) -> tuple[list[Candidate], dict[str, str]]:
    """References for the arithmetic limit of each precision, with a description of each.

    An n x n matmul (torch.mm: on the CPU MKL for fp32, oneDNN for bf16; cuBLAS on a GPU) and a
    large 3x3 convolution (channels_last, ``conv`` = (batch, channels, size)). Both are kept
    because MKL's fp32 GEMM may not use the widest vector units on every CPU (on AMD it runs
    256-bit code), so the matmul alone can understate what the convolutions reach.
    """
    g = torch.Generator().manual_seed(0)
    a32, b32 = torch.randn(n, n, generator=g).to(device), torch.randn(n, n, generator=g).to(device)
    mm_flops = 2.0 * n**3 * reps
    cb, ch, cs = conv
    x32 = torch.randn(cb, ch, cs, cs, generator=g).to(device).contiguous(memory_format=torch.channels_last)
    w32 = torch.randn(ch, ch, 3, 3, generator=g).to(device).contiguous(memory_format=torch.channels_last)
    conv_flops = 2.0 * cb * cs * cs * ch * ch * 9

    def mm(a, b):
        def f():
            for _ in range(reps):
                torch.mm(a, b)
        return f

    def cv(x, w):
        def f():
            torch.nn.functional.conv2d(x, w, padding=1)
        return f

    cands = [Candidate("matmul_fp32", mm(a32, b32), mm_flops),
             Candidate("matmul_bf16", mm(a32.bfloat16(), b32.bfloat16()), mm_flops),
             Candidate("conv3x3_fp32", cv(x32, w32), conv_flops),
             Candidate("conv3x3_bf16", cv(x32.bfloat16(), w32.bfloat16()), conv_flops)]
    desc = {f"matmul_{p}": f"{n}x{n} {p} torch.mm, {reps} per call" for p in ("fp32", "bf16")}
    desc.update({f"conv3x3_{p}": f"{p} 3x3 convolution, batch {cb}, {ch}->{ch} channels, {cs}x{cs}, "
                 "channels_last" for p in ("fp32", "bf16")})
    if device.type == "cuda":
        desc["matmul_fp32"] += f" (TF32 {'on' if torch.backends.cuda.matmul.allow_tf32 else 'off'})"
        desc["conv3x3_fp32"] += f" (cuDNN TF32 {'on' if torch.backends.cudnn.allow_tf32 else 'off'})"
    return cands, desc


def run(ctx: Context) -> dict:
    dev = ctx.torch_device
    width = 8 if ctx.smoke else 32
    bs = 16 if ctx.smoke else 128
    steps = 2 if ctx.smoke else 3  # steps per timed call
    repeats = 3 if ctx.smoke else 5
    if ctx.cuda:
        mm_n, mm_reps = (1024, 10) if ctx.smoke else (8192, 10)
        conv_ref = (8, 64, 16) if ctx.smoke else (256, 256, 32)
    else:
        mm_n, mm_reps = (256, 20) if ctx.smoke else (2048, 2)
        conv_ref = (2, 64, 16) if ctx.smoke else (64, 256, 16)
    variants = [StepOptions(), StepOptions(bf16=True), StepOptions(channels_last=True),
                StepOptions(bf16=True, channels_last=True)]
    if not ctx.smoke:
        variants.append(StepOptions(compile=True))
    variants.append(StepOptions(bf16=True, channels_last=True, compile=True))

    train, _ = leaves_clips(64 if ctx.smoke else 1000)
    c, x, sigma, z = (t.to(dev) for t in draw_batch(train, bs, TAU, torch.Generator().manual_seed(1)))
    base_net = make_net(TAU, width)

    trainers, warm_s, warm_mem, failures = {}, {}, {}, {}
    for opts in variants:
        n_warm = 3 if opts.compile else 1
        ctx.log(f"train_step: warm-up {opts.label} ({n_warm} steps)")

        def warm(opts=opts, n_warm=n_warm):
            tr = Trainer(base_net, opts, device=dev)
            for _ in range(n_warm):
                tr.step(c, x, sigma, z)
            return tr

        try:
            warm_s[opts.label], warm_mem[opts.label], trainers[opts.label] = ctx.measure(warm)
        except Exception as err:  # torch.compile needs a working compiler toolchain
            if not opts.compile:
                raise
            failures[opts.label] = err
            ctx.log(f"train_step: {opts.label} failed: {type(err).__name__}: {' '.join(str(err).split())[:300]}")

    def stepper(tr):
        def f():
            for _ in range(steps):
                tr.step(c, x, sigma, z)
        return f

    ctx.log(f"train_step: {len(trainers)} variants + peak references x {repeats} rounds x "
            f"{steps} steps of batch {bs}")
    refs, ref_desc = peak_candidates(mm_n, conv_ref, dev, mm_reps)
    for c_ in refs:
        c_.fn()  # warm-up
    tm = interleaved([Candidate(label, stepper(tr), steps * bs) for label, tr in trainers.items()] + refs,
                     repeats, warmup=0, ctx=ctx)
    base_label = StepOptions().label
    base = tm.rates(base_label)

    flop_s, flop_mem, (fwd_flops, train_flops) = ctx.on_cpu().measure(lambda: count_flops(width))
    # the arithmetic limit of a precision, per round: the faster of its two references
    peak = {p: np.maximum(tm.rates(f"matmul_{p}"), tm.rates(f"conv3x3_{p}")) for p in ("fp32", "bf16")}

    rows = []
    for opts in variants:
        label = opts.label
        note = f"width {width}, batch {bs}, {steps} steps per timed call"
        if label in failures:
            rows.append(error_row(label, "training throughput", "samples/s", failures[label],
                                  note=note + "; torch.compile failed during its warm-up, so this variant "
                                              "was not timed"))
            continue
        if opts.compile:
            note += f"; compile warm-up (3 steps, excluded) {warm_s[label]:.1f} s"
        rows.append(row(label, "training throughput", "samples/s", tm.rates(label), baseline=base_label,
                        baseline_values=base, mem=tm.memory[label] | warm_mem[label],
                        warmup_s=warm_s[label], note=note))
    rows.append(row("flops/forward", "FLOPs per sample, forward", "MFLOP", fwd_flops / 1e6, mem=flop_mem,
                    note=f"counted by FlopCounterMode, width {width}, one 32x32 sample"))
    rows.append(row("flops/train_step", "FLOPs per training sample, forward + backward", "MFLOP",
                    train_flops / 1e6, baseline="flops/forward", ratio=train_flops / fwd_flops, mem=flop_mem,
                    note="counted by FlopCounterMode (no input gradients, as in training); "
                         "ratio = forward + backward / forward"))
    mm32 = tm.rates("matmul_fp32") / 1e9
    for ref in ("matmul_fp32", "conv3x3_fp32", "matmul_bf16", "conv3x3_bf16"):
        rows.append(row(f"peak/{ref}", "reference FLOP/s", "GFLOP/s", tm.rates(ref) / 1e9,
                        baseline="peak/matmul_fp32", baseline_values=mm32, mem=tm.memory[ref],
                        note=ref_desc[ref]))
    for label, tr in trainers.items():
        prec = "bf16" if tr.opts.bf16 else "fp32"
        achieved = tm.rates(label) * train_flops
        share = achieved / peak[prec]  # per round: the references ran in the same round
        share_mm = achieved / tm.rates(f"matmul_{prec}")
        rows.append(row(f"share_of_peak/{label}", "achieved / peak FLOP/s", "fraction", share,
                        baseline=f"peak_{prec}", ratio=float(np.median(share)), mem=tm.memory[label],
                        achieved_gflops=float(np.median(achieved)) / 1e9,
                        share_of_matmul=float(np.median(share_mm)),
                        note=f"{float(np.median(achieved)) / 1e9:.1f} GFLOP/s achieved of "
                             f"{float(np.median(peak[prec])) / 1e9:.1f} ({prec} peak); "
                             f"{float(np.median(share_mm)):.2f} of the {prec} matmul alone"))
    fastest = max(trainers, key=lambda k: float(np.median(tm.rates(k))))
    compiled = [k for k in trainers if "compile" in k]
    notes = [
        f"FLOPs per training sample (counted forward + backward): {train_flops / 1e6:.1f} MFLOP "
        f"(forward {fwd_flops / 1e6:.1f} MFLOP, 3 x forward = {3 * fwd_flops / 1e6:.1f}), width {width}, 32x32 "
        f"input, tau {TAU}; counting took {flop_s:.2f} s.",
        "peak_fp32 / peak_bf16: per round, the faster of the large matmul and the large 3x3 convolution of "
        "that precision (MKL's fp32 GEMM runs 256-bit code on AMD CPUs, so on them the fp32 matmul "
        "understates the vector units' limit; see the peak/ rows).",
        f"fastest variant in this run: {fastest}. The `cpu` recipe of interp.train uses bf16 autocast + "
        "channels_last without compile.",
        "compile variants: " + ("; ".join(f"{k} warm-up {warm_s[k]:.1f} s" for k in compiled)
                                + " (inductor caches compiled code on disk: a repeat run warms up faster "
                                "than a cold one)" if compiled else "none compiled")
        + "".join(f"; {k} FAILED" for k in failures)
        + ("; smoke: only compile_bf16_channels_last" if ctx.smoke else ""),
    ]
    if ctx.cuda:
        notes.append("GPU: networks, batches and references on the GPU, timed with CUDA events; autocast on "
                     "cuda with bf16.")
    return {"rows": rows, "notes": notes}
