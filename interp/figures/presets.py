"""Figure presets: every figure of the manifest from tiny models trained from scratch.

``python -m interp.figures --preset smoke`` (``make figures PRESET=smoke``) reads
``figures/presets/smoke.toml``, a file of this form::

    [preset]
    description = "..."
    out = "runs/smoke/figures"   # output folder, relative to the repository (--out wins)
    models = "../models"         # where the tiny cards and checkpoints go, relative to the output folder

    [card.model]                 # every model card the figures name becomes a tiny card:
    width = 8                    #   the original card's tau, norm and predict_only, these values,
    [card.data]                  #   and moving-leaves data with these values (the card's variant)
    n = 1000
    seed = 0
    [card.train]                 #   trained with these [train] values (see interp.train)
    recipe = "smoke"
    samples = 4096

    [cards."davis32-tau2".data]  # per-card overrides: [cards.NAME.model], .data, .train
    source = "npz"               #   (an npz path is relative to the preset file)
    path = "../../data/small.npz"

    [params]                     # every figure whose analysis takes one of these gets it
    n_boot = 50

    [figure.fig04.params]        # one figure's params
    differences = [-3.0, 0.0, 3.0]

A card is looked up in the models folder (:func:`interp.figures.models_dir`) to learn its
``tau``, ``norm``, ``predict_only``, data source and variant. Natural-video cards (``[data]
source = "npz"``) get a moving-leaves stand-in of the same tau and kind unless a
``[cards.NAME.data]`` override names a (small) dataset: a stand-in checks that the pipeline
runs, not what the figure shows. The tiny cards are written to the preset's models folder and
trained in-process with :func:`interp.train.train`; a card whose checkpoint is already trained
for the same ``[model]``, ``[data]`` and ``[train]`` is not trained again. Rendering then looks
models up there (``$INTERP_MODELS_DIR``). The models folder may not be the repository's
``models/`` nor the folder the original cards are read from, and a card there that no preset
wrote (its first line does not start with ``# Tiny card of``) is refused, never replaced.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import json
import math
import os
import time
from pathlib import Path
from typing import Callable

from interp._util.errors import InterpError, short_repr
from interp._util.io import atomic_write, read_toml, toml_line
from interp._util.resources import ROOT, shipped
from interp.figures.manifest import DEFAULT_MANIFEST, MODELS_DIR_ENV, FigureSpec, models_dir
from interp.figures.registry import ANALYSES
from interp.training.cards import read_card
from interp.training.loop import train

__all__ = ["PRESETS_DIR", "Preset", "load_preset", "tiny_card", "card_text"]

#: Folder of the named presets (``--preset NAME`` reads ``NAME.toml`` here).
PRESETS_DIR = DEFAULT_MANIFEST.parent / "presets"
REPO = ROOT
#: The repository's trained models: a preset never writes there.
SHIPPED_MODELS = shipped("models")
#: The first words of every tiny card; a preset replaces no card that lacks them.
TINY_CARD = "Tiny card of"
_TOP = {"preset", "card", "cards", "params", "figure"}
_PRESET_KEYS = {"description": str, "out": str, "models": str}
_CARD_TABLES = ("model", "data", "train")


@dataclasses.dataclass(frozen=True)
class Preset:
    """A parsed preset file (see the module docstring)."""

    name: str
    path: Path
    description: str
    out: Path  # default output folder
    models: str  # tiny cards' folder, relative to the output folder
    card: dict  # {"model": {...}, "data": {...}, "train": {...}}: values for every tiny card
    cards: dict  # card name -> {"model"|"data"|"train": {...}}: per-card overrides
    params: dict  # param -> value, for every figure whose analysis takes it
    figures: dict  # figure id -> {param: value}

    def figure_params(self, spec: FigureSpec) -> dict:
        """``spec``'s params with the preset's values."""
        fn = ANALYSES.get(spec.analysis)
        accepts = inspect.signature(fn).parameters if fn is not None else {}
        params = dict(spec.params)
        params.update({k: v for k, v in self.params.items() if k in accepts})
        params.update(self.figures.get(spec.id, {}))
        return params

    def apply(self, specs: list[FigureSpec]) -> list[FigureSpec]:
        """The figures with the preset's params."""
        return [dataclasses.replace(s, params=self.figure_params(s)) for s in specs]

    def models_folder(self, out_dir: str | Path) -> Path:
        return Path(os.path.normpath(Path(out_dir) / self.models))

    def prepare(self, specs: list[FigureSpec], out_dir: str | Path, log: Callable = print,
                progress: bool = False):
        """Write and train the tiny card of every model ``specs`` name; return a context
        manager under which :func:`interp.figures.models_dir` is the tiny models' folder."""
        source = models_dir()
        folder = self.models_folder(out_dir)
        for kept in (SHIPPED_MODELS, source):  # never write tiny cards over the real ones
            if folder.resolve() == Path(kept).resolve():
                what = "the repository's shipped models" if kept is SHIPPED_MODELS else "the models the figures read"
                raise InterpError(f"the {self.name!r} preset would write its tiny cards into {folder}, {what}; "
                                  f"give another --out (its models go to OUT/{self.models})")
        names = list(dict.fromkeys(m for s in specs for m in s.models))
        cards = {name: tiny_card(self, name, source) for name in names}
        for name, (doc, _) in cards.items():  # refuse before anything is written
            _needs_writing(folder / f"{name}.toml", doc)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise InterpError(f"cannot create the preset's models folder {folder}: {err.strerror or err}") from None
        for name, (doc, notes) in cards.items():
            card_path = write_card(folder / f"{name}.toml", doc, [f"{TINY_CARD} {name!r}, written by the "
                                                                   f"{self.name!r} preset ({self.path.name})."]
                                   + notes)
            t0 = time.perf_counter()
            log(f"model {name}: tiny card {card_path} (width {doc['model']['width']}, "
                f"{doc['train'].get('samples', '?')} samples)" + (f"; {notes[0]}" if notes else ""), flush=True)
            ckpt = card_path.with_suffix(".safetensors")
            train(card_path, resume=ckpt.exists(), progress=progress, log=lambda *a, **k: None)
            log(f"model {name}: trained ({time.perf_counter() - t0:.1f} s)", flush=True)
        return _models_dir(folder)


