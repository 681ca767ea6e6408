"""Render the paper's figures from the manifest (``figures/manifest.toml``).

Each ``[[figure]]`` entry of the manifest is data only: an ``id``, a ``title`` and ``caption``,
the name of an ``analysis`` with its ``params`` (and the ``models`` it reads), and the
``outputs`` to write. Rendering a figure is three steps, each one module's job:

1. the analysis (a function registered in :data:`ANALYSES`) computes a tidy table from the
   entry's params;
2. the figure's plotting function (:data:`PLOTS`, by figure id, or the entry's optional
   ``plot``: a function name in :mod:`interp.plotting`) draws that table and nothing else;
3. the figure is saved as each listed ``.png`` / ``.pdf`` / ``.svg``, and the table as each
   listed ``.csv``, so the figure can be redrawn from the CSV without recomputation.

CLI::

    python -m interp.figures                  # every figure, into the manifest's folder
    python -m interp.figures --only fig02     # some figures
    python -m interp.figures --list           # id and title of each figure
    python -m interp.figures --out DIR --manifest PATH

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
from .io import atomic_write

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

    The checks are structural (keys, types, unique ids and output names); whether an
    analysis exists or accepts its params is checked when the figure is rendered, so that
    one bad figure does not stop the others.
    """
    import tomllib

    from .io import toml_line

    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
        doc = tomllib.loads(text)
    except FileNotFoundError:
        raise InterpError(f"manifest {path} not found") from None
    except IsADirectoryError:
        raise InterpError(f"manifest {path} is a directory") from None
    except tomllib.TOMLDecodeError as err:
        raise InterpError(f"{path}: invalid TOML: {err}") from None
    except UnicodeDecodeError as err:
        raise InterpError(f"{path}: not UTF-8 text ({err.reason})") from None
    except OSError as err:
        raise InterpError(f"cannot read manifest {path}: {err.strerror or err}") from None

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


def _first_model(models, analysis: str) -> str:
    if not models:
        raise InterpError(f"analysis {analysis!r} needs a trained model: list one in the figure's 'models'")
    return models[0]


def _leaves_denoiser(name: str, what: str):
    """``(card, card_path, net)`` for a model-card name that must be a conditional moving-leaves
    denoiser (tau >= 1, not prediction-only); one-line errors otherwise."""
    from . import checkpoint
    from .train import read_card

    card_path, ckpt_path = model_files(name)
    card = read_card(card_path)
    if card.data.get("source") != "leaves":
        raise InterpError(f"{card_path}: {what} needs a moving-leaves model "
                          f"([data] source = \"leaves\"), got {card.data.get('source')!r}")
    net = checkpoint.load(ckpt_path)
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


__all__ += ["MODELS_DIR_ENV", "models_dir", "model_files", "recursive_generation"]


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
        return f"{cls['choice'][i]} in front" if cls["valid"][i] else f"invalid: {cls['reason'][i]}"

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
          ``pse_high``, ``invalid_rate``, ``onestep_blend``, and with a ``truth`` rule
          ``calibration_error`` with ``calibration_low`` / ``calibration_high``.
    """
    import numpy as np
    import pandas as pd

    from .psychometrics import (DEFAULT_DIFFERENCES, _fit_or_nan, calibration, choice_frequencies, probe_grid,
                                run_sweep, truth_probability)
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
    sweep = run_sweep(net, probes, n, seed, scenes=scenes, max_iter=max_iter)
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


def compute_table(spec: FigureSpec) -> "pd.DataFrame":
    """Run ``spec``'s analysis on its params (and models); return the tidy table."""
    import pandas as pd

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
    table = fn(**kwargs)
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"analysis {spec.analysis!r} returned {type(table).__name__}, not a DataFrame")
    return table


def render_figure(spec: FigureSpec, out_dir: str | Path) -> list[Path]:
    """Compute, plot and write every output of one figure; return the paths written.

    Each file is written atomically, so an interrupted run leaves no partial file.
    """
    out_dir = Path(out_dir)
    plot = plot_function(spec)  # fail before computing if there is nothing to draw with
    table = compute_table(spec)
    figure = plot(table)
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


# --------------------------------------------------------------------------- CLI


def _parser() -> ArgumentParser:
    p = ArgumentParser(
        prog=PROG,
        description="Render the figures named in the manifest (images and their data tables).",
    )
    p.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST,
                   help="figure manifest (default: figures/manifest.toml of this checkout)")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder, created if needed (default: the manifest's folder)")
    p.add_argument("--only", nargs="+", metavar="ID", help="render only these figure ids")
    p.add_argument("--list", action="store_true", help="print the id and title of each figure and exit")
    p.add_argument("--traceback", action="store_true", help="show the full traceback of a failing figure")
    return p


def _one_line(err: BaseException) -> str:
    msg = " ".join(str(err).split())
    if isinstance(err, InterpError):
        return msg
    return f"{type(err).__name__}: {msg}" if msg else type(err).__name__


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    specs = load_manifest(args.manifest)
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

    out_dir = args.out if args.out is not None else args.manifest.parent
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InterpError(f"cannot create output folder {out_dir}: {err.strerror or err}") from None

    failed: list[str] = []
    for spec in specs:
        print(f"{spec.id} ...", end=" ", flush=True)
        t0 = time.perf_counter()
        try:
            render_figure(spec, out_dir)
        except Exception as err:  # one figure's failure must not stop the others
            print(f"failed ({time.perf_counter() - t0:.1f} s)", flush=True)
            if args.traceback:
                import traceback

                traceback.print_exc()
            print(f"{PROG}: {spec.id}: {_one_line(err)}", file=sys.stderr, flush=True)
            failed.append(spec.id)
        else:
            print(f"done ({time.perf_counter() - t0:.1f} s)", flush=True)
    if failed:
        print(f"{PROG}: error: {len(failed)} of {len(specs)} figure(s) failed: {', '.join(failed)}",
              file=sys.stderr)
        return 1
    print(f"{len(specs)} figure(s) written to {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(run(main, PROG))
