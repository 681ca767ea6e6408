"""Render the paper's figures from the manifest (``figures/manifest.toml``).

Each ``[[figure]]`` entry of the manifest is data only: an ``id``, a ``title`` and ``caption``,
the name of an ``analysis`` with its ``params`` (and the ``models`` it reads), and the
``outputs`` to write. Rendering a figure is three steps, each one module's job:

1. the analysis (a function registered in :data:`ANALYSES`) computes a tidy table from the
   entry's params;
2. the figure's plotting function (:data:`PLOTS`, by figure id, or the entry's optional
   ``plot``: a function name in :mod:`interp.plotting`) draws that table and nothing else;
3. the figure is saved as each listed ``.png`` / ``.pdf`` / ``.svg``, and the table as each
   listed ``.csv``, so the figure can be redrawn from the CSV without recomputation. Every
   figure lists at least a ``.png``, a ``.pdf`` and a ``.csv``.

CLI::

    python -m interp.figures                  # every figure, into the manifest's folder
    python -m interp.figures --only fig02     # some figures
    python -m interp.figures --list           # id and title of each figure
    python -m interp.figures --out DIR --manifest PATH
    python -m interp.figures --no-cache       # recompute every table (and refresh the cache)
    python -m interp.figures --gallery-only   # rewrite OUT/index.html from the files on disk
    python -m interp.figures --preset smoke   # tiny models trained from scratch, into runs/smoke/figures

Cache. Each computed table is also stored under ``OUT/cache/`` (``--cache-dir``) as a CSV with a
JSON sidecar, keyed by the SHA-256 of every checkpoint the figure reads, the analysis name,
its params and :data:`CACHE_VERSION` (:func:`cache_key`). Re-rendering after a change of
style reads the tables back (exactly: the figures are byte-identical to fresh ones); a changed
model or parameter recomputes only the figures that depend on it. A damaged entry is ignored
and recomputed, with a note on stderr. Each figure's line says ``computed`` or ``from cache``.

Gallery. After rendering, ``OUT/index.html`` lists every figure of the manifest with its image,
title, caption and key numbers (read from its data table by the hooks in :data:`SUMMARIES`);
a figure not rendered yet shows a placeholder. It is a static page: no scripts, no external
assets, relative links, so it opens from the file system.

Presets. ``--preset NAME`` reads ``figures/presets/NAME.toml`` (:mod:`interp.presets`): every
model card the figures name is replaced by a tiny card trained from scratch in a few minutes,
parameters such as sample counts are scaled down, and everything is written to the preset's own
folder, never over ``figures/``.

Trained models. A figure's ``models`` are model-card names: ``NAME`` reads the card
``models/NAME.toml`` and the weights ``models/NAME.safetensors`` beside it (trained with
``python -m interp.train models/NAME.toml``); a missing checkpoint fails that figure with a
one-line error saying how to train it. Set the environment variable ``INTERP_MODELS_DIR`` to
look for cards and checkpoints in another folder (the tests use a tiny untrained checkpoint).

A figure that fails is reported on one line and the others still render; the command then
exits with 1. Bad input (an unreadable or malformed manifest, an unknown ``--only`` id) is a
one-line error and exit code 2.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .cli import ArgumentParser, InterpError, run, short_repr
from .io import atomic_write, remove_stale_temporaries, sigterm_as_interrupt

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd

__all__ = [
    "FigureSpec",
    "ANALYSES",
    "PLOTS",
    "DEFAULT_MANIFEST",
    "load_manifest",
    "compute_table",
    "plot_function",
    "render_figure",
    "leaves_examples",
    "main",
]

PROG = "python -m interp.figures"
DEFAULT_MANIFEST = Path(__file__).resolve().parents[1] / "figures" / "manifest.toml"
DPI = 200  # PNG resolution
IMAGE_FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg"}
TABLE_FORMATS = {".csv"}
#: Every figure writes an image for the screen, one for print, and its data table.
REQUIRED_OUTPUTS = {".png": "a .png image", ".pdf": "a .pdf image", ".csv": "a .csv data table"}
_FIELDS = {  # manifest key -> (type, required)
    "id": (str, True),
    "title": (str, True),
    "caption": (str, False),
    "analysis": (str, True),
    "models": (list, False),
    "params": (dict, False),
    "outputs": (list, True),
    "plot": (str, False),
}


# --------------------------------------------------------------------------- manifest


@dataclasses.dataclass(frozen=True)
class FigureSpec:
    """One ``[[figure]]`` entry of the manifest."""

    id: str
    title: str
    analysis: str
    outputs: tuple[str, ...]
    caption: str = ""
    models: tuple[str, ...] = ()
    params: dict = dataclasses.field(default_factory=dict)
    plot: str | None = None


def load_manifest(path: str | Path = DEFAULT_MANIFEST) -> list[FigureSpec]:
    """Read and check a figure manifest; a problem raises a one-line :class:`InterpError`.

    Every figure must list a ``.png``, a ``.pdf`` and a ``.csv`` output (the screen image, the
    print image and the data table). The checks are structural (keys, types, unique ids and
    output names); whether an analysis exists or accepts its params is checked when the
    figure is rendered, so that one bad figure does not stop the others.
    """
    from .io import read_toml, toml_line

    path = Path(path)
    text, doc = read_toml(path, "manifest")

    extra = sorted(set(doc) - {"figure"})
    if extra:
        line = toml_line(text, None, extra[0]) or toml_line(text, extra[0])
        raise InterpError(f"{path}{f', line {line}' if line else ''}: unknown top-level key(s) "
                          f"{', '.join(map(repr, extra))}; expected [[figure]] tables")
    entries = doc.get("figure", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        line = toml_line(text, None, "figure") or toml_line(text, "figure")
        raise InterpError(f"{path}{f', line {line}' if line else ''}: 'figure' must be an array of tables "
                          "([[figure]])")
    if not entries:
        raise InterpError(f"{path}: no [[figure]] entries")

    specs: list[FigureSpec] = []
    seen_ids: set[str] = set()
    seen_outputs: dict[str, str] = {}
    for i, entry in enumerate(entries, 1):
        fid = entry.get("id")
        label = f" ({_short(fid)})" if isinstance(fid, str) else ""

        def where(key: str | None = None, i=i, label=label) -> str:
            line = (toml_line(text, "figure", key, occurrence=i) if key else None) \
                or toml_line(text, "figure", occurrence=i)
            return f"{path}{f', line {line}' if line else ''}: figure {i}{label}"

        unknown = sorted(set(entry) - set(_FIELDS))
        if unknown:
            raise InterpError(f"{where(unknown[0])}: unknown key(s) {', '.join(map(repr, unknown))} "
                              f"(allowed: {', '.join(_FIELDS)})")
        for key, (typ, required) in _FIELDS.items():
            if key not in entry:
                if required:
                    raise InterpError(f"{where()}: missing key {key!r}")
                continue
            if not isinstance(entry[key], typ):
                raise InterpError(f"{where(key)}: {key!r} must be a {_TYPE_NAMES[typ]}, "
                                  f"got {_short(entry[key])}")
        fid = entry["id"]
        if not fid or not fid.replace("_", "").replace("-", "").isalnum() or not fid.isascii():
            raise InterpError(f"{where('id')}: id must be ASCII letters, digits, '-' or '_', got {_short(fid)}")
        if fid in seen_ids:
            raise InterpError(f"{where('id')}: duplicate figure id {fid!r}")
        seen_ids.add(fid)
        models = entry.get("models", [])
        if not all(isinstance(m, str) for m in models):
            raise InterpError(f"{where('models')}: 'models' must be a list of strings")
        outputs = entry["outputs"]
        if not outputs:
            raise InterpError(f"{where('outputs')}: 'outputs' is empty")
        for name in outputs:
            _check_output_name(name, where("outputs"))
            if name in seen_outputs:
                raise InterpError(f"{where('outputs')}: output {name!r} is also written by figure "
                                  f"{seen_outputs[name]!r}")
            seen_outputs[name] = fid
        suffixes = {Path(name).suffix.lower() for name in outputs}
        missing = [what for suffix, what in REQUIRED_OUTPUTS.items() if suffix not in suffixes]
        if missing:
            raise InterpError(f"{where('outputs')}: 'outputs' must list {', '.join(REQUIRED_OUTPUTS.values())}; "
                              f"missing {' and '.join(missing)}")
        specs.append(FigureSpec(
            id=fid, title=entry["title"], analysis=entry["analysis"], outputs=tuple(outputs),
            caption=entry.get("caption", ""), models=tuple(models),
            params=dict(entry.get("params", {})), plot=entry.get("plot"),
        ))
    return specs


_TYPE_NAMES = {str: "string", list: "list", dict: "table"}


_short = short_repr


def _check_output_name(name, where: str) -> None:
    if not isinstance(name, str) or not name or "\x00" in name or Path(name).name != name \
            or name.startswith(".") or "/" in name or "\\" in name:
        raise InterpError(f"{where}: output {_short(name)} must be a plain file name (no folders)")
    suffix = Path(name).suffix.lower()
    if suffix not in IMAGE_FORMATS and suffix not in TABLE_FORMATS:
        known = ", ".join([*IMAGE_FORMATS, *sorted(TABLE_FORMATS)])
        raise InterpError(f"{where}: output {_short(name)} has an unknown format (use {known})")


# --------------------------------------------------------------------------- analyses

#: Analysis name (the manifest's ``analysis``) -> function(**params) returning a tidy table.
ANALYSES: dict[str, Callable[..., "pd.DataFrame"]] = {}


def _analysis(name: str):
    def register(fn):
        ANALYSES[name] = fn
        return fn

    return register


@_analysis("leaves_examples")
def leaves_examples(
    n_sequences: int = 4, seed: int = 0, frames: int = 11, variant: str = "default", start: int = 0
) -> "pd.DataFrame":
    """Example moving-leaves sequences as a long table of pixels (paper Fig. 2).

    Sequences ``start .. start + n_sequences - 1`` of the dataset of ``seed``
    (:func:`interp.leaves.generate`).

    Returns
    -------
    pandas.DataFrame
        One row per pixel: ``sequence`` (the sequence's index in the seed's dataset),
        ``frame`` (frame number t, from 1), ``row``, ``col`` (pixel indices from 0),
        ``value`` (intensity in [0, 1]); and per sequence, repeated on its rows:
        ``meeting_frame`` (the frame t where the two disks overlap most by construction) and
        ``radius_front``, ``radius_back`` (radii in pixels, at that frame, of the disk in front
        and the one behind).
    """
    import numpy as np
    import pandas as pd

    from .leaves import LeavesConfig, generate

    ds = generate(n_sequences, seed, start=start, config=LeavesConfig(variant=variant, frames=frames))
    n, t, h, w = ds.frames.shape
    meet = ds.meta["meeting_frame"].astype(np.int64)
    rows = np.arange(n)
    layer = ds.meta["layer"][rows, :2, meet]  # the two meeting disks, at the meeting frame
    radius = ds.meta["radius"][rows, :2, meet]
    front = np.argmax(layer, axis=1)
    per_seq = {
        "meeting_frame": meet + 1,
        "radius_front": radius[rows, front],
        "radius_back": radius[rows, 1 - front],
    }
    s, f, r, c = np.meshgrid(np.arange(n), np.arange(t), np.arange(h), np.arange(w), indexing="ij")
    table = pd.DataFrame({
        "sequence": ds.meta["index"][s.ravel()],
        "frame": f.ravel() + 1,
        "row": r.ravel(),
        "col": c.ravel(),
        "value": ds.frames.ravel(),
    })
    for k, v in per_seq.items():
        table[k] = np.asarray(v)[s.ravel()]
    return table


@_analysis("onedim_score")
def onedim_score(sigmas=(0.05, 0.15, 0.3, 0.6, 1.2), y_min: float = -2.5, y_max: float = 2.5,
                 n_points: int = 1001) -> "pd.DataFrame":
    """Densities and scaled scores of the 1-D bimodal example across noise levels (Fig. 9).

    See :func:`interp.onedim.score_table` for the columns.
    """
    from .onedim import score_table

    return score_table(sigmas, y_min, y_max, n_points)


@_analysis("onedim_sampling")
def onedim_sampling(y0: float = -2.0, step: float = 0.5, n_steps: int = 10, y_min: float = -2.5,
                    y_max: float = 2.5, n_points: int = 1001, sigma_min: float = 1e-3,
                    sigma_max: float = 1e2) -> "pd.DataFrame":
    """Blind-denoiser residual, fixed points and sampling map of the 1-D example (Fig. 10).

    See :func:`interp.onedim.sampling_table` for the columns; the MAP noise level is searched
    in [``sigma_min``, ``sigma_max``].
    """
    from .onedim import sampling_table

    return sampling_table(y0, step, n_steps, y_min, y_max, n_points, (sigma_min, sigma_max))


__all__ += ["onedim_score", "onedim_sampling"]


# --------------------------------------------------------------------------- Fig. 1

#: Columns of the Fig. 1 diagram table (see :func:`framework_diagram`).
DIAGRAM_COLUMNS = ("kind", "panel", "name", "label", "x", "y", "x2", "y2", "width", "height", "style", "rad",
                   "label_pos")


@_analysis("framework_diagram")
def framework_diagram() -> "pd.DataFrame":
    """The two ways of modelling the next frame, as a diagram to draw (paper Fig. 1).

    Nothing is computed: the table lists the elements of the diagram, so that the figure is
    drawn from its CSV like every other one (:func:`interp.plotting.plot_framework_diagram`).
    Left, the traditional framework: an explicit density with parameters learned end to end by
    repeated inference (past frames to a latent representation) and sampling (latent to next
    frame). Right, the score-based framework: a denoiser trained by regression from past frames
    and a noisy next frame to the clean one; its residual approximates the score, so it holds
    the density implicitly (the funnel), and sampling by iterative partial denoising turns
    noise into a next frame.

    Returns
    -------
    pandas.DataFrame
        One row per element, in panel coordinates (0..10 across, 0..7 up): ``kind``
        (``panel``: the panel's title and extent; ``stack``: a stack of frames centred at
        ``x``, ``y``; ``box``; ``funnel``: wide end at the left; ``arrow``: from ``x``, ``y`` to
        ``x2``, ``y2``, bent by ``rad``; ``text``), ``panel`` (``left`` or ``right``), ``name``,
        ``label`` (matplotlib text, may hold mathtext and line breaks), ``width``, ``height``,
        ``style`` (what the element is: ``data``, ``noise``, ``estimate``, ``sample``,
        ``latent``, ``model``, ``objective``, ``flow``, ``score``; the plot colours by it) and
        ``label_pos`` (where a label goes: ``inside``, ``below``, ``above``, ``left``, ``right``).
    """
    import numpy as np
    import pandas as pd

    nan = np.nan
    rows = []

    def add(kind, panel, name, label, x, y, x2=nan, y2=nan, width=nan, height=nan, style="", rad=0.0,
            label_pos="inside"):
        rows.append(dict(kind=kind, panel=panel, name=name, label=label, x=x, y=y, x2=x2, y2=y2, width=width,
                         height=height, style=style, rad=rad, label_pos=label_pos))

    # left: explicit density, learned end to end
    add("panel", "left", "explicit", "Traditional framework: explicit density", 0.0, 0.0, width=10.0, height=7.0)
    add("stack", "left", "past", "past frames", 1.3, 4.4, width=1.3, height=1.3, style="data", label_pos="below")
    add("box", "left", "latent", "latent\nrepresentation $z$", 5.0, 4.4, width=2.1, height=1.2, style="latent")
    add("stack", "left", "generated", "generated\nnext frame", 8.7, 4.4, width=1.3, height=1.3, style="sample",
        label_pos="below")
    add("arrow", "left", "inference", "inference", 2.2, 4.4, 3.85, 4.4, style="flow", label_pos="above")
    add("arrow", "left", "sampling", "sampling", 6.15, 4.4, 7.8, 4.4, style="flow", label_pos="above")
    add("box", "left", "model", "explicit model $p_\\theta(x_{t+1} \\mid x_t, \\ldots, x_{t-\\tau+1})$",
        5.0, 1.3, width=5.6, height=0.9, style="model")
    add("arrow", "left", "parameters", "$\\theta$", 5.0, 1.8, 5.0, 3.75, style="score", label_pos="right")
    add("arrow", "left", "learning", "learn $\\theta$: repeat\ninference and sampling", 8.7, 3.2, 7.85, 1.8,
        style="objective", rad=-0.35, label_pos="left")
    add("arrow", "left", "end_to_end", "objective applied end to end", 1.3, 6.15, 8.7, 6.15, style="objective",
        label_pos="above")

    # right: a denoiser trained by regression holds the density implicitly
    add("panel", "right", "implicit", "Score-based framework: implicit density", 0.0, 0.0, width=10.0, height=7.0)
    add("stack", "right", "past", "past frames $c$", 1.3, 5.35, width=1.1, height=1.1, style="data",
        label_pos="below")
    add("stack", "right", "noisy", "noisy next frame\n$y = x + \\sigma z$", 1.3, 3.15, width=1.1, height=1.1,
        style="noise", label_pos="below")
    add("box", "right", "denoiser", "denoiser\n$\\hat{x}(y, c)$", 5.0, 4.3, width=2.1, height=1.2, style="model")
    add("stack", "right", "estimate", "estimate of the\nclean next frame", 8.7, 4.3, width=1.1, height=1.1,
        style="estimate", label_pos="below")
    add("arrow", "right", "past_in", "", 2.0, 5.2, 3.9, 4.55, style="flow")
    add("arrow", "right", "noisy_in", "", 2.0, 3.3, 3.9, 4.05, style="flow")
    add("arrow", "right", "regression", "regression", 6.1, 4.3, 8.0, 4.3, style="flow", label_pos="above")
    add("funnel", "right", "implicit_model", "implicit model", 5.0, 1.15, width=3.0, height=1.3, style="model")
    add("stack", "right", "noise", "noise $y_0$", 1.3, 1.15, width=1.0, height=1.0, style="noise",
        label_pos="below")
    add("stack", "right", "sample", "predicted\nnext frame", 8.7, 1.15, width=1.0, height=1.0, style="sample",
        label_pos="below")
    add("arrow", "right", "noise_in", "", 1.95, 1.15, 3.45, 1.15, style="flow")
    add("text", "right", "sampling", "sampling: iterative partial denoising", 5.0, 0.28, style="flow")
    add("arrow", "right", "out", "", 6.55, 1.15, 8.05, 1.15, style="flow")
    add("arrow", "right", "score", "approximates\nthe score", 5.0, 3.65, 5.0, 1.9, style="score",
        label_pos="right")
    return pd.DataFrame(rows, columns=list(DIAGRAM_COLUMNS))


__all__ += ["framework_diagram"]


# --------------------------------------------------------------------------- trained models

#: Environment variable that, when set, replaces the repository's ``models/`` folder as the
#: place where model cards and their checkpoints are looked up (tests point it at a
#: temporary folder holding a tiny checkpoint).
MODELS_DIR_ENV = "INTERP_MODELS_DIR"


def models_dir() -> Path:
    """The folder of model cards and checkpoints: ``$INTERP_MODELS_DIR`` if set, else the
    repository's ``models/`` (beside ``figures/``)."""
    import os

    override = os.environ.get(MODELS_DIR_ENV)
    return Path(override) if override else DEFAULT_MANIFEST.parents[1] / "models"


