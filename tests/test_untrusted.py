"""Untrusted files: every place interp reads a file refuses a pickle, and nothing in it runs.

Each test plants a pickle whose unpickling would create a marker file (``open(marker, "w")``,
harmless but visible), under the name the reader expects and disguised (a pickle renamed
.npz / .safetensors / .toml, a torch.save archive, an .npz or .npy whose array is an object
array, an .npz member that is a raw pickle), feeds it to the reader, and checks that the
reader refuses it with a one-line error and that the marker was never created.

Readers: :func:`interp.checkpoint.read` / :func:`interp.checkpoint.load` (and through them
``--ckpt`` of every CLI, ``--resume`` and ``[train] init`` of interp.train, the figures'
models); :func:`interp.data.load` (and ``--input FILE.npz:INDEX`` of interp.sample and
interp.jacobian, and ``[data] source = "npz"`` cards); :func:`interp.train.read_card`;
:func:`interp.figures.load_manifest`. The package reads no other files: it writes .npy,
.csv and .json results but never reads them back (there is no table cache).
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import assert_one_line_error, run_cli

from interp import InterpError, data, figures
from interp.cli import jacobian as jacobian_cli
from interp.cli import psychometrics as psychometrics_cli
from interp.cli import sample as sample_cli
from interp.cli.common import run
from interp.figures import adapters
from interp.nets import checkpoint
from interp.nets.unet import UNet
from interp.training import cards
from interp.training import loop as train


class Payload:
    """Unpickling this calls ``open(marker, "w")``: the marker file appears."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def marker(tmp_path) -> Path:
    m = tmp_path / "UNPICKLED"
    yield m
    assert not m.exists(), "a pickle was unpickled: its code ran"


def _npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # np.savez pickles object arrays (allow_pickle=True when writing)
    return buf.getvalue()


def _object_array(marker: Path) -> np.ndarray:
    a = np.empty(1, dtype=object)
    a[0] = Payload(marker)
    return a


def evil_files(marker: Path) -> dict[str, bytes]:
    """Name -> bytes of files that would run the payload if unpickled."""
    frames = np.zeros((2, 4, 8, 8), np.float32)
    raw = pickle.dumps({"frames": Payload(marker)})
    tsave = io.BytesIO()
    torch.save({"model": Payload(marker)}, tsave)
    npy = io.BytesIO()
    np.save(npy, _object_array(marker), allow_pickle=True)
    member = io.BytesIO()  # an .npz whose 'frames' member is a raw pickle, not .npy
    with zipfile.ZipFile(member, "w") as zf:
        zf.writestr("frames.npy", raw)
    return {
        "pickle": raw,
        "torch_save": tsave.getvalue(),
        "npy_object": npy.getvalue(),
        "npz_object_frames": _npz_bytes(frames=_object_array(marker)),
        "npz_object_source": _npz_bytes(frames=frames, source=_object_array(marker)),
        "npz_object_meta": _npz_bytes(frames=frames, **{"meta.test": np.array([Payload(marker), 1], dtype=object)}),
        "npz_raw_pickle_member": member.getvalue(),
        "pickle_protocol0": pickle.dumps(Payload(marker), protocol=0),
    }


EVIL = list(evil_files(Path("x")))


def test_the_payloads_are_live(tmp_path):
    """Sanity check: unpickling each payload really does create the marker."""
    files = evil_files(tmp_path / "m")
    for name in ("pickle", "pickle_protocol0"):
        obj = pickle.loads(files[name])
        (obj["frames"] if isinstance(obj, dict) else obj).close()
        assert (tmp_path / "m").exists(), name
        (tmp_path / "m").unlink()
    p = tmp_path / "a.npz"
    p.write_bytes(files["npz_object_frames"])
    with np.load(p, allow_pickle=True) as z:
        z["frames"][0].close()
    assert (tmp_path / "m").exists()
    (tmp_path / "m").unlink()
    p.write_bytes(files["torch_save"])
    torch.load(p, weights_only=False)["model"].close()
    assert (tmp_path / "m").exists()
    (tmp_path / "m").unlink()


def _plant(tmp_path: Path, marker: Path, kind: str, name: str) -> Path:
    p = tmp_path / name
    p.write_bytes(evil_files(marker)[kind])
    return p


@pytest.mark.parametrize("kind", EVIL)
@pytest.mark.parametrize("name", ["evil.safetensors", "evil.npz", "evil.pt"])
def test_checkpoint_refuses(tmp_path, marker, kind, name):
    p = _plant(tmp_path, marker, kind, name)
    for reader in (checkpoint.read, checkpoint.load):
        with pytest.raises(InterpError) as err:
            reader(p)
        assert "\n" not in str(err.value) and str(p) in str(err.value)


