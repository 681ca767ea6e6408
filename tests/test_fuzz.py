"""Fuzzing (hypothesis): no input makes a CLI, the model-card or the manifest parser fail with
anything but the one-line error.

* every ``python -m interp.X``'s ``main``, run in this process through
  :func:`interp.cli.run` on argument lists mixing its own options, odd values and prepared
  files (missing, a folder, garbage, a pickle, malformed TOML, valid inputs): the exit code is
  0 or 2 (1 too for interp.figures, which reports a failing figure apart), and on 2 stderr is
  exactly one line. Heavy work is kept out by the strategy: numbers are tiny or absurd,
  checkpoints given to the samplers are never valid, manifests never name a real analysis;
* :func:`interp.train.read_card` and :func:`interp.figures.load_manifest` on random text and
  on random TOML documents (random tables, keys and values, written by the small writer
  below): either a result or an :class:`InterpError` whose message is one line;
* :func:`interp.checkpoint.read` on random safetensors headers;
* round two: every CLI with a ``main`` (``interp.data`` with each subcommand, ``interp.entropy``,
  and the samplers given a valid tiny checkpoint, by construction fast: ``--max-iter 2``, 8x8
  clips), checking also that no command leaves a traceback on stderr, and that one that fails
  (exit 2; exit 1 for any command but ``interp.figures``, whose 1 is a failing figure with the
  others written) changes no file under a final name (not dot-prefixed) in the folder it works
  in, and leaves no temporary behind; and every file reader on random and mutated files: a
  dataset (:func:`interp.data.load`), a checkpoint (bytes of a valid one flipped or cut), a
  preset (:func:`interp.presets.load_preset`) and a benchmark results file
  (``benchmarks._harness.load_results``, then merged and rendered as the harness does).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import pickle
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from interp import InterpError, data, figures
from interp.cli import data as data_cli
from interp.cli import figures as figures_cli
from interp.cli import jacobian as jacobian_cli
from interp.cli import psychometrics as psychometrics_cli
from interp.cli import sample as sample_cli
from interp.cli import train as train_cli
from interp.cli.common import run
from interp.figures import manifest
from interp.nets import checkpoint
from interp.nets.unet import UNet
from interp.training import cards as card_module

SETTINGS = settings(max_examples=150, deadline=None, database=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))
CLI_SETTINGS = settings(SETTINGS, max_examples=200)


# --------------------------------------------------------------------------- a tiny TOML writer


def _string(s: str) -> str:
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else _string(k)


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def dump_toml(doc: dict) -> str:
    """TOML text of a document: scalars first, then [tables] and [[arrays of tables]]."""
    lines = [f"{_key(k)} = {_value(v)}" for k, v in doc.items()
             if not isinstance(v, dict) and not (isinstance(v, list) and v and all(isinstance(x, dict) for x in v))]
    for k, v in doc.items():
        if isinstance(v, dict):
            lines += ["", f"[{_key(k)}]"] + [f"{_key(a)} = {_value(b)}" for a, b in v.items()]
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for entry in v:
                lines += ["", f"[[{_key(k)}]]"] + [f"{_key(a)} = {_value(b)}" for a, b in entry.items()]
    return "\n".join(lines) + "\n"


scalars = st.one_of(
    st.booleans(), st.integers(-3, 12), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.sampled_from(["leaves", "npz", "smoke", "cpu", "paper", "none", "batch", "fp32",
                                           "bf16", "default", "x.safetensors", "x.npz", "fig02", "a.png",
                                           "b.csv", "../x.png", ".hidden.png", "leaves_examples"]),
)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                      max_leaves=6)


def _table(keys: list[str]):
    return st.dictionaries(st.one_of(st.sampled_from(keys), st.text(max_size=8)), values, max_size=len(keys) + 1)


MODEL_KEYS = ["tau", "width", "norm", "predict_only", "name"]
DATA_KEYS = ["source", "n", "seed", "variant", "path"]
TRAIN_KEYS = sorted(card_module._TRAIN_KEYS)
cards = st.fixed_dictionaries(
    {},
    optional={"model": st.one_of(_table(MODEL_KEYS), values), "data": st.one_of(_table(DATA_KEYS), values),
              "train": st.one_of(_table(TRAIN_KEYS), values), "results": values, "extra": values},
)
figure_keys = list(manifest._FIELDS)
manifests = st.fixed_dictionaries(
    {}, optional={"figure": st.one_of(st.lists(_table(figure_keys), max_size=3), values), "other": values})


def _assert_one_line(err: InterpError, path: Path) -> None:
    msg = str(err)
    assert msg and "\n" not in msg and "\r" not in msg, msg
    assert str(path) in msg, msg


# --------------------------------------------------------------------------- model cards and manifests


@SETTINGS
@given(text=st.text(max_size=200))
def test_read_card_random_text(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("card") / "c.toml"
    path.write_text(text, encoding="utf-8")
    try:
        card_module.read_card(path)
    except InterpError as err:
        _assert_one_line(err, path)


@SETTINGS
@given(doc=cards)
def test_read_card_random_documents(tmp_path_factory, doc):
    text = dump_toml(doc)
    tomllib.loads(text)  # the writer's output is TOML
    path = tmp_path_factory.mktemp("card") / "c.toml"
    path.write_text(text, encoding="utf-8")
    try:
        card = card_module.read_card(path)
    except InterpError as err:
        _assert_one_line(err, path)
    else:  # what passed the checks is usable
        assert 0 <= card.model["tau"] <= 10 and card.data["source"] in ("leaves", "npz")
        assert isinstance(card.train["batch_size"], int) and card.train["batch_size"] > 0


VALID_CARD = {"model": {"tau": 2, "width": 4}, "data": {"source": "leaves", "n": 20},
              "train": {"recipe": "smoke", "samples": 64}}


KNOWN = {"model": MODEL_KEYS, "data": DATA_KEYS, "train": TRAIN_KEYS, "results": ["steps"], "": ["model"]}


@st.composite
def card_edits(draw):
    """A valid card, then one to three edits: a key of a table (known or not) set to anything,
    or a whole table (or top-level key) replaced by anything."""
    doc = json.loads(json.dumps(VALID_CARD))
    for _ in range(draw(st.integers(1, 3))):
        table = draw(st.sampled_from(sorted(KNOWN)))
        value = draw(values)
        if table == "" or draw(st.integers(0, 4)) == 0:
            doc[draw(st.one_of(st.sampled_from(["model", "data", "train", "results"]), st.text(max_size=6)))] = value
        else:
            if not isinstance(doc.get(table), dict):
                doc[table] = {}
            doc[table][draw(st.one_of(st.sampled_from(KNOWN[table]), st.text(max_size=8)))] = value
    return doc


@SETTINGS
@given(doc=card_edits())
def test_read_card_edited_valid_card(tmp_path_factory, doc):
    path = tmp_path_factory.mktemp("card") / "c.toml"
    path.write_text(dump_toml(doc), encoding="utf-8")
    try:
        card_module.read_card(path)
    except InterpError as err:
        _assert_one_line(err, path)


@SETTINGS
@given(text=st.text(max_size=200))
def test_load_manifest_random_text(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("manifest") / "manifest.toml"
    path.write_text(text, encoding="utf-8")
    try:
        figures.load_manifest(path)
    except InterpError as err:
        _assert_one_line(err, path)


@SETTINGS
@given(doc=manifests)
def test_load_manifest_random_documents(tmp_path_factory, doc):
    path = tmp_path_factory.mktemp("manifest") / "manifest.toml"
    path.write_text(dump_toml(doc), encoding="utf-8")
    try:
        specs = figures.load_manifest(path)
    except InterpError as err:
        _assert_one_line(err, path)
    else:
        assert specs and all(s.outputs for s in specs)


@SETTINGS
@given(edits=st.lists(st.tuples(st.integers(0, 1), st.one_of(st.sampled_from(figure_keys), st.text(max_size=6)),
                                values), min_size=1, max_size=3))
def test_load_manifest_edited_valid_manifest(tmp_path_factory, edits):
    entries = [{"id": "a", "title": "t", "analysis": "x", "outputs": ["a.png", "a.pdf", "a.csv"]},
               {"id": "b", "title": "t", "analysis": "x", "outputs": ["b.csv", "b.png", "b.pdf"]}]
    for index, key, value in edits:
        entries[index][key] = value
    path = tmp_path_factory.mktemp("manifest") / "manifest.toml"
    path.write_text(dump_toml({"figure": entries}), encoding="utf-8")
    try:
        figures.load_manifest(path)
    except InterpError as err:
        _assert_one_line(err, path)


def test_the_writer_round_trips():
    doc = {"a": 1, "t": {"x": [1.5, "q\"\\\x00\x7f\u00e9"], "y k": {"z": True}}, "arr": [{"id": "a"}, {"id": "b"}]}
    assert tomllib.loads(dump_toml(doc)) == doc


# --------------------------------------------------------------------------- checkpoints


headers = st.dictionaries(
    st.one_of(st.just("__metadata__"), st.just("model.x"), st.text(max_size=6)),
    st.one_of(values, st.fixed_dictionaries({}, optional={"dtype": st.sampled_from(["F32", "I64", "BOOL", "X"]),
                                                          "shape": st.lists(st.integers(-1, 4), max_size=3),
                                                          "data_offsets": st.lists(st.integers(-2, 64), max_size=3)})),
    max_size=4)


@SETTINGS
@given(header=headers, payload=st.binary(max_size=64))
def test_checkpoint_read_random_headers(tmp_path_factory, header, payload):
    raw = json.dumps(header).encode()
    path = tmp_path_factory.mktemp("ckpt") / "x.safetensors"
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + payload)
    try:
        checkpoint.load(path)
    except InterpError as err:
        _assert_one_line(err, path)


net_configs = st.one_of(values, st.fixed_dictionaries(
    {"arch": st.sampled_from(["unet", "unet", "mlp"])},
    optional={"tau": st.one_of(st.integers(-1, 12), values), "width": st.one_of(st.integers(0, 8), values),
              "norm": st.one_of(st.sampled_from(["none", "batch"]), values), "predict_only": values}))


@SETTINGS
@given(net=net_configs, extra=st.dictionaries(st.text(max_size=6), values, max_size=3))
def test_checkpoint_load_random_configs(tmp_path_factory, net, extra):
    """A well-formed file whose config says anything: a network or a one-line error, nothing else."""
    folder = tmp_path_factory.mktemp("ckpt")
    good = folder / "good.safetensors"
    checkpoint.save(good, UNet(tau=2, width=4), {})
    raw = good.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    header["__metadata__"]["config"] = json.dumps({**extra, "net": net})
    new = json.dumps(header).encode()
    path = folder / "x.safetensors"
    path.write_bytes(len(new).to_bytes(8, "little") + new + raw[8 + n:])
    try:
        out = checkpoint.load(path)
    except InterpError as err:
        _assert_one_line(err, path)
    else:
        assert out.tau == 2 and out.width == 4


# --------------------------------------------------------------------------- the CLIs


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    """Prepared files the argument strategies draw from."""
    root = tmp_path_factory.mktemp("fuzz")
    (root / "garbage.bin").write_bytes(b"\x00\xffnot anything" * 10)
    (root / "pickle.pkl").write_bytes(pickle.dumps({"a": 1}))
    (root / "folder").mkdir()
    (root / "cwd").mkdir()
    (root / "bad.toml").write_text("[model\ntau = 2\n")
    (root / "wrong.toml").write_text("[model]\ntau = 'two'\n[data]\nsource = 'leaves'\n")
    card = root / "cards" / "tiny.toml"
    card.parent.mkdir()
    card.write_text(dump_toml(VALID_CARD))
    frames = np.full((3, 3, 8, 8), 0.5, np.float32)
    data.Dataset(frames, {"test": np.array([False, False, True])}).save(root / "clips.npz")
    nan = frames.copy()
    nan[0, 0, 0, 0] = np.nan
    np.savez(root / "nan.npz", frames=nan)
    checkpoint.save(root / "pred.safetensors", UNet(tau=2, width=4, predict_only=True), {})
    checkpoint.save(root / "net.safetensors", UNet(tau=2, width=4), {})  # a valid tiny denoiser
    _frame_folders(root)
    manifest = root / "figs" / "manifest.toml"
    manifest.parent.mkdir()
    manifest.write_text('[[figure]]\nid = "f1"\ntitle = "t"\nanalysis = "no_such_analysis"\n'
                        'plot = "plot_sequences"\noutputs = ["f1.png", "f1.pdf", "f1.csv"]\n')
    return root


def _frame_folders(root: Path) -> None:
    """Frames for ``interp.data davis32`` and ``video``: a DAVIS folder of two short videos, a clip,
    a clip too short, one of 3000x2 frames, one with a garbage frame, and a garbage video file."""
    from PIL import Image

    def frames(folder: Path, n: int, size=(64, 40), bad: int | None = None, suffix=".png") -> None:
        folder.mkdir(parents=True)
        for i in range(n):
            if i == bad:
                (folder / f"{i:05d}{suffix}").write_bytes(b"not an image")
            else:
                Image.new("L", size, 30 + 7 * i).save(folder / f"{i:05d}{suffix}")

    for video in ("a", "b"):
        frames(root / "DAVIS" / "JPEGImages" / "480p" / video, 11, suffix=".jpg")
    frames(root / "clip", 11)
    frames(root / "short", 5)
    frames(root / "thin", 11, size=(3000, 2))
    frames(root / "badframe", 11, bad=4)
    (root / "garbage.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))


NUMBERS = ["0", "1", "2", "3", "-1", "-3", "0.5", "1e-9", "nan", "inf", "-inf", "1e309", "99999999999999999999999",
           "-99999999999999999999999", "0x10", "1_0", " 2", "٣", "", " ", "x", "-", "--", "1,2", "31,31", "8,0",
           "center", "none", "cpu", "cuda", "meta", "cuda:3", "stochastic", "many", "default"]
INPUT_SPECS = ["{r}/clips.npz:0", "{r}/clips.npz:2", "{r}/clips.npz:3", "{r}/clips.npz:-1", "{r}/clips.npz",
               "{r}/clips.npz:x", "{r}/nan.npz:0", "{r}/garbage.bin:0", "{r}/pickle.pkl:0", "{r}/folder:0",
               "{r}/missing.npz:0", ":0", "{r}/clips.npz:0:1"]
BAD_CKPTS = ["{r}/garbage.bin", "{r}/pickle.pkl", "{r}/folder", "{r}/missing.safetensors", "{r}/pred.safetensors",
             "{r}/clips.npz"]


def _good_values(action) -> list[str]:
    """Small values an option accepts (from its choices or type), so that examples get past
    argparse and reach the command's own checks; [] when only the prepared files will do."""
    from interp.cli import common as cli

    if action.choices:
        return [str(c) for c in action.choices]
    by_type = {cli.positive_int: ["1", "2", "3"], cli.thread_count: ["1", "2"], cli.nonneg_int: ["0", "1", "2"],
               cli.seed_int: ["0", "1", "7"], cli.unit_float: ["0", "0.5", "1"], float: ["0.5", "1", "0.01", "7"],
               int: ["2", "3", "4"]}
    good = by_type.get(action.type)
    if good is None and getattr(action.type, "__name__", "").endswith(("_float", "_ci")):
        good = ["0.2", "0.5", "0.9"]
    return good or []


