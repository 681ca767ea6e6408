"""How many bits each past frame saves: conditional entropy of the next frame from the denoising curve.

Beyond the paper. Its appendix E notes that the training objective (MSE weighted by
1 / sigma^2, log sigma^2 uniform) bounds the conditional entropy of the next frame given the
past, but never computes it. The I-MMSE relation of Guo, Shamai & Verdu (2005) turns the
denoiser's mean squared error across noise levels into that entropy; Kong, Brekelmans &
Ver Steeg (2023) use the same integral for the likelihoods of diffusion models.

The formula (derived in :func:`entropy_from_mse`), per pixel, in nats, with m(sigma^2) the
conditional MMSE per pixel at noise variance sigma^2 and sigma_0^2 the smallest level::

    h(X | C) / d = 1/2 log(2 pi e sigma_0^2)                      entropy of the noise at sigma_0
                 + 1/2 int_{log sigma_0^2}^{+inf} m / sigma^2 dlog sigma^2     I(X; X + sigma_0 Z | C) / d
                 + 1/2 int_{-inf}^{log sigma_0^2} (m / sigma^2 - 1) dlog sigma^2     h(X|C) - h(X + sigma_0 Z|C), <= 0

The grid part is measured (:func:`conditional_entropy`: test clips, fresh noise at each of a
log-spaced grid of levels, sigma^2 in [1e-5, 1e2] by default: the training range); the two
tails, beyond the largest and below the smallest level, use the MSE-curve of a Gaussian fitted
to the end point (see :func:`entropy_from_mse`) and are reported as their own columns. A trained
denoiser's MSE is at least the MMSE at every level and the estimate rises with the curve, so the
result estimates an upper bound on h(X | C) (Monte Carlo and tail errors aside).

Units. The differential entropy is reported in bits per pixel (``h_bits_per_pixel``) and, for
frames quantised to ``bit_depth`` bits on [0, 1] (levels 1 / (2^b - 1) apart; 8 bits: 1/255),
as the discrete entropy of the quantised frame, H_q ~ h / (d ln 2) + log2(2^b - 1) bits per
pixel (``quantised_bits_per_pixel``): each cell's probability is p(x) Delta^d, valid where the
conditional density is smooth on the scale of one grey level, not for near-deterministic pixels.
Frames that are themselves 8-bit (DAVIS32) have no density below one grey level; the smallest
default level, sigma_0 = 10^-2.5 (0.8 grey level), is about that scale, and the low-noise tail
then stands for a density smoothed at it.

Also: :func:`uncertainty_map`, the per-pixel standard deviation of samples from
:func:`interp.sampler.sample` beside the one-step estimate, for one conditioning.

CLI::

    python -m interp.entropy --ckpt models/davis32-tau0.safetensors models/davis32-tau1.safetensors \
        --data data/davis32-mini.npz --out results/entropy [--clips 512 --levels 57 --boot 1000 --seed 0]

writes ``curve.csv`` (one row per model and noise level), ``summary.csv`` (one row per model,
with the bits each model's conditioning saves over the model with the next smaller tau, paired
bootstrap) and ``entropy.png``.

References
----------
D. Guo, S. Shamai and S. Verdu, "Mutual information and minimum mean-square error in Gaussian
channels", IEEE Transactions on Information Theory 51(4), 1261-1282, 2005.

X. Kong, R. Brekelmans and G. Ver Steeg, "Information-theoretic diffusion", ICLR 2023.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import sys
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch

from interp._util.checks import check_int
from interp._util.errors import SEED_LIMIT, InterpError, short_repr
from interp.analysis.sampler import one_step, sample
from interp.nets.modes import evaluating

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd


SIGMA2_MIN = 1e-5  # the training range of Algorithm 1: log sigma^2 uniform on [1e-5, 1e2]


SIGMA2_MAX = 1e2


LEVELS = 57  # 8 per decade of sigma^2 over the 7 decades of the training range


LOG2E = 1.0 / math.log(2.0)


Denoiser = Callable[..., torch.Tensor]


def noise_levels(levels: int = LEVELS, sigma2_min: float = SIGMA2_MIN, sigma2_max: float = SIGMA2_MAX) -> np.ndarray:
    """``levels`` noise variances sigma^2, log-spaced from ``sigma2_min`` to ``sigma2_max`` (both included)."""
    levels = check_int("levels", levels, 2)
    for name, v in (("sigma2_min", sigma2_min), ("sigma2_max", sigma2_max)):
        if not (isinstance(v, (int, float, np.floating)) and not isinstance(v, bool) and math.isfinite(v) and v > 0):
            raise InterpError(f"{name} must be a positive number, got {short_repr(v)}")
    if not sigma2_min < sigma2_max:
        raise InterpError(f"sigma2_min ({sigma2_min:g}) must be below sigma2_max ({sigma2_max:g})")
    return np.exp(np.linspace(math.log(sigma2_min), math.log(sigma2_max), levels))


def entropy_from_mse(sigma2, mse) -> dict[str, np.ndarray]:
    """Differential entropy per pixel (nats) from a per-pixel MMSE curve, by the I-MMSE relation.

    Derivation. Let X in R^d (the next frame), C the conditioning, Z ~ N(0, I) independent and
    snr gamma = 1 / sigma^2. Guo, Shamai & Verdu (2005) show, for any X with finite variance
    (and, conditionally, for each value of C)::

        d/dgamma I(X; sqrt(gamma) X + Z | C) = mmse(gamma) / 2,
        mmse(gamma) = E || X - E[X | sqrt(gamma) X + Z, C] ||^2        (summed over the d pixels)

    with I(X; . | C) = 0 at gamma = 0. Since X + sigma Z is sqrt(gamma) X + Z scaled by sigma,
    h(X + sigma_0 Z | C) = h(sigma_0 Z) + I(X; X + sigma_0 Z | C), that is, with gamma_0 = 1 / sigma_0^2,

        h(X + sigma_0 Z | C) = d/2 log(2 pi e sigma_0^2) + 1/2 int_0^gamma_0 mmse(gamma) dgamma.

    For X with a density, h(X + sigma Z | C) -> h(X | C) as sigma -> 0, and the same identity
    between sigma_0 and sigma gives the remainder: h(X | C) - h(X + sigma_0 Z | C) =
    1/2 int_gamma_0^inf (mmse(gamma) - d / gamma) dgamma (<= 0: adding noise never lowers entropy).
    Substituting u = log sigma^2 (dgamma = -gamma du) and m = mmse / d, per pixel::

        h(X | C) / d = 1/2 log(2 pi e sigma_0^2)                                      (reference)
                     + 1/2 int_{u_0}^{u_1} m / sigma^2 du                              (grid)
                     + 1/2 int_{u_1}^{+inf} m / sigma^2 du                             (tail_high)
                     + 1/2 int_{-inf}^{u_0} (m / sigma^2 - 1) du                       (tail_low)

    with u_0, u_1 the logs of the smallest and largest grid level. The grid term, m / sigma^2
    integrated against log sigma^2, is the paper's training loss (appendix E) up to constants.
    With a reference Gaussian N(0, s^2 I) in place of the noise at sigma_0 this is Kong et al.'s
    (2023) form, h(X) = d/2 log(2 pi e s^2) - 1/2 int_0^inf [d s^2 / (1 + gamma s^2) - mmse(gamma)] dgamma.

    Quadrature: the trapezoid rule in u on the given grid (the integrand is a smooth, sigmoid-like
    function of u, for which it is very accurate; 8 levels per decade give ~1e-6 relative).

    Tails: beyond each end of the grid the curve is taken to be that of a Gaussian whose
    per-pixel variance v makes it pass through the end point, m(sigma^2) = v sigma^2 / (v + sigma^2);
    both tails then integrate in closed form:

    * high noise (sigma^2 > sigma_1^2): v_1 = m_1 sigma_1^2 / (sigma_1^2 - m_1), an estimate of
      the conditional variance per pixel; int_{u_1}^inf v_1 / (v_1 + e^u) du = log(1 + v_1 / sigma_1^2)
      = -log(1 - m_1 / sigma_1^2) (about m_1 / sigma_1^2: under 1e-3 nats for frames in [0, 1]
      at sigma_1^2 = 100). It needs m_1 < sigma_1^2.
    * low noise (sigma^2 < sigma_0^2): m ~ sigma^2 - sigma^4 / v_0, which is the small-noise
      expansion of any smooth density, m = sigma^2 - sigma^4 J / d + O(sigma^6), with J / d = 1 / v_0
      (J the Fisher information); int_{-inf}^{u_0} (v_0 / (v_0 + e^u) - 1) du = -log(1 + sigma_0^2 / v_0)
      = log(m_0 / sigma_0^2) (0 if m_0 >= sigma_0^2: the identity estimator below the grid).
      Together with the reference this is 1/2 log(2 pi e m_0).

    Parameters
    ----------
    sigma2 : array_like
        [L] noise variances, strictly increasing, positive (L >= 2).
    mse : array_like
        [..., L] per-pixel MSE at each level (any leading axes, e.g. bootstrap draws), positive.

    Returns
    -------
    dict of numpy.ndarray
        ``h`` (nats per pixel) and its parts ``reference``, ``grid``, ``tail_high``, ``tail_low``
        (each already halved: h is their sum), and ``variance`` (v_1, the high-noise fit), all
        float64 with the leading shape of ``mse``.
    """
    s2 = np.asarray(sigma2, dtype=np.float64)
    m = np.asarray(mse, dtype=np.float64)
    if s2.ndim != 1 or len(s2) < 2:
        raise InterpError(f"sigma2 must be a 1-D array of at least 2 noise levels, got shape {s2.shape}")
    if not (np.isfinite(s2).all() and (s2 > 0).all() and (np.diff(s2) > 0).all()):
        raise InterpError("sigma2 must hold positive, finite, strictly increasing noise variances")
    if m.ndim < 1 or m.shape[-1] != len(s2):
        raise InterpError(f"mse must have one value per noise level on its last axis ({len(s2)}), got shape {m.shape}")
    if not (np.isfinite(m).all() and (m > 0).all()):
        raise InterpError("mse must hold positive, finite values")
    m1, top = m[..., -1], s2[-1]
    if (m1 >= top).any():
        raise InterpError(f"the MSE at the largest noise level ({np.max(m1):.4g}) is not below its noise variance "
                          f"({top:.4g}): the high-noise tail cannot be extrapolated")
    u = np.log(s2)
    grid = np.trapezoid(m / s2, u, axis=-1) if hasattr(np, "trapezoid") else np.trapz(m / s2, u, axis=-1)
    tail_high = -np.log1p(-m1 / top)
    tail_low = np.minimum(np.log(m[..., 0] / s2[0]), 0.0)
    reference = np.broadcast_to(0.5 * math.log(2.0 * math.pi * math.e * s2[0]), grid.shape).astype(np.float64)
    out = {"reference": reference, "grid": 0.5 * grid, "tail_high": 0.5 * tail_high, "tail_low": 0.5 * tail_low}
    out["h"] = out["reference"] + out["grid"] + out["tail_high"] + out["tail_low"]
    out["variance"] = m1 * top / (top - m1)
    return out


@dataclasses.dataclass
class EntropyEstimate:
    """The result of :func:`conditional_entropy`.

    Attributes
    ----------
    curve : pandas.DataFrame
        One row per noise level: ``level``, ``sigma2``, ``sigma``, ``snr`` (1 / sigma^2),
        ``mse_raw`` (mean per-pixel squared error), ``mse`` (the same with the noise power as a
        control variate, the value used), ``mse_se`` (its standard error over clips),
        ``mse_bound`` (``mse`` capped at sigma^2 and at the variance of the clean frames:
        what is integrated), ``capped`` (``"none"``, ``"identity"`` or ``"mean"``: which cap applied), ``integrand``
        (``mse_bound / sigma2``), ``gaussian_mse`` (the curve of the Gaussian fitted at the
        largest level, for reference), ``gain`` (the residual's calibrated gain, 1 without
        calibration).
    summary : pandas.DataFrame
        One row: the estimate, its bootstrap interval, the terms of the formula (see
        :func:`entropy_from_mse`) in bits per pixel, and the settings.
    draws : numpy.ndarray
        [n_boot] bootstrap draws of the differential entropy in bits per pixel.
    clip_mse, clip_noise : numpy.ndarray
        [N, L] per clip and level: mean per-pixel squared error and noise power (float64).
    pairing : str
        Fingerprint of (target frames, noise seed, bootstrap): two estimates with the same one
        are paired, clip by clip and draw by draw (see :func:`saving`).
    """

    curve: "pd.DataFrame"
    summary: "pd.DataFrame"
    draws: np.ndarray
    clip_mse: np.ndarray
    clip_noise: np.ndarray
    pairing: str

    @property
    def bits(self) -> float:
        """The differential entropy estimate, bits per pixel."""
        return float(self.summary["h_bits_per_pixel"].iloc[0])



def _as_clips(clips) -> torch.Tensor:
    if isinstance(clips, np.ndarray):
        if clips.dtype.kind != "f":
            raise InterpError(f"clips must hold floating-point frames, got dtype {clips.dtype}")
        clips = torch.from_numpy(np.ascontiguousarray(clips, dtype=np.float32))
    if not isinstance(clips, torch.Tensor):
        raise InterpError(f"clips must be a tensor or array [N, T, H, W], got {type(clips).__name__}")
    if clips.ndim != 4 or min(clips.shape) == 0:
        raise InterpError(f"clips must be a non-empty [N, T, H, W] array, got shape {tuple(clips.shape)}")
    if not clips.is_floating_point():
        raise InterpError(f"clips must hold floating-point frames, got dtype {clips.dtype}")
    clips = clips.float()
    if not bool(torch.isfinite(clips).all()):
        raise InterpError("clips hold non-finite values (NaN or inf)")
    return clips


def _device_of(denoiser) -> torch.device:
    if isinstance(denoiser, torch.nn.Module):
        for p in denoiser.parameters():
            return p.device
    return torch.device("cpu")


def _level_mse(e: np.ndarray, n: np.ndarray, sigma2: np.ndarray, weights: np.ndarray | None = None):
    """Per-level MSE with the noise power as control variate: mean(e) - beta (mean(n) - sigma^2).

    ``e``, ``n``: [N, L]. ``weights``: None, or [B, N] bootstrap counts (rows sum to N). beta
    is the least-squares slope of e on n over the clips (0 where n does not vary); a level whose
    corrected mean is not positive (possible with a handful of clips) keeps the plain mean. Returns
    (mse [..., L], raw mean [..., L], residual variance [..., L]).
    """
    N = e.shape[0]
    if weights is None:
        mean = lambda a: a.mean(0)
    else:
        mean = lambda a: (weights @ a) / N
    me, mn = mean(e), mean(n)
    cov = mean(e * n) - me * mn
    var = mean(n * n) - mn * mn
    ok = var > 1e-300 * np.maximum(mn * mn, 1e-300)
    beta = np.where(ok, cov / np.where(ok, var, 1.0), 0.0)
    mse = me - beta * (mn - sigma2)
    resid = mean(e * e) - me * me - beta * beta * var
    bad = ~(mse > 0)  # only with a handful of clips: the plain mean instead
    mse = np.where(bad, me, mse)
    resid = np.where(bad, mean(e * e) - me * me, resid)
    return mse, me, np.maximum(resid, 0.0)


def conditional_entropy(
    denoiser: Denoiser,
    clips,
    *,
    seed: int,
    tau: int | None = None,
    targets=None,
    levels: int = LEVELS,
    sigma2_min: float = SIGMA2_MIN,
    sigma2_max: float = SIGMA2_MAX,
    repeats: int = 1,
    n_boot: int = 1000,
    ci: float = 0.95,
    bit_depth: int = 8,
    batch_size: int = 256,
    sigma_aware: bool = False,
    calibrate: bool = False,
    progress: bool = False,
) -> EntropyEstimate:
    """Estimate h(x_{t+1} | x_t, ..., x_{t-tau+1}) from a denoiser's MSE across noise levels (I-MMSE).

    For every clip one target frame x_{t+1} is taken with its tau past frames as the
    conditioning c; at each noise level sigma^2 of a log-spaced grid, y = x + sigma z with fresh
    noise, and the per-pixel squared error of denoiser(y, c) is averaged (``repeats`` noise
    draws per clip). The curve is integrated by :func:`entropy_from_mse` (formula, tails and
    references there)::

        h(X | C) / d = 1/2 log(2 pi e sigma_0^2) + 1/2 int m(sigma^2) / sigma^2 dlog sigma^2 + tails

    Variance reduction: the per-clip error is regressed on the per-clip noise power
    ||sigma z||^2 / d, whose mean sigma^2 is known, and the mean corrected accordingly (a control
    variate; at small sigma it removes nearly all the Monte Carlo noise). Safeguard: the
    integrated curve is ``min(mse, sigma^2, V)``, V the per-pixel MSE of the leave-one-out mean
    of the target frames (the mean of the other N - 1 clips' targets as the estimate of each):
    the identity estimator has MSE sigma^2 and that one V, so the MMSE is below both and the
    estimate stays an upper bound even where a network does worse than either (the ``capped``
    column says where; V is fixed at its full-sample value in the bootstrap).

    Calibration (``calibrate=True``). A blind network is not told sigma, but the I-MMSE integral
    is over the MMSE of estimators that know it, so any estimator built from the network with
    the noise level in hand gives an upper bound too. With calibration the curve is the MSE
    of y + a(sigma^2) (denoiser(y, c) - y): the network's residual rescaled at each level by
    the least-squares gain a = <x - y, r> / <r, r> (r = denoiser(y, c) - y), cross-fitted: the
    clips are split in two seeded halves and each half is scored with the gain fitted on the
    other, so no clip's error uses its own target (the estimate stays an upper bound in
    expectation). a = 1 is the network, a = 0 the identity; the fitted gain corrects a residual
    of the right direction but the wrong length, which is where a blind network loses most
    (its gain has to be guessed from the noisy frame). The ``gain`` column of the curve holds
    the mean of the two halves' gains. It is off by default: the plain curve is the network's
    own error.

    The bootstrap resamples clips (with their noise), re-estimates each level's MSE and
    integrates again; the interval is the percentile interval of those draws.

    Parameters
    ----------
    denoiser : callable
        ``denoiser(y, c) -> x_hat`` with y [b, 1, H, W] and c [b, tau, H, W] (oldest first),
        returning [b, 1, H, W]; a network from :func:`interp.load` (run in eval mode under
        no_grad, on its own device) or an analytic denoiser. With ``sigma_aware=True`` it is
        called as ``denoiser(y, c, sigma)`` (sigma a float): the exact MMSE denoisers used to
        validate the estimator need the noise level; a blind network does not.
    clips : numpy.ndarray or torch.Tensor
        [N, T, H, W] frames (the held-out split; in [0, 1] for the quantised-bits column to mean
        what it says); N >= 2.
    seed : int
        Seeds the choice of target frames, the noise (level by level, then repeat by repeat, one
        [N, 1, H, W] block each, so the draws do not depend on ``batch_size``) and the bootstrap.
    tau : int, optional
        Conditioning frames (default: ``denoiser.tau``); 0 for an unconditional denoiser.
    targets : array_like of int, optional
        [N] index of the target frame in each clip, each in [tau, T - 1] (default: one drawn
        uniformly per clip). Give the same targets (and seed) to compare models of different tau
        on the same frames, paired (:func:`saving`).
    levels, sigma2_min, sigma2_max : int, float, float
        The grid of noise variances (default 57 levels, 8 per decade, on the training range
        [1e-5, 1e2]).
    repeats : int
        Noise draws per clip and level.
    n_boot : int
        Bootstrap resamples of the clips (0: no interval).
    ci : float
        Coverage of the percentile interval.
    bit_depth : int
        Quantisation for ``quantised_bits_per_pixel``: 2^b levels on [0, 1].
    batch_size : int
        Clips per denoiser call (a memory bound; the result does not depend on it).
    sigma_aware : bool
        Pass the noise level to the denoiser (analytic oracles only).
    calibrate : bool
        Rescale the denoiser's residual at each level by a cross-fitted least-squares gain (see
        above); needs at least 4 clips.
    progress : bool
        Show a progress bar (stderr).

    Returns
    -------
    EntropyEstimate
    """
    import pandas as pd

    seed = check_int("seed", seed, 0, SEED_LIMIT)
    repeats = check_int("repeats", repeats, 1)
    n_boot = check_int("n_boot", n_boot, 0)
    bit_depth = check_int("bit_depth", bit_depth, 1, 33)
    batch_size = check_int("batch_size", batch_size, 1)
    if not (isinstance(ci, (int, float)) and 0.0 < ci < 1.0):
        raise InterpError(f"ci must be a number in (0, 1), got {short_repr(ci)}")
    if not callable(denoiser):
        raise InterpError(f"denoiser must be callable as denoiser(y, c), got {type(denoiser).__name__}")
    if getattr(denoiser, "predict_only", False):
        raise InterpError("a prediction-only network has no noisy input; the entropy needs a denoiser")
    sigma2 = noise_levels(levels, sigma2_min, sigma2_max)
    clips = _as_clips(clips)
    N, T, H, W = clips.shape
    if N < 2:
        raise InterpError(f"need at least 2 clips (the bootstrap resamples them), got {N}")
    if calibrate and N < 4:
        raise InterpError(f"calibrate needs at least 4 clips (two halves, each fitting the other's gain), got {N}")
    if tau is None:
        tau = getattr(denoiser, "tau", None)
        if tau is None:
            raise InterpError("tau is not given and the denoiser has no 'tau' attribute")
    tau = check_int("tau", tau, 0)
    if T < tau + 1:
        raise InterpError(f"clips of {T} frames are too short for tau={tau} (need tau + 1 = {tau + 1})")
    rng = np.random.default_rng([seed, 0])
    if targets is None:
        t = rng.integers(tau, T, size=N)
    else:
        t = np.asarray(targets)
        if t.shape != (N,) or t.dtype.kind not in "iu":
            raise InterpError(f"targets must be {N} integer frame indices, got {short_repr(targets)}")
        if (t < tau).any() or (t > T - 1).any():
            raise InterpError(f"targets must lie in [tau, T - 1] = [{tau}, {T - 1}], got "
                              f"{int(t.min())} .. {int(t.max())}")
    t = torch.as_tensor(t, dtype=torch.long)
    rows = torch.arange(N)
    x = clips[rows, t].unsqueeze(1)  # [N, 1, H, W]
    c = clips[rows[:, None], t[:, None] + torch.arange(-tau, 0)[None, :]] if tau else clips.new_zeros((N, 0, H, W))
    d = H * W
    x64 = x.double()
    # MSE per pixel of the leave-one-out mean frame as an estimate of each target: (N / (N - 1))^2 times
    # the spread about the mean of all N (an achievable estimator, so an honest cap on the MMSE)
    variance = float(((x64 - x64.mean(0)) ** 2).mean()) * (N / (N - 1)) ** 2
    pairing = hashlib.sha256(np.ascontiguousarray(x.numpy()).tobytes()
                             + f"|{seed}|{n_boot}|{repeats}|{levels}|{sigma2_min}|{sigma2_max}".encode()).hexdigest()[:16]

    dev = _device_of(denoiser)
    e = np.zeros((N, len(sigma2)))
    nz = np.zeros((N, len(sigma2)))
    cross = np.zeros((N, len(sigma2)))  # <x - y, r> / d, r = estimate - y (for the calibration)
    rr = np.zeros((N, len(sigma2)))  # |r|^2 / d
    gen = torch.Generator().manual_seed(seed)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(sigma2) * repeats, desc="noise levels", unit="level", file=sys.stderr)
    try:
        with evaluating(denoiser):
            for li, s2 in enumerate(sigma2):
                sigma = math.sqrt(s2)
                for _ in range(repeats):
                    z = torch.randn((N, 1, H, W), generator=gen)
                    nz[:, li] += s2 * z.double().pow(2).flatten(1).mean(1).numpy()
                    for lo in range(0, N, batch_size):
                        sl = slice(lo, lo + batch_size)
                        xb = x[sl].to(dev)
                        y = xb + sigma * z[sl].to(dev)
                        cb = c[sl].to(dev)
                        est = denoiser(y, cb, sigma) if sigma_aware else denoiser(y, cb)
                        if not isinstance(est, torch.Tensor) or tuple(est.shape) != tuple(y.shape):
                            got = tuple(est.shape) if isinstance(est, torch.Tensor) else type(est).__name__
                            raise InterpError(f"the denoiser must return [B, 1, H, W] = {tuple(y.shape)}, got {got}")
                        err = (est.double() - xb.double()).pow(2).flatten(1).mean(1)
                        if not bool(torch.isfinite(err).all()):
                            raise InterpError(f"the denoiser returned non-finite values at sigma^2 = {s2:.3g}")
                        e[lo:lo + len(err), li] += err.cpu().numpy()
                        if calibrate:
                            r = est.double() - y.double()
                            cross[lo:lo + len(err), li] += ((xb.double() - y.double()) * r).flatten(1).mean(1).cpu().numpy()
                            rr[lo:lo + len(err), li] += r.pow(2).flatten(1).mean(1).cpu().numpy()
                    if bar is not None:
                        bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    e /= repeats
    nz /= repeats
    gain = np.ones(len(sigma2))
    if calibrate:
        cross /= repeats
        rr /= repeats
        half = np.zeros(N, dtype=bool)
        half[np.random.default_rng([seed, 2]).permutation(N)[: N // 2]] = True
        fitted = []
        for fold in (half, ~half):
            other = ~fold
            num, den = cross[other].sum(0), rr[other].sum(0)
            a = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
            # |x - y - a r|^2 = |x - y|^2 - 2 a <x - y, r> + a^2 |r|^2, with |x - y|^2 / d the noise power
            e[fold] = nz[fold] - 2.0 * a * cross[fold] + a * a * rr[fold]
            fitted.append(a)
        gain = 0.5 * (fitted[0] + fitted[1])

    mse, raw, resid = _level_mse(e, nz, sigma2)
    cap = np.minimum(sigma2, variance)
    bound = np.maximum(np.minimum(mse, cap), np.finfo(float).tiny)
    capped = np.where(mse <= cap, "none", np.where(sigma2 <= variance, "identity", "mean"))
    if bound[-1] >= sigma2[-1]:
        raise InterpError(f"the clean frames' variance ({variance:.4g} per pixel) is not below the largest noise "
                          f"variance ({sigma2[-1]:.4g}): raise sigma2_max")
    parts = entropy_from_mse(sigma2, bound)
    v1 = float(parts["variance"])

    draws = np.zeros(0)
    if n_boot:
        brng = np.random.default_rng([seed, 1])
        draws = np.empty(n_boot)
        for lo in range(0, n_boot, 256):  # bounded memory: [<=256, N] weights at a time
            k = min(256, n_boot - lo)
            idx = brng.integers(0, N, size=(k, N))
            weights = np.zeros((k, N))
            np.add.at(weights, (np.repeat(np.arange(k), N), idx.ravel()), 1.0)
            mb, _, _ = _level_mse(e, nz, sigma2, weights)
            mb = np.maximum(np.minimum(mb, cap), np.finfo(float).tiny)
            draws[lo:lo + k] = entropy_from_mse(sigma2, mb)["h"] * LOG2E
    alpha = (1.0 - ci) / 2.0
    h_bits = float(parts["h"]) * LOG2E
    lo_b, hi_b = (np.quantile(draws, [alpha, 1.0 - alpha]) if n_boot else (np.nan, np.nan))
    shift = math.log2(2 ** bit_depth - 1)

    curve = pd.DataFrame({
        "level": np.arange(len(sigma2)), "sigma2": sigma2, "sigma": np.sqrt(sigma2), "snr": 1.0 / sigma2,
        "mse_raw": raw, "mse": mse, "mse_se": np.sqrt(resid / N), "mse_bound": bound, "capped": capped,
        "integrand": bound / sigma2, "gaussian_mse": v1 * sigma2 / (v1 + sigma2), "gain": gain,
    })
    summary = pd.DataFrame([{
        "tau": tau, "clips": N, "height": H, "width": W, "pixels": d, "levels": len(sigma2),
        "sigma2_min": sigma2[0], "sigma2_max": sigma2[-1], "repeats": repeats, "seed": seed,
        "n_boot": n_boot, "ci": ci, "bit_depth": bit_depth,
        "h_bits_per_pixel": h_bits, "h_bits_ci_low": lo_b, "h_bits_ci_high": hi_b,
        "h_bits_se": float(np.std(draws, ddof=1)) if n_boot > 1 else np.nan,
        "quantised_bits_per_pixel": h_bits + shift, "quantised_ci_low": lo_b + shift,
        "quantised_ci_high": hi_b + shift, "quantised_bits_per_frame": (h_bits + shift) * d,
        "h_nats_per_pixel": float(parts["h"]),
        "reference_bits": float(parts["reference"]) * LOG2E, "grid_bits": float(parts["grid"]) * LOG2E,
        "tail_low_bits": float(parts["tail_low"]) * LOG2E, "tail_high_bits": float(parts["tail_high"]) * LOG2E,
        "conditional_variance": v1, "gaussian_bits_per_pixel": 0.5 * math.log2(2 * math.pi * math.e * v1),
        "capped_levels": int((capped != "none").sum()), "calibrated": bool(calibrate),
    }])
    return EntropyEstimate(curve=curve, summary=summary, draws=draws, clip_mse=e, clip_noise=nz, pairing=pairing)


def saving(more: EntropyEstimate, fewer: EntropyEstimate, ci: float | None = None) -> dict[str, float]:
    """Bits per pixel that ``more``'s conditioning saves over ``fewer``'s: h(fewer) - h(more).

    The two must be paired (same target frames, seed, noise grid and bootstrap size; see
    :func:`conditional_entropy`'s ``targets``): the interval is then the percentile interval of
    the draw-by-draw differences, the same clips resampled in both. Each estimate is an upper
    bound, but their difference is not a bound either way (a worse-trained model of larger
    tau can even show a negative saving).

    Returns
    -------
    dict
        ``saved_bits``, ``saved_ci_low``, ``saved_ci_high`` (NaN without bootstrap draws).
    """
    if more.pairing != fewer.pairing:
        raise InterpError("the two estimates are not paired (different target frames, seed, noise grid or bootstrap); "
                          "give conditional_entropy the same targets and settings")
    ci = float(more.summary["ci"].iloc[0]) if ci is None else ci
    diff = fewer.draws - more.draws
    alpha = (1.0 - ci) / 2.0
    lo, hi = np.quantile(diff, [alpha, 1.0 - alpha]) if len(diff) else (np.nan, np.nan)
    return {"saved_bits": fewer.bits - more.bits, "saved_ci_low": float(lo), "saved_ci_high": float(hi)}


@dataclasses.dataclass
class UncertaintyMap:
    """Per-pixel spread of sampled next frames (see :func:`uncertainty_map`).

    Arrays are [H, W] for a shared conditioning [tau, H, W] and [B, H, W] for [B, tau, H, W]
    (``samples``: [n, H, W] or [B, n, H, W], NaN for chains that did not converge).
    """

    std: np.ndarray
    mean: np.ndarray
    onestep: np.ndarray
    samples: np.ndarray
    converged: np.ndarray

    def table(self) -> "pd.DataFrame":
        """Tidy pixels: ``conditioning``, ``row``, ``col``, ``std``, ``mean``, ``onestep``, ``n`` (converged samples)."""
        import pandas as pd

        std, mean, est = (a if a.ndim == 3 else a[None] for a in (self.std, self.mean, self.onestep))
        conv = np.atleast_1d(self.converged)
        B, H, W = std.shape
        b, r, cc = np.meshgrid(np.arange(B), np.arange(H), np.arange(W), indexing="ij")
        return pd.DataFrame({"conditioning": b.ravel(), "row": r.ravel(), "col": cc.ravel(), "std": std.ravel(),
                             "mean": mean.ravel(), "onestep": est.ravel(), "n": conv[b.ravel()]})


def uncertainty_map(denoiser: Denoiser, c, n: int = 32, *, seed: int, batch_size: int = 256,
                    **sampler_options) -> UncertaintyMap:
    """Per-pixel uncertainty of the next frame: the standard deviation of ``n`` samples (Algorithm 2).

    Samples are drawn with :func:`interp.sampler.sample` (``seed``, ``**sampler_options``);
    the map is their per-pixel sample standard deviation (ddof = 1, over the chains that
    converged; NaN with fewer than 2), beside their mean and the one-step estimate
    x_hat(0.5 + sigma_init z, c) of :func:`interp.sampler.one_step` (same seed). For a perfect
    sampler the map estimates sqrt(Var[x_i | c]), whose mean square is the conditional variance
    that the high-noise end of the denoising curve measures (``conditional_variance`` of
    :func:`conditional_entropy`).

    Parameters
    ----------
    denoiser : callable
        ``denoiser(y, c)`` as for :func:`interp.sampler.sample`.
    c : torch.Tensor or numpy.ndarray
        [tau, H, W] (one conditioning) or [B, tau, H, W].
    n : int
        Samples per conditioning (>= 2).
    seed : int
        Sampler seed.
    **sampler_options
        ``sigma_init``, ``sigma_stop``, ``beta``, ``h0``, ``max_iter``, ``sigma_max``.
    """
    n = check_int("n", n, 2)
    seed = check_int("seed", seed, 0, SEED_LIMIT)
    allowed = {"sigma_init", "sigma_stop", "beta", "h0", "max_iter", "sigma_max"}
    unknown = sorted(set(sampler_options) - allowed)
    if unknown:
        raise InterpError(f"unknown sampler option(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})")
    samples = sample(denoiser, c, n, seed=seed, batch_size=batch_size, warn=False, **sampler_options)
    s = samples[..., 0, :, :].double().numpy()  # [n, H, W] or [B, n, H, W]
    ok = np.isfinite(s).all(axis=(-2, -1))  # converged chains
    count = ok.sum(-1)
    filled = np.where(ok[..., None, None], s, 0.0)
    k = np.expand_dims(count, (-2, -1)).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = filled.sum(-3) / k
        dev2 = np.where(ok[..., None, None], (filled - np.expand_dims(mean, -3)) ** 2, 0.0).sum(-3)
        std = np.sqrt(dev2 / (k - 1.0))
    mean = np.where(k >= 1, mean, np.nan)
    std = np.where(k >= 2, std, np.nan)
    kw = {"sigma_init": sampler_options["sigma_init"]} if "sigma_init" in sampler_options else {}
    est = one_step(denoiser, c, 1, seed, batch_size=batch_size, **kw)[..., 0, 0, :, :].double().numpy()
    return UncertaintyMap(std=std, mean=mean, onestep=est, samples=s, converged=count)
