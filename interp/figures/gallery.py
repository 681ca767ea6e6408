"""The gallery page (``index.html``): every figure of the manifest with its caption and key numbers."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

from interp._util.errors import describe
from interp._util.io import atomic_write
from interp.figures.manifest import TABLE_FORMATS, FigureSpec

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd


#: Analysis name or figure id -> function(table) returning the figure's key numbers as
#: ``{label: value}`` (a value is a number or a ready string), shown in the gallery. Register
#: with ``@_summary("analysis_name")`` (or a figure id, which wins over its analysis); a figure
#: without one shows its table's ``stat`` rows (``name`` / ``value``), if any.
SUMMARIES: dict[str, Callable[["pd.DataFrame"], dict]] = {}


def _summary(name: str):
    def register(fn):
        SUMMARIES[name] = fn
        return fn

    return register


def _num(value, fmt: str = ".3g") -> str:
    """A number for the gallery (``n/a`` when missing or not finite)."""
    import math

    try:
        v = float(value)
    except (TypeError, ValueError):
        return "n/a"
    return format(v, fmt) if math.isfinite(v) else "n/a"


def _with_interval(row, name: str, low: str, high: str, fmt: str = ".3g", unit: str = "") -> str:
    """``value [low, high] unit`` from three columns of one row."""
    return f"{_num(row[name], fmt)} [{_num(row[low], fmt)}, {_num(row[high], fmt)}]{unit}"


def _rows(table, kind: str):
    return table[table["kind"] == kind] if "kind" in table.columns else table.iloc[:0]


def key_numbers(spec: FigureSpec, table: "pd.DataFrame") -> dict[str, str]:
    """The key numbers of one figure, as ``{label: text}`` (see :data:`SUMMARIES`)."""
    fn = SUMMARIES.get(spec.id) or SUMMARIES.get(spec.analysis) or _stat_rows
    out = {}
    for label, value in fn(table).items():
        if isinstance(value, str):
            out[str(label)] = value
        elif isinstance(value, bool):
            out[str(label)] = "yes" if value else "no"
        elif isinstance(value, int):
            out[str(label)] = str(value)
        else:
            out[str(label)] = _num(value, ".4g")
    return out


def _stat_rows(table: "pd.DataFrame", limit: int = 12) -> dict:
    """Default key numbers: the table's ``stat`` rows (``name`` / ``value``, by ``probe`` if any)."""
    if not {"kind", "name", "value"} <= set(table.columns):
        return {}
    out = {}
    for _, row in _rows(table, "stat").head(limit).iterrows():
        probe = row.get("probe")
        label = f"{probe}: {row['name']}" if isinstance(probe, str) and probe else str(row["name"])
        out[label] = row["value"]
    return out


@_summary("framework_diagram")
def _summary_framework(table):
    counts = table["kind"].value_counts()
    return {"panels": int(counts.get("panel", 0)),
            "elements drawn (frames, boxes, funnels)": int(counts.get("stack", 0) + counts.get("box", 0)
                                                           + counts.get("funnel", 0)),
            "arrows": int(counts.get("arrow", 0))}


@_summary("leaves_examples")
def _summary_leaves(table):
    per_seq = table.drop_duplicates("sequence")
    return {"sequences": int(len(per_seq)), "frames per sequence": int(table["frame"].nunique()),
            "radius of the front disk (px)": f"{_num(per_seq['radius_front'].min())} to "
                                             f"{_num(per_seq['radius_front'].max())}",
            "radius of the hidden disk (px)": f"{_num(per_seq['radius_back'].min())} to "
                                              f"{_num(per_seq['radius_back'].max())}",
            "meeting frames": ", ".join(str(int(v)) for v in per_seq["meeting_frame"])}