def _options(parser) -> list[tuple[str, bool, list[str]]]:
    """(option, whether it takes a value, values it accepts) for each option of an argparse parser."""
    return [(a.option_strings[-1], a.nargs != 0, _good_values(a)) for a in parser._actions
            if a.option_strings and a.dest != "help"]


def _argv(options, values, base):
    """Argument lists: mostly (option, value) pairs after a plausible base, with some junk. A
    value is one the option accepts (when known) half of the time, else any of ``values``."""
    def pair(option):
        name, takes_value, good = (*option, [])[:3]
        if not takes_value:
            return st.just([name])
        pick = st.one_of(st.sampled_from(good), st.sampled_from(values)) if good else st.sampled_from(values)
        return pick.map(lambda v: [name, v])

    pairs = st.sampled_from(options).flatmap(pair)
    junk = st.one_of(st.sampled_from(values), st.text(max_size=6)).map(lambda t: [t])
    parts = st.lists(st.one_of(pairs, pairs, pairs, pairs, pairs, pairs, junk), max_size=6)
    return st.tuples(st.sampled_from([True, True, True, False]), parts).map(
        lambda t: (base if t[0] else []) + [x for part in t[1] for x in part])


def _snapshot(root: Path) -> tuple[dict, set]:
    """({file under a final name: (size, mtime)}, {temporaries}) below ``root``: a final name is
    one with no dot-prefixed part; a temporary is a dot-prefixed ``.tmp`` or ``.probe`` file."""
    finals, temporaries = {}, set()
    for p in root.rglob("*"):
        rel = p.relative_to(root)
        if not p.is_file() or p.is_symlink():
            continue
        if any(part.startswith(".") for part in rel.parts):
            if p.name.startswith(".") and p.name.endswith((".tmp", ".probe")):
                temporaries.add(rel)
            continue
        st = p.stat()
        finals[rel] = (st.st_size, st.st_mtime_ns)
    return finals, temporaries


