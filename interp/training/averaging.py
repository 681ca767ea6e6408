"""Averaged weights: an exponential moving average (EMA) of a network's weights during training.

Diffusion models are sampled with averaged weights (Karras et al. 2022, "Elucidating the design
space ...", appendix F; Karras et al. 2024, "Analyzing and improving the training dynamics of
diffusion models", section 3): the average smooths the optimizer's noise, which denoising
numbers hardly show and samples do. The average of bias-free networks is bias-free: it only
mixes weights of layers that add no constant.

The decay is set by a half-life in training samples, as in EDM: after each step of ``batch``
samples the average moves towards the weights by ``1 - beta``, ``beta = 0.5 ** (batch /
halflife)``, so a sample seen ``halflife`` samples ago counts half as much as the newest. With
``rampup`` the half-life is at most ``rampup`` times the samples seen so far, so the average
forgets the random initial weights early in a run.

Normalization statistics (the running variances of :class:`interp.unet.BiasFreeBatchNorm`) are
not weights: averaged, they would not belong to the averaged weights. :func:`recompute_statistics`
measures them again for the averaged network on training batches.
"""

from __future__ import annotations

import copy
from typing import Iterable

import torch
from torch import nn

from interp.nets.unet import BiasFreeBatchNorm

__all__ = ["ema_beta", "WeightAverage", "recompute_statistics"]


def ema_beta(batch: int, halflife: float, rampup: float | None = None, seen: int | None = None) -> float:
    """The decay of one step of ``batch`` samples for a half-life in samples (see the module docstring)."""
    if rampup and seen is not None:
        halflife = min(halflife, rampup * max(seen, batch))
    return 0.5 ** (batch / max(halflife, 1e-8))


class WeightAverage:
    """An EMA copy of ``net`` (same architecture, fp32, contiguous, eval mode, no gradients).

    ``update(net, beta)`` after each optimizer step; ``average`` is the averaged network, whose
    ``state_dict`` holds the averaged weights and the statistics last recomputed for them.
    """

    def __init__(self, net: nn.Module):
        self.average = copy.deepcopy(net).to(memory_format=torch.contiguous_format).float().eval()
        for p in self.average.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, net: nn.Module, beta: float) -> None:
        avg = list(self.average.parameters())
        cur = [p.detach().float() for p in net.parameters()]
        torch._foreach_lerp_(avg, cur, 1.0 - beta)


@torch.no_grad()
def recompute_statistics(net: nn.Module, batches: Iterable[tuple[torch.Tensor, ...]]) -> bool:
    """Set every batch-norm running estimate of ``net`` to its mean over ``batches`` (inputs of net).

    Each batch is passed through ``net`` in training mode (no gradients), and each layer's running
    variance becomes the plain average of the batches' statistics. Returns whether ``net`` has such
    layers (if not, nothing is run). ``net`` is left in eval mode.
    """
    layers = [m for m in net.modules() if isinstance(m, BiasFreeBatchNorm)]
    if not layers:
        return False
    saved = [m.momentum for m in layers]
    net.train()
    try:
        for k, inputs in enumerate(batches):
            for m in layers:
                m.momentum = 1.0 / (k + 1)  # cumulative mean: the first batch replaces the estimate
            net(*inputs)
    finally:
        for m, mom in zip(layers, saved):
            m.momentum = mom
        net.eval()
    return True
