"""Local linear analysis of a bias-free conditional denoiser (section 3.2, eqs. 5 and 7).

A bias-free network is positively homogeneous of degree 1 in its whole input (y, c)
jointly, so by Euler's theorem it is, at every input, exactly the linear map given by its own
Jacobian applied to that input::

    x_hat(y, c) = J_y y + J_c c = x_hat_y + x_hat_c                                    (eq. 5)

Row ``(row, col)`` of the Jacobian is the *adaptive filter* of that output pixel: the weights
with which the network combines the pixels of the conditioning frames and of the noisy
observation to produce ``x_hat[row, col]`` (paper Fig. 7). This module computes

* :func:`adaptive_filter`, :func:`adaptive_filters`, :func:`full_jacobian`: rows of the
  Jacobian by reverse mode (:func:`torch.func.vjp`, one backward pass per row, rows batched
  with :func:`torch.func.vmap`), never more of the matrix than asked for;
* :func:`filter_centroids`: where each frame's filter is centred (motion shows as a
  displacement on the conditioning frames);
* :func:`jacobian_spectrum`: singular values and effective dimensionality of the Jacobian and
  of its observation block J_y;
* :func:`split_evidence`: the two terms of eq. 5, each with one forward-mode product
  (:func:`torch.func.jvp`), without any Jacobian;
* :func:`evidence_partition` and :func:`crossing_psnr`: the squared-error partition of eq. 7
  across input noise levels (paper Fig. 8) and where the two cues' curves cross; the noise of
  each clip comes from the seed and the clip itself (:func:`clip_seed`).

Conventions (shared with :func:`interp.sample` and :func:`interp.one_step`). A denoiser is
called ``net(y, c)`` with ``y`` [B, 1, H, W] the noisy next frame and ``c`` [B, tau, H, W]
the clean conditioning frames, oldest first. Every function here takes either one clip,
unbatched (``y`` [1, H, W] or [H, W], ``c`` [tau, H, W]), or a batch of B >= 1 clips
(``y`` [B, 1, H, W], ``c`` [B, tau, H, W]), and its result has a leading batch axis exactly
when the input had one; clip b of a batch gives the same numbers as clip b on its own. A
filter or Jacobian row is laid out like the network's input, ``[tau + 1, H, W]``:
conditioning frames first, the observation last. A pixel is ``(row, col)`` or ``"center"``,
i.e. ``(H // 2, W // 2)`` as in the CLI.

Dtypes: the computation runs, and the result is returned, in the *network's* dtype (that of
its floating weights: float32 for a loaded checkpoint, float64 after ``net.double()``);
inputs of any floating dtype (float16, bfloat16, float32, float64, torch or numpy) are
converted to it. A half-precision network (float16 or bfloat16) is run through a float32
copy; a callable without weights runs in float64 if an input is float64, else float32.
Integer inputs, inputs holding a NaN or an infinity, and prediction-only networks
(``net(c)``: no observation) are refused with an :class:`~interp.InterpError`. Everything runs
with the network in eval mode (restored afterwards) and autocast off.

CLI (writes ``filters.npy`` and ``filters.png`` to ``--out``, default ``./jacobian-out``)::

    python -m interp.jacobian --ckpt models/leaves-tau2.safetensors --pixel center
    python -m interp.jacobian --ckpt CKPT --input FILE.npz:INDEX [--frame T] --pixel ROW,COL \
        [--psnr DB] [--seed N] [--out DIR]

torch is imported inside the functions, so that a usage error is reported at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import warnings
from typing import TYPE_CHECKING, Iterable

import numpy as np

from interp._util.errors import InterpError
from interp._util.metrics import psnr_from_mse
from interp.nets.validate import validate_denoiser

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd
    import torch


#: Input PSNRs (dB) of the eq. 7 sweep: -20 to 70 dB in steps of 5 (the range of Fig. 8).
DEFAULT_PSNRS = tuple(float(p) for p in range(-20, 75, 5))


def psnr_to_sigma(psnr):
    """Noise standard deviation of an input PSNR in dB, for an intensity range of 1.

    ``sigma = 10 ** (-psnr / 20)``, so that ``10 log10(1 / sigma^2) = psnr``.
    """
    return 10.0 ** (-np.asarray(psnr, dtype=np.float64) / 20.0)


def clip_seed(seed: int, x) -> int:
    """A seed for the noise of one clip, from ``seed`` and the clip's clean frame ``x``.

    The bytes of ``x`` in float32 (and its shape) are hashed with ``seed`` (BLAKE2b), so that
    the noise an analysis adds to a clip depends on the seed and the clip itself, never on
    where the clip sits in a batch. Returns an integer in [0, 2**63).
    """
    import hashlib

    import torch

    a = x.detach().to("cpu", torch.float32).numpy() if isinstance(x, torch.Tensor) else np.asarray(x, np.float32)
    a = np.ascontiguousarray(a, dtype=np.float32)
    h = hashlib.blake2b(digest_size=8, person=b"interp-noise")
    h.update(int(seed).to_bytes(16, "little", signed=True))
    h.update(repr(tuple(a.shape)).encode("ascii"))
    h.update(a.tobytes())
    return int.from_bytes(h.digest(), "little") & (2**63 - 1)


def _tensor(a, name: str):
    import torch

    if isinstance(a, np.ndarray):
        a = torch.from_numpy(np.ascontiguousarray(a))
    if not isinstance(a, torch.Tensor):
        raise InterpError(f"{name} must be a tensor or an array, got {type(a).__name__}")
    if not bool(torch.isfinite(a).all()):  # a NaN would give a finite, meaningless filter
        raise InterpError(f"{name} holds non-finite values (NaN or inf)")
    return a


def working_dtype(net, *tensors):
    """The dtype an analysis of ``net`` runs in (see the module docstring).

    The network's floating dtype when it is float32 or float64; float32 for a half-precision
    network; for a callable without weights, float64 if any input is float64, else float32.
    Shared by :mod:`interp.analysis.sampler`.
    """
    import torch

    if isinstance(net, torch.nn.Module):
        for t in (*net.parameters(), *net.buffers()):
            if t.is_floating_point():
                return t.dtype if t.dtype in (torch.float32, torch.float64) else torch.float32
    return torch.float64 if any(t.dtype == torch.float64 for t in tensors) else torch.float32


def _floating(a, name: str):
    if not a.is_floating_point():
        raise InterpError(f"{name} must hold floating-point values, got dtype {a.dtype}")
    return a


def _check_net(net) -> None:
    if not callable(net):
        raise InterpError(f"the denoiser must be callable as net(y, c), got {type(net).__name__}")
    if getattr(net, "predict_only", False):
        raise InterpError("this is a prediction-only network (net(c), no noisy observation); "
                          "the Jacobian analyses need a denoiser net(y, c)")


def _check_tau(net, tau: int) -> None:
    expected = getattr(net, "tau", None)
    if expected is not None and int(expected) != tau:
        raise InterpError(f"tau mismatch: the network takes tau={expected} conditioning frames, "
                          f"{tau} were given")


def _inputs(net, y, c, *, y_name: str = "y"):
    """Validate (y, c): returns y [B, 1, H, W], c [B, tau, H, W] in the working dtype on the
    network's device, and whether the input was batched (``y`` [B, 1, H, W])."""
    _check_net(net)
    y = _floating(_tensor(y, y_name), y_name)
    batched = y.ndim == 4
    if y.ndim == 2:
        y = y.unsqueeze(0)
    if not batched:
        if y.ndim != 3 or y.shape[0] != 1:
            raise InterpError(f"{y_name} must be one frame [1, H, W] or [H, W], or a batch [B, 1, H, W], "
                              f"got shape {tuple(y.shape)}")
        y = y.unsqueeze(0)
    if y.shape[1] != 1 or y.shape[0] == 0:
        raise InterpError(f"{y_name} must be a batch [B, 1, H, W] with B >= 1 (or one frame [1, H, W]), "
                          f"got shape {tuple(y.shape)}")
    B, _, H, W = y.shape
    if c is None:
        c = y.new_zeros((B, 0, H, W))
    c = _floating(_tensor(c, "c"), "c")
    if not batched and c.ndim == 3:
        c = c.unsqueeze(0)
    if c.ndim != 4 or c.shape[0] != B or tuple(c.shape[-2:]) != (H, W):
        want = f"[B, tau, H, W] = [{B}, tau, {H}, {W}]" if batched else f"[tau, {H}, {W}]"
        raise InterpError(f"c must be the conditioning frames {want} to match {y_name}, got shape {tuple(c.shape)}")
    _check_tau(net, c.shape[1])
    dtype = working_dtype(net, y, c)
    # a half-precision network is checked as it will run: through its float32 copy
    validate_denoiser(_in_dtype(net, dtype), tau=c.shape[1], shape=(H, W), cache=True)
    device = _device(net, y)
    return y.to(device=device, dtype=dtype), c.to(device=device, dtype=dtype), batched