def _check(mod, argv, ok=(0, 2), root: Path | None = None, writes_on_1: bool = False):
    """Run ``mod.main(argv)`` as its CLI does: an exit code in ``ok``, no traceback, one stderr
    line on exit 2, and, when ``root`` is given, a failing command (2, or 1 unless
    ``writes_on_1``) changed no file under a final name below ``root``, and no command left a
    temporary there."""
    before = _snapshot(root) if root is not None else None
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = run(mod.main, "prog", argv)
        except SystemExit as exit:  # argparse: usage errors (2) and --help (0)
            rc = 0 if exit.code is None else exit.code
    event(f"exit {rc}" + (f": {err.getvalue().split(':')[2].strip()[:30]}" if rc == 2 and err.getvalue().count(":") > 2
                           else ""))  # what the examples reach (pytest --hypothesis-show-statistics)
    assert rc in ok, (argv, rc, err.getvalue())
    assert "Traceback" not in err.getvalue(), (argv, err.getvalue())
    if rc == 2:
        lines = [ln for ln in err.getvalue().splitlines() if ln.strip()]
        assert len(lines) == 1, (argv, err.getvalue())
    if root is not None:
        after = _snapshot(root)
        assert after[1] <= before[1], (argv, rc, sorted(map(str, after[1] - before[1])))
        if rc == 2 or (rc == 1 and not writes_on_1):
            changed = sorted(str(k) for k in set(before[0]) | set(after[0]) if before[0].get(k) != after[0].get(k))
            assert not changed, (argv, rc, err.getvalue(), changed)
    return rc


