"""The entropy figure: the denoising curve and the bits per pixel (tables of :mod:`interp.analysis.entropy`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from interp._util.labels import normalize

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd
    from matplotlib.figure import Figure


def plot_entropy(curve: "pd.DataFrame", summary: "pd.DataFrame | None" = None) -> "Figure":
    """The denoising curves and the entropy estimates, from the CLI's tables.

    Called with one table (the manifest's figure, which names this function as its ``plot``),
    it draws :func:`plot_entropy_figure` instead.

    Left: per-pixel MSE (``mse_bound``) against the noise variance, one line per ``model``, with
    the identity estimator's sigma^2 dashed (the integrand is the ratio of the two). Right:
    ``quantised_bits_per_pixel`` with its bootstrap interval per model, against ``tau``.
    """
    if summary is None:
        return plot_entropy_figure(curve)
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


_FRAME_PANELS = ("conditioning", "onestep", "sample", "truth")


def plot_entropy_figure(table: "pd.DataFrame") -> "Figure":
    """The manifest's conditional-entropy figure, from :func:`interp.figures.entropy_figure.entropy_and_uncertainty`'s table.

    Top left: natural video, differential entropy of the next frame (bits per pixel, 95%
    bootstrap intervals) against tau, with the prediction-only network's Gaussian bound (right
    axis: the same in bits per pixel of 8-bit frames). Top right: the moving-leaves models. Below,
    one row per uncertainty map: the conditioning frames, the one-step estimate, some samples
    (the true next frame when there is one) and the per-pixel standard deviation of the samples.
    """
    import math

    from matplotlib.figure import Figure

    ent = table[table["kind"] == "entropy"]
    maps = table[table["kind"] == "map"]
    probes = list(dict.fromkeys(maps["probe"])) if len(maps) else []
    fig = Figure(figsize=(11.0, 4.2 + 2.1 * len(probes)), layout="constrained")
    top, *rows = fig.subfigures(1 + len(probes), 1, height_ratios=[2.0] + [1.0] * len(probes), hspace=0.04)
    ax, bx = top.subplots(1, 2, width_ratios=[1.0, 1.4])

    nat = ent[(ent["family"] == "natural") & (ent["estimate"] == "denoiser")].sort_values("tau")
    shift = math.log2(255)
    if len(nat):
        err = np.vstack([nat["bits"] - nat["ci_low"], nat["ci_high"] - nat["bits"]])
        ax.errorbar(nat["tau"], nat["bits"], yerr=np.where(np.isfinite(err), err, 0.0), fmt="o-", color="C0",
                    capsize=3, label="denoisers (I-MMSE)")
        for _, r in nat.iterrows():
            ax.annotate(f"{r['bits_8bit']:.2f}", (r["tau"], r["bits"]), fontsize=7, xytext=(5, 4),
                        textcoords="offset points")
    bound = ent[(ent["family"] == "natural") & (ent["estimate"] == "prediction bound")]
    for _, r in bound.iterrows():
        ax.errorbar([r["tau"]], [r["bits"]], yerr=[[r["bits"] - r["ci_low"]], [r["ci_high"] - r["bits"]]], fmt="s",
                    color="C3", capsize=3, label=f"prediction-only bound ({r['model']})")
        ax.annotate(f"{r['bits_8bit']:.2f}", (r["tau"], r["bits"]), fontsize=7, xytext=(5, 4),
                    textcoords="offset points", color="C3")
    ax.set_xlabel(r"conditioning frames $\tau$")
    ax.set_ylabel("differential entropy, bits per pixel")
    taus = sorted({int(t) for t in ent.loc[ent["family"] == "natural", "tau"]})
    if taus:
        ax.set_xticks(taus)
    ax.secondary_yaxis("right", functions=(lambda h: h + shift, lambda b: b - shift)).set_ylabel(
        "bits per pixel, 8-bit frames", fontsize=8)
    data = nat["data"].iloc[0] if len(nat) else (bound["data"].iloc[0] if len(bound) else "")
    ax.set_title(r"natural video: $h(x_{t+1} \mid \tau$ past frames$)$" + f"\n{data}", fontsize=8)
    ax.legend(fontsize=7, loc="upper right")

    lv = ent[(ent["family"] == "leaves") & (ent["estimate"] == "denoiser")].reset_index(drop=True)
    if len(lv):
        x = np.arange(len(lv))
        err = np.vstack([lv["bits"] - lv["ci_low"], lv["ci_high"] - lv["bits"]])
        colors = ["C1" if str(v) == "stochastic" else "C2" for v in lv.get("variant", [""] * len(lv))]
        bx.errorbar(x, lv["bits"], yerr=np.where(np.isfinite(err), err, 0.0), fmt="none", ecolor="k", capsize=3)
        bx.scatter(x, lv["bits"], c=colors, zorder=3)
        for xi, (_, r) in zip(x, lv.iterrows()):
            bx.annotate(f"{r['bits']:.2f}", (xi, r["bits"]), fontsize=7, xytext=(5, 4), textcoords="offset points")
        bx.set_xticks(x, [str(m) for m in lv["model"]], rotation=25, ha="right", fontsize=7)
        bx.set_ylabel("differential entropy, bits per pixel")
        note = ""
        rule = ent[ent["estimate"] == "rule"]
        if len(rule):
            note = (f"\norange: stochastic rule; its randomness adds at most {rule['bits'].iloc[0]:.1g} bits/px"
                    " to a frame")
        bx.set_title(f"moving leaves, tau = {int(lv['tau'].iloc[0])}: each model on its own test split "
                     f"({int(lv['clips'].iloc[0])} sequences){note}", fontsize=8)

    for sub, probe in zip(rows, probes):
        part = maps[maps["probe"] == probe]
        panels = list(dict.fromkeys(zip(part["panel"], part["slot"], part["label"])))
        axes = sub.subplots(1, len(panels), squeeze=False)[0]
        for a, (panel, slot, label) in zip(axes, panels):
            p = part[(part["panel"] == panel) & (part["slot"] == slot)]
            h, w = int(p["row"].max()) + 1, int(p["col"].max()) + 1
            img = np.full((h, w), np.nan)
            img[p["row"].to_numpy().astype(int), p["col"].to_numpy().astype(int)] = p["value"].to_numpy()
            if panel in _FRAME_PANELS:
                a.imshow(img, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
                color = {"conditioning": "C3", "onestep": "C2", "sample": "C0"}.get(panel, "k")
            else:
                im = a.imshow(img, cmap="magma", vmin=0, interpolation="nearest")
                sub.colorbar(im, ax=a, shrink=0.8)
                color = "k"
            a.set_title(normalize(str(label)), fontsize=7, color=color)  # frame names: interp._util.labels
            a.set_xticks([])
            a.set_yticks([])
        sub.suptitle(f"{probe} ({part['model'].iloc[0]}): {part['data'].iloc[0]}", fontsize=8)
    return fig
