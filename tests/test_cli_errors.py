"""Bad input to every ``python -m interp.X``: one line naming the problem, exit code 2, no traceback.

The other test files cover each tool's common mistakes; this one adds what they do not: bad
dataset files (non-finite or out-of-range frames, empty, plain .npy, metadata of the wrong
length), tampered checkpoints, structural errors in model cards and manifests (which must
name the file and line), bad devices and corrupt checkpoints for ``--resume``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import assert_one_line_error, run_cli

from interp import InterpError, data, figures
from interp.cli import data as data_cli
from interp.cli import figures as figures_cli
from interp.cli import jacobian as jacobian_cli
from interp.cli import psychometrics as psychometrics_cli
from interp.cli import sample as sample_cli
from interp.cli import train as train_cli
from interp.cli.common import run
from interp.nets import checkpoint
from interp.nets.unet import UNet
from interp.training import cards
from interp.training import loop as train


def call(mod, argv, capsys) -> str:
    """Run a CLI's main in this process; assert exit code 2 and one line on stderr; return it."""
    try:
        rc = run(mod.main, "prog", [str(a) for a in argv])
    except SystemExit as exit:  # argparse's usage errors
        rc = exit.code
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2, (rc, err)
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _save_frames(path, frames, **meta):
    np.savez(path, frames=np.asarray(frames), **{f"meta.{k}": v for k, v in meta.items()})
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad-input")
    torch.manual_seed(0)
    checkpoint.save(root / "net.safetensors", UNet(tau=2, width=4), {})
    checkpoint.save(root / "net0.safetensors", UNet(tau=0, width=4), {})
    good = np.full((3, 4, 32, 32), 0.5, np.float32)
    _save_frames(root / "data.npz", good, test=np.array([False, False, True]))
    nan = good.copy()
    nan[1, 2, 5, 5] = np.nan
    _save_frames(root / "nan.npz", nan)
    inf = good.copy()
    inf[2, 0, 0, 0] = -np.inf
    _save_frames(root / "inf.npz", inf)
    big = good.copy()
    big[1, 3, 0, 0] = 1.5
    _save_frames(root / "range.npz", big)
    _save_frames(root / "empty.npz", np.zeros((0, 4, 32, 32), np.float32))
    _save_frames(root / "short.npz", good[:, :2], test=np.array([False, False, True]))
    _save_frames(root / "one.npz", good[:, :1])
    _save_frames(root / "nosplit.npz", good)
    _save_frames(root / "badmeta.npz", good, test=np.array([True]))
    _save_frames(root / "f64.npz", good.astype(np.float64))
    with open(root / "plain.npz", "wb") as f:
        np.save(f, good)
    return root


# --------------------------------------------------------------------------- datasets


@pytest.mark.parametrize("name, needles", [
    ("nan.npz", ["nan.npz", "sequence 1", "non-finite"]),
    ("inf.npz", ["inf.npz", "sequence 2", "non-finite"]),
    ("range.npz", ["range.npz", "sequence 1", "[0, 1]"]),
    ("empty.npz", ["empty.npz", "empty"]),
    ("plain.npz", ["plain.npz", ".npy"]),
    ("badmeta.npz", ["badmeta.npz", "metadata 'test'"]),
    ("f64.npz", ["f64.npz", "float32"]),
])
def test_bad_datasets(files, name, needles, capsys):
    with pytest.raises(InterpError) as err:
        data.load(files / name)
    for n in needles:
        assert n in str(err.value)
    for mod in (sample_cli, jacobian_cli):  # --input FILE.npz:INDEX reads through data.load
        line = call(mod, ["--ckpt", files / "net.safetensors", "--input", f"{files / name}:0",
                          "--out", files / "o"], capsys)
        for n in needles:
            assert n in line, line


def test_dataset_that_is_a_folder(files, capsys):
    line = call(sample_cli, ["--ckpt", files / "net.safetensors", "--input", f"{files}:0", "--out", files / "o"],
                capsys)
    assert "not a file" in line


# --------------------------------------------------------------------------- checkpoints


def _tamper(src, dst, edit):
    raw = src.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    edit(header)
    new = json.dumps(header).encode()
    new += b" " * ((8 - len(new) % 8) % 8)
    dst.write_bytes(len(new).to_bytes(8, "little") + new + raw[8 + n:])
    return dst


def _set_net(**kw):
    def edit(header):
        cfg = json.loads(header["__metadata__"]["config"])
        cfg["net"].update(kw)
        header["__metadata__"]["config"] = json.dumps(cfg)
    return edit


