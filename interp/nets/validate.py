"""Checks that a denoiser meets what the analyses rely on (DESIGN.md, invariant 1).

The Jacobian analyses read the network's estimate as an adaptive linear filter of its inputs,
and the evidence split (eq. 5) needs ``x_hat = J_y y + J_c c`` exactly. Both hold when the
network is bias-free and positively homogeneous of degree 1: ``f(a y, a c) = a f(y, c)`` for
``a > 0``. :func:`validate_denoiser` checks this on a small random input, as a user can on
their own ``net(y, c)`` before an analysis.
"""

from __future__ import annotations

import weakref

import torch

from interp._util.errors import InterpError

__all__ = ["validate_denoiser"]

#: Scales ``a`` at which homogeneity is checked.
SCALES = (0.5, 3.0)
_VALIDATED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # net -> validated (tau, shape)s


def _device_dtype(net) -> tuple[torch.device, torch.dtype]:
    if isinstance(net, torch.nn.Module):
        for p in [*net.parameters(), *net.buffers()]:
            if p.is_floating_point():
                return p.device, p.dtype
    return torch.device("cpu"), torch.float32


def validate_denoiser(net, tau: int | None = None, shape: tuple[int, int] = (16, 16), *,
                      rtol: float | None = None, cache: bool = False) -> None:
    """Raise a one-line :class:`~interp.InterpError` naming what fails, else return None.

    Parameters
    ----------
    net : callable
        A denoiser ``net(y, c) -> x_hat`` with ``y`` [N, 1, H, W] and ``c`` [N, tau, H, W]
        (a prediction-only network ``net(c)`` when it has ``predict_only`` set). A module is
        checked in eval mode, without gradients, and its mode is restored.
    tau : int, optional
        Conditioning frames the analysis will give it; checked against ``net.tau`` when the
        net has one (its own ``tau`` is used when this is None, else 0).
    shape : (H, W)
        Size of the test frames (the U-net needs multiples of 4).
    rtol : float, optional
        Relative tolerance of the homogeneity check (default: 1e-4 in float32, 1e-9 in float64).
    cache : bool
        Remember a network (object) that passed, with its tau and shape, and skip the checks
        next time (the analyses pass True: one check per network, not per call).

    Notes
    -----
    Checks, in order: the net is callable; ``tau`` matches; no parameter is a bias (a module
    whose parameters are named ``*.bias``); ``f(0, 0) = 0`` (no additive constant anywhere);
    the output has the shape of ``y``; and ``f(a y, a c) = a f(y, c)`` for ``a`` in
    :data:`SCALES` (a normalization by each sample's own statistics, such as layer or instance
    normalization, breaks this).
    """
    if not callable(net):
        raise InterpError(f"the denoiser must be callable as net(y, c), got {type(net).__name__}")
    own_tau = getattr(net, "tau", None)
    if tau is None:
        tau = int(own_tau) if own_tau is not None else 0
    if own_tau is not None and int(own_tau) != tau:
        raise InterpError(f"tau mismatch: the network takes tau={own_tau} conditioning frames, {tau} were given")
    H, W = (int(s) for s in shape)
    key = (tau, H, W)
    try:
        if cache and key in _VALIDATED.get(net, ()):
            return
    except TypeError:  # not weak-referenceable: no cache
        cache = False
    if isinstance(net, torch.nn.Module):
        biases = [name for name, p in net.named_parameters() if name == "bias" or name.endswith(".bias")]
        if biases:
            raise InterpError(f"the denoiser is not bias-free: it has bias parameters ({', '.join(biases[:3])}"
                              f"{', ...' if len(biases) > 3 else ''})")
    predict_only = bool(getattr(net, "predict_only", False))
    device, dtype = _device_dtype(net)
    rtol = rtol if rtol is not None else (1e-9 if dtype == torch.float64 else 1e-4)
    g = torch.Generator().manual_seed(0)
    y = torch.rand((1, 1, H, W), generator=g, dtype=dtype).to(device)
    c = torch.rand((1, tau, H, W), generator=g, dtype=dtype).to(device)

    def f(y, c):
        return net(c) if predict_only else net(y, c)

    module = net if isinstance(net, torch.nn.Module) else None
    was_training = module.training if module is not None else False
    if module is not None:
        module.eval()
    try:
        with torch.no_grad(), torch.autocast(device_type=device.type, enabled=False):
            zero = f(torch.zeros_like(y), torch.zeros_like(c))
            out = f(y, c)
            if not isinstance(out, torch.Tensor) or not isinstance(zero, torch.Tensor):
                raise InterpError(f"the denoiser must return a tensor, got {type(out).__name__}")
            if tuple(out.shape) != tuple(y.shape):
                raise InterpError(f"the denoiser's output has shape {tuple(out.shape)} for y of shape "
                                  f"{tuple(y.shape)} (tau={tau}); it must match y")
            if not bool(torch.isfinite(out).all()):
                raise InterpError("the denoiser's output is not finite on a random input in [0, 1]")
            scale = float(out.abs().max()) or 1.0
            if float(zero.abs().max()) > rtol * scale:
                raise InterpError(f"the denoiser is not bias-free: f(0, 0) is {float(zero.abs().max()):.3g}, not 0 "
                                  "(an additive constant somewhere)")
            for a in SCALES:
                diff = float((f(a * y, a * c) - a * out).abs().max())
                if not diff <= rtol * a * scale:
                    raise InterpError(f"the denoiser is not homogeneous: f({a:g} y, {a:g} c) differs from "
                                      f"{a:g} f(y, c) by {diff / (a * scale):.3g} of its size (a normalization by "
                                      "the sample's own statistics breaks eq. 5)")
    finally:
        if module is not None:
            module.train(was_training)
    if cache:
        _VALIDATED.setdefault(net, set()).add(key)
