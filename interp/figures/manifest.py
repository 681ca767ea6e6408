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
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from interp._util.errors import InterpError, short_repr
from interp._util.io import read_toml, toml_line
from interp._util.resources import ROOT, shipped

if TYPE_CHECKING:  # pragma: no cover - typing only
    pass


DEFAULT_MANIFEST = shipped("figures") / "manifest.toml"


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
        label = f" ({short_repr(fid)})" if isinstance(fid, str) else ""

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
                                  f"got {short_repr(entry[key])}")
        fid = entry["id"]
        if not fid or not fid.replace("_", "").replace("-", "").isalnum() or not fid.isascii():
            raise InterpError(f"{where('id')}: id must be ASCII letters, digits, '-' or '_', got {short_repr(fid)}")
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


def _check_output_name(name, where: str) -> None:
    if not isinstance(name, str) or not name or "\x00" in name or Path(name).name != name \
            or name.startswith(".") or "/" in name or "\\" in name:
        raise InterpError(f"{where}: output {short_repr(name)} must be a plain file name (no folders)")
    suffix = Path(name).suffix.lower()
    if suffix not in IMAGE_FORMATS and suffix not in TABLE_FORMATS:
        known = ", ".join([*IMAGE_FORMATS, *sorted(TABLE_FORMATS)])
        raise InterpError(f"{where}: output {short_repr(name)} has an unknown format (use {known})")


#: Environment variable that, when set, replaces the repository's ``models/`` folder as the
#: place where model cards and their checkpoints are looked up (tests point it at a
#: temporary folder holding a tiny checkpoint).
MODELS_DIR_ENV = "INTERP_MODELS_DIR"


def models_dir() -> Path:
    """The folder of model cards and checkpoints: ``$INTERP_MODELS_DIR`` if set, else the
    repository's ``models/`` (beside ``figures/``)."""
    import os

    override = os.environ.get(MODELS_DIR_ENV)
    return Path(override) if override else shipped("models")


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
            return str(p.resolve().relative_to(ROOT))
        except ValueError:
            return str(p)

    if not card.is_file():
        raise InterpError(f"model card {shown(card)} not found (model {name!r}; "
                          f"set {MODELS_DIR_ENV} to look in another folder)")
    if not ckpt.is_file():
        raise InterpError(f"checkpoint {shown(ckpt)} not found: train model {name!r} with "
                          f"`python -m interp.train {shown(card)}`")
    return card, ckpt



def first_model(models, analysis: str) -> str:
    if not models:
        raise InterpError(f"analysis {analysis!r} needs a trained model: list one in the figure's 'models'")
    return models[0]
