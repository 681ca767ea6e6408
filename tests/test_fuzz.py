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
* :func:`interp.checkpoint.read` on random safetensors headers.
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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interp import checkpoint, data, figures, jacobian, psychometrics, sampler, train
from interp.cli import InterpError, run
from interp.unet import UNet

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
TRAIN_KEYS = sorted(train._TRAIN_KEYS)
cards = st.fixed_dictionaries(
    {},
    optional={"model": st.one_of(_table(MODEL_KEYS), values), "data": st.one_of(_table(DATA_KEYS), values),
              "train": st.one_of(_table(TRAIN_KEYS), values), "results": values, "extra": values},
)
figure_keys = list(figures._FIELDS)
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
        train.read_card(path)
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
        card = train.read_card(path)
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
        train.read_card(path)
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
    manifest = root / "figs" / "manifest.toml"
    manifest.parent.mkdir()
    manifest.write_text('[[figure]]\nid = "f1"\ntitle = "t"\nanalysis = "no_such_analysis"\n'
                        'plot = "plot_sequences"\noutputs = ["f1.png", "f1.pdf", "f1.csv"]\n')
    return root


NUMBERS = ["0", "1", "2", "3", "-1", "-3", "0.5", "1e-9", "nan", "inf", "-inf", "1e309", "99999999999999999999999",
           "-99999999999999999999999", "0x10", "1_0", " 2", "٣", "", " ", "x", "-", "--", "1,2", "31,31", "8,0",
           "center", "none", "cpu", "cuda", "meta", "cuda:3", "stochastic", "many", "default"]
INPUT_SPECS = ["{r}/clips.npz:0", "{r}/clips.npz:2", "{r}/clips.npz:3", "{r}/clips.npz:-1", "{r}/clips.npz",
               "{r}/clips.npz:x", "{r}/nan.npz:0", "{r}/garbage.bin:0", "{r}/pickle.pkl:0", "{r}/folder:0",
               "{r}/missing.npz:0", ":0", "{r}/clips.npz:0:1"]
BAD_CKPTS = ["{r}/garbage.bin", "{r}/pickle.pkl", "{r}/folder", "{r}/missing.safetensors", "{r}/pred.safetensors",
             "{r}/clips.npz"]


def _options(parser) -> list[tuple[str, bool]]:
    """(option, whether it takes a value) for each option of an argparse parser."""
    return [(a.option_strings[-1], a.nargs != 0) for a in parser._actions if a.option_strings and a.dest != "help"]


def _argv(options, values, base):
    """Argument lists: mostly (option, value) pairs after a plausible base, with some junk."""
    def pair(option):
        name, takes_value = option
        return st.sampled_from(values).map(lambda v: [name, v]) if takes_value else st.just([name])

    pairs = st.sampled_from(options).flatmap(pair)
    junk = st.one_of(st.sampled_from(values), st.text(max_size=6)).map(lambda t: [t])
    parts = st.lists(st.one_of(pairs, pairs, pairs, junk), max_size=6)
    return st.tuples(st.sampled_from([True, True, True, False]), parts).map(
        lambda t: (base if t[0] else []) + [x for part in t[1] for x in part])


def _check(mod, argv, ok=(0, 2)):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = run(mod.main, "prog", argv)
        except SystemExit as exit:  # argparse: usage errors (2) and --help (0)
            rc = 0 if exit.code is None else exit.code
    assert rc in ok, (argv, rc, err.getvalue())
    if rc == 2:
        lines = [ln for ln in err.getvalue().splitlines() if ln.strip()]
        assert len(lines) == 1 and "Traceback" not in err.getvalue(), (argv, err.getvalue())


def _fill(values, root):
    return [v.format(r=root) for v in values]


@CLI_SETTINGS
@given(data_=st.data())
def test_fuzz_sample_cli(pool, data_, monkeypatch):
    monkeypatch.chdir(pool / "cwd")  # whatever a random relative path creates lands here
    vals = _fill(NUMBERS + INPUT_SPECS + BAD_CKPTS + ["{r}/out"], pool)
    base = ["--ckpt", f"{pool}/garbage.bin", "--input", f"{pool}/clips.npz:0", "--out", f"{pool}/out"]
    argv = data_.draw(_argv(_options(sampler._parser()), vals, base))  # no valid checkpoint: no sampling
    _check(sampler, argv)


@CLI_SETTINGS
@given(data_=st.data())
def test_fuzz_jacobian_cli(pool, data_, monkeypatch):
    monkeypatch.chdir(pool / "cwd")
    vals = _fill(NUMBERS + INPUT_SPECS + BAD_CKPTS + ["{r}/out"], pool)
    base = ["--ckpt", f"{pool}/pickle.pkl", "--input", f"{pool}/clips.npz:1", "--out", f"{pool}/out"]
    argv = data_.draw(_argv(_options(jacobian._parser()), vals, base))
    if "--ckpt" not in argv:
        argv += ["--ckpt", f"{pool}/garbage.bin"]
    _check(jacobian, argv)


@CLI_SETTINGS
@given(data_=st.data())
def test_fuzz_psychometrics_cli(pool, data_, monkeypatch):
    monkeypatch.chdir(pool / "cwd")
    vals = _fill(NUMBERS + BAD_CKPTS + ["{r}/out"], pool)
    base = ["--ckpt", f"{pool}/folder", "--out", f"{pool}/out", "--quiet"]
    argv = data_.draw(_argv(_options(psychometrics._parser()), vals, base))
    _check(psychometrics, argv)


@CLI_SETTINGS
@given(data_=st.data())
def test_fuzz_data_cli(pool, data_, monkeypatch):
    monkeypatch.chdir(pool / "cwd")
    p = data._parser()
    sub = next(a for a in p._actions if a.choices and "leaves" in a.choices).choices["leaves"]
    vals = _fill(NUMBERS + ["leaves", "{r}/folder", "{r}/out.npz", "{r}/missing/x.npz", "/proc/x.npz"], pool)
    base = ["leaves", "--n", "2", "--out", f"{pool}/out.npz", "--quiet"]
    argv = data_.draw(_argv(_options(sub), vals, base))
    _check(data, argv)


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
    _check(train, argv)


@CLI_SETTINGS
@given(data_=st.data())
def test_fuzz_figures_cli(pool, data_, monkeypatch):
    monkeypatch.chdir(pool / "cwd")
    vals = _fill(NUMBERS + ["f1", "fig02", "{r}/figs/manifest.toml", "{r}/bad.toml", "{r}/garbage.bin",
                            "{r}/pickle.pkl", "{r}/folder", "{r}/missing.toml", "{r}/figs"], pool)
    base = ["--manifest", f"{pool}/figs/manifest.toml"]
    argv = data_.draw(_argv([o for o in _options(figures._parser()) if o[0] != "--traceback"], vals, base))
    if "--manifest" not in argv:  # never the repository's manifest: that would render the real figures
        argv = base + argv
    _check(figures, argv, ok=(0, 1, 2))