def _single(net, y, c):
    """One unbatched (y, c) pair: returns y [1, H, W], c [tau, H, W] in the working dtype."""
    yb, cb, batched = _inputs(net, y, c)
    if batched:
        raise InterpError(f"one clip expected (y [1, H, W], c [tau, H, W]), got a batch y {tuple(yb.shape)}")
    return yb[0], cb[0]


def _batch(net, y, c, *, y_name: str = "y"):
    """Validate a batch: returns y [B, 1, H, W], c [B, tau, H, W] and whether it was unbatched."""
    yb, cb, batched = _inputs(net, y, c, y_name=y_name)
    return yb, cb, not batched


def _device(net, like):
    import torch

    if isinstance(net, torch.nn.Module):
        for p in net.parameters():
            return p.device
    return like.device


def _in_dtype(net, dtype):
    """``net`` itself, or a copy of it converted to ``dtype`` when its weights differ."""
    import copy

    import torch

    if isinstance(net, torch.nn.Module):
        tensors = [*net.parameters(), *net.buffers()]
        if any(t.is_floating_point() and t.dtype != dtype for t in tensors):
            return copy.deepcopy(net).to(dtype)
    return net


@contextlib.contextmanager
def _analysis(net, device):
    """Eval mode (restored afterwards), autocast off, no autograd graph kept outside torch.func.

    The torch.func transforms do their own differentiation inside ``no_grad``. The filter
    silences a DeprecationWarning that torch raises inside itself the first time forward-mode
    AD loads its decompositions.
    """
    import torch

    module = net if isinstance(net, torch.nn.Module) else None
    was_training = module.training if module is not None else False
    if module is not None:
        module.eval()
    try:
        with torch.no_grad(), torch.autocast(device_type=device.type, enabled=False), \
                warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.* is deprecated",
                                    category=DeprecationWarning)
            yield
    finally:
        if module is not None:
            module.train(was_training)