def model_files(name: str) -> tuple[Path, Path]:
    """``(card, checkpoint)`` of a model-card name: ``NAME.toml`` and ``NAME.safetensors`` in
    :func:`models_dir`.

    Raises a one-line :class:`InterpError` naming the missing file when either is absent; for
    a missing checkpoint it says how to train it.
    """
    if not isinstance(name, str) or not name or Path(name).name != name or name.startswith("."):
        raise InterpError(f"model name must be a plain model-card name (models/NAME.toml), got {name!r}")
    folder = models_dir()
    card, ckpt = folder / f"{name}.toml", folder / f"{name}.safetensors"

    def shown(p: Path) -> str:  # models/NAME.toml inside the repository, else the full path
        try:
            return str(p.resolve().relative_to(DEFAULT_MANIFEST.parents[1]))
        except ValueError:
            return str(p)

    if not card.is_file():
        raise InterpError(f"model card {shown(card)} not found (model {name!r}; "
                          f"set {MODELS_DIR_ENV} to look in another folder)")
    if not ckpt.is_file():
        raise InterpError(f"checkpoint {shown(ckpt)} not found: train model {name!r} with "
                          f"`python -m interp.train {shown(card)}`")
    return card, ckpt


def load_model(name: str):
    """The trained network of a model-card name, in eval mode, checked against its card.

    The checkpoint must have been trained from a card of that name (its config records the
    card's name) for the network the card describes (tau, width, normalization, prediction-only):
    a checkpoint copied or renamed onto another card's name is a one-line error, not drawn as
    that model.
    """
    from . import checkpoint
    from .train import read_card

    card_path, ckpt_path = model_files(name)
    card = read_card(card_path)
    net = checkpoint.load(ckpt_path)
    trained_from = net.checkpoint_config.get("card")
    if trained_from is not None and trained_from != name:
        raise InterpError(f"{ckpt_path} was trained from card {trained_from!r}, not {name!r}: it is not that model")
    want = {"arch": "unet", **card.model}
    if net.config() != want:
        raise InterpError(f"{ckpt_path} holds {net.config()}, its card {card_path} describes {want}")
    return net


