"""entropy_cost: what the conditional-entropy estimate (interp.analysis.entropy) costs per 1000 clips."""

from __future__ import annotations

import numpy as np
import torch

from ._harness import Candidate, Context, interleaved, row, shipped_network

DESCRIPTION = (
    "Cost of `interp.analysis.entropy.conditional_entropy` (the I-MMSE estimate of the next frame's "
    "conditional entropy). `default`: the default estimate (57 noise levels on [1e-5, 1e2], one noise "
    "draw per clip and level, 1000 bootstrap resamples) of N moving-leaves test clips, interleaved with "
    "`default_forward`, the baseline: the same network evaluations alone (57 batched forward passes of "
    "the same clips with fresh noise, no bookkeeping, no bootstrap), so the ratio is the estimator's own "
    "overhead. `figure`: the figure's setting (22 levels, 500 resamples). Both are reported as wall "
    "seconds per 1000 clips (the cost is linear in the clips, which go to the network in batches of up "
    "to 256); `evaluations/...` counts the network evaluations (one image each) the estimate made, per "
    "1000 clips, with a counting wrapper around the network. Warm-up: a 2-level estimate and 2 levels "
    "of forward passes. Full: the shipped model models/leaves-tau2.safetensors (tau 2, width 32) on 32 "
    "clips of 32x32 frames. Smoke: an untrained UNet(tau=2, width=4), 16 clips of 16x16, 9 and 5 levels."
)
TAU = 2


class _Counting:
    """The network, counting the images it is asked to denoise."""

    def __init__(self, net):
        self.net, self.images, self.tau = net, 0, net.tau

    def __call__(self, y, c):
        self.images += y.shape[0]
        return self.net(y, c)


def _clips(n: int, size: int) -> np.ndarray:
    from interp.data.leaves import generate

    ds = generate(12 * n, 0).test
    return np.ascontiguousarray(ds.frames[:n, :, :size, :size])


def run(ctx: Context) -> dict:
    from interp.analysis.entropy import conditional_entropy, noise_levels

    smoke = ctx.smoke
    net, model_desc = shipped_network(smoke, TAU)
    net = net.to(ctx.torch_device).eval()
    n = 16 if smoke else 32
    size = 16 if smoke else 32
    clips = _clips(n, size)
    settings = [("default", 9 if smoke else 57, 1000), ("figure", 5 if smoke else 22, 500)]
    rounds = 2 if smoke else 3
    per_k = 1000.0 / n
    rows_out = []
    for name, levels, n_boot in settings:
        counter = _Counting(net)
        sigma = torch.from_numpy(np.sqrt(noise_levels(levels))).float()
        x = torch.from_numpy(clips[:, -1:]).to(ctx.torch_device)
        c = torch.from_numpy(clips[:, -1 - TAU:-1]).to(ctx.torch_device)
        gen = torch.Generator().manual_seed(0)

        def estimate(counter=counter, levels=levels, n_boot=n_boot):
            conditional_entropy(counter, clips, seed=0, levels=levels, n_boot=n_boot)
            ctx.sync()

        def forward(sigma=sigma, x=x, c=c, gen=gen):
            with torch.no_grad():
                for s in sigma:
                    z = torch.randn(x.shape, generator=gen).to(x.device)
                    for lo in range(0, len(x), 256):
                        net(x[lo:lo + 256] + s * z[lo:lo + 256], c[lo:lo + 256])
            ctx.sync()

        base = f"{name}_forward"
        ctx.log(f"entropy_cost: {name} ({levels} levels, {n_boot} resamples) on {n} clips against {base}, "
                f"{rounds} rounds, {model_desc}")
        # warm-up: a short estimate and the forward passes of two levels (the full calls take minutes here)
        conditional_entropy(net, clips, seed=0, levels=2, n_boot=10)
        forward(sigma=sigma[:2])
        tm = interleaved([Candidate(name, estimate), Candidate(base, forward)], rounds, warmup=0, ctx=ctx)
        evals = counter.images / rounds
        est_s = np.asarray(tm.seconds[name]) * per_k
        fwd_s = np.asarray(tm.seconds[base]) * per_k
        rows_out.append(row(f"{name}/per_1000_clips", "wall time of the estimate per 1000 clips", "s", est_s,
                            baseline=f"{base}/per_1000_clips", baseline_values=fwd_s, mem=tm.memory[name],
                            levels=levels, n_boot=n_boot, clips=n,
                            note=f"{levels} levels, {n_boot} bootstrap resamples; measured on {n} clips and scaled "
                                 "to 1000; ratio = estimate / its network evaluations alone, per round"))
        rows_out.append(row(f"{base}/per_1000_clips", "wall time of the network evaluations alone per 1000 clips",
                            "s", fwd_s, baseline=f"{base}/per_1000_clips", baseline_values=fwd_s,
                            mem=tm.memory[base]))
        rows_out.append(row(f"evaluations/{name}", "network evaluations per 1000 clips", "images",
                            evals * per_k, mem=tm.memory[name],
                            note=f"counted: {int(evals)} images per estimate of {n} clips (levels x repeats x clips)"))
    notes = [f"Setting: {model_desc}; {n} moving-leaves test clips (seed 0), {size}x{size}, target frame drawn "
             f"per clip; all {n} clips in one network call per level."]
    if smoke:
        notes.append("smoke: tiny untrained net, small frames and few levels; the numbers exercise the harness only.")
    return {"rows": rows_out, "notes": notes}