@pytest.mark.parametrize("edit, needle", [
    (_set_net(width=10**9), "cannot rebuild"),  # refused before anything is allocated
    (_set_net(tau=1000), "cannot rebuild"),
    (_set_net(norm=["x"]), "cannot rebuild"),
    (_set_net(predict_only="yes"), "cannot rebuild"),
    (lambda h: h.update(__metadata__=[1, 2]), "not a checkpoint"),
    (lambda h: h["__metadata__"].update(format=["x"]), "unknown checkpoint format"),
    (lambda h: h[next(k for k in h if k != "__metadata__")].pop("data_offsets"), "data_offsets"),
    (lambda h: h[next(k for k in h if k != "__metadata__")].update(data_offsets="x"), "data_offsets"),
    (lambda h: h[next(k for k in h if k != "__metadata__")].update(dtype="I64"), "corrupt"),
])
def test_tampered_checkpoints(files, tmp_path, edit, needle, capsys):
    bad = _tamper(files / "net.safetensors", tmp_path / "bad.safetensors", edit)
    with pytest.raises(InterpError, match=needle):
        checkpoint.load(bad)
    line = call(sample_cli, ["--ckpt", bad, "--input", f"{files / 'data.npz'}:0", "--out", tmp_path / "o"], capsys)
    assert "bad.safetensors" in line and needle in line


def test_tau_mismatch(files, capsys):
    # a tau=2 network, sequences of 2 frames: nothing left to predict from 2 conditioning frames
    line = call(jacobian_cli, ["--ckpt", files / "net.safetensors", "--input", f"{files / 'short.npz'}:0",
                           "--out", files / "o"], capsys)
    assert "tau mismatch" in line and "tau=2" in line
    line = call(sample_cli, ["--ckpt", files / "net.safetensors", "--input", f"{files / 'one.npz'}:0",
                          "--out", files / "o"], capsys)
    assert "tau mismatch" in line and "tau=2" in line and "only 1" in line
    line = call(sample_cli, ["--ckpt", files / "net.safetensors", "--input", f"{files / 'short.npz'}:0",
                          "--frame", "3", "--out", files / "o"], capsys)
    assert "--frame 3" in line
    line = call(psychometrics_cli, ["--ckpt", files / "net0.safetensors", "--out", files / "o"], capsys)
    assert "tau=0" in line


def test_pixel_outside_the_frame(files, capsys):
    for pixel in ("32,0", "0,32", "1000000000000000000000,1"):
        line = call(jacobian_cli, ["--ckpt", files / "net.safetensors", "--pixel", pixel, "--out", files / "o"], capsys)
        assert "outside the 32x32 frame" in line


# --------------------------------------------------------------------------- model cards

CARD = """[model]
tau = 2
width = 4

[data]
source = "leaves"
n = 20

[train]
recipe = "smoke"
samples = 64
"""


@pytest.mark.parametrize("text, needles", [
    (CARD.replace("tau = 2", "tau = 'two'"), ["line 2", "tau"]),
    (CARD.replace("width = 4", "width = 4.5"), ["line 3", "width"]),
    (CARD.replace("n = 20", "n = [20]"), ["line 7", "[data] n"]),
    (CARD.replace("n = 20", "n = 20\ncolour = 'red'"), ["line 8", "colour"]),
    (CARD.replace("samples = 64", "samples = [64]"), ["line 11", "samples"]),
    (CARD.replace("samples = 64", "checkpoint_seconds = 'often'"), ["line 11", "checkpoint_seconds"]),
    (CARD.replace("samples = 64", "lr = nan"), ["line 11", "lr"]),
    (CARD.replace('recipe = "smoke"', "recipe = ['smoke']"), ["line 10", "recipe"]),
    (CARD.replace("[train]", "[[train]]"), ["line 9", "train must be a table"]),
    ("extra = 1\n" + CARD, ["line 1", "unknown top-level"]),
    (CARD.replace("[model]", "[model"), ["line 1", "malformed TOML"]),
    (CARD.replace("width = 4", "width = 4\nwidth = 5"), ["line 4", "malformed TOML"]),
    (CARD.replace('source = "leaves"', 'source = "npz"'), ["line 7", "n"]),
])
def test_malformed_card_names_file_and_line(tmp_path, text, needles, capsys):
    card = tmp_path / "bad.toml"
    card.write_text(text)
    with pytest.raises(InterpError) as err:
        cards.read_card(card)
    msg = str(err.value)
    assert str(card) in msg and "\n" not in msg, msg
    for n in needles:
        assert n in msg, msg
    assert str(card) in call(train_cli, [card, "--quiet"], capsys)


@pytest.mark.parametrize("dataset, needle", [
    ("short.npz", "tau=2 needs 3"),
    ("nosplit.npz", "train/test split"),
    ("empty.npz", "empty"),
    ("nan.npz", "non-finite"),
    ("missing.npz", "does not exist"),
])
def test_card_with_bad_dataset(files, tmp_path, dataset, needle, capsys):
    card = tmp_path / "npz.toml"
    card.write_text(CARD.replace('source = "leaves"\nn = 20', f'source = "npz"\npath = "{files / dataset}"'))
    line = call(train_cli, [card, "--quiet"], capsys)
    assert needle in line and dataset in line


@pytest.mark.parametrize("device, needle", [("foo", "not a device"), ("meta", "cpu or cuda"), ("cuda:99", "cuda")])
def test_bad_device(tmp_path, device, needle, capsys):
    card = tmp_path / "c.toml"
    card.write_text(CARD)
    assert needle in call(train_cli, [card, "--quiet", "--device", device], capsys)
    assert not (tmp_path / "c.safetensors").exists()