@_summary("onedim_score")
def _summary_onedim_score(table):
    import numpy as np

    sigmas = sorted(table["sigma"].unique())
    unimodal = []
    for s in sigmas:
        part = table[table["sigma"] == s]
        at_zero = part.iloc[int(np.argmin(np.abs(part["y"].to_numpy(dtype=float))))]["density"]
        unimodal.append(float(at_zero) >= float(part["density"].max()) * (1 - 1e-9))
    first = next((s for s, u in zip(sigmas, unimodal) if u), None)
    return {"noise levels (sigma)": ", ".join(_num(s) for s in sigmas),
            "smallest sigma with one mode": _num(first) if first is not None else "none shown"}


@_summary("onedim_sampling")
def _summary_onedim_sampling(table):
    fixed = _rows(table, "fixed_point")
    stable = fixed["stable"].astype(str).isin(["True", "true", "1", "1.0"])
    traj = _rows(table, "trajectory").sort_values("k")
    out = {"stable fixed points (y)": ", ".join(_num(v) for v in fixed.loc[stable, "y"]),
           "unstable fixed points (y)": ", ".join(_num(v) for v in fixed.loc[~stable, "y"])}
    if len(traj):
        out["start y0"] = _num(traj["y"].iloc[0])
        out[f"after {len(traj)} steps"] = _num(traj["y_next"].iloc[-1], ".4g")
    return out


@_summary("occlusion_example")
def _summary_occlusion_example(table):
    panels = table.drop_duplicates(["track", "slot"])
    samples = panels[(panels["panel"] == "sample") & (panels["iteration"] == -1)]
    choice = samples["choice"].fillna("").astype(str)
    return {"radius difference, right - left (px)": _num(table["dr"].iloc[0]),
            "samples": int(len(samples)), "right disk in front": int((choice == "right").sum()),
            "left disk in front": int((choice == "left").sum()),
            "neither (invalid)": int((~choice.isin(["left", "right"])).sum())}


@_summary("occlusion_sweep")
def _summary_occlusion_sweep(table):
    fit = _rows(table, "fit")
    if fit.empty:
        return {}
    f = fit.iloc[0]
    cond = _rows(table, "condition")
    out = {"logistic slope (1/px), 95% CI": _with_interval(f, "slope", "slope_low", "slope_high"),
           "PSE (px), 95% CI": _with_interval(f, "pse", "pse_low", "pse_high"),
           "invalid samples": f"{_num(100 * float(f['invalid_rate']), '.1f')}%",
           "one-step estimate's blend": _num(f["onestep_blend"])}
    if "calibration_error" in fit.columns:
        out["calibration error, 95% CI"] = _with_interval(f, "calibration_error", "calibration_low",
                                                          "calibration_high")
    if len(cond):
        out["conditions x samples"] = f"{len(cond)} x {int(cond['n'].iloc[0])}"
    return out


@_summary("recursive_generation")
def _summary_recursive(table):
    frames = table.drop_duplicates(["track", "slot"])
    sampled = frames[(frames["method"] == "sample") & frames["generated"].astype(bool)]
    status = sampled["status"].fillna("").astype(str)
    return {"examples": int(table["example"].nunique()), "conditioning frames (tau)": int(table["tau"].iloc[0]),
            "generated frames per row": int(sampled.groupby("track").size().max()) if len(sampled) else 0,
            "sampled frames converged": f"{int((status == 'converged').sum())} of {len(sampled)}"}


@_summary("denoising_curves")
def _summary_denoising_curves(table):
    stats = _rows(table, "stat")
    out = {str(r["name"]).replace("_", " "): r["value"] for _, r in stats.iterrows()
           if str(r["name"]).startswith(("gain_", "slope_", "identity_", "predict_"))}
    if "data" in table.columns:
        out["test data"] = str(table["data"].iloc[0])
    return out