def _first_model(models, analysis: str) -> str:
    if not models:
        raise InterpError(f"analysis {analysis!r} needs a trained model: list one in the figure's 'models'")
    return models[0]


def _leaves_denoiser(name: str, what: str):
    """``(card, card_path, net)`` for a model-card name that must be a conditional moving-leaves
    denoiser (tau >= 1, not prediction-only); one-line errors otherwise."""
    from .train import read_card

    card_path, ckpt_path = model_files(name)
    card = read_card(card_path)
    if card.data.get("source") != "leaves":
        raise InterpError(f"{card_path}: {what} needs a moving-leaves model "
                          f"([data] source = \"leaves\"), got {card.data.get('source')!r}")
    net = load_model(name)
    if net.predict_only:
        raise InterpError(f"{ckpt_path} is a prediction-only network; {what} needs a denoiser")
    if int(net.tau) != card.model["tau"]:
        raise InterpError(f"{ckpt_path} has tau={net.tau}, its card {card_path} says tau={card.model['tau']}")
    if net.tau < 1:
        raise InterpError(f"{ckpt_path} is unconditional (tau=0); {what} needs tau >= 1")
    return card, card_path, net


@_analysis("recursive_generation")
def recursive_generation(models, n_examples: int = 2, k: int = 9, seed: int = 0,
                         dataset_start: int = 0, truth: bool = True, max_iter: int = 1000) -> "pd.DataFrame":
    """Sequences generated recursively by one-step estimation and by sampling (Fig. 5, section 3.1).

    The first model of ``models`` (a model-card name, see :func:`model_files`) is loaded, and
    ``n_examples`` test-split sequences of that model's own moving-leaves data set (the card's
    ``[data]`` ``n``, ``seed`` and ``variant``) are chosen by a fixed rule: in index order from
    ``dataset_start``, the first test sequences whose meeting frame (1-based, the frame where
    the two disks overlap most) is in ``tau + 2 .. tau + k``, so that the occlusion falls in the
    generated part and at least one generated frame precedes it. From the first ``tau`` real
    frames of each, ``k`` frames are generated by :func:`interp.sampler.generate_recursive`,
    each conditioned on the previous ``tau`` frames (real or generated):

    * example A: recursive one-step estimates (``mode="onestep"``) and recursive samples;
    * examples B, C, ...: recursive samples.

    Parameters
    ----------
    models : list of str
        Model-card names; the first is used (it must be a denoiser on a ``leaves`` data set).
    n_examples : int
        Sequences shown (A, B, ...).
    k : int
        Frames generated after the ``tau`` real ones.
    seed : int
        Sampler seed (one generator for all the recursive steps of a call).
    dataset_start : int
        Index in the data set where the search for test sequences starts.
    truth : bool
        Also show each example's real frames (as far as the sequence goes) in a row below it.
    max_iter : int
        The sampler's iteration limit per frame (:func:`interp.sampler.sample`); a chain that
        does not converge leaves NaN frames (drawn light blue) and says so in ``status``.

    Returns
    -------
    pandas.DataFrame
        One row per pixel, in the layout of :func:`interp.plotting.plot_frame_grid`:
        ``track`` (grid row), ``track_label`` (e.g. ``A: one-step``), ``slot`` (grid column,
        from 0), ``label`` (``t = frame``), ``role`` (``conditioning`` for the real frames the
        recursion starts from, ``onestep`` or ``sample`` for generated frames, ``truth`` for the
        real-frame rows), ``row``, ``col``, ``value``; and ``example`` (A, B, ...),
        ``sequence`` (index in the data set), ``method`` (``onestep``, ``sample`` or
        ``truth``), ``frame`` (frame number t from 1), ``generated`` (bool), ``step`` (0 for
        real frames, j for the j-th generated frame), ``status`` (sampler status of a sampled
        frame: ``converged``, ``max_iter``, ``diverged`` or ``skipped``; empty otherwise; a
        failed frame is NaN), ``meeting_frame`` (1-based), ``tau`` and ``model``.
    """
    import numpy as np
    import pandas as pd
    import torch

    from .leaves import generate
    from .sampler import _check_int, generate_recursive

    name = _first_model(models, "recursive_generation")
    n_examples = _check_int("n_examples", n_examples, 1)
    k = _check_int("k", k, 1)
    seed = _check_int("seed", seed, 0)
    dataset_start = _check_int("dataset_start", dataset_start, 0)
    max_iter = _check_int("max_iter", max_iter, 1)
    card, card_path, net = _leaves_denoiser(name, "recursive generation")
    tau = int(net.tau)

    # the first test sequences from dataset_start whose meeting frame is in tau+2 .. tau+k
    n_data, data_seed = int(card.data.get("n", 100_000)), int(card.data.get("seed", 0))
    variant = card.data.get("variant", "default")
    chosen: list[tuple[int, np.ndarray, int]] = []  # (index, frames [T, H, W], meeting frame)
    lo, chunk = dataset_start, 200
    while len(chosen) < n_examples and lo < n_data:
        ds = generate(min(chunk, n_data - lo), data_seed, variant, start=lo)
        meet = ds.meta["meeting_frame"].astype(np.int64) + 1
        ok = ds.meta["test"] & (meet >= tau + 2) & (meet <= tau + k)
        for i in np.flatnonzero(ok)[: n_examples - len(chosen)]:
            chosen.append((int(ds.meta["index"][i]), ds.frames[i], int(meet[i])))
        lo += chunk
    if len(chosen) < n_examples:
        raise InterpError(
            f"only {len(chosen)} of the test sequences {dataset_start} .. {n_data - 1} of {card_path}'s "
            f"data set have their meeting frame in {tau + 2} .. {tau + k} (need n_examples={n_examples})")

    starts = torch.from_numpy(np.stack([f[:tau] for _, f, _ in chosen]))  # [E, tau, H, W]
    sampled, infos = generate_recursive(net, starts, k, "sample", seed, n=1, return_info=True, warn=False,
                                        max_iter=max_iter)
    sampled = sampled[:, 0].numpy()  # [E, tau + k, H, W]
    status = np.stack([info.status[:, 0] for info in infos], axis=1)  # [E, k]
    onestep = generate_recursive(net, starts[:1], k, "onestep", seed)[0, 0].numpy()

    letters = [chr(ord("A") + e) if e < 26 else f"#{e + 1}" for e in range(n_examples)]
    h, w = sampled.shape[-2:]
    rr, cc = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    parts = []

    tracks: list[str] = []

    def add(track: str, e: int, method: str, frames: np.ndarray, stat: np.ndarray | None):
        index, _, meet = chosen[e]
        tracks.append(track)
        for t in range(len(frames)):
            generated = method != "truth" and t >= tau
            role = "truth" if method == "truth" else (method if generated else "conditioning")
            parts.append(pd.DataFrame({
                "track": len(tracks) - 1, "track_label": track, "slot": t, "label": f"t = {t + 1}", "role": role,
                "row": rr.ravel(), "col": cc.ravel(), "value": frames[t].ravel().astype(float),
                "example": letters[e], "sequence": index, "method": method, "frame": t + 1,
                "generated": generated, "step": t - tau + 1 if generated else 0,
                "status": stat[t - tau] if generated and stat is not None else "",
                "meeting_frame": meet, "tau": tau, "model": name,
            }))

    for e in range(n_examples):
        real = chosen[e][1][: tau + k]
        if e == 0:
            add(f"{letters[e]}: one-step", e, "onestep", onestep, None)
        add(f"{letters[e]}: sampled", e, "sample", sampled[e], status[e])
        if truth:
            add(f"{letters[e]}: true", e, "truth", real, None)
    return pd.concat(parts, ignore_index=True)