def _frame_fn(net, tau: int):
    """x [tau + 1, H, W] (conditioning, then observation) -> x_hat [H, W]."""

    def f(x):
        out = net(x[tau:].unsqueeze(0), x[:tau].unsqueeze(0))
        return out[0, 0]

    return f


def resolve_pixel(pixel, H: int, W: int) -> tuple[int, int]:
    """``(row, col)`` of a pixel given as a pair of integers or as ``"center"`` (``"centre"``),
    which is ``(H // 2, W // 2)`` as in the CLI; refused outside the H x W frame."""
    if isinstance(pixel, str) and pixel.strip().lower() in ("center", "centre"):
        return H // 2, W // 2
    try:
        r, c = pixel
        ok = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (r, c))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise InterpError(f"a pixel is a (row, col) pair of integers or 'center', got {pixel!r}")
    if not (0 <= r < H and 0 <= c < W):
        raise InterpError(f"pixel ({r}, {c}) is outside the {H}x{W} frame "
                          f"(rows 0 .. {H - 1}, columns 0 .. {W - 1})")
    return int(r), int(c)


def _check_chunk(chunk) -> int:
    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise InterpError(f"chunk must be a positive integer, got {chunk!r}")
    return int(chunk)


def filter_and_output(net, y, c, pixel, *, engine: str = "func"):
    """(filter [tau + 1, H, W], x_hat[row, col] as a 0-d tensor); see :func:`adaptive_filter`.

    ``engine="func"`` takes the vector-Jacobian product with :func:`torch.func.vjp`;
    ``engine="autograd"`` takes the same product with :func:`torch.autograd.grad`. The CLI
    uses the latter: the first reverse-mode torch.func transform of a process imports
    ``torch._dynamo`` (about 0.9 s on the 2-core CPU), which alone would break the CLI's 3 s
    budget. Both give the same vector (tested).
    """
    y, c = _single(net, y, c)
    r, col = resolve_pixel(pixel, *y.shape[-2:])
    return _filter_one(_in_dtype(net, y.dtype), y, c, r, col, engine)


def _filter_one(model, y, c, r: int, col: int, engine: str = "func"):
    """Filter and output value of pixel (r, col) for prepared y [1, H, W], c [tau, H, W]."""
    import torch
    from torch.func import vjp

    tau = c.shape[0]
    f = _frame_fn(model, tau)
    x = torch.cat([c, y])
    with _analysis(model, x.device):
        if engine == "func":
            value, pull = vjp(lambda inp: f(inp)[r, col], x)
            (row,) = pull(torch.ones_like(value))
        elif engine == "autograd":
            with torch.enable_grad():
                xi = x.detach().requires_grad_(True)
                value = f(xi)[r, col]
                (row,) = torch.autograd.grad(value, xi)
        else:
            raise InterpError(f"engine must be 'func' or 'autograd', got {engine!r}")
    return row.detach(), value.detach()