@_summary("adaptive_filter_example")
def _summary_adaptive_filter(table):
    stats = {str(r["name"]): r["value"] for _, r in _rows(table, "stat").iterrows()}
    sums = [stats[k] for k in sorted(k for k in stats if k.startswith("filter_sum_"))]
    out = {"observation / estimate PSNR (dB)": f"{_num(stats.get('psnr_in'))} / {_num(stats.get('psnr_out'))}",
           "filter sums (oldest frame first, observation last)": ", ".join(_num(v) for v in sums)}
    if "shift_dx" in stats:
        out["pattern shift per frame (dy, dx px)"] = f"{_num(stats['shift_dy'])}, {_num(stats['shift_dx'])}"
    for k in sorted(k for k in stats if k.startswith("centroid_dx_")):
        lag = k.rsplit("_", 1)[1]
        out[f"filter core offset, {lag} frame(s) back (dy, dx px)"] = \
            f"{_num(stats.get(f'centroid_dy_{lag}'))}, {_num(stats[k])}"
    if "data" in table.columns:
        out["test data"] = str(table["data"].iloc[0])
    return out


@_summary("evidence_weighting")
def _summary_evidence(table):
    stats = _rows(table, "stat")
    out = {f"{r['probe']}: observation outweighs the past above (dB)": r["value"] for _, r in stats.iterrows()
           if r["name"] == "crossing_psnr"}
    if "data" in table.columns:
        out["test data"] = str(table["data"].iloc[0])
    return out


@_summary("natural_samples")
def _summary_natural_samples(table):
    panels = table.drop_duplicates(["track", "slot"])
    samples = panels[panels["role"] == "sample"]
    onestep = panels[panels["role"] == "onestep"]
    out = {"samples": int(len(samples)), "sample PSNR (dB), mean": _num(samples["psnr"].mean())}
    if len(onestep):
        out["one-step estimate PSNR (dB)"] = _num(onestep["psnr"].iloc[0])
    if "data" in table.columns:
        out["test data"] = str(table["data"].iloc[0])
    return out


#: The gallery page, written into the output folder beside the figures.
GALLERY = "index.html"


_GALLERY_STYLE = """
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1100px; padding: 1em 1.5em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-bottom: 0.4em; }
nav a { margin-right: 0.8em; }
section.figure { border-top: 1px solid #ccc; padding: 0.6em 0 1.2em; }
section.figure img { max-width: 100%; height: auto; display: block; margin: 0.5em 0; }
.caption { line-height: 1.45; max-width: 60em; }
table.numbers { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
table.numbers th, table.numbers td { text-align: left; padding: 0.15em 0.9em 0.15em 0; border-bottom: 1px solid #eee; }
table.numbers td { font-variant-numeric: tabular-nums; }
.missing { background: #fff4e5; border: 1px dashed #d08a2b; padding: 2em 1em; margin: 0.5em 0; color: #7a4a00; }
.files, .note { font-size: 0.9em; color: #555; }
"""


def _as_written(table: "pd.DataFrame") -> "pd.DataFrame":
    """``table`` as read back from the CSV output a figure writes (``%.4g`` floats), so key
    numbers read from a table in memory are those read from the file."""
    import io

    import pandas as pd

    text = table.to_csv(index=False, float_format="%.4g", lineterminator="\n")
    return pd.read_csv(io.StringIO(text), low_memory=False)


