"""Sampling probable next frames by iterative partial denoising (section 2.3, Algorithm 2).

A trained blind denoiser ``x_hat(y, c)`` gives, through its residual
``f(y, c) = x_hat(y, c) - y``, the scaled score of the observation density (eq. 3). The
sampler climbs it (eq. 4), starting from pure noise and adding fresh noise at a rate chosen so
that the effective noise level falls at every step (appendix E, Algorithm 2)::

    y_0 ~ N(0.5, sigma_init^2 I)                                   sigma_init = 3
    for k = 1, 2, ...
        alpha_k   = h0 k / (1 + h0 (k - 1))                         step size, h0 = 0.01
        s_k       = x_hat(y_{k-1}, c) - y_{k-1}                     denoising residual
        sigma_k^2 = ||s_k||^2 / d                                   effective noise variance
        gamma_k^2 = ((1 - beta alpha_k)^2 - (1 - alpha_k)^2) sigma_k^2       beta = 0.5
        y_k       = y_{k-1} + alpha_k s_k + gamma_k z_k,  z_k ~ N(0, I)
        stop after the first k with sigma_k < sigma_stop            sigma_stop = 0.01
    return x_hat(y_K, c)

(The paper's Algorithm 2 box calls the initial level sigma_0 and the stopping level
sigma_inf; its prose, followed here, has them the other way round.) The step of the last
iteration K is taken, as in Kadkhodaie & Simoncelli's code, and the sample is the denoised
estimate of y_K.

Everything is batched: many chains run at once, each with its own effective noise level, and
a chain that stops is frozen while the others go on; only the running chains are passed to
the denoiser, ``batch_size`` of them at a time. Chains stopped by the iteration limit or
by divergence are never returned as samples: their output is NaN and their status says why.

Randomness. Each call seeds its own :class:`torch.Generator` (on the CPU) and draws, in
this fixed order: the initial noise of all chains, ``[N, 1, H, W]`` with ``N`` chains in
conditioning-major order; then at every iteration k a fresh ``[N, 1, H, W]`` block for all
N chains, frozen ones included, of which chain i uses row i. Chain i's noise therefore
depends only on the seed, N, i and k, not on ``batch_size``, on which other chains are still
running, or on the device the denoiser runs on.

A batch of B conditionings shares that one stream when ``seed`` is an int, so a clip's
chains take other rows in a batch than alone. Give one seed per conditioning (a sequence of
B ints) and each conditioning gets its own generator, drawing the same blocks for its own n
chains in the same order: ``sample(net, c, n, seed=[s0, s1, s2])[i]`` then equals
``sample(net, c[i], n, seed=s_i)``, and a batch of one with ``seed=[s]`` equals ``seed=s``.

Accounting. ``iterations`` is K, the number of loop iterations (residuals computed);
``evaluations`` is the number of denoiser calls for the chain: K + 1 for a converged chain
(the last one is x_hat(y_K)), K for a chain stopped by ``max_iter`` or divergence (no final
estimate is made).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import TYPE_CHECKING, Callable, Iterable

import numpy as np
import torch

from interp._util.checks import check_int
from interp._util.errors import SEED_LIMIT, InterpError
from interp.analysis.jacobian import _in_dtype, working_dtype
from interp.nets.modes import evaluating

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd


SIGMA_INIT = 3.0  # standard deviation of the initial noise around 0.5 (appendix E)


SIGMA_STOP = 0.01  # stop once the effective noise level falls below this


BETA = 0.5  # proportion of injected noise (inverse temperature); 1 = no added noise


H0 = 0.01  # step size schedule parameter


MAX_ITER = 1000  # a healthy denoiser needs on the order of 50 iterations


DIVERGE_FACTOR = 10.0  # sigma_k above this times sigma_init counts as divergence


STATUSES = ("converged", "max_iter", "diverged")


Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def step_size(k, h0: float = H0):
    """Step size of iteration ``k`` (from 1): ``alpha_k = h0 k / (1 + h0 (k - 1))`` (Algorithm 2).

    Rises from ``h0`` at k = 1 towards 1.
    """
    return h0 * k / (1.0 + h0 * (k - 1))


@dataclasses.dataclass
class SampleInfo:
    """What happened to each chain of a :func:`sample` call.

    Per-chain arrays have the chain shape: ``[n]`` for a shared conditioning, ``[B, n]`` for
    B conditionings (conditioning-major).

    Attributes
    ----------
    status : numpy.ndarray of str
        ``"converged"`` (sigma_k fell below ``sigma_stop``), ``"max_iter"`` (it had not after
        ``max_iter`` iterations) or ``"diverged"`` (sigma_k was not finite or exceeded
        ``sigma_max``, or the final estimate was not finite). Only converged chains have a
        sample; the others' samples are NaN. (In :func:`generate_recursive`, ``"skipped"``
        marks a sequence that had already failed at an earlier frame.)
    iterations : numpy.ndarray of int
        K, the iterations run (residuals computed).
    evaluations : numpy.ndarray of int
        Denoiser calls: K + 1 if converged (the final x_hat(y_K)), K otherwise.
    sigmas : numpy.ndarray of float
        ``[*chains, K_max]``: sigma_k for k = 1 .. K_max (column k - 1), NaN after the chain
        stopped.
    last_y : torch.Tensor
        ``[*chains, 1, H, W]``: the chain's last state: y_K if it converged, else y_{K-1}
        (the state whose residual stopped it).
    trace_iterations : tuple of int
        The states k recorded by ``trace`` (0 is the initial noise y_0).
    trace_y, trace_xhat : torch.Tensor or None
        ``[*chains, T, 1, H, W]``: y_k and x_hat(y_k, c) at each of ``trace_iterations``;
        NaN where the chain never reached state k (x_hat(y_K) is the sample itself).
    settings : dict
        The sampler's parameters for this call.
    """

    status: np.ndarray
    iterations: np.ndarray
    evaluations: np.ndarray
    sigmas: np.ndarray
    last_y: torch.Tensor
    trace_iterations: tuple[int, ...] = ()
    trace_y: torch.Tensor | None = None
    trace_xhat: torch.Tensor | None = None
    settings: dict = dataclasses.field(default_factory=dict)

    @property
    def converged(self) -> np.ndarray:
        """Boolean mask of the chains that returned a sample."""
        return self.status == "converged"

    def counts(self) -> dict[str, int]:
        """Number of chains with each status."""
        return {s: int((self.status == s).sum()) for s in STATUSES}

    def summary(self) -> str:
        """One line: statuses and evaluation counts."""
        c = self.counts()
        ok = self.converged
        ev = f", median {np.median(self.evaluations[ok]):g} evaluations" if ok.any() else ""
        parts = ", ".join(f"{v} {k}" for k, v in c.items() if v)
        return f"{self.status.size} chains: {parts}{ev}"

    def _chain_index(self) -> dict[str, np.ndarray]:
        shape = self.status.shape
        idx = np.indices(shape).reshape(len(shape), -1)
        out = {"sample": idx[-1]}
        if len(shape) == 2:
            out = {"conditioning": idx[0], "sample": idx[1]}
        return out

    def table(self) -> "pd.DataFrame":
        """Tidy table, one row per chain: (``conditioning``,) ``sample``, ``status``,
        ``iterations``, ``evaluations``, ``final_sigma`` (the last sigma_k)."""
        import pandas as pd

        flat = self.sigmas.reshape(self.status.size, -1)
        k = self.iterations.reshape(-1)
        final = np.full(len(k), np.nan)
        has = k > 0
        final[has] = flat[np.flatnonzero(has), k[has] - 1]
        return pd.DataFrame({
            **self._chain_index(),
            "status": self.status.reshape(-1),
            "iterations": k,
            "evaluations": self.evaluations.reshape(-1),
            "final_sigma": final,
        })

    def schedule(self) -> "pd.DataFrame":
        """Tidy effective-noise schedule, one row per chain and iteration: (``conditioning``,)
        ``sample``, ``iteration`` (k from 1), ``sigma`` (sigma_k), ``alpha`` (alpha_k) and
        ``gamma`` (gamma_k, the standard deviation of the noise added at step k)."""
        import pandas as pd

        flat = self.sigmas.reshape(self.status.size, -1)
        chain, col = np.nonzero(np.isfinite(flat))
        it = col + 1
        sigma = flat[chain, col]
        h0, beta = self.settings.get("h0", H0), self.settings.get("beta", BETA)
        alpha = step_size(it.astype(float), h0)
        gamma = np.sqrt(np.clip((1 - beta * alpha) ** 2 - (1 - alpha) ** 2, 0, None)) * sigma
        index = {k: v[chain] for k, v in self._chain_index().items()}
        return pd.DataFrame({**index, "iteration": it, "sigma": sigma, "alpha": alpha, "gamma": gamma})


class MissingSeedError(InterpError, TypeError):
    """A sampler called without its ``seed`` (an InterpError, and a TypeError like any
    missing argument)."""


def _require_seed(fn: str, seed) -> int | list[int]:
    """``seed`` checked: an int, or a list of ints (one per conditioning)."""
    if seed is None:
        raise MissingSeedError(f"{fn}() needs an explicit seed, e.g. {fn}(net, c, n, seed=0): "
                               "every random process in interp takes one")
    if isinstance(seed, (list, tuple, np.ndarray, torch.Tensor)):
        values = np.asarray(seed.tolist() if isinstance(seed, torch.Tensor) else seed, dtype=object)
        if values.ndim != 1 or not len(values):
            raise InterpError(f"seed must be an int or a non-empty list of ints (one per conditioning), "
                              f"got shape {values.shape}")
        return [check_int("seed", v, 0, SEED_LIMIT) for v in values]
    return check_int("seed", seed, 0, SEED_LIMIT)


class _Streams:
    """The sampler's noise: one generator for all chains (an int seed), or one per
    conditioning (a list of seeds), each drawing the rows of its own ``n`` chains."""

    def __init__(self, seed: int | list[int], n_cond: int, n: int, fn: str = "sample"):
        if isinstance(seed, int):
            self.parts = [(torch.Generator().manual_seed(seed), n_cond * n)]
        else:
            if len(seed) != n_cond:
                raise InterpError(f"{fn}(): {len(seed)} seeds for {n_cond} conditionings "
                                  "(give one int, or one seed per conditioning)")
            self.parts = [(torch.Generator().manual_seed(s), n) for s in seed]

    def randn(self, n_chains: int, shape) -> torch.Tensor:
        """A fresh ``[n_chains, *shape]`` block of standard normal draws."""
        blocks = [torch.randn((k, *shape), generator=g) for g, k in self.parts]
        out = blocks[0] if len(blocks) == 1 else torch.cat(blocks)
        assert len(out) == n_chains
        return out


def _as_conditioning(c, denoiser=None) -> tuple[torch.Tensor, bool]:
    """``c`` as a tensor [B, tau, H, W] in the working dtype of ``denoiser``; whether it was
    one shared [tau, H, W].

    Any floating dtype is converted to the network's dtype (float32 or float64; see
    :func:`interp.analysis.jacobian.working_dtype`); other dtypes (integer pixel values, say)
    and non-finite values are refused.
    """
    if isinstance(c, np.ndarray):
        if c.dtype.kind != "f":
            raise InterpError(f"conditioning must hold floating-point frames in [0, 1], got dtype {c.dtype}")
        c = torch.from_numpy(np.ascontiguousarray(c))
    if not isinstance(c, torch.Tensor):
        raise InterpError(f"conditioning must be a tensor or array, got {type(c).__name__}")
    if c.ndim not in (3, 4):
        raise InterpError(
            f"conditioning must be [tau, H, W] (shared) or [B, tau, H, W], got shape {tuple(c.shape)}"
        )
    if not c.is_floating_point():
        raise InterpError(f"conditioning must hold floating-point frames in [0, 1], got dtype {c.dtype}")
    c = c.to(working_dtype(denoiser, c))
    if not bool(torch.isfinite(c).all()):
        raise InterpError("conditioning holds non-finite values (NaN or inf)")
    shared = c.ndim == 3
    if shared:
        c = c.unsqueeze(0)
    if c.shape[0] == 0 or c.shape[-1] == 0 or c.shape[-2] == 0:
        raise InterpError(f"conditioning is empty, shape {tuple(c.shape)}")
    return c, shared



def _check_settings(sigma_init, sigma_stop, beta, h0, max_iter, sigma_max, batch_size) -> float:
    for name, v in (("sigma_init", sigma_init), ("sigma_stop", sigma_stop), ("h0", h0)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise InterpError(f"{name} must be a positive number, got {v!r}")
    if not (isinstance(beta, (int, float)) and 0.0 <= beta <= 1.0):
        raise InterpError(f"beta must be in [0, 1], got {beta!r}")
    if h0 > 1.0:
        raise InterpError(f"h0 must be in (0, 1], got {h0!r}")
    check_int("max_iter", max_iter, 1)
    check_int("batch_size", batch_size, 1)
    if sigma_max is None:
        sigma_max = DIVERGE_FACTOR * sigma_init
    if not (isinstance(sigma_max, (int, float)) and sigma_max > sigma_stop):
        raise InterpError(f"sigma_max must be a number above sigma_stop, got {sigma_max!r}")
    return float(sigma_max)


class _Network:
    """Calls the denoiser on chunks of chains, under no_grad, in eval mode."""

    def __init__(self, denoiser: Denoiser, c: torch.Tensor, cond_index: torch.Tensor, batch_size: int):
        if not callable(denoiser):
            raise InterpError(f"denoiser must be callable as denoiser(y, c), got {type(denoiser).__name__}")
        self.denoiser, self.c, self.cond_index, self.batch_size = denoiser, c, cond_index, batch_size

    def __call__(self, y: torch.Tensor, chains: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(y)
        for lo in range(0, len(chains), self.batch_size):
            sl = slice(lo, lo + self.batch_size)
            cc = self.c[self.cond_index[chains[sl]]]
            est = self.denoiser(y[sl], cc)
            if not isinstance(est, torch.Tensor) or tuple(est.shape) != tuple(y[sl].shape):
                got = tuple(est.shape) if isinstance(est, torch.Tensor) else type(est).__name__
                raise InterpError(f"the denoiser must return [B, 1, H, W] = {tuple(y[sl].shape)}, got {got}")
            out[sl] = est
        return out


def _initial_noise(generator: _Streams, n_chains: int, shape, sigma_init: float, like: torch.Tensor):
    z = generator.randn(n_chains, (1, *shape))
    return (0.5 + sigma_init * z).to(device=like.device, dtype=like.dtype)


def _run_chains(
    net: _Network,
    n_chains: int,
    frame_shape,
    like: torch.Tensor,
    generator: _Streams,
    *,
    sigma_init: float,
    sigma_stop: float,
    beta: float,
    h0: float,
    max_iter: int,
    sigma_max: float,
    trace,
    skip: torch.Tensor | None = None,
):
    """Algorithm 2 on ``n_chains`` chains at once; see :func:`sample`.

    ``skip`` (bool [N]) marks chains that are not run at all (they still consume their
    noise, so the others' draws do not change). Returns ``(samples, info_dict)`` with flat
    chain axes.
    """
    N = n_chains
    y = _initial_noise(generator, N, frame_shape, sigma_init, like)
    samples = torch.full_like(y, float("nan"))
    status = np.full(N, "", dtype="<U9")
    iterations = np.zeros(N, dtype=np.int64)
    evaluations = np.zeros(N, dtype=np.int64)
    sigma_cols: list[np.ndarray] = []
    converged = torch.zeros(N, dtype=torch.bool)
    trace_all = trace is True
    trace_set = set() if trace is None or trace is False or trace_all else {int(k) for k in trace}
    traced: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    pending = torch.arange(N) if skip is None else torch.nonzero(~skip).flatten()
    if skip is not None:
        status[skip.numpy()] = "skipped"
    k = 0  # pending chains hold state y_k
    while len(pending):
        yp = y[pending]
        xh = net(yp, pending)
        pnp = pending.numpy()
        evaluations[pnp] += 1
        if trace_all or k in trace_set:
            if k not in traced:
                traced[k] = (torch.full_like(y, float("nan")), torch.full_like(y, float("nan")))
            traced[k][0][pending] = yp
            traced[k][1][pending] = xh
        fin = converged[pending]
        if fin.any():  # these chains stopped at iteration k: x_hat(y_k) is their sample
            done = pending[fin]
            est = xh[fin]
            ok = torch.isfinite(est).flatten(1).all(1)
            samples[done[ok.cpu()]] = est[ok]
            status[done.numpy()] = np.where(ok.cpu().numpy(), "converged", "diverged")
        act = pending[~fin]
        if not len(act):
            break
        s = xh[~fin] - y[act]
        k += 1
        sigma = s.double().pow(2).flatten(1).mean(1).sqrt()  # sigma_k, effective noise level
        col = np.full(N, np.nan)
        col[act.numpy()] = sigma.cpu().numpy()
        sigma_cols.append(col)
        iterations[act.numpy()] = k
        bad = ~torch.isfinite(sigma) | (sigma > sigma_max)
        status[act[bad.cpu()].numpy()] = "diverged"
        keep = ~bad
        below = sigma < sigma_stop
        converged[act[(keep & below).cpu()]] = True
        if k >= max_iter:
            late = keep & ~below
            status[act[late.cpu()].numpy()] = "max_iter"
            keep = keep & below
        alpha = step_size(k, h0)
        g2 = max((1.0 - beta * alpha) ** 2 - (1.0 - alpha) ** 2, 0.0)
        gamma = (math.sqrt(g2) * sigma).to(y.dtype).view(-1, 1, 1, 1)
        z = generator.randn(N, (1, *frame_shape)).to(device=y.device, dtype=y.dtype)
        kc = keep.cpu()
        step = act[kc]
        y[step] = y[step] + alpha * s[keep] + gamma[keep] * z[step]
        pending = step
    sigmas = np.stack(sigma_cols, axis=1) if sigma_cols else np.zeros((N, 0))
    info = {
        "status": status, "iterations": iterations, "evaluations": evaluations, "sigmas": sigmas,
        "last_y": y, "trace_iterations": tuple(sorted(traced)),
        "trace_y": torch.stack([traced[t][0] for t in sorted(traced)], 1) if traced else None,
        "trace_xhat": torch.stack([traced[t][1] for t in sorted(traced)], 1) if traced else None,
    }
    return samples, info


def _shape_info(info: dict, chain_shape: tuple[int, ...], settings: dict) -> SampleInfo:
    def chains(a):
        return None if a is None else a.reshape(*chain_shape, *a.shape[1:])

    return SampleInfo(
        status=info["status"].reshape(chain_shape),
        iterations=info["iterations"].reshape(chain_shape),
        evaluations=info["evaluations"].reshape(chain_shape),
        sigmas=info["sigmas"].reshape(*chain_shape, -1),
        last_y=chains(info["last_y"]),
        trace_iterations=info["trace_iterations"],
        trace_y=chains(info["trace_y"]),
        trace_xhat=chains(info["trace_xhat"]),
        settings=settings,
    )


def _warn_failures(status: np.ndarray, stacklevel: int = 3) -> None:
    failed = status[(status != "converged") & (status != "skipped")]
    if failed.size:
        kinds = ", ".join(f"{(failed == s).sum()} {s}" for s in STATUSES[1:] if (failed == s).any())
        warnings.warn(
            f"{failed.size} of {status.size} sampling chains did not converge ({kinds}); "
            "their samples are NaN (see return_info=True)",
            RuntimeWarning, stacklevel=stacklevel,
        )


def sample(
    denoiser: Denoiser,
    c,
    n: int,
    *,
    seed: int | None = None,
    sigma_init: float = SIGMA_INIT,
    sigma_stop: float = SIGMA_STOP,
    beta: float = BETA,
    h0: float = H0,
    max_iter: int = MAX_ITER,
    sigma_max: float | None = None,
    batch_size: int = 256,
    trace: bool | Iterable[int] | None = None,
    return_info: bool = False,
    warn: bool = True,
):
    """Draw samples of the next frame from p(x | c) by iterative partial denoising (Algorithm 2).

    Parameters
    ----------
    denoiser : callable
        ``denoiser(y, c) -> x_hat`` with ``y`` [b, 1, H, W] and ``c`` [b, tau, H, W] (oldest
        frame first), returning [b, 1, H, W]: a trained network (run in eval mode under
        ``torch.no_grad``) or any analytic blind denoiser.
    c : torch.Tensor or numpy.ndarray
        Conditioning frames: ``[tau, H, W]``, shared by all chains, or ``[B, tau, H, W]``,
        ``n`` chains for each of the B conditionings. tau may be 0 (unconditional). Any
        floating dtype (float16, bfloat16, float32, float64), converted to the network's
        dtype; finite values.
    n : int
        Samples per conditioning.
    seed : int or sequence of int
        Required (there is no default: every random process in interp takes an explicit
        seed; leaving it out raises a one-line :class:`MissingSeedError`, an InterpError and
        a TypeError). An int seeds this call's generator (see the module docstring for the
        draw order): the same seed gives the same samples whatever ``batch_size`` is. A
        sequence of B ints seeds one generator per conditioning, so each conditioning's
        samples are those it gets alone with its own seed.
    sigma_init : float
        Standard deviation of the initial noise, y_0 = 0.5 + sigma_init z (paper: 3).
    sigma_stop : float
        A chain stops after the first iteration with sigma_k < sigma_stop (paper: 0.01).
    beta : float
        Proportion of injected noise, in [0, 1] (paper: 0.5); 1 adds no noise, 0 adds so
        much that the effective noise level never falls.
    h0 : float
        Step-size schedule, alpha_k = h0 k / (1 + h0 (k - 1)) (default 0.01).
    max_iter : int
        Iteration limit; a chain still above ``sigma_stop`` after it has status ``max_iter``.
    sigma_max : float, optional
        A chain whose sigma_k exceeds this (default ``10 * sigma_init``) or is not finite
        has status ``diverged``.
    batch_size : int
        At most this many chains are passed to the denoiser at once (a memory bound; the
        result does not depend on it).
    trace : bool or iterable of int, optional
        Record the states y_k and estimates x_hat(y_k, c) at these k (0 = the initial
        noise), or at every k with ``True``.
    return_info : bool
        Also return a :class:`SampleInfo` (statuses, iteration and evaluation counts, the
        sigma_k schedule of each chain, the trace).
    warn : bool
        Warn (``RuntimeWarning``) when some chains did not converge.

    Returns
    -------
    samples : torch.Tensor
        ``[n, 1, H, W]`` for a shared conditioning, ``[B, n, 1, H, W]`` otherwise; NaN for
        the chains that did not converge. In the network's dtype: float32 for a loaded
        checkpoint whatever the conditioning's dtype, float64 after ``net.double()`` (a
        half-precision network runs through a float32 copy; a callable without weights runs
        in float64 if ``c`` is float64, else float32), as in :mod:`interp.analysis.jacobian`.
    info : SampleInfo
        Only with ``return_info=True``.
    """
    n = check_int("n", n, 1)
    seed = _require_seed("sample", seed)
    sigma_max = _check_settings(sigma_init, sigma_stop, beta, h0, max_iter, sigma_max, batch_size)
    c, shared = _as_conditioning(c, denoiser)
    B = c.shape[0]
    cond_index = torch.arange(B).repeat_interleave(n)
    settings = dict(sigma_init=sigma_init, sigma_stop=sigma_stop, beta=beta, h0=h0, max_iter=max_iter,
                    sigma_max=sigma_max, seed=seed, batch_size=batch_size)
    generator = _Streams(seed, B, n)
    with evaluating(denoiser):
        net = _Network(_in_dtype(denoiser, c.dtype), c, cond_index, batch_size)
        flat, raw = _run_chains(
            net, B * n, tuple(c.shape[-2:]), c, generator, sigma_init=sigma_init, sigma_stop=sigma_stop,
            beta=beta, h0=h0, max_iter=max_iter, sigma_max=sigma_max, trace=trace,
        )
    chain_shape = (n,) if shared else (B, n)
    if warn:
        _warn_failures(raw["status"])
    samples = flat.reshape(*chain_shape, *flat.shape[1:])
    if return_info:
        return samples, _shape_info(raw, chain_shape, settings)
    return samples


def one_step(denoiser: Denoiser, c, n: int = 1, seed: int | None = None, *, sigma_init: float = SIGMA_INIT,
             batch_size: int = 256) -> torch.Tensor:
    """The one-step estimate x_hat(y_0, c) from pure noise y_0 = 0.5 + sigma_init z.

    For an optimal denoiser this is E[x | y_0, c] (eq. 2), which at sigma = 3 is close to the
    MMSE prediction E[x | c] because y_0 carries almost no information about x: the
    estimate of Figs. 3, 5 and 11 (top).
    ``y_0`` is drawn exactly as :func:`sample` draws it for the same seed, so it equals
    ``info.trace_xhat[:, 0]`` of ``sample(..., trace=[0], return_info=True)`` (shared
    conditioning).

    ``seed`` is required, as for :func:`sample` (an int, or one per conditioning); ``c`` may
    have any floating dtype and the result is in the network's dtype, as for :func:`sample`.

    Returns
    -------
    torch.Tensor
        ``[n, 1, H, W]`` for a shared conditioning ``[tau, H, W]``, ``[B, n, 1, H, W]`` for
        ``[B, tau, H, W]``.
    """
    n = check_int("n", n, 1)
    seed = _require_seed("one_step", seed)
    _check_settings(sigma_init, SIGMA_STOP, BETA, H0, 1, None, batch_size)
    c, shared = _as_conditioning(c, denoiser)
    B = c.shape[0]
    generator = _Streams(seed, B, n, "one_step")
    out = _one_step(denoiser, c, torch.arange(B).repeat_interleave(n), generator, sigma_init, batch_size)
    return out.reshape(*((n,) if shared else (B, n)), *out.shape[1:])


def _one_step(denoiser, c, cond_index, generator, sigma_init, batch_size) -> torch.Tensor:
    y0 = _initial_noise(generator, len(cond_index), tuple(c.shape[-2:]), sigma_init, c)
    with evaluating(denoiser):
        net = _Network(_in_dtype(denoiser, c.dtype), c, cond_index, batch_size)
        return net(y0, torch.arange(len(cond_index)))


def generate_recursive(
    denoiser: Denoiser,
    frames,
    k: int,
    mode: str = "sample",
    seed: int = 0,
    *,
    n: int = 1,
    tau: int | None = None,
    batch_size: int = 256,
    return_info: bool = False,
    **options,
):
    """Generate ``k`` frames after real ones by feeding generated frames back as conditioning.

    Frame t + 1 is drawn given the last tau frames (real or generated), then appended
    (Fig. 5): with ``mode="sample"`` each new frame is a sample (Algorithm 2, :func:`sample`);
    with ``mode="onestep"`` it is the one-step estimate x_hat(0.5 + 3 z, c) (:func:`one_step`).

    Parameters
    ----------
    denoiser : callable
        As for :func:`sample`. Its ``tau`` attribute, if any, is the conditioning length.
    frames : torch.Tensor or numpy.ndarray
        ``[T0, H, W]`` or ``[B, T0, H, W]`` real frames, T0 >= tau; the last tau start the
        recursion.
    k : int
        Frames to generate.
    mode : str
        ``"sample"`` or ``"onestep"``.
    seed : int
        Seeds one generator used for every step in turn.
    n : int
        Independent sequences per starting clip.
    tau : int, optional
        Conditioning length (default: ``denoiser.tau``, else T0).
    batch_size : int
        As for :func:`sample`.
    return_info : bool
        (``mode="sample"`` only) also return a list of k :class:`SampleInfo`, one per
        generated frame. A sequence whose chain failed has NaN frames from then on, and
        status ``"skipped"`` at the later steps.
    **options
        Passed on to the sampler (``sigma_init``, ``beta``, ``h0``, ``max_iter``, ...).

    Returns
    -------
    torch.Tensor
        ``[n, T0 + k, H, W]`` (or ``[B, n, T0 + k, H, W]``): the given frames, then the
        generated ones.
    """
    k = check_int("k", k, 1)
    n = check_int("n", n, 1)
    seed = check_int("seed", seed, 0, SEED_LIMIT)
    if mode not in ("sample", "onestep"):
        raise InterpError(f"mode must be 'sample' or 'onestep', got {mode!r}")
    if return_info and mode != "sample":
        raise InterpError("return_info applies to mode='sample' only")
    frames, shared = _as_conditioning(frames, denoiser)
    B, T0 = frames.shape[:2]
    if tau is None:
        tau = getattr(denoiser, "tau", None)
        tau = T0 if tau is None else tau
    tau = check_int("tau", tau, 0)
    if tau > T0:
        raise InterpError(f"the denoiser needs tau={tau} conditioning frames, {T0} were given")
    allowed = {"sigma_init", "sigma_stop", "beta", "h0", "max_iter", "sigma_max", "warn"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise InterpError(f"unknown sampler option(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})")
    warn = options.pop("warn", True)
    settings = {"sigma_init": SIGMA_INIT, "sigma_stop": SIGMA_STOP, "beta": BETA, "h0": H0,
                "max_iter": MAX_ITER, "sigma_max": None, **options}
    settings["sigma_max"] = _check_settings(
        settings["sigma_init"], settings["sigma_stop"], settings["beta"], settings["h0"],
        settings["max_iter"], settings["sigma_max"], batch_size)

    seqs = frames.repeat_interleave(n, dim=0)  # [M, T0, H, W], clip-major
    M = len(seqs)
    out = torch.cat([seqs, torch.full((M, k, *seqs.shape[-2:]), float("nan"), dtype=seqs.dtype)], 1)
    generator = _Streams(seed, M, 1)
    alive = torch.ones(M, dtype=torch.bool)
    infos: list[SampleInfo] = []
    chain_shape = (n,) if shared else (B, n)
    with evaluating(denoiser):
        for j in range(k):
            t = T0 + j  # index of the frame being generated
            c = out[:, t - tau:t]
            cond_index = torch.arange(M)
            if mode == "onestep":
                out[:, t] = _one_step(denoiser, c, cond_index, generator, settings["sigma_init"], batch_size)[:, 0]
                continue
            net = _Network(_in_dtype(denoiser, c.dtype), c, cond_index, batch_size)
            new, raw = _run_chains(
                net, M, tuple(c.shape[-2:]), c, generator, trace=None, skip=~alive,
                **{key: settings[key] for key in ("sigma_init", "sigma_stop", "beta", "h0", "max_iter", "sigma_max")},
            )
            out[:, t] = new[:, 0]
            alive &= torch.from_numpy(raw["status"] == "converged")
            if warn:
                _warn_failures(raw["status"], stacklevel=3)
            infos.append(_shape_info(raw, chain_shape, {**settings, "seed": seed, "batch_size": batch_size,
                                                        "frame": t}))
    result = out.reshape(*chain_shape, *out.shape[1:])
    return (result, infos) if return_info else result


@dataclasses.dataclass
class Rollouts:
    """Result of :func:`recursive_rollouts`.

    Attributes
    ----------
    sampled : torch.Tensor
        ``[E, tau + k, H, W]``: each start's ``tau`` real frames, then ``k`` sampled ones (NaN
        from a failed chain on).
    status : numpy.ndarray
        ``[E, k]`` sampler status of each generated frame (``converged``, ``max_iter``,
        ``diverged`` or ``skipped`` after a failure).
    onestep : torch.Tensor
        ``[E, tau + k, H, W]``: the same starts continued by recursive one-step estimates.
    """

    sampled: torch.Tensor
    status: np.ndarray
    onestep: torch.Tensor


def recursive_rollouts(denoiser: Denoiser, starts, k: int, seed: int = 0, *, max_iter: int = MAX_ITER) -> Rollouts:
    """Continue clips by recursive sampling and by recursive one-step estimation (Fig. 5).

    Parameters
    ----------
    denoiser : callable
        As for :func:`sample`; its ``tau`` attribute, if any, is the conditioning length.
    starts : torch.Tensor or numpy.ndarray
        The real frames each sequence starts from, ``[E, tau, H, W]`` (or one, ``[tau, H, W]``).
    k : int
        Frames generated after them.
    seed : int
        Seed of both recursions.
    max_iter : int
        The sampler's iteration limit per frame.

    Notes
    -----
    The sampled sequences of all starts come from one :func:`generate_recursive` call, so
    (as for :func:`sample` with a batch of conditionings) a start's samples depend on the
    other starts of the batch; its one-step continuation comes from a call of its own with
    ``seed``, the same alone or in a batch. With one start the arrays keep a batch axis of 1.
    """
    k = check_int("k", k, 1)
    seed = check_int("seed", seed, 0, SEED_LIMIT)
    frames, shared = _as_conditioning(starts, denoiser)
    sampled, infos = generate_recursive(denoiser, frames, k, "sample", seed, n=1, return_info=True, warn=False,
                                        max_iter=max_iter)
    status = np.stack([info.status[:, 0] for info in infos], axis=1)  # [E, k]
    onestep = torch.cat([generate_recursive(denoiser, frames[e:e + 1], k, "onestep", seed)[:, 0]
                         for e in range(frames.shape[0])])
    return Rollouts(sampled=sampled[:, 0], status=status, onestep=onestep)


def grid_table(rows: list[tuple[str, list[tuple[str, str, np.ndarray]]]]) -> "pd.DataFrame":
    """Frames laid out in a grid, as the tidy table :func:`interp.plotting.plot_frame_grid` reads."""
    import pandas as pd

    parts = []
    for track, (name, panels) in enumerate(rows):
        for slot, (label, role, image) in enumerate(panels):
            h, w = image.shape
            r, cc = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
            parts.append(pd.DataFrame({
                "track": track, "track_label": name, "slot": slot, "label": label, "role": role,
                "row": r.ravel(), "col": cc.ravel(), "value": image.ravel().astype(float),
            }))
    return pd.concat(parts, ignore_index=True)


#: The most sequences (rows) and generated frames (columns) drawn in recursive.png.
SHOW_SEQUENCES, SHOW_FRAMES = 16, 32
