"""Model cards (``models/NAME.toml``): what to train (data, network, recipe), read and checked into a :class:`Card`;
the recipes; the results section written back after training."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

from interp._util.errors import MAX_THREADS, SEED_LIMIT, InterpError, short_repr
from interp._util.io import (
    atomic_write,
    read_toml,
    toml_line,
)
from interp.data.leaves import VARIANTS
from interp.data.sources import check_sources
from interp.nets.unet import NORMS
from interp.training.loss import WEIGHTINGS, Weighting

# Defaults per recipe; a card's [train] table overrides any of them.
# The loss weighting and the weight average of `paper` and `cpu` are the ones the side-by-side
# runs of benchmarks/ chose (results tables in benchmarks/results; docs/experiments.md).
# benchmarks/recipe.py (64k samples per arm): no fixed weighting kept both ends of the noise
# range; of them EDM's 1/sigma^2 + 1/0.1^2 came closest. benchmarks/weighting.py then put it
# against the cap and the adaptive weighting (each noise band's squared error over its own
# running mean, docs/training.md) at equal compute: on the translating video, whose exact
# MMSE is known, the geometric mean of MSE over MMSE across sigma^2 1e-4..1e2 was 5.08 (EDM),
# 3.68 (cap) and 2.84 (adaptive); on the natural clip set (64k samples, width 32) adaptive had
# the highest output PSNR at every input from -10 to 50 dB (19.7/21.5/23.1/26.3/29.9/31.5/31.9
# against EDM's 15.9/16.6/15.7/22.2/28.2/30.4/30.9), and the long EDM runs stalled in the middle
# of the range. The average (half-life 5% of the samples seen, at most 500k) costs nothing and
# changed no number at 64k samples by more than 0.05 dB.
_RECIPE_LOSS = dict(weighting="adaptive", ema_halflife=500_000, ema_rampup=0.05)


RECIPES: dict[str, dict] = {
    # The paper: 1000 epochs over the training split, Adam lr 1e-3. For a GPU.
    "paper": dict(epochs=1000, batch_size=128, lr=1e-3, precision="auto", channels_last=False,
                  compile=False, eval_every=0.01, checkpoint_seconds=600, eval_windows=1024, **_RECIPE_LOSS),
    # What the 2-core CPU affords: a fixed number of samples, the fastest step that keeps the
    # low-noise quality (see benchmarks/), same schedule shape.
    "cpu": dict(samples=4_000_000, batch_size=128, lr=1e-3, precision="auto", channels_last=True,
                compile=False, eval_every=0.02, checkpoint_seconds=300, eval_windows=512, **_RECIPE_LOSS),
    # Tiny runs for tests and `make figures PRESET=smoke`: the paper's loss, no averaging.
    "smoke": dict(samples=4096, batch_size=32, lr=1e-3, precision="fp32", channels_last=False,
                  compile=False, eval_every=0.25, checkpoint_seconds=60, eval_windows=64),
}


_TRAIN_KEYS = {"recipe", "seed", "samples", "epochs", "batch_size", "lr", "precision", "channels_last",
               "compile", "eval_every", "checkpoint_seconds", "eval_windows", "threads", "init", "focus",
               "focus_depth", "weighting", "weight_cap", "sigma_data", "ema_halflife", "ema_rampup", "flips",
               "negate", "hflip", "reverse"}


@dataclasses.dataclass
class Card:
    """A parsed model card."""

    path: Path
    name: str
    model: dict
    data: dict
    train: dict  # recipe defaults merged with the card's values

    @property
    def checkpoint_path(self) -> Path:
        return self.path.with_suffix(".safetensors")

    @property
    def log_path(self) -> Path:
        return self.path.with_suffix(".log.csv")


_CARD_TABLES = ("model", "data", "train", "results")


_MODEL_KEYS = {"tau", "width", "norm", "predict_only", "skip", "name"}


_DATA_KEYS = {"leaves": {"source", "n", "seed", "variant"}, "npz": {"source", "path"},
              "sources": {"source", "sources", "path", "seed"}}


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# [train] key -> (check, what it must be); recipe, init, weight_cap and focus are checked apart
_TRAIN_CHECKS = {
    "seed": (lambda v: _is_int(v) and 0 <= v < SEED_LIMIT, "a non-negative integer below 2**63"),
    "samples": (lambda v: _is_int(v) and 1 <= v <= 10**13, "a positive integer up to 10**13"),
    "epochs": (lambda v: _is_int(v) and 1 <= v <= 10**7, "a positive integer up to 10**7"),
    "batch_size": (lambda v: _is_int(v) and 1 <= v <= 2**20, "a positive integer up to 2**20"),
    "lr": (lambda v: _is_number(v) and 0 <= v <= 10, "a number in [0, 10]"),
    "precision": (lambda v: v in ("auto", "fp32", "bf16"), "'auto', 'fp32' or 'bf16'"),
    "channels_last": (lambda v: isinstance(v, bool), "true or false"),
    "compile": (lambda v: isinstance(v, bool), "true or false"),
    "eval_every": (lambda v: _is_number(v) and 0 < v <= 1, "a fraction of the run in (0, 1]"),
    "checkpoint_seconds": (lambda v: _is_number(v) and 0 <= v <= 1e9, "a number of seconds in [0, 1e9]"),
    "eval_windows": (lambda v: _is_int(v) and 1 <= v <= 10**7, "a positive integer up to 10**7"),
    "threads": (lambda v: _is_int(v) and 0 <= v <= MAX_THREADS,
                f"an integer in 0..{MAX_THREADS} (0: torch's default)"),
    "flips": (lambda v: isinstance(v, bool), "true or false"),
    "negate": (lambda v: isinstance(v, bool), "true or false"),
    "hflip": (lambda v: isinstance(v, bool), "true or false"),
    "reverse": (lambda v: isinstance(v, bool), "true or false"),
    "weighting": (lambda v: v in WEIGHTINGS, f"one of {', '.join(map(repr, WEIGHTINGS))}"),
    "sigma_data": (lambda v: _is_number(v) and 0 < v <= 10, "a number in (0, 10]"),
    "ema_halflife": (lambda v: _is_number(v) and 0 <= v <= 1e12, "a number of samples >= 0 (0: no average)"),
    "ema_rampup": (lambda v: _is_number(v) and 0 <= v <= 1e3, "a non-negative number (0: no ramp-up)"),
}


def read_card(path) -> Card:
    """Parse and check a model card; one-line :class:`InterpError` naming the file on problems.

    The message names the file and, where the card's text shows it, the line (the TOML
    parser's own position for syntax errors; the line of the offending key or table for
    values and structure).
    """
    path = Path(path)
    text, raw = read_toml(path, "model card", missing=f"model card {path} does not exist")

    def bad(table: str | None, key: str | None, message: str) -> InterpError:
        """The error, with the line of ``key`` in ``table`` (else of the table's header)."""
        line = toml_line(text, table, key) if key is not None else None
        header = table if table is not None else key
        if line is None and header is not None:
            line = toml_line(text, header)
        return InterpError(f"{path}{f', line {line}' if line else ''}: {message}")

    unknown = sorted(set(raw) - set(_CARD_TABLES))
    if unknown:
        raise bad(None, unknown[0], f"unknown top-level key(s) {', '.join(map(short_repr, unknown))} "
                                    f"(a card has tables {', '.join(_CARD_TABLES)})")
    for section in ("model", "data", "train", "results"):
        if section in raw and not isinstance(raw[section], dict):
            raise bad(None, section, f"{section} must be a table ([{section}]), got {type(raw[section]).__name__}")
    for section in ("model", "data"):
        if section not in raw:
            raise InterpError(f"{path}: missing [{section}] table")
    model = dict(raw["model"])
    unknown = sorted(set(model) - _MODEL_KEYS)
    if unknown:
        raise bad("model", unknown[0], f"unknown key(s) in [model]: {', '.join(map(short_repr, unknown))}")
    tau, width = model.get("tau"), model.get("width", 64)
    if not _is_int(tau) or not 0 <= tau <= 10:
        raise bad("model", "tau", f"[model] tau must be an integer in 0..10, got {short_repr(tau)}")
    if not _is_int(width) or not 1 <= width <= 512:
        raise bad("model", "width", f"[model] width must be an integer in 1..512, got {short_repr(width)}")
    norm = model.get("norm", "none")
    if not isinstance(norm, str) or norm not in NORMS:
        raise bad("model", "norm", f"[model] norm must be one of {', '.join(NORMS)}, got {short_repr(norm)}")
    predict_only = model.get("predict_only", False)
    if not isinstance(predict_only, bool) or (predict_only and tau < 1):
        raise bad("model", "predict_only", "[model] predict_only must be a boolean (and needs tau >= 1)")
    skip = model.get("skip", False)
    if not isinstance(skip, bool) or (skip and predict_only):
        raise bad("model", "skip", "[model] skip must be a boolean (and cannot go with predict_only)")
    if "name" in model and not isinstance(model["name"], str):
        raise bad("model", "name", f"[model] name must be a string, got {short_repr(model['name'])}")
    model = {"tau": tau, "width": width, "norm": norm, "predict_only": predict_only, "skip": skip}

    data = dict(raw["data"])
    source = data.get("source")
    if not isinstance(source, str) or source not in _DATA_KEYS:
        raise bad("data", "source", f"[data] source must be 'leaves', 'npz' or 'sources', got {short_repr(source)}")
    unknown = sorted(set(data) - _DATA_KEYS[source])
    if unknown:
        raise bad("data", unknown[0], f"unknown key(s) in [data] for source {source!r}: "
                                      f"{', '.join(map(short_repr, unknown))} "
                                      f"(allowed: {', '.join(sorted(_DATA_KEYS[source]))})")
    if source == "leaves":
        n = data.get("n", 100_000)
        if not _is_int(n) or n < 10:
            raise bad("data", "n", f"[data] n must be an integer >= 10, got {short_repr(n)}")
        seed = data.get("seed", 0)
        if not _is_int(seed) or not 0 <= seed < 2**63:
            raise bad("data", "seed", f"[data] seed must be a non-negative integer, got {short_repr(seed)}")
        variant = data.get("variant", "default")
        if not isinstance(variant, str) or variant not in VARIANTS:
            raise bad("data", "variant",
                      f"[data] variant must be one of {', '.join(VARIANTS)}, got {short_repr(variant)}")
    elif not isinstance(data.get("path"), str) or not data["path"]:
        what = "the clip set's cache file" if source == "sources" else "the dataset file"
        raise bad("data", "path" if "path" in data else None,
                  f"[data] source {source!r} needs path = \"FILE.npz\" ({what}, relative to the card)")
    if source == "sources":
        seed = data.get("seed", 0)
        if not _is_int(seed) or not 0 <= seed < 2**63:
            raise bad("data", "seed", f"[data] seed must be a non-negative integer, got {short_repr(seed)}")
        try:
            check_sources(data.get("sources"), "[data] sources")
        except InterpError as err:
            raise bad("data", "sources", str(err)) from None

    tr = dict(raw.get("train", {}))
    unknown = sorted(set(tr) - _TRAIN_KEYS)
    if unknown:
        raise bad("train", unknown[0], f"unknown key(s) in [train]: {', '.join(map(short_repr, unknown))}")
    recipe = tr.get("recipe", "cpu")
    if not isinstance(recipe, str) or recipe not in RECIPES:
        raise bad("train", "recipe", f"[train] recipe must be one of {', '.join(RECIPES)}, got {short_repr(recipe)}")
    for key, (ok, what) in _TRAIN_CHECKS.items():
        if key in tr and not ok(tr[key]):
            raise bad("train", key, f"[train] {key} must be {what}, got {short_repr(tr[key])}")
    merged = dict(RECIPES[recipe], recipe=recipe, seed=0)
    merged.update(tr)
    init = merged.get("init")
    if init is not None and (not isinstance(init, str) or not init.endswith(".safetensors")):
        raise bad("train", "init", f"[train] init must be the path of a checkpoint (\"NAME.safetensors\", "
                                   f"relative to the card), got {short_repr(init)}")
    cap = merged.get("weight_cap")
    if cap is not None and (not _is_number(cap) or not cap > 0):
        raise bad("train", "weight_cap", f"[train] weight_cap must be a positive number, got {short_repr(cap)}")
    # The weighting: the card's own keys win over the recipe's; weight_cap alone means "cap".
    if "weighting" not in tr and ("weight_cap" in tr or "sigma_data" in tr):
        merged["weighting"] = "cap" if "weight_cap" in tr else "edm"
    weighting = merged.get("weighting", "paper")
    for key, owner in (("weight_cap", "cap"), ("sigma_data", "edm")):
        if weighting != owner:
            if key in tr:
                raise bad("train", key, f"[train] {key} goes with weighting = \"{owner}\", not \"{weighting}\"")
            merged.pop(key, None)
    if weighting == "cap" and merged.get("weight_cap") is None:
        raise bad("train", "weighting", "[train] weighting = \"cap\" needs weight_cap = NUMBER")
    if weighting == "edm":
        merged.setdefault("sigma_data", 0.5)
    focus = merged.get("focus", 0.0)
    if not _is_number(focus) or not 0.0 <= focus < 1.0:
        raise bad("train", "focus", f"[train] focus must be a number in [0, 1), got {short_repr(focus)}")
    if focus and source != "leaves":
        raise bad("train", "focus", "[train] focus needs moving-leaves data ([data] source = \"leaves\")")
    depth = merged.get("focus_depth", 0.0)
    if not _is_number(depth) or not depth >= 0.0:
        raise bad("train", "focus_depth", f"[train] focus_depth must be a non-negative number of pixels, "
                                          f"got {short_repr(depth)}")
    if depth and not focus:
        raise bad("train", "focus_depth", "[train] focus_depth selects among the focus windows: set focus too")
    if merged.get("negate") and source == "leaves" and data.get("variant", "default") == "brightness":
        raise bad("train", "negate", "[train] negate would reverse the 'brightness' variant's rule "
                                     "(the brighter disk in front): leave it out for those data")
    if "samples" in tr and "epochs" in tr:
        raise bad("train", "epochs", "[train] give samples or epochs, not both")
    if "samples" in tr:
        merged.pop("epochs", None)
    if "epochs" in tr:
        merged.pop("samples", None)
    return Card(path=path, name=path.stem, model=model, data=data, train=merged)


# [train] keys that do not change what is learned (bookkeeping, speed): not a new stage
_BOOKKEEPING_KEYS = {"threads", "checkpoint_seconds", "eval_every", "eval_windows"}


def normalized_recipe(recipe: dict) -> dict:
    """A [train] table with the keys added since older checkpoints filled in as those ran.

    Checkpoints from before weightings and weight averages were named record ``weight_cap``
    alone (or nothing: the paper's weight) and no ``ema_halflife`` (no average); this spells
    those out, and drops keys that do nothing (``ema_rampup`` without an average, the
    parameters of weightings not in use), so a card compares equal to the run it describes.
    """
    r = dict(recipe)
    r["weighting"] = Weighting.from_recipe(r).name
    if r["weighting"] != "cap":
        r.pop("weight_cap", None)
    if r["weighting"] != "edm":
        r.pop("sigma_data", None)
    if not r.get("ema_halflife"):
        r["ema_halflife"] = 0
        r.pop("ema_rampup", None)
    return r


RESULTS_MARKER = "# ---- results: written by `python -m interp.train`; do not edit below ----"


def _without_results(text: str) -> str:
    """The card's text less its results: everything from the marker on, and any ``[results]``
    table written by hand (from its header to the next table or the end), so a rewrite replaces
    the results and never adds a second table."""
    import re

    text = text.split(RESULTS_MARKER)[0]
    return re.sub(r"(?ms)^[ \t]*\[results\][ \t]*(#[^\n]*)?$.*?(?=^[ \t]*\[|\Z)", "", text)


def _write_card_results(card: Card, cfg: dict) -> None:
    """Rewrite the card's [results] table (everything below the marker) with the final numbers."""
    text = card.path.read_bytes().decode("utf-8")  # UTF-8 whatever the locale, like read_card
    head = _without_results(text).rstrip() + "\n\n"
    st = cfg["train_state"]
    lines = [RESULTS_MARKER, "[results]",
             f"steps = {cfg['step']}", f"samples = {cfg['samples']}",
             f"wall_minutes = {st['wall_seconds'] / 60:.1f}", f"hardware = {json.dumps(cfg['hardware'])}",
             f"torch = {json.dumps(cfg['versions']['torch'])}",
             f"final_loss_ema = {st['loss_ema']:.6g}"]
    for k, v in cfg["results"].items():
        lines.append(f"{json.dumps(k)} = {v}")
    with atomic_write(card.path, "w") as f:
        f.write(head + "\n".join(lines) + "\n")