@pytest.mark.parametrize("kind", EVIL)
@pytest.mark.parametrize("name", ["evil.npz", "evil.npy", "evil.safetensors"])
def test_dataset_refuses(tmp_path, marker, kind, name):
    p = _plant(tmp_path, marker, kind, name)
    with pytest.raises(InterpError) as err:
        data.load(p)
    assert "\n" not in str(err.value) and str(p) in str(err.value)


@pytest.mark.parametrize("kind", ["pickle", "torch_save", "npz_object_frames", "pickle_protocol0"])
def test_card_and_manifest_refuse(tmp_path, marker, kind):
    p = _plant(tmp_path, marker, kind, "evil.toml")
    with pytest.raises(InterpError) as err:
        cards.read_card(p)
    assert "\n" not in str(err.value) and str(p) in str(err.value)
    with pytest.raises(InterpError) as err:
        figures.load_manifest(p)
    assert "\n" not in str(err.value) and str(p) in str(err.value)


def _cli(capsys, mod, argv) -> str:
    try:
        rc = run(mod.main, mod.PROG if hasattr(mod, "PROG") else mod.__name__, argv)
    except SystemExit as exit:
        rc = exit.code
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2 and len(lines) == 1 and "Traceback" not in err, (rc, err)
    return lines[0]


@pytest.mark.parametrize("kind", EVIL)
def test_cli_inputs_and_checkpoints_refuse(tmp_path, marker, capsys, kind):
    good = tmp_path / "net.safetensors"
    checkpoint.save(good, UNet(tau=2, width=4), {})
    clips = tmp_path / "clips.npz"
    data.Dataset(np.full((1, 4, 8, 8), 0.5, np.float32)).save(clips)
    evil_npz = _plant(tmp_path, marker, kind, "evil.npz")
    evil_ckpt = _plant(tmp_path, marker, kind, "evil.safetensors")
    out = ["--out", str(tmp_path / "out")]
    for mod in (sample_cli, jacobian_cli):
        line = _cli(capsys, mod, ["--ckpt", str(good), "--input", f"{evil_npz}:0", *out])
        assert "evil.npz" in line
        line = _cli(capsys, mod, ["--ckpt", str(evil_ckpt), "--input", f"{clips}:0", *out])
        assert "evil.safetensors" in line
    line = _cli(capsys, psychometrics_cli, ["--ckpt", str(evil_ckpt), *out])
    assert "evil.safetensors" in line


CARD = """[model]
tau = 1
width = 4

[data]
{data}

[train]
recipe = "smoke"
samples = 64
{train}
"""


@pytest.mark.parametrize("kind", ["pickle", "torch_save", "npz_object_frames", "npz_raw_pickle_member"])
def test_training_refuses_pickled_data_resume_and_init(tmp_path, marker, kind):
    _plant(tmp_path, marker, kind, "evil.npz")
    _plant(tmp_path, marker, kind, "evil.safetensors")
    leaves = 'source = "leaves"\nn = 20'
    cases = {
        "npz": (CARD.format(data='source = "npz"\npath = "evil.npz"', train=""), False),
        "init": (CARD.format(data=leaves, train='init = "evil.safetensors"'), False),
        "resume": (CARD.format(data=leaves, train=""), True),
    }
    for name, (text, resume) in cases.items():
        card = tmp_path / f"{name}.toml"
        card.write_text(text)
        if resume:  # the checkpoint beside the card is the planted file
            (tmp_path / f"{name}.safetensors").write_bytes((tmp_path / "evil.safetensors").read_bytes())
        with pytest.raises(InterpError) as err:
            train.train(card, resume=resume, progress=False, log=lambda *a: None)
        named = f"{name}.safetensors" if resume else "evil."
        assert "\n" not in str(err.value) and named in str(err.value), str(err.value)


def test_figure_models_refuse(tmp_path, marker, monkeypatch):
    (tmp_path / "m.toml").write_text(CARD.format(data='source = "leaves"\nn = 20', train=""))
    _plant(tmp_path, marker, "torch_save", "m.safetensors")
    monkeypatch.setenv(figures.MODELS_DIR_ENV, str(tmp_path))
    with pytest.raises(InterpError, match="m.safetensors"):
        adapters.occlusion_example(["m"], n_samples=1)


def test_subprocess_cli_refuses(tmp_path, marker):
    """End to end, in a fresh interpreter: ``python -m interp.sample`` with planted files."""
    evil_npz = _plant(tmp_path, marker, "npz_object_frames", "evil.npz")
    evil_ckpt = _plant(tmp_path, marker, "torch_save", "evil.safetensors")
    proc = run_cli("interp.sample", "--ckpt", evil_ckpt, "--input", f"{evil_npz}:0", "--out", tmp_path / "o")
    assert_one_line_error(proc, "evil.npz", "pickle")
    proc = run_cli("interp.jacobian", "--ckpt", evil_ckpt, "--out", tmp_path / "o")
    assert_one_line_error(proc, "evil.safetensors")