def adaptive_filter(net, y, c, pixel) -> "torch.Tensor":
    """The adaptive linear filter of one output pixel: a row of the input-output Jacobian.

    Parameters
    ----------
    net : callable
        A denoiser ``net(y, c)`` (not a prediction-only network).
    y : torch.Tensor or numpy.ndarray
        The noisy observation of the next frame, ``[1, H, W]`` or ``[H, W]``; or a batch of
        B >= 1 clips' observations, ``[B, 1, H, W]``. Any floating dtype.
    c : torch.Tensor or numpy.ndarray or None
        The clean conditioning frames ``[tau, H, W]`` (``[B, tau, H, W]`` with a batch),
        oldest first (``None`` for tau = 0).
    pixel : tuple of int or str
        ``(row, col)`` of the output pixel, or ``"center"`` for ``(H // 2, W // 2)``.

    Returns
    -------
    torch.Tensor
        ``[tau + 1, H, W]`` (``[B, tau + 1, H, W]`` for a batch): d x_hat[row, col] / d(c, y),
        conditioning frames first, the observation last; in the network's dtype (module
        docstring).

    Notes
    -----
    One forward pass and one reverse-mode product (:func:`torch.func.vjp` of the scalar
    output pixel); the rest of the Jacobian is never formed. Because the network is bias
    free, ``(filter * torch.cat([c, y])).sum()`` equals ``x_hat[row, col]`` up to rounding.
    """
    import torch

    y, c, batched = _inputs(net, y, c)
    r, col = resolve_pixel(pixel, *y.shape[-2:])
    model = _in_dtype(net, y.dtype)
    out = torch.stack([_filter_one(model, y[b], c[b], r, col)[0] for b in range(y.shape[0])])
    return out if batched else out[0]


def adaptive_filters(net, y, c, pixels, chunk: int = 64) -> "torch.Tensor":
    """Adaptive filters of many output pixels: rows of the input-output Jacobian.

    One forward pass, then reverse-mode products for ``chunk`` pixels at a time, vectorized
    with :func:`torch.func.vmap` over one-hot cotangents; memory grows with ``chunk`` (about
    one set of the network's activations per pixel of a chunk), not with the number of pixels.

    Parameters
    ----------
    net, y, c
        As for :func:`adaptive_filter`.
    pixels : sequence of (row, col) pairs (or ``"center"``), or an integer array ``[P, 2]``
        The output pixels.
    chunk : int
        Pixels per vectorized backward pass.

    Returns
    -------
    torch.Tensor
        ``[P, tau + 1, H, W]`` (``[B, P, tau + 1, H, W]`` for a batch), row p the filter of
        ``pixels[p]`` (as :func:`adaptive_filter` would return it).
    """
    import torch

    chunk = _check_chunk(chunk)
    y, c, batched = _inputs(net, y, c)
    H, W = y.shape[-2:]
    pix = _pixel_list(pixels, H, W)
    model = _in_dtype(net, y.dtype)
    out = torch.stack([_filter_rows(model, y[b], c[b], pix, chunk) for b in range(y.shape[0])])
    return out if batched else out[0]


def _pixel_list(pixels, H: int, W: int) -> list[tuple[int, int]]:
    if isinstance(pixels, str):
        raise InterpError(f"pixels must be a sequence of (row, col) pairs (or 'center'), got {pixels!r}; "
                          "use adaptive_filter for one pixel")
    if isinstance(pixels, np.ndarray) or hasattr(pixels, "detach"):
        pix = np.asarray(pixels.detach().cpu() if hasattr(pixels, "detach") else pixels)
        if pix.size == 0:
            return []
        if pix.ndim != 2 or pix.shape[1] != 2:
            raise InterpError(f"pixels must be (row, col) pairs, [P, 2], got shape {pix.shape}")
        return [resolve_pixel(tuple(p.tolist()), H, W) for p in pix]
    try:
        items = list(pixels)
    except TypeError:
        raise InterpError(f"pixels must be a sequence of (row, col) pairs, got {pixels!r}") from None
    return [resolve_pixel(p if isinstance(p, str) else tuple(np.asarray(p, dtype=object).reshape(-1).tolist()), H, W)
            for p in items]


