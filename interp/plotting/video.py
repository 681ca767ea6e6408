"""Plotting for the natural-video figures (6, 7, 8): each function draws one analysis table
of :mod:`interp.figures_video` and reads nothing else. Re-exported by :mod:`interp.plotting`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from interp._util.labels import normalize
from interp.plotting.plots import _gray, _require

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["plot_denoising_curves", "plot_adaptive_filters", "plot_evidence_weighting"]

_TAU_COLORS = ["#7f7f7f", "#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]


def _image(rows: "pd.DataFrame") -> np.ndarray:
    h, w = int(rows["row"].max()) + 1, int(rows["col"].max()) + 1
    img = np.full((h, w), np.nan)
    img[rows["row"].to_numpy(int), rows["col"].to_numpy(int)] = rows["value"].to_numpy(float)
    return img


def _stats(table: "pd.DataFrame", **where) -> dict:
    s = table[table["kind"] == "stat"]
    for k, v in where.items():
        s = s[s[k] == v]
    return dict(zip(s["name"], s["value"].astype(float)))


def _clean(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def plot_denoising_curves(table: "pd.DataFrame") -> "Figure":
    """Fig. 6: output against input PSNR per model, with the identity, a slope-one-half line
    through the tau = 0 curve and the prediction-only level; the example panel on the right."""
    from matplotlib.figure import Figure

    _require(table, ("kind",), "plot_denoising_curves")
    curves = table[table["kind"] == "curve"]
    frames = table[table["kind"] == "frame"]
    stats = _stats(table)
    n_panels = frames["slot"].nunique()
    fig = Figure(figsize=(5.0 + 0.9 * ((n_panels + 1) // 2), 4.2))
    grid = fig.add_gridspec(2, 1 + (n_panels + 1) // 2, width_ratios=[4.2] + [0.9] * ((n_panels + 1) // 2),
                            left=0.09, right=0.99, bottom=0.11, top=0.86, wspace=0.12, hspace=0.35)
    ax = fig.add_subplot(grid[:, 0])
    lo, hi = float(curves["psnr_in"].min()), float(curves["psnr_in"].max())
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="identity")
    den = curves[~curves["predict_only"].astype(bool)]
    for tau, g in den.groupby("tau"):
        g = g.sort_values("psnr_in")
        color = _TAU_COLORS[int(tau) % len(_TAU_COLORS)]
        ax.errorbar(g["psnr_in"], g["psnr_out"], yerr=g["sem"], color=color, lw=1.4, marker="o", ms=2.5,
                    capsize=0, label=f"tau = {int(tau)}")
    base = den[den["tau"] == 0].sort_values("psnr_in")
    if len(base):  # the slope one-half line, through the tau = 0 curve's mean over 0 to 30 dB
        sel = base[(base["psnr_in"] >= 0) & (base["psnr_in"] <= 30)]
        b = float((sel["psnr_out"] - 0.5 * sel["psnr_in"]).mean()) if len(sel) else 0.0
        ax.plot([lo, hi], [0.5 * lo + b, 0.5 * hi + b], ":", color="k", lw=0.8, label="slope 1/2")
    if "predict_level" in stats:
        ax.axhline(stats["predict_level"], color="k", ls="-.", lw=0.8,
                   label=f"prediction only ({stats['predict_level']:.1f} dB)")
    ax.set_xlabel("input PSNR (dB)")
    ax.set_ylabel("output PSNR (dB)")
    ax.set_xlim(lo, hi)
    ax.set_ylim(min(lo, float(curves["psnr_out"].min()) - 2), max(hi, float(curves["psnr_out"].max())) + 2)
    ax.legend(fontsize=7, loc="upper left", frameon=False)
    ax.grid(alpha=0.3, lw=0.5)
    notes = []
    if "slope_tau0" in stats:
        notes.append(f"tau=0 slope (0-30 dB): {stats['slope_tau0']:.3f}")
    if "gain_tau2_at_0dB" in stats:
        notes.append(f"tau=2 gain at 0 dB: {stats['gain_tau2_at_0dB']:+.2f} dB")
    ax.text(0.98, 0.03, "\n".join(notes), transform=ax.transAxes, ha="right", va="bottom", fontsize=7)
    cmap = _gray()
    ncol = (n_panels + 1) // 2
    for i, (_slot, rows) in enumerate(frames.groupby("slot", sort=True)):
        a = fig.add_subplot(grid[i // ncol, 1 + i % ncol])
        a.imshow(_image(rows), cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        _clean(a)
        first = rows.iloc[0]
        title = normalize(str(first["panel"]))  # frame names as everywhere (interp._util.labels)
        if first["role"] == "estimate":
            title += f"\n{first['psnr_out']:.1f} dB"
            color = "k" if first["panel"] == "prediction only" else _TAU_COLORS[int(first["tau"]) % len(_TAU_COLORS)]
            for sp in a.spines.values():
                sp.set_edgecolor(color)
                sp.set_linewidth(1.6)
        a.set_title(title, fontsize=6.5, pad=2)
    data = str(table["data"].iloc[0]) if "data" in table.columns else ""
    fig.suptitle(f"Conditional denoising on natural video — test data: {data}", fontsize=8)
    return fig


def _diverging(ax, img, vmax, cmap="RdBu_r"):
    return ax.imshow(img, cmap=cmap, vmin=-vmax, vmax=vmax, interpolation="nearest")


def plot_adaptive_filters(table: "pd.DataFrame") -> "Figure":
    """Fig. 7: the input frames on top, their adaptive filters for one output pixel below
    (one symmetric diverging scale centred on zero), dashed lines through that pixel."""
    from matplotlib.figure import Figure

    _require(table, ("kind", "slot", "row", "col", "value"), "plot_adaptive_filters")
    inputs, filters = table[table["kind"] == "input"], table[table["kind"] == "filter"]
    stats = _stats(table)
    slots = sorted(inputs["slot"].unique())
    n = len(slots)
    fig = Figure(figsize=(1.6 * n + 0.8, 3.7))
    axes = fig.subplots(2, n, squeeze=False, gridspec_kw=dict(left=0.04, right=0.86, bottom=0.08, top=0.8,
                                                              wspace=0.08, hspace=0.22))
    vmax = float(np.abs(filters["value"]).max()) or 1.0
    r, c = stats.get("pixel_row", 0), stats.get("pixel_col", 0)
    im = None
    for j, slot in enumerate(slots):
        rows_in = inputs[inputs["slot"] == slot]
        axes[0, j].imshow(_image(rows_in), cmap=_gray(), vmin=0, vmax=1, interpolation="nearest")
        axes[0, j].set_title(normalize(str(rows_in["label"].iloc[0])), fontsize=7)
        im = _diverging(axes[1, j], _image(filters[filters["slot"] == slot]), vmax)
        axes[1, j].set_title(f"sum {stats.get(f'filter_sum_{int(slot)}', float('nan')):.2f}", fontsize=7)
        for a in axes[:, j]:
            a.axhline(r, color="w" if a is axes[0, j] else "k", ls="--", lw=0.5)
            a.axvline(c, color="w" if a is axes[0, j] else "k", ls="--", lw=0.5)
            _clean(a)
    cax = fig.add_axes([0.88, 0.08, 0.02, 0.32])
    fig.colorbar(im, cax=cax).ax.tick_params(labelsize=6)
    axes[0, 0].set_ylabel("inputs", fontsize=7)
    axes[1, 0].set_ylabel("filters", fontsize=7)
    shift = (f"pattern shift {stats['shift_dx']:+.0f} px/frame horizontally, {stats['shift_dy']:+.0f} vertically; "
             f"last filter's core at {stats.get('centroid_dx_1', float('nan')):+.1f}, "
             f"{stats.get('centroid_dy_1', float('nan')):+.1f} px"
             if "shift_dx" in stats else "")
    data = str(table["data"].iloc[0]) if "data" in table.columns else ""
    fig.suptitle(f"Adaptive filters of pixel ({int(r)}, {int(c)}): estimate {stats.get('psnr_out', float('nan')):.1f} dB "
                 f"from a {stats.get('psnr_in', float('nan')):.1f} dB observation\n{shift}\ntest data: {data}",
                 fontsize=7)
    return fig


def plot_evidence_weighting(table: "pd.DataFrame") -> "Figure":
    """Fig. 8: per probe, its frames and the PSNR of the whole estimate (green), of the
    observation's part (orange) and of the conditioning's part (blue) against input PSNR,
    with the crossing marked."""
    from matplotlib.figure import Figure

    _require(table, ("kind", "probe", "probe_order"), "plot_evidence_weighting")
    curves, frames = table[table["kind"] == "curve"], table[table["kind"] == "frame"]
    probes = curves.drop_duplicates("probe").sort_values("probe_order")["probe"].tolist()
    n_frames = frames["slot"].nunique()
    fig = Figure(figsize=(3.5 + 0.75 * n_frames, 2.1 * len(probes) + 0.5))
    grid = fig.add_gridspec(len(probes), n_frames + 2, width_ratios=[0.75] * n_frames + [0.3, 3.2],
                            left=0.03, right=0.98, bottom=0.08, top=0.92, wspace=0.1, hspace=0.45)
    for i, probe in enumerate(probes):
        for slot in range(n_frames):
            a = fig.add_subplot(grid[i, slot])
            rows = frames[(frames["probe"] == probe) & (frames["slot"] == slot)]
            a.imshow(_image(rows), cmap=_gray(), vmin=0, vmax=1, interpolation="nearest")
            _clean(a)
            if slot == 0:
                a.set_ylabel(probe, fontsize=7)
        ax = fig.add_subplot(grid[i, n_frames + 1])
        g = curves[curves["probe"] == probe].sort_values("psnr")
        ax.plot(g["psnr"], g["psnr_total"], color="#2ca02c", lw=1.3, label="estimate")
        ax.plot(g["psnr"], g["psnr_y"], color="#ff7f0e", lw=1.3, label="observation part (J_y y)")
        ax.plot(g["psnr"], g["psnr_c"], color="#1f77b4", lw=1.3, label="conditioning part (J_c c)")
        cross = _stats(table, probe=probe).get("crossing_psnr", float("nan"))
        if np.isfinite(cross):
            ax.axvline(cross, color="k", ls=":", lw=0.8)
        ax.set_title(f"{probe}: crossing {'%.0f dB' % cross if np.isfinite(cross) else 'none in range'}", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.grid(alpha=0.3, lw=0.5)
        ax.set_ylabel("PSNR (dB)", fontsize=7)
        if i == len(probes) - 1:
            ax.set_xlabel("input PSNR (dB)", fontsize=7)
        if i == 0:
            ax.legend(fontsize=6, frameon=False, loc="lower right")
    data = str(table["data"].iloc[0]) if "data" in table.columns else ""
    fig.suptitle(f"Adaptive cue combination (eq. 5, 7)\nprobes built from: {data}", fontsize=8)
    return fig