@contextlib.contextmanager
def _models_dir(folder: Path):
    old = os.environ.get(MODELS_DIR_ENV)
    os.environ[MODELS_DIR_ENV] = str(folder)
    try:
        yield folder
    finally:
        if old is None:
            os.environ.pop(MODELS_DIR_ENV, None)
        else:
            os.environ[MODELS_DIR_ENV] = old


def load_preset(name: str | Path) -> Preset:
    """Read a preset: a name in ``figures/presets/`` or the path of a ``.toml`` file.

    A problem is a one-line :class:`InterpError` naming the file (and the line, where found).
    """
    text_name = str(name)
    if text_name.endswith(".toml") or os.sep in text_name or "/" in text_name:
        path = Path(text_name)
    else:
        if not text_name or not text_name.replace("-", "").replace("_", "").isalnum():
            raise InterpError(f"preset must be a name in {PRESETS_DIR} or a .toml file, got {short_repr(text_name)}")
        path = PRESETS_DIR / f"{text_name}.toml"
    known = sorted(p.stem for p in PRESETS_DIR.glob("*.toml")) if PRESETS_DIR.is_dir() else []
    text, doc = read_toml(path, "preset",
                          missing=f"preset {path} not found (known presets: {', '.join(known) or 'none'})")

    def bad(table: str | None, key: str | None, message: str) -> InterpError:
        line = (toml_line(text, table, key) if key else None) or (toml_line(text, table) if table else None) \
            or (toml_line(text, key) if key and table is None else None)
        return InterpError(f"{path}{f', line {line}' if line else ''}: {message}")

    unknown = sorted(set(doc) - _TOP)
    if unknown:
        raise bad(None, unknown[0], f"unknown top-level key(s) {', '.join(map(repr, unknown))} "
                                    f"(a preset has tables {', '.join(sorted(_TOP))})")
    for key in _TOP:
        if key in doc and not isinstance(doc[key], dict):
            raise bad(None, key, f"{key!r} must be a table ([{key}])")
    head = doc.get("preset", {})
    for key, value in head.items():
        if key not in _PRESET_KEYS:
            raise bad("preset", key, f"unknown key {key!r} in [preset] (allowed: {', '.join(_PRESET_KEYS)})")
        if not isinstance(value, _PRESET_KEYS[key]) or not value:
            raise bad("preset", key, f"[preset] {key} must be a non-empty string, got {short_repr(value)}")
    card = doc.get("card", {})
    for key, value in card.items():
        if key not in _CARD_TABLES or not isinstance(value, dict):
            raise bad("card", key, f"[card] holds the tables {', '.join(_CARD_TABLES)}, got {key!r}")
    cards = doc.get("cards", {})
    for cname, tables in cards.items():
        if not isinstance(tables, dict) or not all(k in _CARD_TABLES and isinstance(v, dict)
                                                   for k, v in tables.items()):
            raise bad(f"cards.{cname}", None, f"[cards.{cname}] holds the tables {', '.join(_CARD_TABLES)}")
        data = tables.get("data")
        if data and isinstance(data.get("path"), str) and not Path(data["path"]).is_absolute():
            tables = dict(tables, data=dict(data, path=str((path.parent / data["path"]).resolve())))
            cards = dict(cards, **{cname: tables})
    figures = {}
    for fid, entry in doc.get("figure", {}).items():
        if not isinstance(entry, dict) or set(entry) - {"params"} or not isinstance(entry.get("params", {}), dict):
            raise bad(f"figure.{fid}", None, f"[figure.{fid}] may hold only a params table")
        figures[fid] = dict(entry.get("params", {}))
    out = Path(head.get("out", f"runs/{path.stem}/figures"))
    return Preset(name=path.stem, path=path, description=head.get("description", ""),
                  out=out if out.is_absolute() else REPO / out, models=head.get("models", "../models"),
                  card={k: dict(card.get(k, {})) for k in _CARD_TABLES}, cards=cards,
                  params=dict(doc.get("params", {})), figures=figures)