__all__ += ["MODELS_DIR_ENV", "models_dir", "model_files", "load_model", "recursive_generation"]


def _probe(net, dr: float, mean_radius: float, probe: dict | None):
    from .psychometrics import Probe

    extra = dict(probe or {})
    if "center" in extra:
        extra["center"] = tuple(extra["center"])
    try:
        return Probe(radius_left=mean_radius - dr / 2, radius_right=mean_radius + dr / 2, tau=int(net.tau), **extra)
    except (TypeError, ValueError) as err:
        raise InterpError(f"bad probe parameters: {err}") from None


@_analysis("occlusion_example")
def occlusion_example(models, dr: float = 0.0, mean_radius: float = 6.0, probe: dict | None = None,
                      n_samples: int = 6, n_states: int = 4, seed: int = 0, max_iter: int = 1000) -> "pd.DataFrame":
    """One occlusion probe: its inputs, the one-step estimate, a sampling trajectory and samples
    (Fig. 3 for equal radii, Fig. 11 for an unambiguous pair).

    The probe (:class:`interp.psychometrics.Probe`) has radii ``mean_radius -+ dr / 2``
    (left, right) and any other parameters given in ``probe`` (luminances, speeds, direction,
    centre). ``n_samples`` next frames are drawn by :func:`interp.sampler.sample` with
    ``seed``; each is classified (:func:`interp.psychometrics.classify`).

    Grid rows (the layout of :func:`interp.plotting.plot_frame_grid`):

    0. ``inputs``: the conditioning frames and the pure-noise observation y_0 (red), the
       one-step estimate x_hat(y_0, c) (green), and the two possible next frames (left disk
       in front, right disk in front; thin black);
    1. ``sampling``: the states y_k of the first chain at ``n_states`` evenly spaced
       iterations, then its sample (blue);
    2. ``samples``: the ``n_samples`` samples, each titled with the disk the classifier sees
       in front (or why it is invalid).

    Extra columns: ``panel`` (``conditioning``, ``noise``, ``onestep``, ``option``,
    ``state``, ``sample``), ``iteration`` (k for states, -1 otherwise), ``choice`` (for
    samples), ``dr``, ``model``, ``seed``.
    """
    import numpy as np
    import torch

    from .psychometrics import classify
    from .sampler import _check_int, _grid_table, sample

    name = _first_model(models, "occlusion_example")
    n_samples = _check_int("n_samples", n_samples, 1)
    n_states = _check_int("n_states", n_states, 0)
    seed = _check_int("seed", seed, 0)
    _, _, net = _leaves_denoiser(name, "the occlusion probe")
    p = _probe(net, float(dr), float(mean_radius), probe)
    c = torch.from_numpy(p.conditioning())
    xs, info = sample(net, c, n_samples, seed=seed, trace=True, return_info=True, warn=False, max_iter=max_iter)
    xs = xs[:, 0].numpy()
    cls = classify(xs, p)
    y0, est = info.trace_y[0, 0, 0].numpy(), info.trace_xhat[0, 0, 0].numpy()
    K = int(info.iterations[0])
    ks = sorted({int(round(K * j / (n_states + 1))) for j in range(1, n_states + 1)} - {0})

    def said(i: int) -> str:
        return f"{cls['choice'][i]} in front" if cls["valid"][i] else f"none ({cls['reason'][i]})"

    inputs = [(f"t = {t + 1}", "conditioning", p.conditioning()[t], "conditioning", -1, "") for t in range(p.tau)]
    inputs += [("noise y0", "conditioning", y0, "noise", 0, ""),
               ("one-step", "onestep", est, "onestep", 0, ""),
               ("if left in front", "option", p.frames("left")[-1], "option", -1, "left"),
               ("if right in front", "option", p.frames("right")[-1], "option", -1, "right")]
    states = [(f"k = {k}", "state", info.trace_y[0, k, 0].numpy(), "state", k, "") for k in ks]
    states.append((f"sample (k = {K})", "sample", xs[0], "sample", K, cls["choice"][0]))
    samples = [(f"{i + 1}: {said(i)}", "sample", xs[i], "sample", -1, cls["choice"][i]) for i in range(n_samples)]
    rows = [("inputs", inputs), ("sampling", states), ("samples", samples)]
    table = _grid_table([(track, [(lab, role, img) for lab, role, img, *_ in panels]) for track, panels in rows])
    extra = [(panel, it, choice) for _, panels in rows for *_, panel, it, choice in panels]
    per_panel = np.repeat(np.arange(len(extra)), p.size * p.size)
    table["panel"] = np.array([e[0] for e in extra], dtype=object)[per_panel]
    table["iteration"] = np.array([e[1] for e in extra])[per_panel]
    table["choice"] = np.array([e[2] for e in extra], dtype=object)[per_panel]
    table["dr"], table["model"], table["seed"] = p.dr, name, seed
    return table


