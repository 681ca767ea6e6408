"""Denoising performance logged during training: output PSNR at a few input PSNRs, and the one-step estimate."""

from __future__ import annotations

import torch

from interp._util.metrics import psnr
from interp.training.windows import draw_windows

EVAL_PSNRS = (0.0, 20.0, 40.0)  # input PSNR levels logged during training


ONESTEP_SIGMA = 3.0  # the sampler's initial noise: y0 = 0.5 + 3 z (section 2.3)


# ------------------------------------------------------------------------------ evaluation
@torch.no_grad()
def evaluate(net: torch.nn.Module, clips: torch.Tensor, n: int | None = 512, seed: int = 1234,
             psnrs=EVAL_PSNRS, batch: int = 256) -> dict[str, float]:
    """Mean output PSNR on fixed test windows at the given input PSNRs, and the one-step estimate.

    ``n`` windows at random positions of random sequences, or with ``n=None`` one window at
    a random position of every sequence (the whole split, each sequence counted once); PSNR
    is computed per window, then averaged.

    ``onestep`` is the PSNR of x_hat(0.5 + 3 z, c) against the true next frame: the estimate
    the sampler starts from (given the real conditioning frames, no information in y).
    For a prediction-only network, ``predict`` is the PSNR of net(c).
    """
    was_training = net.training
    net.eval()
    dev = next(net.parameters()).device
    g = torch.Generator().manual_seed(seed)
    tau = net.tau
    if n is None:
        n = len(clips)
        t0 = torch.randint(clips.shape[1] - tau, (n,), generator=g)
        win = clips[torch.arange(n)[:, None], t0[:, None] + torch.arange(tau + 1)]
    else:
        win = draw_windows(clips, n, tau + 1, g)
    c, x = win[:, :tau].to(dev), win[:, tau:].to(dev)
    out: dict[str, float] = {}
    noise = torch.randn(x.shape, generator=g).to(dev)
    try:
        if getattr(net, "predict_only", False):
            out["predict"] = torch.cat([psnr(net(c[i:i + batch]), x[i:i + batch]) for i in range(0, n, batch)]).mean().item()
            return out
        for p in psnrs:
            sigma = 10.0 ** (-p / 20.0)
            y = x + sigma * noise
            est = torch.cat([net(y[i:i + batch], c[i:i + batch]) for i in range(0, n, batch)])
            out[f"psnr_out@{p:g}dB"] = psnr(est, x).mean().item()
        y0 = 0.5 + ONESTEP_SIGMA * noise
        est = torch.cat([net(y0[i:i + batch], c[i:i + batch]) for i in range(0, n, batch)])
        out["onestep"] = psnr(est, x).mean().item()
    finally:
        net.train(was_training)
    return out