def _fill(values, root):
    return [v.format(r=root) for v in values]


@CLI_SETTINGS
@given(data_=st.data())
def test_fuzz_sample_cli(pool, data_, monkeypatch):
    monkeypatch.chdir(pool / "cwd")  # whatever a random relative path creates lands here
    vals = _fill(NUMBERS + INPUT_SPECS + BAD_CKPTS + ["{r}/out"], pool)
    base = ["--ckpt", f"{pool}/garbage.bin", "--input", f"{pool}/clips.npz:0", "--out", f"{pool}/out"]
    argv = data_.draw(_argv(_options(sample_cli._parser()), vals, base))  # no valid checkpoint: no sampling
    _check(sample_cli, argv, root=pool)


@CLI_SETTINGS
@given(data_=st.data())
def test_fuzz_jacobian_cli(pool, data_, monkeypatch):
    monkeypatch.chdir(pool / "cwd")
    vals = _fill(NUMBERS + INPUT_SPECS + BAD_CKPTS + ["{r}/out"], pool)
    base = ["--ckpt", f"{pool}/pickle.pkl", "--input", f"{pool}/clips.npz:1", "--out", f"{pool}/out"]
    argv = data_.draw(_argv(_options(jacobian_cli._parser()), vals, base))
    if "--ckpt" not in argv:
        argv += ["--ckpt", f"{pool}/garbage.bin"]
    _check(jacobian_cli, argv, root=pool)


