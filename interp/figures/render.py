"""Rendering one figure: its analysis computes a tidy table (or the cache gives it back), its plotting
function draws the table, and every output is written."""

from __future__ import annotations

import inspect
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from interp._util.errors import InterpError
from interp._util.io import atomic_write
from interp.figures.cache import CacheProblem, cache_key, cache_paths, read_cached_table, write_cached_table
from interp.figures.manifest import DPI, IMAGE_FORMATS, TABLE_FORMATS, FigureSpec
from interp.figures.registry import ANALYSES, PLOTS

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd


def plot_function(spec: FigureSpec) -> Callable[["pd.DataFrame"], object]:
    """The plotting function that draws ``spec``'s table (the entry's ``plot`` wins)."""
    import importlib

    name = spec.plot or PLOTS.get(spec.id)
    if name is None:
        raise InterpError(f"no plotting function for figure {spec.id!r} (set 'plot' in the manifest)")
    plotting = importlib.import_module("interp.plotting")
    fn = getattr(plotting, name, None) if not name.startswith("_") else None
    if not callable(fn):
        raise InterpError(f"unknown plotting function {name!r} in interp.plotting")
    return fn


def _analysis_call(spec: FigureSpec) -> tuple[Callable[..., "pd.DataFrame"], dict]:
    """``spec``'s analysis function and the keyword arguments to call it with (checked)."""
    fn = ANALYSES.get(spec.analysis)
    if fn is None:
        raise InterpError(f"unknown analysis {spec.analysis!r} (known: {', '.join(sorted(ANALYSES))})")
    kwargs = dict(spec.params)
    accepts = inspect.signature(fn).parameters
    if "models" in accepts:
        kwargs["models"] = list(spec.models)
    elif spec.models:
        raise InterpError(f"analysis {spec.analysis!r} reads no models, but the figure lists {', '.join(spec.models)}")
    try:
        inspect.signature(fn).bind(**kwargs)
    except TypeError as err:
        raise InterpError(f"analysis {spec.analysis!r}: {err} (its parameters: {', '.join(accepts)})") from None
    return fn, kwargs


def compute_table(spec: FigureSpec) -> "pd.DataFrame":
    """Run ``spec``'s analysis on its params (and models); return the tidy table."""
    import pandas as pd

    fn, kwargs = _analysis_call(spec)
    table = fn(**kwargs)
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"analysis {spec.analysis!r} returned {type(table).__name__}, not a DataFrame")
    return table


#: rcParams every figure is drawn under, over matplotlib's defaults (a user's matplotlibrc or
#: style is ignored): the bundled DejaVu fonts and a fixed SVG id salt, so the same table gives
#: the same bytes on any machine with the same matplotlib.
RC = {"font.family": "DejaVu Sans", "mathtext.fontset": "dejavusans", "svg.hashsalt": "interp-figures",
      "pdf.compression": 6, "text.usetex": False}

#: Metadata written into each image format: no dates, no software versions.
_METADATA = {"png": {"Software": None}, "pdf": {"CreationDate": None, "Producer": None},
             "svg": {"Date": None, "Creator": None}}


def draw_figure(spec: FigureSpec, table: "pd.DataFrame", out_dir: str | Path) -> list[Path]:
    """Plot ``table`` and write every output of ``spec`` into ``out_dir``; return the paths.

    The figure is drawn under :data:`RC` and saved without dates or version strings, so the
    same table gives the same bytes. Each file is written atomically, so an interrupted run
    leaves no partial file.
    """
    import matplotlib
    import matplotlib.style

    out_dir = Path(out_dir)
    written = []
    with matplotlib.style.context("default"), matplotlib.rc_context(RC):
        figure = plot_function(spec)(table)
        for name in spec.outputs:
            path = out_dir / name
            suffix = path.suffix.lower()
            if suffix in TABLE_FORMATS:
                with atomic_write(path, "w") as f:
                    table.to_csv(f, index=False, float_format="%.4g", lineterminator="\n")
            else:
                fmt = IMAGE_FORMATS[suffix]
                with atomic_write(path, "wb") as f:
                    figure.savefig(f, format=fmt, dpi=DPI, metadata=_METADATA.get(fmt))
            written.append(path)
    return written


def render_figure(spec: FigureSpec, out_dir: str | Path, *, cache_dir: str | Path | None = None,
                  refresh: bool = False) -> list[Path]:
    """Compute (or read from the cache in ``cache_dir``), plot and write every output of one
    figure; return the paths written. See :func:`figure_table` for the cache."""
    plot_function(spec)  # fail before computing if there is nothing to draw with
    table, _, _ = figure_table(spec, cache_dir, refresh=refresh)
    return draw_figure(spec, table, out_dir)


def figure_table(spec: FigureSpec, cache_dir: str | Path | None = None, *,
                 refresh: bool = False) -> tuple["pd.DataFrame", str, list[str]]:
    """``(table, source, notes)``: ``spec``'s table, read from the cache when it holds one for
    the current :func:`cache_key`, else computed (and then stored).

    ``source`` is ``"cache"`` or ``"computed"``. ``cache_dir=None`` computes without a cache;
    ``refresh=True`` recomputes and overwrites the entry. An entry that cannot be used is
    ignored and recomputed, and a table that cannot be stored is still returned; ``notes``
    says so, one line each.
    """
    _analysis_call(spec)  # an unknown analysis or bad params fail even when a table is cached
    if cache_dir is None:
        return compute_table(spec), "computed", []
    key, material = cache_key(spec)
    notes: list[str] = []
    if not refresh:
        try:
            table = read_cached_table(cache_dir, spec, key)
        except CacheProblem as err:
            notes.append(f"cache entry {cache_paths(cache_dir, spec, key)[0].name} ignored ({err}); recomputing")
        else:
            if table is not None:
                return table, "cache", notes
    t0 = time.perf_counter()
    table = compute_table(spec)
    try:
        write_cached_table(cache_dir, spec, key, material, table, time.perf_counter() - t0)
    except CacheProblem as err:
        notes.append(f"table not cached: {err}")
    return table, "computed", notes
