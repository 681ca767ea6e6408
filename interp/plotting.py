"""Plots of tidy tables: each function takes DataFrames and nothing else, returns a Figure.

A plotting function never computes: whatever it draws is a column of its table, so a figure
can be redrawn from the table saved beside it (``figures/<id>.csv``) without recomputation
(DESIGN invariant 5). Figures are built with the object-oriented API
(:class:`matplotlib.figure.Figure`, no pyplot state, no backend selection), so they render
headless and nothing is left open after saving.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
        raise ValueError(
            f"{what}: table lacks column(s) {', '.join(missing)} "
            f"(has {', '.join(map(str, table.columns))})"
        )
    if len(table) == 0:
        raise ValueError(f"{what}: table has no rows")


def plot_sequences(table: "pd.DataFrame", *, cell: float = 0.62) -> "Figure":
    """Image sequences as a grid: one row per sequence, frames left to right (paper Fig. 2).

    Parameters
    ----------
    table : pandas.DataFrame
        Long-form pixels, one row per pixel: ``sequence`` (any sortable label), ``frame``
        (frame number, shown as ``t = frame`` above the top row), ``row`` and ``col`` (pixel
        indices from 0) and ``value`` (intensity, drawn in gray from 0 = black to 1 = white).
        Other columns are ignored; pixels missing from the table show in light blue.
    cell : float
        Side of one frame in inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import numpy as np
    from matplotlib.figure import Figure

    _require(table, SEQUENCE_COLUMNS, "plot_sequences")
    seqs, seq_i = np.unique(table["sequence"].to_numpy(), return_inverse=True)
    frames, frame_i = np.unique(table["frame"].to_numpy(), return_inverse=True)
    rows = table["row"].to_numpy()
    cols = table["col"].to_numpy()
    if not (np.issubdtype(rows.dtype, np.integer) and np.issubdtype(cols.dtype, np.integer)):
        raise ValueError("plot_sequences: columns row and col must hold integer pixel indices")
    if rows.min() < 0 or cols.min() < 0:
        raise ValueError("plot_sequences: row and col must be >= 0")
    height, width = int(rows.max()) + 1, int(cols.max()) + 1
    images = np.full((len(seqs), len(frames), height, width), np.nan)
    images[seq_i, frame_i, rows, cols] = table["value"].to_numpy(dtype=float)

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
                ax.set_title(f"t = {_label(frames[j])}", fontsize=8, pad=3)
        axes[i, 0].set_ylabel(_label(seqs[i]), fontsize=8, rotation=0, ha="right", va="center",
                              labelpad=4)
    return fig


def _label(value) -> str:
    """A tidy label for a frame or sequence value (3.0 -> '3')."""
    try:
        if float(value) == int(value):
            return str(int(value))
    except (TypeError, ValueError):
        pass
    return str(value)


def _gray():
    """Gray colour map whose missing values (NaN) show as light blue, not as black."""
    import matplotlib

    return matplotlib.colormaps["gray"].with_extremes(bad="#cde")