@CLI_SETTINGS
@given(data_=st.data())
def test_fuzz_psychometrics_cli(pool, data_, monkeypatch):
    monkeypatch.chdir(pool / "cwd")
    vals = _fill(NUMBERS + BAD_CKPTS + ["{r}/out"], pool)
    base = ["--ckpt", f"{pool}/folder", "--out", f"{pool}/out", "--quiet"]
    argv = data_.draw(_argv(_options(psychometrics_cli._parser()), vals, base))
    _check(psychometrics_cli, argv, root=pool)


DATA_VALUES = ["leaves", "davis32", "video", "{r}/folder", "{r}/out.npz", "{r}/missing/x.npz", "/proc/x.npz",
               "{r}/DAVIS", "{r}/clip", "{r}/short", "{r}/thin", "{r}/badframe", "{r}/garbage.mp4", "{r}/garbage.bin",
               "{r}/clip/00000.png", "many", "brightness", "128", "129", "1000000", "0" * 64, "https://127.0.0.1:9/x.zip"]
DATA_BASES = {"leaves": ["leaves", "--n", "2", "--out", "{r}/out.npz", "--quiet"],
              "davis32": ["davis32", "--root", "{r}/DAVIS", "--out", "{r}/davis.npz", "--quiet"],
              "video": ["video", "{r}/clip", "--out", "{r}/video.npz", "--quiet"]}