@pytest.mark.parametrize("damage, needle", [
    (lambda b: b[: len(b) // 2], "truncated"),
    (lambda b: b"\x00" * 8 + b[8:], "not a checkpoint"),
])
def test_resume_from_a_damaged_checkpoint(tmp_path, damage, needle, capsys):
    card = tmp_path / "c.toml"
    card.write_text(CARD)
    train.train(card, progress=False, log=lambda *a: None)
    ckpt = tmp_path / "c.safetensors"
    ckpt.write_bytes(damage(ckpt.read_bytes()))
    line = call(train_cli, [card, "--quiet", "--resume"], capsys)
    assert needle in line and "c.safetensors" in line


def test_resume_with_a_corrupt_training_state(tmp_path, capsys):
    card = tmp_path / "c.toml"
    card.write_text(CARD.replace("samples = 64", "samples = 256"))
    train.train(card, max_minutes=1e-5, progress=False, log=lambda *a: None)
    ckpt = tmp_path / "c.safetensors"

    def step(h):
        cfg = json.loads(h["__metadata__"]["config"])
        cfg["train_state"]["step"] = "many"
        h["__metadata__"]["config"] = json.dumps(cfg)

    _tamper(ckpt, ckpt, step)
    assert "train_state is corrupt" in call(train_cli, [card, "--quiet", "--resume"], capsys)


# --------------------------------------------------------------------------- manifests

ENTRY = ('[[figure]]\nid = "{id}"\ntitle = "t"\nanalysis = "leaves_examples"\n'
         'outputs = ["{id}.png", "{id}.pdf", "{id}.csv"]\n')


@pytest.mark.parametrize("text, needles", [
    (ENTRY.format(id="a") + "\n" + ENTRY.format(id="b").replace('outputs = ["b.png", "b.pdf", "b.csv"]\n', ""),
     ["line 7", "figure 2 ('b')", "missing key 'outputs'"]),
    (ENTRY.format(id="a") + "\n" + ENTRY.format(id="b").replace('title = "t"', "title = 3"),
     ["line 9", "figure 2 ('b')", "'title' must be a string"]),
    (ENTRY.format(id="a") + "\n" + ENTRY.format(id="a").replace("a.png", "c.png"),
     ["line 8", "duplicate figure id 'a'"]),
    (ENTRY.format(id="a") + "\n" + ENTRY.format(id="b").replace("b.png", "a.png"),
     ["line 11", "also written by figure 'a'"]),
    (ENTRY.format(id="a") + 'colour = "red"\n', ["line 6", "unknown key(s) 'colour'"]),
    (ENTRY.format(id="a").replace('"a.png"', '"../a.png"'), ["line 5", "plain file name"]),
    (ENTRY.format(id="a").replace('"a.png"', '"a.gif"'), ["line 5", "unknown format"]),
    (ENTRY.format(id="a").replace('"a.pdf", ', ""), ["line 5", "figure 1 ('a')", "missing a .pdf image"]),
    (ENTRY.format(id="a").replace('"a.png", "a.pdf", ', ""), ["line 5", "missing a .png image and a .pdf image"]),
    (ENTRY.format(id="a").replace('id = "a"', "id = 7"), ["line 2", "figure 1", "'id' must be a string"]),
    ('figure = "x"\n', ["line 1", "array of tables"]),
    ("[other]\nx = 1\n", ["line 1", "unknown top-level"]),
    ("", ["no [[figure]] entries"]),
    (ENTRY.format(id="a").replace('title = "t"', 'title = "t'), ["line 3", "malformed TOML"]),
])
def test_malformed_manifest_names_file_line_and_figure(tmp_path, text, needles, capsys):
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(text)
    with pytest.raises(InterpError) as err:
        figures.load_manifest(manifest)
    msg = str(err.value)
    assert str(manifest) in msg and "\n" not in msg, msg
    for n in needles:
        assert n in msg, msg
    assert str(manifest) in call(figures_cli, ["--manifest", manifest, "--list"], capsys)


# --------------------------------------------------------------------------- every CLI, end to end


@pytest.mark.parametrize("name, args", [
    ("data", ["leaves", "--out", "x.npz"]),
    ("train", ["card.toml"]),
    ("sample", ["--ckpt", "a", "--input", "b:0", "--out", "c"]),
    ("jacobian", ["--ckpt", "a"]),
    ("figures", []),
    ("psychometrics", ["--ckpt", "a", "--out", "b"]),
])
def test_unknown_option_in_a_subprocess(tmp_path, name, args):
    proc = run_cli(f"interp.{name}", *args, "--no-such-option", cwd=tmp_path)
    assert_one_line_error(proc, "unrecognized arguments: --no-such-option")
    assert not list(tmp_path.iterdir())


def test_data_cli_bad_numbers(tmp_path, capsys):
    out = ["--out", tmp_path / "x.npz", "--quiet"]
    assert "2**63" in call(data_cli, ["leaves", "--n", "2", "--start", str(10**30), *out], capsys)
    assert "n_disks" in call(data_cli, ["leaves", "--n", "2", "--n-disks", "0", *out], capsys)
    assert not (tmp_path / "x.npz").exists()
