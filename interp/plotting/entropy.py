"""The entropy figure: the denoising curve and the bits per pixel (tables of :mod:`interp.analysis.entropy`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd
    from matplotlib.figure import Figure


def plot_entropy(curve: "pd.DataFrame", summary: "pd.DataFrame") -> "Figure":
    """The denoising curves and the entropy estimates, from the CLI's tables.

    Left: per-pixel MSE (``mse_bound``) against the noise variance, one line per ``model``, with
    the identity estimator's sigma^2 dashed (the integrand is the ratio of the two). Right:
    ``quantised_bits_per_pixel`` with its bootstrap interval per model, against ``tau``.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.4, 3.4), layout="constrained")
    ax, bx = fig.subplots(1, 2)
    models = list(dict.fromkeys(summary["model"]))
    for name in models:
        part = curve[curve["model"] == name].sort_values("sigma2")
        ax.loglog(part["sigma2"], part["mse_bound"], marker=".", ms=3, lw=1, label=str(name))
    s2 = np.sort(curve["sigma2"].unique())
    ax.loglog(s2, s2, "k--", lw=0.8, label=r"$\sigma^2$ (identity)")
    ax.set_xlabel(r"noise variance $\sigma^2$")
    ax.set_ylabel("MSE per pixel")
    ax.legend(fontsize=7)
    taus = summary["tau"].to_numpy()
    y = summary["quantised_bits_per_pixel"].to_numpy()
    err = np.vstack([y - summary["quantised_ci_low"].to_numpy(), summary["quantised_ci_high"].to_numpy() - y])
    bx.errorbar(taus, y, yerr=np.where(np.isfinite(err), err, 0.0), fmt="o", capsize=3)
    for tx, ty, name in zip(taus, y, summary["model"], strict=True):
        bx.annotate(str(name), (tx, ty), fontsize=6, xytext=(4, 4), textcoords="offset points")
    depth = int(summary["bit_depth"].iloc[0])
    bx.set_xlabel(r"conditioning frames $\tau$")
    bx.set_ylabel(f"bits per pixel ({depth}-bit frames)")
    bx.set_title(r"$H(x_{t+1} \mid x_t, \ldots, x_{t-\tau+1})$, upper bound", fontsize=9)
    bx.set_xticks(sorted({int(v) for v in taus}))
    return fig
