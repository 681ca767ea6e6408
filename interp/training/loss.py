"""Algorithm 1's training loss and the weightings of its noise levels.

The paper trains the conditional denoiser f by minimising (Algorithm 1, line 7)

    E_{x, c, sigma, z} [ lambda(sigma) || f(x + sigma z, c) - x ||^2 ],   z ~ N(0, I),

with log sigma^2 uniform on [log 1e-5, log 1e2] and lambda(sigma) = 1 / sigma^2. The weighting
decides which end of the noise range a run of finite length learns best: the paper's puts
nearly all of the loss on nearly clean inputs. :class:`Weighting` names the choices a model
card can make (``[train] weighting``); all of them change only the loss, so the network stays
blind to sigma and bias-free.

:class:`AdaptiveWeighting` (``weighting = "adaptive"``) is the one weighting with a state: it
divides each noise level's squared error by a running average of the network's own squared
error at that level, so every level's loss stays near 1 and every level learns at the same
relative rate, whatever the network is good or bad at so far.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Sequence

import torch

from interp._util.errors import InterpError

__all__ = ["WEIGHTINGS", "AdaptiveWeighting", "Weighting", "denoising_loss"]

WEIGHTINGS = ("paper", "cap", "edm", "adaptive")


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
        if self.name == "adaptive":
            raise InterpError("the adaptive weighting has a state: use AdaptiveWeighting (Weighting.from_recipe "
                              "gives one for weighting = \"adaptive\")")
        if self.name not in WEIGHTINGS:
            raise InterpError(f"unknown weighting {self.name!r}; choose one of {', '.join(WEIGHTINGS)}")
        if (self.name == "cap") != (self.cap is not None) or (self.cap is not None and not self.cap > 0):
            raise InterpError("the 'cap' weighting needs a positive cap, and only it takes one")
        if (self.name == "edm") != (self.sigma_data is not None) \
                or (self.sigma_data is not None and not self.sigma_data > 0):
            raise InterpError("the 'edm' weighting needs a positive sigma_data, and only it takes one")

    @classmethod
    def from_recipe(cls, recipe: dict) -> "Weighting | AdaptiveWeighting":
        """The weighting a card's merged ``[train]`` table names (``weighting``, ``weight_cap``,
        ``sigma_data``); ``weight_cap`` alone means ``cap``, nothing at all means ``paper``;
        ``adaptive`` gives a fresh :class:`AdaptiveWeighting`."""
        name = recipe.get("weighting") or ("cap" if recipe.get("weight_cap") is not None else "paper")
        if name == "adaptive":
            return AdaptiveWeighting()
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


class AdaptiveWeighting:
    """lambda(sigma) = 1 / m(sigma), m a running average of the network's own squared error at
    sigma's noise band.

    The noise variances of Algorithm 1 (log-uniform on [1e-5, 1e2]) are cut into ``bands``
    equal bands of log sigma^2 (28: a quarter decade each). Each training step first averages
    the batch's per-example squared errors within each band (over every process under
    ``torch.distributed``) and folds them into that band's running mean, m <- decay m + (1 -
    decay) mean (the first observation sets it); then it weights each example by 1 / m of its
    band. Every band's weighted loss so stays near 1, and the gradient is that of the sum over
    bands of log MSE: each noise level improves at the same *relative* rate, the clean end
    (where the MSE is ~1e-5) as much as the prediction end (~1e-3). The minimiser is still the
    MMSE denoiser at every level, as for any positive weighting; the weights only set how a
    finite run shares its capacity and steps between the levels.

    This is the uncertainty weighting of multi-task losses (Kendall, Gal & Cipolla 2018, "Multi-task
    learning using uncertainty to weigh losses") applied per noise level, as EDM2 does (Karras et
    al. 2024, "Analyzing and improving the training dynamics of diffusion models", sec. 5: a
    learned log-variance u(sigma) with loss e^-u(sigma) MSE + u(sigma)); here the optimum of
    that per-band loss, e^u = E[MSE], is estimated directly by the running mean, so no extra
    parameters train. The network stays blind to sigma and bias-free.

    Its state (:meth:`state`) goes into the checkpoint so a resumed run weights exactly as an
    uninterrupted one.
    """

    name = "adaptive"

    def __init__(self, bands: int = 28, decay: float = 0.98, lo: float = 1e-5, hi: float = 1e2):
        if not (isinstance(bands, int) and bands > 0 and 0 <= decay < 1 and 0 < lo < hi):
            raise InterpError("AdaptiveWeighting needs bands > 0, 0 <= decay < 1 and 0 < lo < hi")
        self.bands, self.decay, self.lo, self.hi = bands, decay, lo, hi
        self.means = torch.zeros(bands, dtype=torch.float64)

    def band(self, sigma: torch.Tensor) -> torch.Tensor:
        """The band index of each noise level (levels outside [lo, hi] go to the end bands)."""
        u = (torch.log(sigma.detach().double().reshape(-1).cpu() ** 2) - math.log(self.lo)) \
            / (math.log(self.hi) - math.log(self.lo))
        return (u * self.bands).floor().long().clamp(0, self.bands - 1)

    def observe(self, sigma: torch.Tensor, err: torch.Tensor) -> None:
        """Fold a batch's per-example squared errors into the running means of their bands."""
        b = self.band(sigma)
        sums = torch.zeros(self.bands, dtype=torch.float64).index_add_(0, b, err.detach().double().cpu())
        counts = torch.zeros(self.bands, dtype=torch.float64).index_add_(0, b, torch.ones(len(b), dtype=torch.float64))
        if torch.distributed.is_available() and torch.distributed.is_initialized() \
                and torch.distributed.get_world_size() > 1:
            both = torch.stack([sums, counts]).to(err.device)
            torch.distributed.all_reduce(both)
            sums, counts = both.cpu().unbind(0)
        seen = counts > 0
        mean = sums[seen] / counts[seen]
        old = self.means[seen]
        self.means[seen] = torch.where(old > 0, self.decay * old + (1 - self.decay) * mean, mean)

    def __call__(self, sigma: torch.Tensor) -> torch.Tensor:
        m = self.means[self.band(sigma)]
        if not (m > 0).all():
            raise InterpError("AdaptiveWeighting: a band has no running mean yet; call observe() on the batch first")
        return (1.0 / m).to(device=sigma.device, dtype=torch.float32)

    def state(self) -> list[float]:
        """The running means, one per band (JSON-ready; floats round-trip exactly)."""
        return [float(v) for v in self.means]

    def load_state(self, means: Sequence[float]) -> None:
        """Restore :meth:`state`; a one-line error for anything but ``bands`` finite numbers >= 0."""
        ok = isinstance(means, (list, tuple)) and len(means) == self.bands and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0 for v in means)
        if not ok:
            raise InterpError(f"the adaptive weighting's state must be {self.bands} finite numbers >= 0")
        self.means = torch.tensor([float(v) for v in means], dtype=torch.float64)

    def __eq__(self, other) -> bool:
        return isinstance(other, AdaptiveWeighting) and (self.bands, self.decay, self.lo, self.hi) == \
            (other.bands, other.decay, other.lo, other.hi) and torch.equal(self.means, other.means)

    __hash__ = None

    def __repr__(self) -> str:
        return f"AdaptiveWeighting(bands={self.bands}, decay={self.decay})"

    def __str__(self) -> str:
        return f"1/m(sigma), m the running mean squared error in sigma's band ({self.bands} bands of log sigma^2)"


def denoising_loss(net: Callable, x: torch.Tensor, c: torch.Tensor, sigma: torch.Tensor, noise: torch.Tensor,
                   weighting: Weighting | AdaptiveWeighting | Callable[[torch.Tensor], torch.Tensor] = Weighting(),
                   ) -> torch.Tensor:
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
        lambda(sigma) of each example (default: the paper's 1 / sigma^2). A weighting with an
        ``observe(sigma, err)`` method (:class:`AdaptiveWeighting`) first sees the batch's
        per-example squared errors, then weights them.

    Returns the scalar loss; its gradient is that of Algorithm 1, line 7, for the batch.
    """
    sigma = sigma.reshape(-1)
    y = x + sigma.view(-1, *([1] * (x.dim() - 1))).to(x.dtype) * noise
    err = (net(y, c).float() - x.float()).pow(2).flatten(1).mean(1)
    if hasattr(weighting, "observe"):
        weighting.observe(sigma, err)
    return (weighting(sigma) * err).mean()