def tiny_card(preset: Preset, name: str, source: str | Path) -> tuple[dict, list[str]]:
    """``(card, notes)``: the tiny card that stands for model ``name`` (its card in ``source``).

    The card keeps the original's ``tau``, ``norm`` and ``predict_only``; data and training
    come from the preset. ``notes`` says when the data is a moving-leaves stand-in for another
    source.
    """
    override = preset.cards.get(name, {})
    original = Path(source) / f"{name}.toml"
    if original.is_file():
        card = read_card(original)
        model = {k: card.model[k] for k in ("tau", "norm", "predict_only")}
        kind, variant = card.data["source"], card.data.get("variant", "default")
    elif "tau" in override.get("model", {}):
        model, kind, variant = {}, "leaves", "default"
    else:
        raise InterpError(f"{preset.path}: model card {original} not found; the preset needs it (for tau), "
                          f"or a [cards.{name}.model] table with tau")
    model.update(preset.card["model"])
    model.update(override.get("model", {}))
    notes = []
    if "data" in override:
        data = dict(override["data"])
    else:
        data = {"source": "leaves", "variant": variant if kind == "leaves" else "default", **preset.card["data"]}
        if kind != "leaves":
            notes.append(f"stand-in: {name} trains on {kind} data; this tiny card trains on moving leaves "
                         f"(give [cards.{name}.data] to use a small dataset)")
    train = {**preset.card["train"], **override.get("train", {})}
    return {"model": model, "data": data, "train": train}, notes


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return ("nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")) if not math.isfinite(value) \
            else repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise InterpError(f"a card value must be a string, number, boolean or list, got {short_repr(value)}")


def _toml_key(key: str) -> str:
    import re

    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def card_text(doc: dict, comments: list[str] = ()) -> str:
    """TOML text of a card ``{"model": {...}, "data": {...}, "train": {...}}``."""
    lines = [f"# {' '.join(c.split())}" for c in comments]
    for table in _CARD_TABLES:
        lines += ["", f"[{table}]"] + [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in doc.get(table, {}).items()]
    return "\n".join(lines).lstrip("\n") + "\n"


def _needs_writing(path: Path, doc: dict) -> bool:
    """Whether ``path`` must be (re)written to hold the tiny card ``doc``: False when it holds
    the same tables, True when it is absent or holds another tiny card (its first line starts
    with :data:`TINY_CARD`). A card that no preset wrote (a shipped or a user's card, perhaps
    with a trained checkpoint) is a one-line error: it is never replaced."""
    import tomllib

    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return True
    except OSError as err:
        raise InterpError(f"cannot read {path}: {err.strerror or err}") from None
    with contextlib.suppress(tomllib.TOMLDecodeError):
        old = tomllib.loads(text)
        if all(old.get(t, {}) == doc.get(t, {}) for t in _CARD_TABLES):
            return False
    if not text.startswith(f"# {TINY_CARD} "):
        trained = " (and a trained checkpoint beside it)" if path.with_suffix(".safetensors").exists() else ""
        raise InterpError(f"{path} holds a card that no preset wrote{trained}, unlike the tiny card the preset "
                          "would write there; it is not replaced: give another --out, or move it away")
    return True


def write_card(path: Path, doc: dict, comments: list[str] = ()) -> Path:
    """Write a tiny card unless ``path`` already holds the same tables; a changed tiny card loses
    its old checkpoint and log (they belong to another network). A card that no preset wrote is
    refused, never replaced (:func:`_needs_writing`). The card is checked by
    :func:`interp.train.read_card` (one-line error naming it)."""
    if _needs_writing(path, doc):
        for stale in (path.with_suffix(".safetensors"), path.with_suffix(".log.csv")):
            stale.unlink(missing_ok=True)
        with atomic_write(path, "w") as f:
            f.write(card_text(doc, comments))
    read_card(path)
    return path