@_analysis("occlusion_sweep")
def occlusion_sweep(models, differences=None, mean_radius: float = 6.0, configs: int = 1, n: int = 64,
                    seed: int = 0, truth: str = "deterministic", n_boot: int = 1000, highlight=(),
                    max_iter: int = 1000) -> "pd.DataFrame":
    """Choice frequencies against radius difference, with a logistic fit (Fig. 4; with the
    ``stochastic`` rule, the calibration figure).

    Runs :func:`interp.psychometrics.run_sweep` on :func:`~interp.psychometrics.probe_grid`
    (``differences``, ``mean_radius``, ``configs`` scenes, ``seed``) with ``n`` samples per
    probe, and summarises it.

    Returns
    -------
    pandas.DataFrame
        Rows of five kinds (column ``kind``):

        * ``sample``: one per sample (probe parameters, ``seed``, ``choice``,
          ``right_front``, ``valid``, ``reason``, ``weight_right``, sampler ``status``);
        * ``onestep``: one per probe: ``weight_right`` and ``blend`` of the one-step estimate;
        * ``condition``: one per ``dr``: ``n``, ``n_valid``, ``freq_right`` with its Wilson
          interval ``ci_low`` / ``ci_high``, ``invalid_rate``, ``p_true`` (the rule's
          probability, if ``truth``), ``highlight`` (bool);
        * ``curve``: the fitted logistic ``p_fit`` (and ``p_true``) on a fine grid of ``dr``;
        * ``fit``: one row: ``slope``, ``slope_low``, ``slope_high``, ``pse``, ``pse_low``,
          ``pse_high``, ``invalid_rate`` (with the shares ``invalid_apart`` and
          ``invalid_mixed``), ``ideal_invalid_rate`` (a perfect sampler of the training data
          on the same probes, :func:`interp.psychometrics.ideal_sweep`: the floor),
          ``equal_right`` and ``larger_front`` (issue 5's frequencies among valid samples,
          :func:`interp.psychometrics.decision_targets`, with their counts ``*_n``),
          ``onestep_blend``, and with a ``truth`` rule ``calibration_error`` with
          ``calibration_low`` / ``calibration_high``.
    """
    import numpy as np
    import pandas as pd

    from .psychometrics import (DEFAULT_DIFFERENCES, _fit_or_nan, calibration, choice_frequencies, decision_targets,
                                ideal_sweep, probe_grid, run_sweep, truth_probability)
    from .sampler import _check_int

    name = _first_model(models, "occlusion_sweep")
    n = _check_int("n", n, 1)
    seed = _check_int("seed", seed, 0)
    configs = _check_int("configs", configs, 1)
    if truth not in ("deterministic", "stochastic", "none"):
        raise InterpError(f"truth must be 'deterministic', 'stochastic' or 'none', got {truth!r}")
    differences = list(DEFAULT_DIFFERENCES if differences is None else differences)
    _, _, net = _leaves_denoiser(name, "the occlusion sweep")
    try:
        probes = probe_grid(differences, mean_radius=mean_radius, configs=configs, seed=seed, tau=int(net.tau))
    except ValueError as err:
        raise InterpError(f"bad probe parameters: {err}") from None
    scenes = [i // len(differences) for i in range(len(probes))]
    sweep = run_sweep(net, probes, n, seed, scenes=scenes, max_iter=max_iter, progress=_progress_bars())
    samples = sweep.samples.assign(kind="sample")
    onestep = sweep.onestep.assign(kind="onestep")
    cond = choice_frequencies(sweep.samples).assign(kind="condition")
    cond["highlight"] = cond["dr"].isin([float(h) for h in highlight])
    fit = _fit_or_nan(sweep.samples, n_boot, seed)
    grid = np.linspace(min(differences) - 0.5, max(differences) + 0.5, 201)
    curve = pd.DataFrame({"kind": "curve", "dr": grid, "p_fit": fit.predict(grid)})
    summary = {"kind": "fit", "slope": fit.slope, "slope_low": fit.slope_ci[0], "slope_high": fit.slope_ci[1],
               "pse": fit.pse, "pse_low": fit.pse_ci[0], "pse_high": fit.pse_ci[1],
               "invalid_rate": sweep.invalid_rate(), "onestep_blend": float(sweep.onestep["blend"].mean()),
               "n_boot": n_boot, "truth": truth}
    ideal = ideal_sweep(probes, n, seed, rule="deterministic" if truth == "none" else truth, scenes=scenes)
    summary["ideal_invalid_rate"] = float(1.0 - ideal["valid"].mean())
    for reason in ("apart", "mixed"):
        summary[f"invalid_{reason}"] = float((sweep.samples["reason"] == reason).mean())
    targets = decision_targets(sweep.samples)
    summary.update(equal_right=targets["equal_right"]["freq"], equal_right_n=targets["equal_right"]["n"],
                   larger_front=targets["larger_front"]["freq"], larger_front_n=targets["larger_front"]["n"])
    if truth != "none":
        cond["p_true"] = truth_probability(cond["dr"], truth)
        curve["p_true"] = truth_probability(grid, truth)
        cal = calibration(sweep.samples, truth, n_boot=n_boot, seed=seed)
        summary.update(calibration_error=cal["error"], calibration_low=cal["error_ci"][0],
                       calibration_high=cal["error_ci"][1])
    table = pd.concat([samples, onestep, cond, curve, pd.DataFrame([summary])], ignore_index=True)
    table["model"] = name
    return table


__all__ += ["occlusion_example", "occlusion_sweep"]


# --------------------------------------------------------------------------- plots

#: Figure id -> name of its plotting function in :mod:`interp.plotting`.
PLOTS: dict[str, str] = {
    "fig02": "plot_sequences",
}
PLOTS.update({
    "fig09": "plot_onedim_score",
    "fig10": "plot_onedim_sampling",
})
PLOTS["fig05"] = "plot_frame_grid"  # conditioning red, one-step green, samples blue
PLOTS.update({"fig03": "plot_frame_grid", "fig11": "plot_frame_grid", "fig04": "plot_psychometric",
              "calibration": "plot_psychometric"})
PLOTS["fig01"] = "plot_framework_diagram"


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


# --------------------------------------------------------------------------- rendering


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


def draw_figure(spec: FigureSpec, table: "pd.DataFrame", out_dir: str | Path) -> list[Path]:
    """Plot ``table`` and write every output of ``spec`` into ``out_dir``; return the paths.

    Each file is written atomically, so an interrupted run leaves no partial file.
    """
    out_dir = Path(out_dir)
    figure = plot_function(spec)(table)
    written = []
    for name in spec.outputs:
        path = out_dir / name
        suffix = path.suffix.lower()
        if suffix in TABLE_FORMATS:
            with atomic_write(path, "w") as f:
                table.to_csv(f, index=False, float_format="%.4g")
        else:
            fmt = IMAGE_FORMATS[suffix]
            metadata = {"CreationDate": None} if fmt == "pdf" else None  # reproducible bytes
            with atomic_write(path, "wb") as f:
                figure.savefig(f, format=fmt, dpi=DPI, metadata=metadata)
        written.append(path)
    return written


def render_figure(spec: FigureSpec, out_dir: str | Path, *, cache_dir: str | Path | None = None,
                  refresh: bool = False) -> list[Path]:
    """Compute (or read from the cache in ``cache_dir``), plot and write every output of one
    figure; return the paths written. See :func:`figure_table` for the cache."""
    plot_function(spec)  # fail before computing if there is nothing to draw with
    table, _, _ = figure_table(spec, cache_dir, refresh=refresh)
    return draw_figure(spec, table, out_dir)


# --------------------------------------------------------------------------- cache

#: Version of what the analyses compute. Bump it when an analysis changes its table: every
#: cached table is then recomputed.
CACHE_VERSION = 5  # 5: classify locates the disks and reads soft edges; ideal floor in occlusion_sweep
#: Default cache folder, inside the output folder (``figures/cache``, ignored by git).
CACHE_FOLDER = "cache"
_CACHE_FORMAT = 1  # layout of a cache entry (CSV + JSON sidecar)

#: Analysis name -> function(spec) returning the files, other than the models' checkpoints,
#: whose bytes the analysis reads (a dataset, say); their hashes join the cache key. Register
#: with ``@_cache_inputs("analysis_name")``.
CACHE_INPUTS: dict[str, Callable[[FigureSpec], list]] = {}


def _cache_inputs(name: str):
    def register(fn):
        CACHE_INPUTS[name] = fn
        return fn

    return register


@_cache_inputs("denoising_curves")
@_cache_inputs("adaptive_filter_example")
@_cache_inputs("evidence_weighting")
@_cache_inputs("natural_samples")
def _natural_video_inputs(spec: FigureSpec) -> list:
    """The natural-video analyses (interp.figures_video) read their test clips from the file of
    the ``data`` param, else from the first DAVIS32 file that exists
    (:func:`interp.natural.natural_video_test_set`), else from the built-in set: the candidates up
    to the one used join the key, so a DAVIS32 file built later invalidates the cached tables."""
    if spec.params.get("data"):
        return [spec.params["data"]]
    try:
        from .natural import DAVIS32_FILES, _davis_candidates

        candidates = _davis_candidates(DAVIS32_FILES)
    except (ImportError, InterpError):  # the analysis itself reports a bad $INTERP_DAVIS32
        return []
    used = next((i for i, p in enumerate(candidates) if p.is_file()), len(candidates) - 1)
    return candidates[: used + 1]


class _CacheProblem(Exception):
    """A cache entry that cannot be used or written; the message says why (one line)."""


_FILE_HASHES: dict[tuple, str] = {}


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes (remembered per path, size and modification time)."""
    import hashlib
    import os

    path = Path(path)
    st = os.stat(path)
    memo = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if memo not in _FILE_HASHES:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _FILE_HASHES[memo] = h.hexdigest()
    return _FILE_HASHES[memo]


def _canonical(value) -> str:
    """Canonical JSON text: sorted keys, no spaces; non-JSON values (TOML dates) by repr."""
    import json

    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=True,
                      default=lambda o: {"repr": repr(o)})


def cache_key(spec: FigureSpec) -> tuple[str, dict]:
    """``(key, material)``: what a figure's table depends on, and its SHA-256.

    The material is :data:`CACHE_VERSION`, the analysis name, its params, and for each model
    the SHA-256 of its checkpoint's bytes with its card's ``[model]`` and ``[data]`` tables
    (plus any files :data:`CACHE_INPUTS` names). Title, caption, plot and outputs are not
    part of it: restyling a figure reuses its table. A missing model fails here, with the
    same one-line error as the analysis would give.
    """
    import hashlib
    import json
    import tomllib

    models = {}
    for name in spec.models:
        card, ckpt = model_files(name)
        try:
            doc = tomllib.loads(card.read_text(encoding="utf-8"))
            card_part = {"model": doc.get("model"), "data": doc.get("data")}
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            card_part = {"card_sha256": file_sha256(card)}  # the analysis reports what is wrong
        models[name] = {"checkpoint_sha256": file_sha256(ckpt), **card_part}
    inputs = {}
    hook = CACHE_INPUTS.get(spec.analysis)
    for p in (hook(spec) if hook else []):
        p = Path(p)
        inputs[str(p)] = file_sha256(p) if p.is_file() else None
    material = json.loads(_canonical({"cache_version": CACHE_VERSION, "analysis": spec.analysis,
                                      "params": spec.params, "models": models, "inputs": inputs}))
    return hashlib.sha256(_canonical(material).encode("ascii")).hexdigest(), material


def cache_paths(cache_dir: str | Path, spec: FigureSpec, key: str) -> tuple[Path, Path]:
    """``(table.csv, sidecar.json)`` of ``spec``'s cache entry for ``key``."""
    import re

    stem = f"{re.sub(r'[^A-Za-z0-9_-]', '_', spec.analysis)[:60]}-{key[:24]}"
    return Path(cache_dir) / f"{stem}.csv", Path(cache_dir) / f"{stem}.json"


def _encode(value) -> str:
    """One cell of a non-numeric column as typed text (``s:`` string, ``f:`` float...)."""
    import math

    import numpy as np
    import pandas as pd

    if value is None:
        return "N:"
    if value is pd.NA:
        return "A:"
    if isinstance(value, (bool, np.bool_)):
        return f"b:{bool(value)}"
    if isinstance(value, (int, np.integer)):
        return f"i:{int(value)}"
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return "f:nan" if math.isnan(v) else f"f:{v!r}"
    if isinstance(value, str):
        return f"s:{value}"
    raise _CacheProblem(f"a cell holds a {type(value).__name__}, which a CSV cannot hold exactly")


def _decode(text: str):
    import pandas as pd

    tag, value = text[:2], text[2:]
    if tag == "s:":
        return value
    if tag == "f:":
        return float(value)
    if tag == "i:":
        return int(value)
    if tag == "b:" and value in ("True", "False"):
        return value == "True"
    if tag == "N:":
        return None
    if tag == "A:":
        return pd.NA
    raise ValueError(f"bad cell {text[:20]!r}")


def _table_to_csv(table: "pd.DataFrame") -> tuple[bytes, list[dict]]:
    """CSV bytes and column schema of a table; numeric columns plain, the others typed cells."""
    import numpy as np
    import pandas as pd

    index = table.index
    if not isinstance(index, pd.RangeIndex) or index.start != 0 or index.step != 1:
        raise _CacheProblem("its index is not 0..n-1")
    names = list(table.columns)
    if not names or not all(isinstance(c, str) for c in names) or len(set(names)) != len(names):
        raise _CacheProblem("its column names are not unique strings")
    cells, schema = {}, []
    for name in names:
        col = table[name]
        plain = isinstance(col.dtype, np.dtype) and col.dtype.kind in "biuf"
        cells[name] = col.to_numpy() if plain else np.array([_encode(v) for v in col.tolist()], dtype=object)
        schema.append({"name": name, "dtype": str(col.dtype), "encoding": "plain" if plain else "typed"})
    text = pd.DataFrame(cells, columns=names).to_csv(index=False, lineterminator="\n")
    return text.encode("utf-8"), schema


def _csv_to_table(data: bytes, schema: list[dict]) -> "pd.DataFrame":
    """The table :func:`_table_to_csv` wrote."""
    import io

    import numpy as np
    import pandas as pd

    names = [c["name"] for c in schema]
    if len(set(names)) != len(names) or not all(isinstance(n, str) for n in names):
        raise ValueError("bad column list")
    dtypes, na = {}, {}
    for c in schema:
        if c["encoding"] == "plain":
            dt = np.dtype(c["dtype"])
            if dt.kind not in "biuf":
                raise ValueError(f"column {c['name']!r}: bad dtype {c['dtype']!r}")
            dtypes[c["name"]] = "float64" if dt.kind == "f" else dt
            if dt.kind == "f":
                na[c["name"]] = [""]
        elif c["encoding"] == "typed":
            dtypes[c["name"]] = object
        else:
            raise ValueError(f"column {c['name']!r}: unknown encoding")
    frame = pd.read_csv(io.BytesIO(data), header=0, names=names, dtype=dtypes, keep_default_na=False,
                        na_values=na, encoding="utf-8")
    columns = {}
    for c in schema:
        col = frame[c["name"]]
        if c["encoding"] == "plain":
            columns[c["name"]] = col.astype(c["dtype"]) if str(col.dtype) != c["dtype"] else col
        else:
            values = pd.Series([_decode(v) for v in col.tolist()], dtype=object)
            columns[c["name"]] = values if c["dtype"] == "object" else values.astype(c["dtype"])
    return pd.DataFrame(columns, columns=names)


def read_cached_table(cache_dir: str | Path, spec: FigureSpec, key: str) -> "pd.DataFrame | None":
    """The cached table of ``spec`` for ``key``; None when there is none.

    Raises :class:`_CacheProblem` (one line) for an entry that exists but cannot be used:
    unreadable, for another key, or a CSV that does not match the checksum in its sidecar.
    """
    import hashlib
    import json

    csv_path, meta_path = cache_paths(cache_dir, spec, key)
    if not meta_path.exists() and not csv_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_bytes().decode("utf-8"))
        if not isinstance(meta, dict) or meta.get("format") != _CACHE_FORMAT or meta.get("key") != key:
            raise _CacheProblem("its sidecar is not for this key")
        data = csv_path.read_bytes()
        if hashlib.sha256(data).hexdigest() != meta.get("csv_sha256"):
            raise _CacheProblem("its CSV does not match the checksum in its sidecar")
        table = _csv_to_table(data, meta["columns"])
        if len(table) != meta.get("rows"):
            raise _CacheProblem(f"it has {len(table)} rows, its sidecar says {meta.get('rows')}")
    except _CacheProblem:
        raise
    except Exception as err:  # anything unreadable: the entry is ignored, never trusted
        raise _CacheProblem(_one_line(err)) from None
    return table


