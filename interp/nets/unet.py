"""The bias-free sequence-to-image U-net of appendix C.

Input: the tau past frames ``c`` [B, tau, H, W] (oldest first) and one noisy observation of
the next frame ``y`` [B, 1, H, W], stacked along the time axis into tau + 1 input channels
(the paper's (tau + 1) x 3 x 3 spatio-temporal first kernel is exactly a 2-D convolution over
these channels). Output: the estimated clean next frame x_hat [B, 1, H, W]. As in the paper there is no input-output
skip connection by default; ``skip=True`` adds one (x_hat = y + U-net output, so the U-net
learns the denoising residual and the identity, right at low noise, costs nothing). The sum
is still bias-free and homogeneous; ``benchmarks/recipe.py`` measures both side by side.

Three scales, two blocks of (3x3 convolution, normalization, ReLU) at each; ``width``
channels at the first scale, doubling at each 2x downsampling (max pooling); the decoder
upsamples with a 2x2 transposed convolution that halves the channels and concatenates the
encoder's features of the same scale. At ``width=64`` this is 1.86 million parameters, the
paper's "almost 2 million".

No layer adds a constant (eq. 5 needs it): convolutions have no bias, ReLU and max pooling
commute with positive scaling, and the normalization is one of

``none``
    no normalization (the default; see the model cards for the measurements behind it);
``batch``
    bias-free batch normalization: divide by a running estimate of each channel's standard
    deviation and multiply by a learned gain; no mean subtraction, no shift. At inference the
    statistics are fixed, so the network is homogeneous of degree 1.

So in eval mode f(a y, a c) = a f(y, c) for every a > 0, and by Euler's theorem
x_hat = J_y y + J_c c (eq. 5).

When training runs in several processes (``torchrun``, see :mod:`interp.train`), each holds a
slice of the batch; :func:`share_batch_statistics` makes the ``batch`` layers compute their
training-mode statistics over the whole batch, so the normalization and the running estimate
are those of a single process seeing every example, and identical in every process.
"""

from __future__ import annotations

import torch
from torch import nn

from interp._util.errors import InterpError

__all__ = ["UNet", "BiasFreeBatchNorm", "NORMS", "share_batch_statistics"]

NORMS = ("none", "batch")


