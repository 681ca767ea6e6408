"""The training step of :func:`interp.train.train`, rebuilt for timing (same math, same options)."""

from __future__ import annotations

import copy
import dataclasses
import warnings

import torch

from interp.nets.unet import UNet
from interp.training.loss import Weighting, denoising_loss
from interp.training.windows import draw_windows, sample_noise_levels


@dataclasses.dataclass(frozen=True)
class StepOptions:
    bf16: bool = False
    channels_last: bool = False
    compile: bool = False

    @property
    def label(self) -> str:
        parts = ["compile" if self.compile else "eager", "bf16" if self.bf16 else "fp32"]
        if self.channels_last:
            parts.append("channels_last")
        return "_".join(parts)


def make_net(tau: int, width: int, seed: int = 0) -> UNet:
    torch.manual_seed(seed)
    return UNet(tau=tau, width=width)


class Trainer:
    """One network + Adam, stepping like ``interp.train.train`` with the given options."""

    def __init__(self, net: UNet, opts: StepOptions, lr: float = 1e-3, copy_net: bool = True,
                 device: str | torch.device = "cpu", weighting: Weighting = Weighting()):  # noqa: B008 - frozen
        self.opts, self.weighting = opts, weighting
        self.device = torch.device(device)
        self.mf = torch.channels_last if opts.channels_last else torch.contiguous_format
        self.net = (copy.deepcopy(net) if copy_net else net).to(device=self.device, memory_format=self.mf)
        self.net.train()
        self.opt = torch.optim.Adam(self.net.parameters(), lr=lr)
        if opts.compile:
            # importing inductor touches a deprecated torch.jit API inside torch itself
            warnings.filterwarnings("ignore", message=r"`torch\.jit\.script_method` is deprecated",
                                    category=DeprecationWarning)
        self.step_net = torch.compile(self.net) if opts.compile else self.net

    def set_lr(self, lr: float) -> None:
        for g in self.opt.param_groups:
            g["lr"] = lr

    def step(self, c: torch.Tensor, x: torch.Tensor, sigma: torch.Tensor, z: torch.Tensor) -> float:
        """One optimizer step on a batch with :func:`interp.loss.denoising_loss` (Algorithm 1).

        A batch on the CPU is moved to the trainer's device first, as the training loop does.
        """
        c, x, sigma, z = (t.to(self.device, non_blocking=True) for t in (c, x, sigma, z))
        c, x = c.contiguous(memory_format=self.mf), x.contiguous(memory_format=self.mf)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.opts.bf16):
            loss = denoising_loss(self.step_net, x, c, sigma, z, self.weighting)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss.item()

    def eval_net(self) -> UNet:
        """The network in fp32, contiguous layout, eval mode, on the CPU (for :func:`interp.train.evaluate`,
        which draws its windows there)."""
        return self.net.to(device="cpu", memory_format=torch.contiguous_format).eval()


def draw_batch(clips: torch.Tensor, bs: int, tau: int, gen: torch.Generator):
    """(c, x, sigma, z) as the training loop draws them: windows, log-uniform sigma, noise."""
    win = draw_windows(clips, bs, tau + 1, gen)
    c, x = win[:, :tau], win[:, tau:]
    sigma = sample_noise_levels(bs, gen)
    z = torch.randn(x.shape, generator=gen)
    return c, x, sigma, z


def leaves_clips(n: int, seed: int = 0):
    """(train clips, test clips) as float32 tensors from ``n`` moving-leaves sequences."""
    import numpy as np

    from interp.data.leaves import generate

    ds = generate(n, seed)
    test = ds.meta["test"].astype(bool)
    return (torch.from_numpy(np.ascontiguousarray(ds.frames[~test])),
            torch.from_numpy(np.ascontiguousarray(ds.frames[test])))