def _filter_rows(model, y, c, pix, chunk: int):
    """[P, tau + 1, H, W] filters of pixels ``pix`` for prepared y [1, H, W], c [tau, H, W]."""
    import torch
    from torch.func import vjp, vmap

    tau, (H, W) = c.shape[0], y.shape[-2:]
    if not pix:
        return y.new_zeros((0, tau + 1, H, W))
    rows = torch.tensor([p[0] for p in pix], device=y.device)
    cols = torch.tensor([p[1] for p in pix], device=y.device)
    x = torch.cat([c, y])
    out = torch.empty((len(pix), tau + 1, H, W), dtype=y.dtype, device=y.device)
    with _analysis(model, x.device):
        _, pull = vjp(_frame_fn(model, tau), x)
        batched = vmap(pull)
        for lo in range(0, len(pix), chunk):
            hi = min(lo + chunk, len(pix))
            k = torch.arange(hi - lo, device=y.device)
            cot = torch.zeros((hi - lo, H, W), dtype=y.dtype, device=y.device)
            cot[k, rows[lo:hi], cols[lo:hi]] = 1.0
            (out[lo:hi],) = batched(cot)
    return out


def full_jacobian(net, y, c, chunk: int = 64) -> "torch.Tensor":
    """The whole input-output Jacobian at (y, c), built ``chunk`` rows at a time.

    Parameters
    ----------
    net, y, c
        As for :func:`adaptive_filter`.
    chunk : int
        Rows per vectorized backward pass (see :func:`adaptive_filters`).

    Returns
    -------
    torch.Tensor
        ``[H * W, (tau + 1) * H * W]`` (``[B, H * W, (tau + 1) * H * W]`` for a batch). Row
        ``r * W + q`` is the filter of output pixel ``(r, q)`` flattened in the input's layout (conditioning frames, then the
        observation, each row-major), so the last ``H * W`` columns are J_y and the first
        ``tau * H * W`` are J_c.
    """
    chunk = _check_chunk(chunk)
    yb, cb, batched = _inputs(net, y, c)
    H, W = yb.shape[-2:]
    pixels = [(r, q) for r in range(H) for q in range(W)]
    model = _in_dtype(net, yb.dtype)
    out = [_filter_rows(model, yb[b], cb[b], pixels, chunk).reshape(H * W, -1) for b in range(yb.shape[0])]
    return _stack(out) if batched else out[0]


def _stack(tensors):
    import torch

    return torch.stack(tensors)


def filter_centroids(filters, weight: str = "abs", core: float = 0.0) -> np.ndarray:
    """Centre of mass (row, col) of each frame of adaptive filters.

    Where a filter on a conditioning frame sits relative to its output pixel shows where the
    network takes the information from: a filter that follows a pattern moving at velocity v
    per frame is centred at ``pixel - k v`` on the frame k steps back (Fig. 7).

    Parameters
    ----------
    filters : torch.Tensor or numpy.ndarray
        ``[..., tau + 1, H, W]`` (from :func:`adaptive_filter` or :func:`adaptive_filters`).
    weight : str
        ``"abs"`` weighs each pixel by |filter|, ``"positive"`` by max(filter, 0).
    core : float
        In [0, 1): only pixels whose weight is at least ``core`` times the frame's largest
        weight count. 0 (the default) is the plain centre of mass; 0.5 locates the filter's
        half-maximum core, which the weak, diffuse tails a trained network spreads over the
        whole frame cannot pull towards the frame's centre.

    Returns
    -------
    numpy.ndarray
        ``[..., tau + 1, 2]`` float64 (row, col) in pixel coordinates; NaN for a frame whose
        weights are all zero.
    """
    f = filters.detach().cpu().numpy() if hasattr(filters, "detach") else np.asarray(filters)
    if f.ndim < 3:
        raise InterpError(f"filters must be [..., tau + 1, H, W], got shape {f.shape}")
    if weight == "abs":
        w = np.abs(f.astype(np.float64))
    elif weight == "positive":
        w = np.clip(f.astype(np.float64), 0.0, None)
    else:
        raise InterpError(f"weight must be 'abs' or 'positive', got {weight!r}")
    if not (isinstance(core, (int, float)) and 0.0 <= core < 1.0):
        raise InterpError(f"core must be a number in [0, 1), got {core!r}")
    if core > 0:
        w = np.where(w >= core * w.max(axis=(-2, -1), keepdims=True), w, 0.0)
    rows, cols = np.indices(f.shape[-2:], dtype=np.float64)
    total = w.sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (w * rows).sum(axis=(-2, -1)) / total
        c = (w * cols).sum(axis=(-2, -1)) / total
    out = np.stack([r, c], axis=-1)
    out[total == 0] = np.nan
    return out