@CLI_SETTINGS
@given(data_=st.data())
def test_fuzz_data_cli(pool, data_, monkeypatch):
    """Every subcommand; never --download (it would fetch 833 MB: its refusals are tested apart)."""
    monkeypatch.chdir(pool / "cwd")
    p = data_cli._parser()
    subs = next(a for a in p._actions if a.choices and "leaves" in a.choices).choices
    command = data_.draw(st.sampled_from(sorted(DATA_BASES)))
    options = [o for o in _options(subs[command]) if o[0] != "--download"]
    vals = _fill(NUMBERS + DATA_VALUES, pool)
    argv = data_.draw(_argv(options, vals, _fill(DATA_BASES[command], pool)))
    assume("--download" not in argv)
    _check(data_cli, argv, root=pool)


@CLI_SETTINGS
@given(data_=st.data())
def test_fuzz_train_cli(pool, data_, monkeypatch):
    monkeypatch.chdir(pool / "cwd")  # --trace-weights PREFIX writes relative to here
    vals = _fill(NUMBERS + ["{r}/cards/tiny.toml", "{r}/bad.toml", "{r}/wrong.toml", "{r}/garbage.bin",
                            "{r}/pickle.pkl", "{r}/folder", "{r}/missing.toml"], pool)
    base = [f"{pool}/cards/tiny.toml", "--quiet", "--device", "cpu"]
    options = [("--resume", False), ("--max-minutes", True), ("--device", True), ("--quiet", False),
               ("--trace-weights", True)]
    argv = data_.draw(_argv(options, vals, base))
    _check(train_cli, argv, root=pool)


@CLI_SETTINGS
@given(data_=st.data())
def test_fuzz_figures_cli(pool, data_, monkeypatch):
    monkeypatch.chdir(pool / "cwd")
    vals = _fill(NUMBERS + ["f1", "fig02", "{r}/figs/manifest.toml", "{r}/bad.toml", "{r}/garbage.bin",
                            "{r}/pickle.pkl", "{r}/folder", "{r}/missing.toml", "{r}/figs"], pool)
    base = ["--manifest", f"{pool}/figs/manifest.toml"]
    argv = data_.draw(_argv([o for o in _options(figures_cli._parser()) if o[0] != "--traceback"], vals, base))
    if "--manifest" not in argv:  # never the repository's manifest: that would render the real figures
        argv = base + argv
    _check(figures_cli, argv, ok=(0, 1, 2), root=pool, writes_on_1=True)


# --------------------------------------------------------------------------- round two: more CLIs

FEW = settings(SETTINGS, max_examples=40)


@FEW
@given(data_=st.data())
def test_fuzz_sample_cli_with_a_valid_checkpoint(pool, data_, monkeypatch):
    """The sampler runs for real on 8x8 clips: ``--max-iter 2`` comes last, so it always holds."""
    monkeypatch.chdir(pool / "cwd")
    vals = _fill(NUMBERS + INPUT_SPECS + ["{r}/out", "{r}/net.safetensors"], pool)
    base = ["--ckpt", f"{pool}/net.safetensors", "--input", f"{pool}/clips.npz:0", "--out", f"{pool}/out"]
    argv = data_.draw(_argv(_options(sample_cli._parser()), vals, base)) + ["--max-iter", "2"]
    _check(sample_cli, argv, root=pool)