def write_cached_table(cache_dir: str | Path, spec: FigureSpec, key: str, material: dict,
                       table: "pd.DataFrame", seconds: float | None = None) -> Path:
    """Store ``table`` as ``spec``'s cache entry for ``key`` (CSV, then its JSON sidecar).

    The CSV is read back first and must equal the table exactly (values and dtypes), so that
    a figure drawn from the cache is the figure drawn from a fresh computation; otherwise, or
    when the folder cannot be written, :class:`_CacheProblem` says why.
    """
    import hashlib
    import json

    try:
        data, schema = _table_to_csv(table)
        if not _csv_to_table(data, schema).equals(table):
            raise _CacheProblem("its CSV does not read back exactly")
    except _CacheProblem:
        raise
    except Exception as err:
        raise _CacheProblem(f"cannot write it as CSV: {_one_line(err)}") from None
    csv_path, meta_path = cache_paths(cache_dir, spec, key)
    meta = {"format": _CACHE_FORMAT, "key": key, "material": material, "figure": spec.id, "rows": len(table),
            "columns": schema, "csv_sha256": hashlib.sha256(data).hexdigest(),
            "compute_seconds": None if seconds is None else round(seconds, 3)}
    try:
        csv_path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(csv_path, meta_path)  # left by a run killed while writing this entry
        with atomic_write(csv_path, "wb") as f:
            f.write(data)
        with atomic_write(meta_path, "wb") as f:
            f.write(json.dumps(meta, indent=1, sort_keys=True, allow_nan=True).encode("utf-8") + b"\n")
    except (OSError, InterpError) as err:
        raise _CacheProblem(f"cannot write {csv_path.parent}: {_one_line(err)}") from None
    return csv_path


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
        except _CacheProblem as err:
            notes.append(f"cache entry {cache_paths(cache_dir, spec, key)[0].name} ignored ({err}); recomputing")
        else:
            if table is not None:
                return table, "cache", notes
    t0 = time.perf_counter()
    table = compute_table(spec)
    try:
        write_cached_table(cache_dir, spec, key, material, table, time.perf_counter() - t0)
    except _CacheProblem as err:
        notes.append(f"table not cached: {err}")
    return table, "computed", notes