def gallery_html(specs: list[FigureSpec], out_dir: str | Path, source: str = "manifest.toml",
                 tables: dict | None = None) -> str:
    """The gallery page for ``specs`` as rendered in ``out_dir`` (what is on disk now).

    One section per figure: its image (a relative ``src``, so the page opens from the file
    system), title, caption, key numbers from its data table (:func:`key_numbers`) and links
    to its files. A figure whose image is missing gets a placeholder saying how to render it.
    Every piece of text is escaped; the page has no scripts and no external assets.

    ``tables`` (figure id -> table or None), when given, replaces the CSV files on disk: key
    numbers come from it, and a figure's other outputs count as present when it has a table
    (the tracked gallery is then a function of the committed tables and images alone, the same
    in every checkout whatever was rendered there).
    """
    import html
    from urllib.parse import quote

    import pandas as pd

    out_dir = Path(out_dir)
    esc = html.escape
    given_tables = tables

    def href(name: str) -> str:
        return esc(quote(name))

    present = 0
    sections = []
    for spec in specs:
        images = [o for o in spec.outputs if Path(o).suffix.lower() == ".png"]
        tables = [o for o in spec.outputs if Path(o).suffix.lower() in TABLE_FORMATS]
        parts = [f'<section class="figure" id="{esc(spec.id)}">',
                 f"<h2>{esc(spec.id)}: {esc(spec.title)}</h2>"]
        image = images[0] if images else None
        if image and (out_dir / image).is_file():
            present += 1
            parts.append(f'<a href="{href(image)}"><img src="{href(image)}" alt="{esc(spec.id)}: {esc(spec.title)}">'
                         "</a>")
        else:
            parts.append(f'<div class="missing">Not rendered yet: {esc(image or "no .png output")} is missing. '
                         f"Render it with <code>python -m interp.figures --only {esc(spec.id)}</code>.</div>")
        if spec.caption:
            parts.append(f'<p class="caption">{esc(" ".join(spec.caption.split()))}</p>')
        table_path = out_dir / tables[0] if tables else None
        given = None if given_tables is None else given_tables.get(spec.id)
        if table_path is not None and (given is not None if given_tables is not None else table_path.is_file()):
            try:
                numbers = key_numbers(spec, _as_written(given) if given is not None
                                      else pd.read_csv(table_path, low_memory=False))
            except Exception as err:  # a gallery is still written when one summary fails
                parts.append(f'<p class="note">Key numbers unavailable: {esc(describe(err))}</p>')
            else:
                if numbers:
                    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in numbers.items())
                    parts.append(f'<table class="numbers"><caption hidden>key numbers</caption>{rows}</table>')
        elif tables:
            parts.append(f'<p class="note">No data table yet ({esc(tables[0])} is missing).</p>')

        def present_file(o: str, given=given) -> bool:
            if given_tables is None or Path(o).suffix.lower() == ".png":
                return (out_dir / o).is_file()
            return given is not None

        links = [f'<a href="{href(o)}">{esc(o)}</a>' if present_file(o) else f"{esc(o)} (missing)"
                 for o in spec.outputs]
        parts.append(f'<p class="files">Files: {", ".join(links)}</p>')
        parts.append("</section>")
        sections.append("\n".join(parts))
    nav = " ".join(f'<a href="#{esc(s.id)}">{esc(s.id)}</a>' for s in specs)
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>Figures: video prediction by score-based conditional density estimation</title>",
        f"<style>{_GALLERY_STYLE}</style>",
        "</head>",
        "<body>",
        "<header>",
        "<h1>Figures: video prediction by score-based conditional density estimation</h1>",
        f"<p>{present} of {len(specs)} figures rendered, from {esc(source)} by "
        "<code>python -m interp.figures</code>. Each figure's data table (CSV) holds every number it "
        "draws; the key numbers below are read from it.</p>",
        f"<nav>{nav}</nav>",
        "</header>",
        "<main>",
        *sections,
        "</main>",
        "</body>",
        "</html>",
        "",
    ])


def write_gallery(specs: list[FigureSpec], out_dir: str | Path, source: str = "manifest.toml",
                  tables: dict | None = None) -> Path:
    """Write :func:`gallery_html` to ``out_dir/index.html`` (atomically); return its path. A page
    whose bytes would not change is not rewritten."""
    path = Path(out_dir) / GALLERY
    data = gallery_html(specs, out_dir, source, tables=tables).encode("utf-8")
    try:
        if path.read_bytes() == data:
            return path
    except OSError:
        pass
    with atomic_write(path, "wb") as f:
        f.write(data)
    return path