@FEW
@given(data_=st.data())
def test_fuzz_jacobian_cli_with_a_valid_checkpoint(pool, data_, monkeypatch):
    monkeypatch.chdir(pool / "cwd")
    vals = _fill(NUMBERS + INPUT_SPECS + ["{r}/jout", "{r}/net.safetensors"], pool)
    base = ["--ckpt", f"{pool}/net.safetensors", "--input", f"{pool}/clips.npz:1", "--out", f"{pool}/jout"]
    argv = data_.draw(_argv(_options(jacobian_cli._parser()), vals, base))
    if "--out" not in argv:
        argv += ["--out", f"{pool}/jout"]
    _check(jacobian_cli, argv, root=pool)


@CLI_SETTINGS
@given(data_=st.data())
def test_fuzz_entropy_cli(pool, data_, monkeypatch):
    """No valid denoiser among its values: the estimate itself is never run."""
    entropy = pytest.importorskip("interp.cli.entropy")
    monkeypatch.chdir(pool / "cwd")
    vals = _fill(NUMBERS + INPUT_SPECS + BAD_CKPTS + ["{r}/out", "{r}/clips.npz", "{r}/nan.npz", "test", "all"], pool)
    base = ["--ckpt", f"{pool}/garbage.bin", "--data", f"{pool}/clips.npz", "--out", f"{pool}/out", "--quiet"]
    argv = data_.draw(_argv(_options(entropy._parser()), vals, base))
    _check(entropy, argv, root=pool)


# --------------------------------------------------------------------------- round two: every file reader


def _reader_one_line(read, path: Path):
    """``read(path)``: a result, or an InterpError of one line naming the file; nothing else."""
    try:
        return read(path)
    except InterpError as err:
        _assert_one_line(err, path)
        return None


def _full(shape, value, dtype) -> np.ndarray:
    with np.errstate(all="ignore"):  # nan or 1e30 as integers: whatever the cast gives
        return np.full(shape, value).astype(dtype)


arrays = st.one_of(
    st.builds(_full,
              st.lists(st.integers(0, 3), max_size=5).map(tuple),
              st.sampled_from([0.0, 0.5, 1.0, -1.0, 2.0, np.nan, np.inf, 1e30]),
              st.sampled_from(["float32", "float64", "float16", "int64", "uint8", "bool", "complex64"])),
    st.text(max_size=8).map(np.array),
    st.sampled_from([np.array([b"\x00"]), np.zeros((2, 0, 3, 3), np.float32), np.full((2, 2, 4, 4), 0.5, np.float32),
                     np.array([True, False]), np.array([0, 1]), np.array(["a", "b"])]))
members = st.dictionaries(st.one_of(st.sampled_from(["frames", "source", "format", "meta.test", "meta.x", "meta.index"]),
                                    st.text(min_size=1, max_size=6)), arrays, max_size=4)


@SETTINGS
@given(content=members, source=st.one_of(st.none(), st.text(max_size=12), st.sampled_from(['{"a": 1}', "[1]", "{"])))
def test_dataset_load_random_archives(tmp_path_factory, content, source):
    """Random ``.npz`` members (names, shapes, dtypes, values): a dataset or a one-line error."""
    path = tmp_path_factory.mktemp("npz") / "d.npz"
    arrays = {k.replace("/", "_"): v for k, v in content.items()}
    if source is not None:
        arrays["source"] = np.array(source)
    np.savez(path, **arrays)
    ds = _reader_one_line(data.load, path)
    if ds is not None:  # what loads is what the readers downstream expect
        assert ds.frames.dtype == np.float32 and ds.frames.ndim == 4 and ds.frames.size > 0
        assert np.isfinite(ds.frames).all() and 0 <= ds.frames.min() and ds.frames.max() <= 1
        assert all(len(v) == len(ds.frames) for v in ds.meta.values())


def _mutate(raw: bytes, edits, cut) -> bytes:
    out = bytearray(raw)
    for pos, value in edits:
        out[pos % len(out)] = value
    return bytes(out[:cut % (len(out) + 1)] if cut is not None else out)


byte_edits = st.lists(st.tuples(st.integers(0, 2**20), st.integers(0, 255)), max_size=4)