__all__ += ["CACHE_VERSION", "CACHE_INPUTS", "cache_key", "figure_table", "draw_figure", "file_sha256"]


# --------------------------------------------------------------------------- key numbers

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


__all__ += ["SUMMARIES", "key_numbers"]


# --------------------------------------------------------------------------- gallery

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


def gallery_html(specs: list[FigureSpec], out_dir: str | Path, source: str = "manifest.toml") -> str:
    """The gallery page for ``specs`` as rendered in ``out_dir`` (what is on disk now).

    One section per figure: its image (a relative ``src``, so the page opens from the file
    system), title, caption, key numbers from its data table (:func:`key_numbers`) and links
    to its files. A figure whose image is missing gets a placeholder saying how to render it.
    Every piece of text is escaped; the page has no scripts and no external assets.
    """
    import html
    from urllib.parse import quote

    import pandas as pd

    out_dir = Path(out_dir)
    esc = html.escape

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
        if table_path is not None and table_path.is_file():
            try:
                numbers = key_numbers(spec, pd.read_csv(table_path, low_memory=False))
            except Exception as err:  # a gallery is still written when one summary fails
                parts.append(f'<p class="note">Key numbers unavailable: {esc(_one_line(err))}</p>')
            else:
                if numbers:
                    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in numbers.items())
                    parts.append(f'<table class="numbers"><caption hidden>key numbers</caption>{rows}</table>')
        elif tables:
            parts.append(f'<p class="note">No data table yet ({esc(tables[0])} is missing).</p>')
        links = [f'<a href="{href(o)}">{esc(o)}</a>' if (out_dir / o).is_file() else f"{esc(o)} (missing)"
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


def write_gallery(specs: list[FigureSpec], out_dir: str | Path, source: str = "manifest.toml") -> Path:
    """Write :func:`gallery_html` to ``out_dir/index.html`` (atomically); return its path."""
    path = Path(out_dir) / GALLERY
    with atomic_write(path, "wb") as f:
        f.write(gallery_html(specs, out_dir, source).encode("utf-8"))
    return path


__all__ += ["GALLERY", "gallery_html", "write_gallery"]


# --------------------------------------------------------------------------- CLI

_PROGRESS_BARS = False  # set by main: progress bars inside long analyses (only on a terminal)


def _progress_bars() -> bool:
    """Whether long analyses show a progress bar (on stderr) in this run."""
    return _PROGRESS_BARS


def _parser() -> ArgumentParser:
    p = ArgumentParser(
        prog=PROG,
        description="Render the figures named in the manifest (images and their data tables), and a "
                    "gallery page of them (index.html).",
    )
    p.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST,
                   help="figure manifest (default: figures/manifest.toml of this checkout)")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder, created if needed (default: the manifest's folder, or the preset's)")
    p.add_argument("--only", nargs="+", metavar="ID", help="render only these figure ids")
    p.add_argument("--list", action="store_true", help="print the id and title of each figure and exit")
    p.add_argument("--no-cache", action="store_true",
                   help="recompute every table instead of reading the cache (and refresh the cache)")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help=f"folder of cached tables (default: OUT/{CACHE_FOLDER})")
    p.add_argument("--gallery-only", action="store_true",
                   help=f"only rewrite OUT/{GALLERY} from the figures on disk")
    p.add_argument("--preset", metavar="NAME",
                   help="render from tiny models trained from scratch, with smaller parameters: "
                        "figures/presets/NAME.toml (e.g. smoke) or a preset file; into the preset's own folder")
    p.add_argument("--traceback", action="store_true", help="show the full traceback of a failing figure")
    return p