class BiasFreeBatchNorm(nn.Module):
    """Scale-only batch normalization: x * gain / sigma, sigma a running estimate in eval mode.

    Training mode divides by the batch's per-channel RMS (over batch and space) and updates
    the running estimate; eval mode uses the estimate, which makes the layer linear.

    ``group`` (a ``torch.distributed`` process group, ``None`` by default) spreads the batch
    over the processes of the group: the training-mode statistic is then the mean over all of
    their examples (every process must hold the same number), and its gradient reaches the
    inputs of every process. Set it with :func:`share_batch_statistics`.
    """

    def __init__(self, channels: int, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        self.gain = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.register_buffer("running_var", torch.ones(1, channels, 1, 1))
        self.momentum, self.eps = momentum, eps
        self.group = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            if self.group is None:
                var = x.float().pow(2).mean(dim=(0, 2, 3), keepdim=True)
            else:
                var = _mean_square_over_group(x, self.group)
            with torch.no_grad():
                self.running_var.lerp_(var.detach(), self.momentum)
        else:
            var = self.running_var
        return x * (self.gain / torch.sqrt(var + self.eps)).to(x.dtype)


class _SumOverGroup(torch.autograd.Function):
    """Differentiable all-reduce (sum): the backward pass sums the gradients the same way."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, group) -> torch.Tensor:
        import torch.distributed as dist

        ctx.group = group
        out = x.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(out, op=dist.ReduceOp.SUM, group=group)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return _SumOverGroup.apply(grad, ctx.group), None


def _mean_square_over_group(x: torch.Tensor, group) -> torch.Tensor:
    """Per-channel mean of x^2 over the batches of all processes of ``group`` (equal sizes).

    The statistic depends on every process's examples, so each process's loss has a gradient
    with respect to the other processes' activations: the backward all-reduce delivers those
    contributions to the process that holds the activations.
    """
    import torch.distributed as dist

    local = x.float().pow(2).sum(dim=(0, 2, 3), keepdim=True)
    count = (x.numel() // x.shape[1]) * dist.get_world_size(group)
    return _SumOverGroup.apply(local, group) / count


def share_batch_statistics(net: nn.Module, group) -> nn.Module:
    """Make every :class:`BiasFreeBatchNorm` of ``net`` pool its batch statistics over ``group``.

    ``group=None`` returns the layers to per-process statistics. Every process of the group
    must run the same training-mode forward passes in the same order, each with the same number
    of examples (as under DistributedDataParallel). Eval mode needs no communication.
    """
    for m in net.modules():
        if isinstance(m, BiasFreeBatchNorm):
            m.group = group
    return net


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "none":
        return nn.Identity()
    if kind == "batch":
        return BiasFreeBatchNorm(channels)
    raise InterpError(f"unknown normalization {kind!r}; choose one of {', '.join(NORMS)}")


class _Block(nn.Sequential):
    """Two (3x3 conv, norm, ReLU) layers."""

    def __init__(self, c_in: int, c_out: int, norm: str):
        super().__init__(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), _norm(norm, c_out), nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), _norm(norm, c_out), nn.ReLU(inplace=True),
        )


class UNet(nn.Module):
    """Bias-free conditional denoiser ``net(y, c) -> x_hat``, or a predictor ``net(c)``.

    Parameters
    ----------
    tau : int
        Number of conditioning frames (0 gives an unconditional denoiser).
    width : int
        Channels at the first scale (the paper uses 64).
    norm : str
        ``"none"`` or ``"batch"`` (see the module docstring).
    predict_only : bool
        The prediction-only network of Fig. 6: input is the tau past frames alone, no noisy
        observation; call it as ``net(c)``.
    skip : bool
        Add the noisy observation to the output (a residual network; not the paper's choice).
    """

    def __init__(self, tau: int = 2, width: int = 64, norm: str = "none", predict_only: bool = False,
                 skip: bool = False):
        super().__init__()
        if tau < 0 or (predict_only and tau < 1):
            raise InterpError(f"tau must be >= 0 (>= 1 for a prediction-only network), got {tau}")
        if width < 1:
            raise InterpError(f"width must be positive, got {width}")
        if skip and predict_only:
            raise InterpError("a prediction-only network has no noisy observation to skip to its output")
        self.skip = bool(skip)
        self.tau, self.width, self.norm, self.predict_only = tau, width, norm, predict_only
        c_in = tau if predict_only else tau + 1
        w = width
        self.enc1 = _Block(c_in, w, norm)
        self.enc2 = _Block(w, 2 * w, norm)
        self.mid = _Block(2 * w, 4 * w, norm)
        self.up2 = nn.ConvTranspose2d(4 * w, 2 * w, 2, stride=2, bias=False)
        self.dec2 = _Block(4 * w, 2 * w, norm)
        self.up1 = nn.ConvTranspose2d(2 * w, w, 2, stride=2, bias=False)
        self.dec1 = _Block(2 * w, w, norm)
        self.out = nn.Conv2d(w, 1, 3, padding=1, bias=False)
        self.pool = nn.MaxPool2d(2)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        nn.init.kaiming_normal_(self.out.weight, nonlinearity="linear")

    def config(self) -> dict:
        """Everything needed to rebuild this network."""
        return {"arch": "unet", "tau": self.tau, "width": self.width, "norm": self.norm,
                "predict_only": self.predict_only, "skip": self.skip}

    def forward(self, y: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        if self.predict_only:
            if c is not None:
                raise TypeError("a prediction-only network is called as net(c)")
            x = y
        else:
            if c is None:
                if self.tau != 0:
                    raise TypeError(f"this denoiser needs tau={self.tau} conditioning frames: net(y, c)")
                c = y[:, :0]
            if c.shape[1] != self.tau:
                raise InterpError(f"expected c with {self.tau} frames, got shape {tuple(c.shape)}")
            x = torch.cat([c, y], dim=1)  # time axis: oldest conditioning frame first, y last
        h, w = x.shape[-2:]
        if h % 4 or w % 4:
            raise InterpError(f"frame height and width must be multiples of 4, got {h}x{w}")
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        m = self.mid(self.pool(e2))
        d2 = self.dec2(torch.cat([self.up2(m), e2], dim=1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], dim=1))
        out = self.out(d1)
        return out + y if self.skip else out