@dataclasses.dataclass
class Spectrum:
    """Singular values of a denoiser's Jacobian and of its observation block.

    Attributes
    ----------
    singular_values : torch.Tensor
        Of the whole Jacobian J = [J_c, J_y], ``[H * W]``, descending, float64.
    effective_dim : float
        Sum of the squared singular values of J, i.e. its squared Frobenius norm.
    observation_singular_values : torch.Tensor
        Of the observation block J_y = d x_hat / d y, ``[H * W]``, descending, float64.
    observation_effective_dim : float
        Sum of the squared singular values of J_y (its squared Frobenius norm).
    observation_trace : float
        trace(J_y), the other usual measure of a denoiser's degrees of freedom.
    """

    singular_values: "torch.Tensor"
    effective_dim: float
    observation_singular_values: "torch.Tensor"
    observation_effective_dim: float
    observation_trace: float


def jacobian_spectrum(J) -> Spectrum:
    """Singular values and effective dimensionality of a Jacobian from :func:`full_jacobian`.

    The effective dimensionality is defined here as the sum of the squared singular values,
    which is the squared Frobenius norm of the matrix: for an orthogonal projection onto a
    d-dimensional subspace (the idealised local behaviour of a denoiser, Mohan et al. 2020)
    the singular values are d ones and zeros, and it equals d. As in the bias-free denoising
    literature the observation block J_y (the last ``H * W`` columns) is analysed on its own
    as well: it is the part that acts as a denoiser of y, the rest propagates the past.

    Parameters
    ----------
    J : torch.Tensor or numpy.ndarray
        ``[n, (tau + 1) * n]`` with n = H * W output pixels (tau is read off the shape).

    Returns
    -------
    Spectrum
    """
    import torch

    J = _tensor(J, "J")
    if J.ndim != 2 or J.shape[0] == 0 or J.shape[1] % J.shape[0]:
        raise InterpError(f"J must be a Jacobian [H*W, (tau+1)*H*W], got shape {tuple(J.shape)}")
    J = J.detach().to(torch.float64)
    n = J.shape[0]
    Jy = J[:, -n:]
    s = torch.linalg.svdvals(J)
    sy = torch.linalg.svdvals(Jy)
    return Spectrum(s, float(s.pow(2).sum()), sy, float(sy.pow(2).sum()), float(torch.trace(Jy)))


def _split(net, y, c, batch_size: int):
    """(x_hat, x_hat_y, x_hat_c), each [B, 1, H, W], from two jvp passes per batch."""
    import torch
    from torch.func import jvp

    model = _in_dtype(net, y.dtype)
    outs = ([], [], [])

    def f(a, b):
        return model(a, b)

    with _analysis(model, y.device):
        for lo in range(0, y.shape[0], batch_size):
            yb, cb = y[lo:lo + batch_size], c[lo:lo + batch_size]
            x_hat, x_y = jvp(f, (yb, cb), (yb, torch.zeros_like(cb)))
            if cb.shape[1]:
                _, x_c = jvp(f, (yb, cb), (torch.zeros_like(yb), cb))
            else:  # tau = 0: nothing to condition on
                x_c = torch.zeros_like(x_y)
            for acc, v in zip(outs, (x_hat, x_y, x_c)):
                acc.append(v.detach())
    return tuple(torch.cat(v) for v in outs)


def split_evidence(net, y, c, batch_size: int = 64):
    """The two terms of eq. 5: what the estimate owes to the observation and to the past.

    ``x_hat_y = J_y y`` and ``x_hat_c = J_c c`` are directional derivatives of the network
    along its own input, so each is one forward-mode Jacobian-vector product
    (:func:`torch.func.jvp` with tangent ``(y, 0)``, then ``(0, c)``); no Jacobian is formed.
    For a bias-free network they add up to ``x_hat(y, c)`` (Euler's theorem).

    Parameters
    ----------
    net : callable
        A denoiser ``net(y, c)``.
    y : torch.Tensor or numpy.ndarray
        Noisy observations ``[B, 1, H, W]`` (or one, ``[1, H, W]``).
    c : torch.Tensor or numpy.ndarray or None
        Conditioning frames ``[B, tau, H, W]`` (or ``[tau, H, W]`` with one y; ``None`` for
        tau = 0).
    batch_size : int
        Sequences per pair of jvp passes.

    Returns
    -------
    x_hat_y, x_hat_c : torch.Tensor
        Each ``[1, H, W]`` for one clip, ``[B, 1, H, W]`` for a batch (an observation given as
        ``[H, W]`` comes back ``[1, H, W]``); in the network's dtype (module docstring).
    """
    batch_size = _check_chunk(batch_size)
    y, c, unbatched = _batch(net, y, c)
    _, x_y, x_c = _split(net, y, c, batch_size)
    if unbatched:
        return x_y[0], x_c[0]
    return x_y, x_c