@SETTINGS
@given(edits=byte_edits, cut=st.one_of(st.none(), st.integers(0, 2**20)))
def test_dataset_load_mutated_files(tmp_path_factory, pool, edits, cut):
    path = tmp_path_factory.mktemp("npz") / "d.npz"
    path.write_bytes(_mutate((pool / "clips.npz").read_bytes(), edits, cut))
    _reader_one_line(data.load, path)


@SETTINGS
@given(edits=byte_edits, cut=st.one_of(st.none(), st.integers(0, 2**20)))
def test_checkpoint_load_mutated_files(tmp_path_factory, pool, edits, cut):
    """Bytes of a valid checkpoint changed or cut: a network (its weights changed, never its
    shapes) or a one-line error."""
    path = tmp_path_factory.mktemp("ckpt") / "x.safetensors"
    path.write_bytes(_mutate((pool / "net.safetensors").read_bytes(), edits, cut))
    net = _reader_one_line(checkpoint.load, path)
    if net is not None:
        assert net.tau == 2 and net.width == 4


PRESET_KEYS = {"preset": ["description", "out", "models"], "card": ["model", "data", "train"],
               "cards": ["leaves-tau2", "x"], "params": ["n", "n_boot", "max_iter"], "figure": ["fig02", "fig04"]}
presets_docs = st.fixed_dictionaries({}, optional={k: st.one_of(_table(v), values) for k, v in PRESET_KEYS.items()})


@SETTINGS
@given(doc=st.one_of(presets_docs, st.text(max_size=120)))
def test_load_preset_random_files(tmp_path_factory, doc):
    from interp.figures import presets

    path = tmp_path_factory.mktemp("preset") / "p.toml"
    path.write_text(doc if isinstance(doc, str) else dump_toml(doc), encoding="utf-8")
    preset = _reader_one_line(presets.load_preset, path)
    if preset is not None:  # its pieces have the types the figures use
        assert isinstance(preset.card, dict) and all(isinstance(v, dict) for v in preset.card.values())
        assert isinstance(preset.params, dict) and isinstance(preset.figures, dict)


json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-3, 10**6), st.floats(allow_nan=False),
                                     st.text(max_size=8)),
                           lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                   st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                           max_leaves=8)
ROW_KEYS = ["name", "metric", "unit", "value", "min", "max", "repeats", "baseline", "ratio", "ratio_min", "ratio_max",
            "error", "note", "peak_rss_mb", "rss_rise_mb", "target", "meets_target"]
rows = st.dictionaries(st.sampled_from(ROW_KEYS), json_values, max_size=len(ROW_KEYS))
entries = st.one_of(json_values, st.fixed_dictionaries({}, optional={
    "rows": st.one_of(st.lists(rows, max_size=2), json_values), "error": json_values, "notes": json_values,
    "machine": json_values, "description": json_values, "wall_s": json_values}))
results_docs = st.one_of(json_values, st.fixed_dictionaries(
    {"format": st.sampled_from(["interp-benchmarks/1", "other"])},
    optional={"benchmarks": st.one_of(st.dictionaries(st.text(max_size=6), entries, max_size=3), json_values),
              "machine": json_values}))


@SETTINGS
@given(doc=results_docs, prefix=st.sampled_from([b"", "\ufeff".encode()]))
def test_benchmark_results_random_files(tmp_path_factory, doc, prefix):
    """A results file read, merged with a new entry and rendered as ``python -m benchmarks``
    does: a one-line error naming the file (before anything is written), or both files written."""
    from benchmarks import _harness

    folder = tmp_path_factory.mktemp("results")
    path = folder / "results.json"
    doc = {**doc, "format": _harness.FORMAT} if isinstance(doc, dict) and doc.get("format") != "other" else doc
    raw = prefix + json.dumps(doc).encode()
    path.write_bytes(raw)
    if _reader_one_line(_harness.load_results, path) is None:
        return
    entry = {"name": "new", "description": "", "rows": [], "error": "stand-in", "machine": {}}
    try:
        _harness.write_results(folder, {"new": entry}, {"device": "cpu"}, ["new"])
    except InterpError as err:
        _assert_one_line(err, path)
        assert path.read_bytes() == raw and not (folder / "results.md").exists()
    else:
        assert "new" in json.loads(path.read_text())["benchmarks"] and (folder / "results.md").is_file()
