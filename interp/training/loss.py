"""Algorithm 1's training loss and the weightings of its noise levels.

The paper trains the conditional denoiser f by minimising (Algorithm 1, line 7)

    E_{x, c, sigma, z} [ lambda(sigma) || f(x + sigma z, c) - x ||^2 ],   z ~ N(0, I),

with log sigma^2 uniform on [log 1e-5, log 1e2] and lambda(sigma) = 1 / sigma^2. The weighting
decides which end of the noise range a run of finite length learns best: the paper's puts
nearly all of the loss on nearly clean inputs. :class:`Weighting` names the choices a model
card can make (``[train] weighting``); all of them change only the loss, so the network stays
blind to sigma and bias-free.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import torch

from interp._util.errors import InterpError

__all__ = ["WEIGHTINGS", "Weighting", "denoising_loss"]

WEIGHTINGS = ("paper", "cap", "edm")


@dataclasses.dataclass(frozen=True)
class Weighting:
    """The loss weight lambda(sigma) of one noise level.

    ``paper``
        lambda = 1 / sigma^2 (Algorithm 1; the VE loss of Karras et al. 2022, "Elucidating
        the design space of diffusion-based generative models", table 1).
    ``cap``
        lambda = min(1 / sigma^2, cap): the paper's weight above sigma = cap^-1/2 and a
        constant below it (``cap = 1`` is plain MSE for inputs above 0 dB).
    ``edm``
        lambda = 1 / sigma^2 + 1 / sigma_data^2 (Karras et al. 2022, section 5, "loss
        weighting"): the paper's weight where sigma << sigma_data, a constant where sigma >>
        sigma_data. For data of standard deviation sigma_data it is 1 / MMSE(sigma) of the
        best linear denoiser, so every noise level's loss starts near 1. Here the unknown is
        the next frame *given the past*, whose spread is far below the frames' own, so a
        ``sigma_data`` well below EDM's 0.5 weights the high-noise end more.
    """

    name: str = "paper"
    cap: float | None = None
    sigma_data: float | None = None

    def __post_init__(self):
        if self.name not in WEIGHTINGS:
            raise InterpError(f"unknown weighting {self.name!r}; choose one of {', '.join(WEIGHTINGS)}")
        if (self.name == "cap") != (self.cap is not None) or (self.cap is not None and not self.cap > 0):
            raise InterpError("the 'cap' weighting needs a positive cap, and only it takes one")
        if (self.name == "edm") != (self.sigma_data is not None) \
                or (self.sigma_data is not None and not self.sigma_data > 0):
            raise InterpError("the 'edm' weighting needs a positive sigma_data, and only it takes one")

    @classmethod
    def from_recipe(cls, recipe: dict) -> "Weighting":
        """The weighting a card's merged ``[train]`` table names (``weighting``, ``weight_cap``,
        ``sigma_data``); ``weight_cap`` alone means ``cap``, nothing at all means ``paper``."""
        name = recipe.get("weighting") or ("cap" if recipe.get("weight_cap") is not None else "paper")
        return cls(name, cap=recipe.get("weight_cap") if name == "cap" else None,
                   sigma_data=recipe.get("sigma_data") if name == "edm" else None)

    def __call__(self, sigma: torch.Tensor) -> torch.Tensor:
        w = sigma.float().pow(-2)
        if self.name == "cap":
            return w.clamp(max=self.cap)
        if self.name == "edm":
            return w + self.sigma_data ** -2
        return w

    def __str__(self) -> str:
        if self.name == "cap":
            return f"min(1/sigma^2, {self.cap:g})"
        return f"1/sigma^2 + 1/{self.sigma_data:g}^2" if self.name == "edm" else "1/sigma^2"


def denoising_loss(net: Callable, x: torch.Tensor, c: torch.Tensor, sigma: torch.Tensor, noise: torch.Tensor,
                   weighting: Weighting | Callable[[torch.Tensor], torch.Tensor] = Weighting()) -> torch.Tensor:
    """Algorithm 1's loss on a batch: mean_i lambda(sigma_i) ||f(x_i + sigma_i z_i, c_i) - x_i||^2 / d.

    Parameters
    ----------
    net : callable
        The denoiser, ``net(y, c) -> x_hat`` with y and x_hat [B, 1, H, W] (run it under
        autocast to train in bf16; the squared error is taken in fp32).
    x : Tensor [B, 1, H, W]
        Clean next frames.
    c : Tensor [B, tau, H, W]
        Their conditioning frames, oldest first.
    sigma : Tensor [B] (or any shape with B elements)
        Noise standard deviation of each example.
    noise : Tensor like x
        Standard normal draws z; the observation is y = x + sigma z.
    weighting : Weighting or callable
        lambda(sigma) of each example (default: the paper's 1 / sigma^2).

    Returns the scalar loss; its gradient is that of Algorithm 1, line 7, for the batch.
    """
    sigma = sigma.reshape(-1)
    y = x + sigma.view(-1, *([1] * (x.dim() - 1))).to(x.dtype) * noise
    err = (net(y, c).float() - x.float()).pow(2).flatten(1).mean(1)
    return (weighting(sigma) * err).mean()