def _one_line(err: BaseException) -> str:
    msg = " ".join(str(err).split())
    if isinstance(err, InterpError):
        return msg
    return f"{type(err).__name__}: {msg}" if msg else type(err).__name__


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    all_specs = load_manifest(args.manifest)
    specs = all_specs
    if args.only:
        by_id = {s.id: s for s in specs}
        unknown = [i for i in args.only if i not in by_id]
        if unknown:
            raise InterpError(
                f"unknown figure id(s) {', '.join(unknown)} in {args.manifest} "
                f"(known: {', '.join(by_id)})"
            )
        specs = [by_id[i] for i in dict.fromkeys(args.only)]
    if args.list:
        for s in specs:
            print(f"{s.id}  {s.title}")
        return 0

    preset = None
    if args.preset is not None:
        from .presets import load_preset

        preset = load_preset(args.preset)
    out_dir = args.out if args.out is not None else (preset.out if preset else args.manifest.parent)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InterpError(f"cannot create output folder {out_dir}: {err.strerror or err}") from None
    # what a run killed while writing (SIGKILL) left beside the files this one is about to write
    remove_stale_temporaries(out_dir / GALLERY, *([] if args.gallery_only else
                                                   [out_dir / o for s in specs for o in s.outputs]))
    with sigterm_as_interrupt():  # SIGTERM, like Ctrl-C, removes the temporary being written
        if args.gallery_only:
            path = write_gallery(all_specs, out_dir, args.manifest.name)
            print(f"gallery written to {path}")
            return 0
        return _render(args, specs, all_specs, preset, out_dir)


def _render(args, specs: list[FigureSpec], all_specs: list[FigureSpec], preset, out_dir: Path) -> int:
    """The figures of ``specs`` and the gallery, written into ``out_dir`` (see :func:`main`)."""
    global _PROGRESS_BARS
    import contextlib

    models = contextlib.nullcontext()
    if preset is not None:
        specs = preset.apply(specs)
        models = preset.prepare(specs, out_dir, log=print, progress=sys.stderr.isatty())
    cache_dir = args.cache_dir if args.cache_dir is not None else out_dir / CACHE_FOLDER

    failed: list[str] = []
    bars, _PROGRESS_BARS = _PROGRESS_BARS, sys.stderr.isatty()
    width = len(str(len(specs)))
    try:
        with models:
            for i, spec in enumerate(specs, 1):
                head = f"[{i:>{width}}/{len(specs)}] {spec.id} ..."
                print(head, end="\n" if _PROGRESS_BARS else " ", flush=True)
                t0 = time.perf_counter()
                notes: list[str] = []
                try:
                    plot_function(spec)  # fail before computing if there is nothing to draw with
                    table, source, notes = figure_table(spec, cache_dir, refresh=args.no_cache)
                    draw_figure(spec, table, out_dir)
                except Exception as err:  # one figure's failure must not stop the others
                    print(f"{head + ' ' if _PROGRESS_BARS else ''}failed ({time.perf_counter() - t0:.1f} s)",
                          flush=True)
                    if args.traceback:
                        import traceback

                        traceback.print_exc()
                    print(f"{PROG}: {spec.id}: {_one_line(err)}", file=sys.stderr, flush=True)
                    failed.append(spec.id)
                else:
                    where = "from cache" if source == "cache" else "computed"
                    print(f"{head + ' ' if _PROGRESS_BARS else ''}done ({time.perf_counter() - t0:.1f} s, {where})",
                          flush=True)
                for note in notes:
                    print(f"{PROG}: note: {spec.id}: {note}", file=sys.stderr, flush=True)
    finally:
        _PROGRESS_BARS = bars
    gallery = write_gallery(all_specs, out_dir, args.manifest.name)
    if failed:
        print(f"{PROG}: error: {len(failed)} of {len(specs)} figure(s) failed: {', '.join(failed)}",
              file=sys.stderr)
        return 1
    print(f"{len(specs)} figure(s) written to {out_dir}; gallery: {gallery}")
    return 0


# The natural-video analyses (Figs. 6, 7, 8, 12) live in their own module and register here.
from . import figures_video  # noqa: E402,F401


if __name__ == "__main__":
    # Run the imported module's main, not this __main__ copy's: modules that register analyses
    # or summaries (importing interp.figures) then fill the registries that main reads.
    from interp import figures as _figures

    sys.exit(run(_figures.main, PROG))
