"""The one-dimensional bimodal example of appendix B (Figs. 9 and 10).

The signal x is -1/2 or +1/2 with equal probability (two point masses, no conditioning), and
the observation is y = x + sigma z. Everything is in closed form:

* the noisy density p_sigma(y) = (N(y; -1/2, sigma^2) + N(y; +1/2, sigma^2)) / 2;
* the MMSE denoiser at a known noise level, E[x | y, sigma] = tanh(y / (2 sigma^2)) / 2;
* the scaled score sigma^2 d/dy log p_sigma(y) = E[x | y, sigma] - y (eqs. 3 and 17).

A blind denoiser must work without knowing sigma. Eq. 18 integrates over the noise level
under the non-informative prior p(sigma) ~ 1/sigma; appendix B approximates it, as we do
here, by plugging in the MAP noise level sigma_hat(y) = argmax_sigma p(sigma | y), with
p(sigma | y) ~ p(y | sigma) / sigma, found on a fine logarithmic grid of ``SIGMA_RANGE`` and
refined by a parabola through the grid maximum (in log sigma):
x_hat(y) = E[x | y, sigma_hat(y)] (:func:`blind_denoiser`; ``method="integrated"`` gives eq. 18
itself, for comparison).

Sampling (Fig. 10) iterates y_k = y_{k-1} + 0.5 f(y_{k-1}): Algorithm 2 with a fixed step
alpha = 0.5 and no added noise (beta = 1). The residual must be the denoising residual
f(y) = x_hat(y) - y, as in eq. 4 and section 2.2: appendix B writes f(y) = y - x_hat(y) once,
but with that sign the map runs away from the point masses (its fixed points become
unstable), so that is a typo. With the right sign the map has stable fixed points at -1/2 and
+1/2 and an unstable one at 0, and from y_0 = -2 it converges to -1/2.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from interp._util.errors import InterpError

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd

__all__ = [
    "MODES",
    "SIGMA_RANGE",
    "density",
    "log_density",
    "posterior_mean",
    "scaled_score",
    "map_sigma",
    "blind_denoiser",
    "residual",
    "iterate",
    "fixed_points",
    "score_table",
    "sampling_table",
]

MODES = (-0.5, 0.5)  # the two point masses, each with probability 1/2
SIGMA_RANGE = (1e-3, 1e2)  # support of the log-uniform noise-level prior
GRID = 4001  # points of the log sigma grid
_LOG_2PI = float(np.log(2 * np.pi))


def log_density(y, sigma) -> np.ndarray:
    """log p_sigma(y), the log density of y = x + sigma z (broadcasts y and sigma)."""
    y, sigma = np.broadcast_arrays(np.asarray(y, dtype=float), np.asarray(sigma, dtype=float))
    terms = np.stack([-((y - m) ** 2) / (2 * sigma**2) for m in MODES])
    return np.logaddexp(terms[0], terms[1]) + np.log(0.5) - np.log(sigma) - 0.5 * _LOG_2PI


def density(y, sigma) -> np.ndarray:
    """p_sigma(y): the two point masses blurred by Gaussian noise of standard deviation sigma."""
    return np.exp(log_density(y, sigma))


def posterior_mean(y, sigma) -> np.ndarray:
    """E[x | y, sigma] = tanh(y / (2 sigma^2)) / 2, the MMSE denoiser at a known noise level (eq. 2)."""
    y, sigma = np.asarray(y, dtype=float), np.asarray(sigma, dtype=float)
    return 0.5 * np.tanh(y / (2 * sigma**2))


def scaled_score(y, sigma) -> np.ndarray:
    """sigma^2 d/dy log p_sigma(y) = E[x | y, sigma] - y: the optimal denoising step (eqs. 3, 17)."""
    return posterior_mean(y, sigma) - np.asarray(y, dtype=float)


def _sigma_grid(sigma_range, n_grid: int) -> np.ndarray:
    lo, hi = sigma_range
    if not 0 < lo < hi:
        raise InterpError(f"sigma_range must satisfy 0 < low < high, got {sigma_range}")
    if n_grid < 3:
        raise InterpError(f"n_grid must be at least 3, got {n_grid}")
    return np.geomspace(lo, hi, n_grid)


def _log_likelihoods(y: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """log p(y | sigma) for each y (rows) and grid sigma (columns)."""
    return log_density(y.reshape(-1, 1), grid.reshape(1, -1))


def map_sigma(y, sigma_range: Sequence[float] = SIGMA_RANGE, n_grid: int = GRID) -> np.ndarray:
    """The MAP noise level sigma_hat(y) = argmax_sigma p(sigma | y) (appendix B).

    The prior is p(sigma) ~ 1/sigma on ``sigma_range``, so p(sigma | y) ~ p(y | sigma) / sigma.
    It is maximised on ``n_grid`` log-spaced levels, then refined by the vertex of the
    parabola through the grid maximum and its neighbours (in log sigma); a maximum at the
    end of the range stays there (at y = +-1/2 it is the lowest level: no noise).
    """
    y = np.asarray(y, dtype=float)
    grid = _sigma_grid(sigma_range, n_grid)
    logs = np.log(grid)
    out = np.empty(y.size)
    flat = y.reshape(-1)
    for lo in range(0, flat.size, 512):  # bound memory: 512 x n_grid at a time
        part = flat[lo:lo + 512]
        lp = _log_likelihoods(part, grid) - logs  # log p(sigma | y) + const
        i = np.argmax(lp, axis=1)
        inner = (i > 0) & (i < n_grid - 1)
        rows = np.flatnonzero(inner)
        left, mid, right = lp[rows, i[rows] - 1], lp[rows, i[rows]], lp[rows, i[rows] + 1]
        curv = left - 2 * mid + right
        h = logs[1] - logs[0]
        shift = np.where(curv < 0, 0.5 * h * (left - right) / np.where(curv < 0, curv, -1.0), 0.0)
        log_hat = logs[i].astype(float)
        log_hat[rows] += np.clip(shift, -h, h)
        out[lo:lo + 512] = np.exp(log_hat)
    return out.reshape(y.shape)


def blind_denoiser(y, method: str = "map", sigma_range: Sequence[float] = SIGMA_RANGE,
                   n_grid: int = GRID) -> np.ndarray:
    """The blind (noise-level agnostic) denoiser x_hat(y) of appendix B.

    ``method="map"``: the MAP plug-in x_hat(y) = E[x | y, sigma_hat(y)] used for Fig. 10.
    ``method="integrated"``: eq. 18, x_hat(y) = integral of E[x | y, sigma] p(sigma | y) d sigma,
    on the same grid (with p(sigma) ~ 1/sigma the weight of a log-spaced level is p(y | sigma)).
    """
    y = np.asarray(y, dtype=float)
    if method == "map":
        return posterior_mean(y, map_sigma(y, sigma_range, n_grid))
    if method == "integrated":
        grid = _sigma_grid(sigma_range, n_grid)
        ll = _log_likelihoods(y.reshape(-1), grid)
        w = np.exp(ll - ll.max(axis=1, keepdims=True))
        est = (w * posterior_mean(y.reshape(-1, 1), grid.reshape(1, -1))).sum(1) / w.sum(1)
        return est.reshape(y.shape)
    raise InterpError(f"method must be 'map' or 'integrated', got {method!r}")


def residual(y, **kwargs) -> np.ndarray:
    """The denoising residual f(y) = x_hat(y) - y of the blind denoiser (eq. 19)."""
    y = np.asarray(y, dtype=float)
    return blind_denoiser(y, **kwargs) - y


def iterate(y0: float = -2.0, step: float = 0.5, n_steps: int = 20, **kwargs) -> np.ndarray:
    """The sampling map y_k = y_{k-1} + step f(y_{k-1}) from y_0: returns y_0 .. y_{n_steps}."""
    ys = [float(y0)]
    for _ in range(int(n_steps)):
        ys.append(ys[-1] + step * float(residual(ys[-1], **kwargs)))
    return np.array(ys)


def fixed_points(y_min: float = -3.0, y_max: float = 3.0, step: float = 0.5, n_points: int = 6001,
                 **kwargs) -> "pd.DataFrame":
    """Zeros of the residual f in [y_min, y_max], i.e. fixed points of y -> y + step f(y).

    Each sign change of f on a grid is refined by Brent's method. A fixed point y* is stable
    when the map contracts there, |1 + step f'(y*)|< 1, with f' from central differences.

    Returns
    -------
    pandas.DataFrame
        One row per fixed point: ``y``, ``slope`` (1 + step f'(y*), the map's derivative) and
        ``stable``.
    """
    import pandas as pd
    from scipy.optimize import brentq

    ys = np.linspace(y_min, y_max, n_points)
    f = residual(ys, **kwargs)
    roots = [float(ys[i]) for i in np.flatnonzero(f == 0)]
    for i in np.flatnonzero(np.sign(f[:-1]) * np.sign(f[1:]) < 0):
        roots.append(brentq(lambda v: float(residual(v, **kwargs)), ys[i], ys[i + 1], xtol=1e-12))
    roots = sorted(set(np.round(roots, 10)))
    h = 1e-4
    slopes = [1 + step * (float(residual(r + h, **kwargs)) - float(residual(r - h, **kwargs))) / (2 * h)
              for r in roots]
    slopes = np.array(slopes, dtype=float)
    return pd.DataFrame({"y": np.array(roots, dtype=float), "slope": slopes, "stable": np.abs(slopes) < 1})


def score_table(sigmas: Sequence[float] = (0.05, 0.15, 0.3, 0.6, 1.2), y_min: float = -2.5,
                y_max: float = 2.5, n_points: int = 1001) -> "pd.DataFrame":
    """Noisy densities and optimal denoising steps across noise levels (Fig. 9).

    Returns
    -------
    pandas.DataFrame
        One row per (noise level, y): ``sigma``, ``y``, ``density`` (p_sigma(y)),
        ``scaled_score`` (sigma^2 d/dy log p_sigma(y) = E[x | y, sigma] - y) and
        ``posterior_mean`` (E[x | y, sigma]).
    """
    import pandas as pd

    sigmas = np.asarray(sigmas, dtype=float).reshape(-1)
    if sigmas.size == 0 or (sigmas <= 0).any():
        raise InterpError(f"sigmas must be positive noise levels, got {sigmas.tolist()}")
    y = np.linspace(y_min, y_max, int(n_points))
    s, yy = np.meshgrid(sigmas, y, indexing="ij")
    return pd.DataFrame({
        "sigma": s.ravel(),
        "y": yy.ravel(),
        "density": density(yy, s).ravel(),
        "scaled_score": scaled_score(yy, s).ravel(),
        "posterior_mean": posterior_mean(yy, s).ravel(),
    })


def sampling_table(y0: float = -2.0, step: float = 0.5, n_steps: int = 10, y_min: float = -2.5,
                   y_max: float = 2.5, n_points: int = 1001,
                   sigma_range: Sequence[float] = SIGMA_RANGE) -> "pd.DataFrame":
    """The blind denoiser's residual, its fixed points, and one run of the sampling map (Fig. 10).

    Returns
    -------
    pandas.DataFrame
        Rows of three kinds, told apart by ``kind``:

        ``curve``
            one per y on a grid: ``y``, ``sigma_hat`` (MAP noise level), ``x_hat`` (blind
            estimate), ``residual`` (f(y) = x_hat(y) - y) and ``map`` (y + step f(y));
        ``fixed_point``
            one per zero of f: ``y``, ``slope`` (1 + step f'(y)) and ``stable``;
        ``trajectory``
            one per iteration: ``k``, ``y`` (y_k) and ``y_next`` (y_{k+1}), from y_0 = ``y0``.

        Every row also has ``step``; columns that do not apply to a kind are empty.
    """
    import pandas as pd

    kw = {"sigma_range": tuple(sigma_range)}
    y = np.linspace(y_min, y_max, int(n_points))
    sig = map_sigma(y, **kw)
    x_hat = posterior_mean(y, sig)
    f = x_hat - y
    curve = pd.DataFrame({"kind": "curve", "y": y, "sigma_hat": sig, "x_hat": x_hat, "residual": f,
                          "map": y + step * f})
    fixed = fixed_points(y_min, y_max, step=step, **kw).assign(kind="fixed_point")
    path = iterate(y0, step, n_steps, **kw)
    traj = pd.DataFrame({"kind": "trajectory", "k": np.arange(n_steps), "y": path[:-1], "y_next": path[1:]})
    table = pd.concat([curve, fixed, traj], ignore_index=True)
    table["step"] = float(step)
    table["k"] = table["k"].astype("Int64")
    table["stable"] = table["stable"].astype("boolean")
    cols = ["kind", "step", "y", "sigma_hat", "x_hat", "residual", "map", "slope", "stable", "k", "y_next"]
    return table[cols]