def evidence_partition(net, x, c, psnrs: Iterable[float] = DEFAULT_PSNRS, seed: int = 0, *,
                       n_noise: int = 1, batch_size: int = 64) -> "pd.DataFrame":
    """The squared-error partition of eq. 7 across input noise levels (paper Fig. 8).

    For each input PSNR p, the observation is ``y = x + sigma z`` with ``sigma = 10^(-p/20)``
    (intensity range 1) and ``z`` standard normal; the estimate is split as in eq. 5
    (:func:`split_evidence`) and its squared error decomposed exactly as in eq. 7::

        ||x - x_hat||^2 = ||x - x_hat_c||^2 + ||x - x_hat_y||^2 - ||x||^2 + 2 <x_hat_y, x_hat_c>

    (which holds for any two vectors with x_hat = x_hat_y + x_hat_c). All terms are reported
    per pixel (divided by H * W, so the first three are mean squared errors) and averaged
    over ``n_noise`` noise draws.

    Parameters
    ----------
    net : callable
        A denoiser ``net(y, c)``.
    x : torch.Tensor or numpy.ndarray
        Clean next frames ``[B, 1, H, W]`` (or one, ``[1, H, W]``).
    c : torch.Tensor or numpy.ndarray or None
        Conditioning frames ``[B, tau, H, W]`` (``[tau, H, W]`` with one x).
    psnrs : iterable of float
        Input PSNRs in dB (default -20 to 70 in steps of 5).
    seed : int
        Seed of the noise. Each clip has its own :class:`torch.Generator` (on the CPU), seeded
        by :func:`clip_seed` from ``seed`` and the clip's clean frame ``x``, which draws for each
        level in the order given one ``[n_noise, 1, H, W]`` block: a clip gets the same noise,
        and the same numbers, alone or anywhere in a batch.
    n_noise : int
        Noise draws per level.
    batch_size : int
        Networks inputs per pair of jvp passes.

    Returns
    -------
    pandas.DataFrame
        One row per (sequence, psnr): ``sequence`` (position in the batch), ``psnr`` (input
        PSNR, dB), ``sigma``, ``mse_total`` (||x - x_hat||^2 / d), ``mse_c``
        (||x - x_hat_c||^2 / d), ``mse_y`` (||x - x_hat_y||^2 / d), ``norm_x`` (||x||^2 / d),
        ``cross`` (2 <x_hat_y, x_hat_c> / d), ``interaction`` (``cross - norm_x``, so that
        ``mse_total = mse_c + mse_y + interaction``), ``psnr_total``, ``psnr_c``, ``psnr_y``
        (10 log10(1 / mse) of the three errors), ``euler_rms`` (RMS of
        x_hat - x_hat_y - x_hat_c, rounding error only for a bias-free net) and ``n_noise``.
    """
    import pandas as pd
    import torch

    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InterpError(f"seed must be a non-negative integer, got {seed!r}")
    if isinstance(n_noise, bool) or not isinstance(n_noise, (int, np.integer)) or n_noise < 1:
        raise InterpError(f"n_noise must be a positive integer, got {n_noise!r}")
    batch_size = _check_chunk(batch_size)
    levels = np.asarray(list(psnrs), dtype=np.float64).reshape(-1)
    if levels.size == 0 or not np.isfinite(levels).all():
        raise InterpError(f"psnrs must be finite numbers (dB), got {list(levels)}")
    x, c, _ = _batch(net, x, c, y_name="x")
    B, _, H, W = x.shape
    d = H * W
    gens = [torch.Generator().manual_seed(clip_seed(int(seed), x[b])) for b in range(B)]
    x64 = x.double().flatten(1)
    norm_x = (x64.pow(2).sum(1) / d).cpu().numpy()
    sigmas = psnr_to_sigma(levels)
    parts = []
    for p, sigma in zip(levels, sigmas):
        z = torch.stack([torch.randn((n_noise, 1, H, W), generator=g) for g in gens], dim=1)
        z = z.to(device=x.device, dtype=x.dtype)  # [n_noise, B, 1, H, W]
        y = (x.unsqueeze(0) + float(sigma) * z).reshape(n_noise * B, 1, H, W)
        cc = c.repeat(n_noise, *([1] * (c.ndim - 1)))  # a copy: jvp refuses primals with overlapping memory
        x_hat, x_y, x_c = (v.double().reshape(n_noise, B, d) for v in _split(net, y, cc, batch_size))
        xr = x64.unsqueeze(0)

        def mean_sq(v):
            return (v.pow(2).sum(2) / d).mean(0).cpu().numpy()

        cross = (2.0 * (x_y * x_c).sum(2) / d).mean(0).cpu().numpy()
        euler = (x_hat - x_y - x_c).pow(2).mean(2).mean(0).sqrt().cpu().numpy()
        mse_total, mse_c, mse_y = mean_sq(xr - x_hat), mean_sq(xr - x_c), mean_sq(xr - x_y)
        parts.append(pd.DataFrame({
            "sequence": np.arange(B), "psnr": p, "sigma": sigma,
            "mse_total": mse_total, "mse_c": mse_c, "mse_y": mse_y,
            "norm_x": norm_x, "cross": cross, "interaction": cross - norm_x,
            "psnr_total": psnr_from_mse(mse_total), "psnr_c": psnr_from_mse(mse_c), "psnr_y": psnr_from_mse(mse_y),
            "euler_rms": euler, "n_noise": int(n_noise),
        }))
    table = pd.concat(parts, ignore_index=True)
    return table.sort_values(["sequence", "psnr"], kind="stable").reset_index(drop=True)


