"""Plots of tidy tables: each function takes DataFrames and nothing else, returns a Figure.

A plotting function never computes: whatever it draws is a column of its table, so a figure
can be redrawn from the table saved beside it (``figures/<id>.csv``) without recomputation
(DESIGN invariant 5). Figures are built with the object-oriented API
(:class:`matplotlib.figure.Figure`, no pyplot state, no backend selection), so they render
headless and nothing is left open after saving.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interp._util.errors import InterpError
from interp._util.labels import NUMBERED_LABEL, frame_index, normalize

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["plot_sequences", "SEQUENCE_COLUMNS"]

#: Columns :func:`plot_sequences` reads (others are ignored).
SEQUENCE_COLUMNS = ("sequence", "frame", "row", "col", "value")


def _require(table: "pd.DataFrame", columns, what: str) -> None:
    import pandas as pd

    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"{what} takes a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InterpError(
            f"{what}: table lacks column(s) {', '.join(missing)} "
            f"(has {', '.join(map(str, table.columns))})"
        )
    if len(table) == 0:
        raise InterpError(f"{what}: table has no rows")


def plot_sequences(table: "pd.DataFrame", *, cell: float = 0.62) -> "Figure":
    """Image sequences as a grid: one row per sequence, frames left to right (paper Fig. 2).

    Parameters
    ----------
    table : pandas.DataFrame
        Long-form pixels, one row per pixel: ``sequence`` (any sortable label), ``frame``
        (sortable; the frames are shown in order and titled by their place in the sequence,
        ``frame 0``, ``frame 1`` ..., :func:`interp._util.labels.frame_index`), ``row`` and ``col`` (pixel
        indices from 0) and ``value`` (intensity, drawn in gray from 0 = black to 1 = white).
        Other columns are ignored; pixels missing from the table show in light blue.
    cell : float
        Side of one frame in inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    _require(table, SEQUENCE_COLUMNS, "plot_sequences")
    seqs, _, frames, _, images = _image_stack(table, "sequence", "frame", "plot_sequences")
    height, width = images.shape[-2:]

    n_seq, n_frames = len(seqs), len(frames)
    aspect = height / width
    gap = 0.04  # space between frames, as a fraction of a frame's width
    left, right, top, bottom = 0.34, 0.04, 0.26, 0.04  # margins, inches
    fig_w = left + right + cell * (n_frames + gap * (n_frames - 1))
    fig_h = top + bottom + cell * aspect * (n_seq + gap * (n_seq - 1))
    fig = Figure(figsize=(fig_w, fig_h))
    axes = fig.subplots(
        n_seq, n_frames, squeeze=False,
        gridspec_kw=dict(left=left / fig_w, right=1 - right / fig_w, bottom=bottom / fig_h,
                         top=1 - top / fig_h, wspace=gap, hspace=gap),
    )
    cmap = _gray()
    for i in range(n_seq):
        for j in range(n_frames):
            ax = axes[i, j]
            ax.imshow(images[i, j], cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_linewidth(0.4)
            if i == 0:
                ax.set_title(frame_index(j), fontsize=8, pad=3)
        axes[i, 0].set_ylabel(_label(seqs[i]), fontsize=8, rotation=0, ha="right", va="center",
                              labelpad=4)
    return fig


def _image_stack(table: "pd.DataFrame", grid_row: str, grid_col: str, who: str):
    """Images [n_rows, n_cols, height, width] from a long pixel table (NaN where missing).

    Returns the sorted labels of ``grid_row`` and ``grid_col`` with each table row's index
    into them, and the images.
    """
    import numpy as np

    row_labels, row_i = np.unique(table[grid_row].to_numpy(), return_inverse=True)
    col_labels, col_i = np.unique(table[grid_col].to_numpy(), return_inverse=True)
    rows, cols = table["row"].to_numpy(), table["col"].to_numpy()
    if not (np.issubdtype(rows.dtype, np.integer) and np.issubdtype(cols.dtype, np.integer)):
        raise InterpError(f"{who}: columns row and col must hold integer pixel indices")
    if rows.min() < 0 or cols.min() < 0:
        raise InterpError(f"{who}: row and col must be >= 0")
    images = np.full((len(row_labels), len(col_labels), int(rows.max()) + 1, int(cols.max()) + 1), np.nan)
    images[row_i, col_i, rows, cols] = table["value"].to_numpy(dtype=float)
    return row_labels, row_i, col_labels, col_i, images


def _label(value) -> str:
    """A tidy label for a frame or sequence value (3.0 -> '3')."""
    try:
        if float(value) == int(value):
            return str(int(value))
    except (TypeError, ValueError):
        pass
    return str(value)


def _grid_tau(first: "pd.DataFrame", raw) -> int | None:
    """The number of conditioning frames of a frame grid (its ``tau`` column, else the most
    ``t = k`` conditioning panels in one grid row); None when it shows none."""
    import numpy as np

    if "tau" in first.columns:
        values = first["tau"].dropna()
        if len(values):
            return int(values.iloc[0])
    numbered = np.array([bool(NUMBERED_LABEL.match(str(t))) for t in raw]) & (first["role"].astype(str).to_numpy()
                                                                       == "conditioning")
    if not numbered.any():
        return None
    return int(first.loc[numbered].groupby("track").size().max())


def _gray():
    """Gray colour map whose missing values (NaN) show as light blue, not as black."""
    import matplotlib

    return matplotlib.colormaps["gray"].with_extremes(bad="#cde")


__all__ += ["plot_frame_grid", "FRAME_GRID_COLUMNS", "ROLE_COLORS"]

#: Columns :func:`plot_frame_grid` reads.
FRAME_GRID_COLUMNS = ("track", "slot", "label", "role", "row", "col", "value")

#: Frame border colour by role, as the paper highlights its panels (Figs. 3, 5, 11): the
#: network's inputs in red, one-step estimates in green, samples in blue.
ROLE_COLORS = {"conditioning": "#d62728", "onestep": "#2ca02c", "sample": "#1f77b4"}


def plot_frame_grid(table: "pd.DataFrame", *, cell: float = 0.7) -> "Figure":
    """Frames in a grid, bordered by their role: conditioning, one-step estimate or sample.

    The layout of the sampling figures (Figs. 3, 5, 11) and of ``python -m interp.sampler``'s
    strips.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per pixel: ``track`` (grid row, sorted), ``slot`` (grid column, sorted),
        ``label`` (title of the panel, shown above it when it differs from the panel above;
        frame names are put in the one convention of :mod:`interp._util.labels`, ``t-1``,
        ``t``, ``t+1``: a title ``t = k`` numbers the frames of a shown sequence from 1, its
        first ``tau`` frames conditioning, with ``tau`` from an optional ``tau`` column, else
        the number of such conditioning panels in a grid row),
        ``role`` (``conditioning``, ``onestep``, ``sample`` or anything else: border colour
        from :data:`ROLE_COLORS`, thin black otherwise), ``row``, ``col`` (pixel indices)
        and ``value`` (gray from 0 = black to 1 = white; NaN, e.g. a chain that did not
        converge, shows light blue). An optional ``track_label`` names each grid row.
    cell : float
        Side of one frame in inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import numpy as np
    from matplotlib.figure import Figure

    _require(table, FRAME_GRID_COLUMNS, "plot_frame_grid")
    tracks, ti, slots, si, images = _image_stack(table, "track", "slot", "plot_frame_grid")
    height, width = images.shape[-2:]
    n_t, n_s = len(tracks), len(slots)
    present = np.zeros((n_t, n_s), dtype=bool)
    present[ti, si] = True
    first = table.drop_duplicates(["track", "slot"])
    fi_t = np.searchsorted(tracks, first["track"].to_numpy())
    fi_s = np.searchsorted(slots, first["slot"].to_numpy())
    labels = np.full((n_t, n_s), "", dtype=object)
    roles = np.full((n_t, n_s), "", dtype=object)
    roles[fi_t, fi_s] = first["role"].astype(str).to_numpy()
    raw = first["label"].astype(str).to_numpy()
    tau = _grid_tau(first, raw)
    labels[fi_t, fi_s] = [normalize(text, tau) for text in raw]
    names = None
    if "track_label" in table.columns:
        names = np.full(n_t, "", dtype=object)
        names[fi_t] = first["track_label"].astype(str).to_numpy()

    # a panel's title is shown when it differs from the title of the panel above
    titles = labels.copy()
    titles[1:][(labels[1:] == labels[:-1]) & present[:-1]] = ""
    titles[~present] = ""
    titled = bool((titles[1:] != "").any())  # rows below the first need room for titles

    aspect = height / width
    gap = 0.08
    longest = max((len(str(v)) for v in names), default=0) if names is not None else 0
    left = 0.15 + 0.06 * longest
    right, top, bottom = 0.05, 0.25, 0.05
    title_room = 0.2 if titled else 0.0  # inches above each lower row
    fig_w = left + right + cell * (n_s + gap * (n_s - 1))
    fig_h = top + bottom + cell * aspect * (n_t + gap * (n_t - 1)) + title_room * (n_t - 1)
    fig = Figure(figsize=(fig_w, fig_h))
    axes = fig.subplots(
        n_t, n_s, squeeze=False,
        gridspec_kw=dict(left=left / fig_w, right=1 - right / fig_w, bottom=bottom / fig_h,
                         top=1 - top / fig_h, wspace=gap, hspace=gap + title_room / (cell * aspect)),
    )
    cmap = _gray()
    for i in range(n_t):
        for j in range(n_s):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if not present[i, j]:
                ax.set_axis_off()
                continue
            ax.imshow(images[i, j], cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
            color = ROLE_COLORS.get(roles[i, j])
            for spine in ax.spines.values():
                spine.set_linewidth(1.6 if color else 0.4)
                spine.set_edgecolor(color or "black")
            if titles[i, j]:
                ax.set_title(titles[i, j], fontsize=7, pad=2)
        if names is not None:
            axes[i, 0].set_ylabel(names[i], fontsize=7, rotation=0, ha="right", va="center", labelpad=4)
    return fig


__all__ += ["plot_onedim_score", "plot_onedim_sampling", "ONEDIM_SCORE_COLUMNS", "ONEDIM_SAMPLING_COLUMNS"]

#: Columns :func:`plot_onedim_score` reads.
ONEDIM_SCORE_COLUMNS = ("sigma", "y", "density", "scaled_score")
#: Columns :func:`plot_onedim_sampling` reads.
ONEDIM_SAMPLING_COLUMNS = ("kind", "step", "y", "residual", "map", "stable", "k", "y_next")
_ORANGE = "#ff7f0e"


def plot_onedim_score(table: "pd.DataFrame", *, modes=(-0.5, 0.5), panel: float = 1.9) -> "Figure":
    """Noisy densities (top) and optimal denoising steps (bottom) across noise levels (Fig. 9).

    Parameters
    ----------
    table : pandas.DataFrame
        One row per (noise level, y): ``sigma``, ``y``, ``density`` (p_sigma(y)) and
        ``scaled_score`` (sigma^2 d/dy log p_sigma(y)); one column of panels per ``sigma``,
        in increasing order (as :func:`interp.onedim.score_table` writes).
    modes : sequence of float
        Positions of the point masses, drawn as dashed vertical lines.
    panel : float
        Width of one panel in inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import numpy as np
    from matplotlib.figure import Figure

    _require(table, ONEDIM_SCORE_COLUMNS, "plot_onedim_score")
    sigmas = np.unique(table["sigma"].to_numpy(dtype=float))
    fig = Figure(figsize=(0.6 + panel * len(sigmas), 3.9))
    axes = fig.subplots(2, len(sigmas), squeeze=False, sharex=True, sharey="row",
                        gridspec_kw=dict(left=0.6 / (0.6 + panel * len(sigmas)), right=0.985, top=0.9,
                                         bottom=0.13, wspace=0.12, hspace=0.12))
    for j, s in enumerate(sigmas):
        part = table[table["sigma"] == s].sort_values("y")
        y = part["y"].to_numpy()
        top, bottom = axes[0, j], axes[1, j]
        top.plot(y, part["density"], color="black", lw=1.2)
        bottom.plot(y, part["scaled_score"], color="black", lw=1.2)
        bottom.axhline(0.0, color="0.6", lw=0.6)
        for ax in (top, bottom):
            for m in modes:
                ax.axvline(m, color="0.45", lw=0.8, ls="--")
            ax.tick_params(labelsize=7)
        top.set_title(f"$\\sigma$ = {s:g}", fontsize=9)
        top.set_ylim(bottom=0)
        bottom.set_xlabel("$y$", fontsize=8)
    axes[0, 0].set_ylabel("$p_\\sigma(y)$", fontsize=9)
    axes[1, 0].set_ylabel("$\\sigma^2\\, \\partial_y \\log p_\\sigma(y)$", fontsize=9)
    return fig


def plot_onedim_sampling(table: "pd.DataFrame", *, modes=(-0.5, 0.5)) -> "Figure":
    """The blind denoiser's residual with its fixed points (left) and the sampling map (right), Fig. 10.

    Parameters
    ----------
    table : pandas.DataFrame
        As :func:`interp.onedim.sampling_table` writes: rows of ``kind`` ``curve`` (``y``,
        ``residual`` f(y), ``map`` y + step f(y)), ``fixed_point`` (``y``, ``stable``) and
        ``trajectory`` (``k``, ``y`` = y_k, ``y_next`` = y_{k+1}); ``step`` on every row.
    modes : sequence of float
        Positions of the point masses, drawn as dashed vertical lines on the left.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import numpy as np
    from matplotlib.figure import Figure

    _require(table, ONEDIM_SAMPLING_COLUMNS, "plot_onedim_sampling")
    curve = table[table["kind"] == "curve"].sort_values("y")
    fixed = table[table["kind"] == "fixed_point"]
    traj = table[table["kind"] == "trajectory"].sort_values("k")
    if curve.empty:
        raise InterpError("plot_onedim_sampling: table has no 'curve' rows")
    step = float(table["step"].iloc[0])
    fig = Figure(figsize=(7.6, 3.3))
    left, right = fig.subplots(1, 2, gridspec_kw=dict(left=0.09, right=0.98, top=0.88, bottom=0.15, wspace=0.28))
    y = curve["y"].to_numpy(dtype=float)

    left.plot(y, curve["residual"], color="black", lw=1.2)
    left.axhline(0.0, color="0.6", lw=0.6)
    for m in modes:
        left.axvline(m, color="0.45", lw=0.8, ls="--")
    stable = fixed["stable"].astype(bool).to_numpy()
    fy = fixed["y"].to_numpy(dtype=float)
    left.plot(fy[stable], np.zeros(stable.sum()), "o", color="black", ms=6, label="stable")
    left.plot(fy[~stable], np.zeros((~stable).sum()), "o", mfc="white", mec="black", ms=6, label="unstable")
    left.set_xlabel("$y$", fontsize=9)
    left.set_ylabel("$f(y) = \\hat{x}(y) - y$", fontsize=9)
    left.set_title("Residual of the blind denoiser", fontsize=9)
    left.legend(fontsize=7, frameon=False, title="fixed points", title_fontsize=7)

    right.plot(y, curve["map"], color="black", lw=1.2, label=f"$y + {step:g}\\,f(y)$")
    right.plot(y, y, color="0.6", lw=0.8, ls="--", label="identity")
    if not traj.empty:
        yk = traj["y"].to_numpy(dtype=float)
        yn = traj["y_next"].to_numpy(dtype=float)
        xs = np.repeat(yk, 2)
        ys = np.column_stack([yk, yn]).ravel()
        xs, ys = np.append(xs, yn[-1]), np.append(ys, yn[-1])  # cobweb: up to the map, across to the identity
        right.plot(xs, ys, color=_ORANGE, lw=1.1)
        right.plot(yk[:1], yk[:1], "o", color=_ORANGE, ms=5)
        right.annotate("$y_0$", (yk[0], yk[0]), textcoords="offset points", xytext=(4, -10), fontsize=8,
                       color=_ORANGE)
    right.set_xlabel("$y_{k-1}$", fontsize=9)
    right.set_ylabel("$y_k$", fontsize=9)
    right.set_title(f"$y_k = y_{{k-1}} + {step:g}\\,f(y_{{k-1}})$", fontsize=9)
    right.legend(fontsize=7, frameon=False, loc="upper left")
    for ax in (left, right):
        ax.tick_params(labelsize=7)
    return fig


__all__ += ["plot_psychometric", "PSYCHOMETRIC_COLUMNS"]

#: Columns :func:`plot_psychometric` reads.
PSYCHOMETRIC_COLUMNS = ("kind", "dr", "freq_right", "ci_low", "ci_high", "p_fit", "weight_right")


def plot_psychometric(table: "pd.DataFrame") -> "Figure":
    """Choice frequency against radius difference with its logistic fit (Fig. 4).

    Parameters
    ----------
    table : pandas.DataFrame
        As :func:`interp.figures.occlusion_sweep` writes: ``condition`` rows (``dr``,
        ``freq_right`` and its interval ``ci_low`` / ``ci_high``, optional ``highlight`` and
        ``p_true``), ``curve`` rows (``dr``, ``p_fit``, optional ``p_true``), ``onestep`` rows
        (``dr``, ``weight_right``: where the one-step estimate's overlap gray lies between the
        left disk's (0) and the right disk's (1)), and one ``fit`` row (``slope``, ``pse``
        with their intervals, ``invalid_rate``, optional ``calibration_error``).

    Returns
    -------
    matplotlib.figure.Figure
        Left: frequency of "right disk in front" among valid samples (black, 95% Wilson
        intervals; highlighted conditions red), the logistic fit (orange) and, when the table
        has it, the rule's true probability (dashed). Right: the one-step estimate's overlap
        gray on the same axis: blends sit between 0 and 1 where samples choose.
    """
    import numpy as np
    from matplotlib.figure import Figure

    _require(table, PSYCHOMETRIC_COLUMNS, "plot_psychometric")
    cond = table[table["kind"] == "condition"].sort_values("dr")
    curve = table[table["kind"] == "curve"].sort_values("dr")
    est = table[table["kind"] == "onestep"]
    fit = table[table["kind"] == "fit"]
    if cond.empty or curve.empty or fit.empty:
        raise InterpError("plot_psychometric: the table needs 'condition', 'curve' and 'fit' rows")
    f = fit.iloc[0]
    fig = Figure(figsize=(7.6, 3.4))
    ax, ax2 = fig.subplots(1, 2, gridspec_kw=dict(left=0.08, right=0.98, top=0.8, bottom=0.14, wspace=0.25,
                                                  width_ratios=(1.4, 1)))
    has_truth = "p_true" in curve.columns and curve["p_true"].notna().any()
    if has_truth:
        ax.plot(curve["dr"], curve["p_true"], color="0.35", ls="--", lw=1.1, label="true probability")
    ax.plot(curve["dr"], curve["p_fit"], color=_ORANGE, lw=1.6, label="logistic fit")
    x = cond["dr"].to_numpy(dtype=float)
    y = cond["freq_right"].to_numpy(dtype=float)
    lo = np.clip(y - cond["ci_low"].to_numpy(dtype=float), 0, None)
    hi = np.clip(cond["ci_high"].to_numpy(dtype=float) - y, 0, None)
    hl = cond["highlight"].fillna(False).astype(bool).to_numpy() if "highlight" in cond.columns else np.zeros(len(x), bool)
    ax.errorbar(x[~hl], y[~hl], yerr=[lo[~hl], hi[~hl]], fmt="o", color="black", ms=4, lw=0.8, capsize=2,
                label="samples (95% CI)")
    if hl.any():
        ax.errorbar(x[hl], y[hl], yerr=[lo[hl], hi[hl]], fmt="o", color="#d62728", ms=5, lw=0.8, capsize=2,
                    label="examples shown")
    ax.axhline(0.5, color="0.8", lw=0.6, zorder=0)
    ax.axvline(0.0, color="0.8", lw=0.6, zorder=0)
    ax.set_ylim(-0.04, 1.04)
    ax.set_xlabel("radius difference, right - left (pixels)", fontsize=9)
    ax.set_ylabel("frequency of right disk in front", fontsize=9)
    title = (f"slope {f['slope']:.2f} /px [{f['slope_low']:.2f}, {f['slope_high']:.2f}], "
             f"PSE {f['pse']:+.2f} px [{f['pse_low']:+.2f}, {f['pse_high']:+.2f}]")
    sub = f"invalid samples {100 * float(f['invalid_rate']):.1f}%"
    if "ideal_invalid_rate" in fit.columns and np.isfinite(float(f.get("ideal_invalid_rate", np.nan))):
        sub += f" (a perfect sampler: {100 * float(f['ideal_invalid_rate']):.1f}%)"
    if "calibration_error" in fit.columns and np.isfinite(float(f.get("calibration_error", np.nan))):
        sub += (f"\ncalibration error {f['calibration_error']:.3f} "
                f"[{f['calibration_low']:.3f}, {f['calibration_high']:.3f}]")
    ax.set_title(f"{title}\n{sub}", fontsize=8)
    ax.legend(fontsize=7, frameon=False, loc="best")

    ax2.axhspan(0, 1, color="0.95", zorder=0)
    if not est.empty:
        ax2.plot(est["dr"], est["weight_right"], "s", mfc="white", mec="#2ca02c", ms=5, label="one-step estimate")
    ax2.plot(x, y, "o", color="black", ms=3, label="samples: frequency")
    ax2.set_ylim(-0.04, 1.04)
    ax2.set_xlabel("radius difference (pixels)", fontsize=9)
    ax2.set_ylabel("overlap gray: left (0) to right (1)", fontsize=9)
    ax2.set_title("one-step estimate blends; samples choose", fontsize=8)
    ax2.legend(fontsize=7, frameon=False, loc="upper left")
    for a in (ax, ax2):
        a.tick_params(labelsize=7)
    return fig





__all__ += ["plot_framework_diagram", "DIAGRAM_STYLES"]

#: Colour of each diagram element by its ``style`` (the roles' colours of the sampling figures:
#: inputs red, one-step estimates green, samples blue).
DIAGRAM_STYLES = {"data": "#d62728", "noise": "0.45", "estimate": "#2ca02c", "sample": "#1f77b4",
                  "latent": "#9467bd", "model": "0.2", "objective": _ORANGE, "flow": "0.15", "score": "0.45"}


def plot_framework_diagram(table: "pd.DataFrame", *, panel_width: float = 4.6) -> "Figure":
    """The two modelling frameworks as a diagram (paper Fig. 1), drawn from its element table.

    Parameters
    ----------
    table : pandas.DataFrame
        As :func:`interp.figures.framework_diagram` writes: one row per element (``kind``
        ``panel``, ``stack``, ``box``, ``funnel``, ``arrow`` or ``text``) with its ``panel``,
        ``label``, position ``x``, ``y`` (arrows end at ``x2``, ``y2``, bent by ``rad``),
        ``width``, ``height``, ``style`` (colour, from :data:`DIAGRAM_STYLES`) and
        ``label_pos``. Panels are drawn left to right in the order of their ``panel`` rows.
    panel_width : float
        Width of one panel in inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import numpy as np
    from matplotlib.figure import Figure
    from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Polygon, Rectangle

    columns = ("kind", "panel", "label", "x", "y", "x2", "y2", "width", "height", "style", "rad", "label_pos")
    _require(table, columns, "plot_framework_diagram")
    panels = table[table["kind"] == "panel"]
    if panels.empty:
        raise InterpError("plot_framework_diagram: the table has no 'panel' rows")
    n = len(panels)
    height = panel_width * float(panels["height"].max()) / float(panels["width"].max())
    fig = Figure(figsize=(panel_width * n, height + 0.35))
    axes = fig.subplots(1, n, squeeze=False, gridspec_kw=dict(left=0.01, right=0.99, bottom=0.01,
                                                               top=height / (height + 0.35), wspace=0.04))[0]

    def text(row) -> str:
        label = row["label"]
        return "" if not isinstance(label, str) else label

    def colour(row) -> str:
        return DIAGRAM_STYLES.get(row["style"] if isinstance(row["style"], str) else "", "0.2")

    def label_at(ax, row, x, y, w, h):
        where = row["label_pos"] if isinstance(row["label_pos"], str) else "inside"
        offsets = {"inside": (x, y, "center", "center"), "below": (x, y - h / 2 - 0.15, "center", "top"),
                   "above": (x, y + h / 2 + 0.12, "center", "bottom"), "right": (x + w / 2 + 0.15, y, "left", "center"),
                   "left": (x - w / 2 - 0.15, y, "right", "center")}
        tx, ty, ha, va = offsets.get(where, offsets["inside"])
        ax.text(tx, ty, text(row), ha=ha, va=va, fontsize=7.5, linespacing=1.15, zorder=5)

    for ax, (_, panel) in zip(axes, panels.iterrows()):
        x0, y0 = float(panel["x"]), float(panel["y"])
        ax.set_xlim(x0, x0 + float(panel["width"]))
        ax.set_ylim(y0, y0 + float(panel["height"]))
        ax.set_aspect("equal")
        ax.set_axis_off()
        ax.add_patch(FancyBboxPatch((x0 + 0.1, y0 + 0.1), float(panel["width"]) - 0.2, float(panel["height"]) - 0.2,
                                    boxstyle="round,pad=0,rounding_size=0.3", fc="0.975", ec="0.75", lw=0.8,
                                    zorder=0))
        ax.set_title(text(panel), fontsize=9.5, pad=4)
        for _, row in table[(table["panel"] == panel["panel"]) & (table["kind"] != "panel")].iterrows():
            kind, c = row["kind"], colour(row)
            x, y = float(row["x"]), float(row["y"])
            w, h = float(row["width"]), float(row["height"])
            if kind == "stack":  # three frames, offset up and to the right
                for k in (2, 1, 0):
                    dx = dy = 0.12 * k
                    ax.add_patch(Rectangle((x - w / 2 + dx - 0.12, y - h / 2 + dy - 0.12), w, h, fc="white", ec=c,
                                           lw=1.2 if k == 0 else 0.8, zorder=3 - k,
                                           hatch="....." if row["style"] == "noise" and k == 0 else None))
                if row["style"] != "noise":  # a disk in the front frame; the estimate's is soft
                    soft = row["style"] == "estimate"
                    ax.add_patch(Circle((x - 0.12 + 0.08 * w, y - 0.12), 0.25 * min(w, h), fc=c,
                                        alpha=0.35 if soft else 0.8, ec="none", zorder=4))
                label_at(ax, row, x, y, w, h)
            elif kind == "box":
                ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0,rounding_size=0.15",
                                            fc="white", ec=c, lw=1.3, zorder=3))
                label_at(ax, row, x, y, w, h)
            elif kind == "funnel":  # wide end left, narrow end right
                ax.add_patch(Polygon([(x - w / 2, y + h / 2), (x + w / 4, y + h / 8), (x + w / 2, y + h / 8),
                                      (x + w / 2, y - h / 8), (x + w / 4, y - h / 8), (x - w / 2, y - h / 2)],
                                     closed=True, fc="0.92", ec=c, lw=1.3, zorder=3))
                label_at(ax, row, x - w / 8, y, w, h)
            elif kind == "arrow":
                x2, y2 = float(row["x2"]), float(row["y2"])
                rad = float(row["rad"]) if np.isfinite(row["rad"]) else 0.0
                dashed = row["style"] in ("score", "objective")
                both = row["style"] == "objective" and rad == 0.0  # a span: the whole chain
                ax.add_patch(FancyArrowPatch((x, y), (x2, y2), arrowstyle="<|-|>" if both else "-|>",
                                             mutation_scale=9, color=c, lw=1.1, ls="--" if dashed else "-",
                                             connectionstyle=f"arc3,rad={rad}", zorder=2))
                if text(row):
                    mx, my = (x + x2) / 2, (y + y2) / 2
                    bend = 0.55 * np.sign(rad) * (1 if row["label_pos"] == "right" else -1)
                    label_at(ax, row, mx + bend, my, 0.0, 0.0)
            elif kind == "text":
                label_at(ax, row, x, y, 0.0, 0.0)
            else:
                raise InterpError(f"plot_framework_diagram: unknown element kind {kind!r}")
    return fig