def _crossing_1d(p: np.ndarray, gap: np.ndarray) -> float:
    ok = np.isfinite(p) & np.isfinite(gap)
    p, gap = p[ok], gap[ok]
    order = np.argsort(p, kind="stable")
    p, gap = p[order], gap[order]
    for i in range(len(p) - 1):
        if gap[i] < 0 <= gap[i + 1]:
            return float(p[i] + (p[i + 1] - p[i]) * (-gap[i]) / (gap[i + 1] - gap[i]))
    return float("nan")


def crossing_psnr(table: "pd.DataFrame"):
    """Input PSNR at which the observation starts to outweigh the conditioning (Fig. 8).

    The error curves of x_hat_c and x_hat_y (``psnr_c`` and ``psnr_y`` against ``psnr``) are
    interpolated linearly between the sampled input PSNRs, and the first level where
    ``psnr_y - psnr_c`` goes from negative (the past predicts better) to zero or positive is
    returned. NaN if there is no such crossing in the sampled range (one cue wins throughout;
    a crossing the other way round is not counted).

    Parameters
    ----------
    table : pandas.DataFrame
        As returned by :func:`evidence_partition`; it needs columns ``psnr``, ``psnr_c`` and
        ``psnr_y`` (or ``mse_c`` and ``mse_y``), and optionally ``sequence``.

    Returns
    -------
    float or pandas.Series
        A float for a table of one sequence (or without a ``sequence`` column); otherwise a
        Series indexed by sequence, named ``crossing_psnr``.
    """
    import pandas as pd

    if not isinstance(table, pd.DataFrame):
        raise InterpError(f"crossing_psnr takes a pandas DataFrame, got {type(table).__name__}")
    t = table.copy()
    if not {"psnr_c", "psnr_y"} <= set(t.columns):
        if not {"mse_c", "mse_y"} <= set(t.columns):
            raise InterpError("crossing_psnr: the table needs columns psnr_c and psnr_y (or mse_c and mse_y)")
        t["psnr_c"], t["psnr_y"] = psnr_from_mse(t["mse_c"]), psnr_from_mse(t["mse_y"])
    if "psnr" not in t.columns:
        raise InterpError("crossing_psnr: the table needs the input PSNR column 'psnr'")
    t["_gap"] = t["psnr_y"].astype(float) - t["psnr_c"].astype(float)
    if "sequence" not in t.columns or t["sequence"].nunique() <= 1:
        return _crossing_1d(t["psnr"].to_numpy(float), t["_gap"].to_numpy())
    out = {s: _crossing_1d(g["psnr"].to_numpy(float), g["_gap"].to_numpy())
           for s, g in t.groupby("sequence", sort=True)}
    return pd.Series(out, name="crossing_psnr").rename_axis("sequence")
