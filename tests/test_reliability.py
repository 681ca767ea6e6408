"""Reliability, round two: bad input that used to destroy files, drop results, crash, or give a
silently wrong answer. Each now stops with one line naming the problem and a non-zero exit.

Never touches the repository's ``models/`` or ``benchmarks/results/``: the preset tests point
the "shipped" folder at a temporary copy, and the benchmark tests call the result-file
handling directly or stop ``python -m benchmarks`` before any benchmark runs.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO, assert_main_one_line, assert_one_line_error, run_cli

from interp import InterpError, data, figures
from interp.analysis import jacobian, psychometrics, sampler
from interp.cli import data as data_cli
from interp.cli import figures as figures_cli
from interp.cli import jacobian as jacobian_cli
from interp.cli import psychometrics as psychometrics_cli
from interp.cli import sample as sample_cli
from interp.cli import train as train_cli
from interp.data.dataset import Dataset
from interp.figures import presets
from interp.nets import checkpoint
from interp.nets.unet import UNet
from interp.training import cards
from interp.training import loop as train_mod

BIG = str(2**64)  # wrapped to seed 0 by 64-bit generators; refused now


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("reliability")
    torch.manual_seed(0)
    checkpoint.save(root / "net.safetensors", UNet(tau=2, width=4), {})
    Dataset(np.full((2, 4, 32, 32), 0.5, np.float32), {"test": np.array([False, True])}).save(root / "good.npz")
    Dataset(np.full((2, 4, 30, 30), 0.5, np.float32)).save(root / "odd.npz")
    return root


# --------------------------------------------------------------------------- presets (case 1)


@pytest.fixture
def fake_repo(tmp_path, monkeypatch):
    """A repository layout in ``tmp_path``: ``models/`` holds a copy of one shipped card and a
    stand-in checkpoint, and is the "shipped" folder for :mod:`interp.presets`."""
    models = tmp_path / "repo" / "models"
    models.mkdir(parents=True)
    shutil.copy(REPO / "models" / "leaves-tau2-flips.toml", models)
    (models / "leaves-tau2-flips.safetensors").write_bytes(b"trained weights")
    (models / "leaves-tau2-flips.log.csv").write_text("step\n1\n")
    monkeypatch.setattr(presets, "SHIPPED_MODELS", models)
    monkeypatch.delenv(figures.MODELS_DIR_ENV, raising=False)
    return models


def _untouched(models: Path) -> None:
    assert (models / "leaves-tau2-flips.toml").read_bytes() == (REPO / "models" / "leaves-tau2-flips.toml").read_bytes()
    assert (models / "leaves-tau2-flips.safetensors").read_bytes() == b"trained weights"
    assert (models / "leaves-tau2-flips.log.csv").is_file()


@pytest.mark.parametrize("folder", ["shipped", "read"])
def test_a_preset_never_writes_into_the_models_it_stands_for(fake_repo, monkeypatch, capsys, folder):
    """``--preset smoke --out figures`` from the repository root put the tiny cards in ``models/``."""
    needle = "shipped models"
    if folder == "read":  # the folder the original cards are read from ($INTERP_MODELS_DIR)
        monkeypatch.setattr(presets, "SHIPPED_MODELS", fake_repo.parent / "elsewhere")
        monkeypatch.setenv(figures.MODELS_DIR_ENV, str(fake_repo))
        needle = "the models the figures read"
    monkeypatch.chdir(fake_repo.parent)
    assert_main_one_line(capsys, figures_cli.main, figures_cli.PROG,
                         ["--preset", "smoke", "--only", "fig03", "--out", "figures"], needle, "models")
    _untouched(fake_repo)


def test_a_preset_never_replaces_a_card_no_preset_wrote(fake_repo, capsys):
    out = fake_repo.parent / "runs" / "figures"  # its models folder is runs/models
    mine = fake_repo.parent / "runs" / "models"
    shutil.copytree(fake_repo, mine)
    assert_main_one_line(capsys, figures_cli.main, figures_cli.PROG, ["--preset", "smoke", "--only", "fig03", "--out", out],
                         str(mine / "leaves-tau2-flips.toml"), "no preset wrote", "checkpoint")
    _untouched(mine)


def test_a_tiny_card_is_still_replaced_when_the_preset_changes(tmp_path):
    preset = presets.load_preset("smoke")
    doc, _ = presets.tiny_card(preset, "leaves-tau2", REPO / "models")
    card = presets.write_card(tmp_path / "leaves-tau2.toml", doc, [f"{presets.TINY_CARD} 'leaves-tau2'."])
    card.with_suffix(".safetensors").write_bytes(b"tiny weights")
    doc["train"]["samples"] = 8192
    presets.write_card(card, doc, [f"{presets.TINY_CARD} 'leaves-tau2'."])
    assert "samples = 8192" in card.read_text() and not card.with_suffix(".safetensors").exists()
    plain = tmp_path / "plain.toml"  # a card without the mark: a user's
    plain.write_text(card.read_text().split("\n", 1)[1])
    doc["train"]["samples"] = 4096
    with pytest.raises(InterpError, match="no preset wrote"):
        presets.write_card(plain, doc)


# --------------------------------------------------------------------------- benchmarks (case 5)


def _bench(*args, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchmarks", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, env=dict(os.environ, OMP_WAIT_POLICY="PASSIVE"))


def _results(tmp_path: Path, prefix: bytes = b"") -> Path:
    out = tmp_path / "results"
    out.mkdir()
    (out / "results.json").write_bytes(prefix + (REPO / "benchmarks" / "results" / "results.json").read_bytes())
    return out


def test_a_results_file_with_a_byte_order_mark_keeps_the_other_benchmarks(tmp_path):
    from benchmarks import BENCHMARKS, _harness

    out = _results(tmp_path, prefix="\ufeff".encode())
    before = _harness.load_results(out / "results.json")["benchmarks"]
    assert len(before) > 1
    entry = {"name": "leaves_rate", "description": "", "rows": [], "error": "stand-in", "machine": {}}
    _harness.write_results(out, {"leaves_rate": entry}, {"device": "cpu"}, BENCHMARKS)
    after = json.loads((out / "results.json").read_text())["benchmarks"]
    assert set(after) == set(before) and after["leaves_rate"]["error"] == "stand-in"
    assert all(after[k] == before[k] for k in before if k != "leaves_rate")


@pytest.mark.parametrize("content, needle", [
    (b"[1, 2]", "format"),
    (b'{"format": "other", "benchmarks": {}}', "format"),
    (b"{", "not valid JSON"),
    (b"\xff\xfe{}", "cannot read"),
])
def test_a_damaged_results_file_is_refused_not_dropped(tmp_path, content, needle):
    from benchmarks import _harness

    path = tmp_path / "results.json"
    path.write_bytes(content)
    with pytest.raises(InterpError, match=needle) as err:
        _harness.load_results(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    assert path.read_bytes() == content


@pytest.mark.parametrize("case, needle", [
    ("list", "format"),
    ("file", "is a file"),
    ("threads", "up to 1024"),
    ("many_threads", "up to 1024"),
])
def test_benchmarks_refuse_bad_outputs_and_thread_counts_before_running(tmp_path, case, needle):
    out, threads = tmp_path / "res", "1"
    out.mkdir()
    if case == "list":
        (out / "results.json").write_text("[1,2]")
    elif case == "file":
        out = tmp_path / "res.txt"
        out.write_text("not a folder")
    threads = {"threads": str(10**20), "many_threads": "100000"}.get(case, threads)
    proc = _bench("--smoke", "--only", "leaves_rate", "--device", "cpu", "--threads", threads, "--out", out)
    assert_one_line_error(proc, "python -m benchmarks", needle)
    assert "[bench]" not in proc.stderr  # stopped before the first benchmark
    assert case != "list" or (out / "results.json").read_text() == "[1,2]"


def test_benchmarks_refuse_a_read_only_output_folder(tmp_path, monkeypatch):
    import tempfile

    import benchmarks.__main__ as bench

    def refuse(*args, **kwargs):  # a read-only folder (root ignores permission bits)
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(InterpError, match="not writable"):
        bench._check_out(tmp_path, "results")


# --------------------------------------------------------------------------- frames (cases 7, 8)


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    """A 20000 x 10000 PNG of a few kB (1 bit per pixel): a decompression bomb for Pillow."""
    from PIL import Image

    path = tmp_path_factory.mktemp("bomb") / "bomb.png"
    Image.new("1", (20000, 10000)).save(path)
    return path


POSTSCRIPT = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 32 32\nshowpage\n%%EOF\n"


def _frames(folder: Path, bad: str | None, bomb: Path | None = None, n: int = 11) -> Path:
    """``n`` frames 00000.png ...; frame 5 is ``bad``: a bomb, PostScript, or a dangling link."""
    from PIL import Image

    folder.mkdir(parents=True)
    for i in range(n):
        path = folder / f"{i:05d}.png"
        if i == 5 and bad == "bomb":
            shutil.copy(bomb, path)
        elif i == 5 and bad == "postscript":
            path.write_bytes(POSTSCRIPT)
        elif i == 5 and bad == "dangling":
            path.symlink_to(folder / "gone.png")
        else:
            Image.new("L", (64, 64), 40 + i).save(path)
    return folder


def _frame_cli(tmp_path: Path, reader: str, bad: str, bomb: Path | None = None) -> tuple[list, Path]:
    if reader == "video":
        return ["video", _frames(tmp_path / "clip", bad, bomb)], tmp_path / "clip" / "00005.png"
    base = tmp_path / "DAVIS" / "JPEGImages" / "480p"
    _frames(base / "a", None)
    _frames(base / "b", bad, bomb)
    return ["davis32", "--root", tmp_path / "DAVIS"], base / "b" / "00005.png"


@pytest.mark.parametrize("reader", ["video", "davis32"])
@pytest.mark.parametrize("bad, needles", [
    ("bomb", ["too large", "pixels"]),
    ("postscript", ["cannot read image"]),
    ("dangling", ["symbolic link", "gone.png"]),
])
def test_bad_frames_are_one_line_errors_naming_the_file(tmp_path, capsys, monkeypatch, bomb, reader, bad, needles):
    from PIL import EpsImagePlugin

    ghostscript = []
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", lambda *a, **k: ghostscript.append(a) or 1 / 0)
    argv, frame = _frame_cli(tmp_path, reader, bad, bomb)
    assert_main_one_line(capsys, data_cli.main, "python -m interp.data", [*argv, "--out", tmp_path / "x.npz", "--quiet"],
                         str(frame), *needles)
    assert not ghostscript and not (tmp_path / "x.npz").exists()


def test_postscript_is_what_pillow_would_open_otherwise(tmp_path):
    """The PostScript stand-in is live: without the format list Pillow takes it for EPS."""
    from PIL import Image

    path = tmp_path / "00000.png"
    path.write_bytes(POSTSCRIPT)
    with Image.open(path) as img:
        assert img.format == "EPS"


def test_an_image_over_the_warning_limit_is_refused(tmp_path, monkeypatch):
    """Between Pillow's warning and error limits an image is refused too (not a stderr warning)."""
    from PIL import Image

    from interp.data.davis import read_frame_gray

    path = tmp_path / "f.png"
    Image.new("L", (64, 64)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 3000)  # 4096 pixels: a warning, not yet an error
    with pytest.raises(InterpError, match="too large"):
        read_frame_gray(path)


# --------------------------------------------------------------------------- datasets (cases 7, 11)


@pytest.mark.parametrize("test", [
    np.zeros((2, 3), bool),  # wrong shape: an IndexError in training and in the figures
    np.array([0.5, 0.0]),  # not flags
    np.array([2, 0]),
    np.array(["yes", "no"]),
])
def test_a_bad_test_split_is_refused_at_load(tmp_path, test):
    path = tmp_path / "d.npz"
    np.savez(path, frames=np.full((2, 4, 8, 8), 0.5, np.float32), **{"meta.test": test})
    with pytest.raises(InterpError, match="metadata 'test'") as err:
        data.load(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("content, needle", [
    (bytes(4096), "not an .npz file"),
    (b"frames,value\n0,0.5\n", "not an .npz file"),
    (b"\x80\x04K\x01.", "pickled"),  # a real pickle still says so
])
def test_a_file_that_is_no_npz_is_called_so(tmp_path, content, needle):
    path = tmp_path / "d.npz"
    path.write_bytes(content)
    with pytest.raises(InterpError, match=needle) as err:
        data.load(path)
    assert str(path) in str(err.value)
    assert needle == "pickled" or "pickle" not in str(err.value)


@pytest.mark.parametrize("tool", ["sample", "jacobian"])
def test_a_frame_size_the_unet_cannot_take_names_the_file(files, capsys, tool):
    mod, argv = {"sample": (sample_cli, ["--out", files / "s"]), "jacobian": (jacobian_cli, ["--out", files / "j"])}[tool]
    assert_main_one_line(capsys, mod.main, mod.PROG,
                         ["--ckpt", files / "net.safetensors", "--input", f"{files / 'odd.npz'}:0", *argv],
                         str(files / "odd.npz"), "30x30", "multiples of 4")


# --------------------------------------------------------------------------- options (cases 8, 11)


@pytest.mark.parametrize("psnr", ["-1e308", "1e308", "-41", "101", "nan"])
def test_jacobian_psnr_is_range_checked(files, capsys, psnr):
    assert_main_one_line(capsys, jacobian_cli.main, jacobian_cli.PROG,
                         ["--ckpt", files / "net.safetensors", f"--psnr={psnr}", "--out", files / "j"],
                         "--psnr", "[-40, 100] dB")


@pytest.mark.parametrize("tool", ["leaves", "davis32", "video", "jacobian", "sample", "psychometrics"])
@pytest.mark.parametrize("seed", [BIG, str(2**63), str(10**400)])
def test_every_seed_option_refuses_seeds_of_64_bits_and_more(tmp_path, capsys, tool, seed):
    """``--seed 2**64`` gave the data of seed 0 while recording 2**64, or an overflow deep in torch."""
    out = ["--out", tmp_path / "o.npz"]
    mod, argv = {
        "leaves": (data_cli, ["leaves", *out]),
        "davis32": (data_cli, ["davis32", "--root", tmp_path, *out]),
        "video": (data_cli, ["video", tmp_path, *out]),
        "jacobian": (jacobian_cli, ["--ckpt", "net.safetensors"]),
        "sample": (sample_cli, ["--ckpt", "net.safetensors", "--input", "d.npz:0", "--out", tmp_path]),
        "psychometrics": (psychometrics_cli, ["--ckpt", "net.safetensors", "--out", tmp_path]),
    }[tool]
    assert_main_one_line(capsys, mod.main, "prog", [*argv, "--seed", seed], "--seed", "below 2**63")


def test_seeds_of_64_bits_are_refused_by_the_functions_too():
    from interp.data.leaves import generate

    with pytest.raises(ValueError, match="2\\*\\*63"):
        generate(2, seed=2**64)
    with pytest.raises(InterpError, match="seed"):
        sampler.sample(lambda y, c: y, torch.zeros(0, 4, 4), 1, seed=2**64)


# --------------------------------------------------------------------------- sampler and Jacobian inputs (case 8)


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return UNet(tau=2, width=4).eval()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16, np.float64])
def test_the_sampler_takes_any_floating_conditioning(net, dtype):
    c = torch.rand(2, 8, 8, generator=torch.Generator().manual_seed(1)).to(torch.bfloat16).float()  # exact in all
    reference = sampler.sample(net, c, 2, seed=0, max_iter=3, warn=False)
    other = c.numpy().astype(dtype) if dtype is np.float64 else c.to(dtype)
    got = sampler.sample(net, other, 2, seed=0, max_iter=3, warn=False)
    assert got.dtype == torch.float32 and torch.equal(got.nan_to_num(-1), reference.nan_to_num(-1))
    assert sampler.one_step(net, other, 1, seed=0).dtype == torch.float32


@pytest.mark.parametrize("c, needle", [
    (torch.zeros(2, 8, 8, dtype=torch.int64), "floating-point"),
    (np.zeros((2, 8, 8), np.uint8), "floating-point"),
    (torch.full((2, 8, 8), float("nan")), "non-finite"),
    (np.full((2, 8, 8), np.inf, np.float32), "non-finite"),
])
@pytest.mark.parametrize("fn", ["sample", "one_step", "generate_recursive"])
def test_the_sampler_refuses_non_float_and_non_finite_conditioning(net, c, needle, fn):
    call = {"sample": lambda: sampler.sample(net, c, 1, seed=0, max_iter=2),
            "one_step": lambda: sampler.one_step(net, c, 1, seed=0),
            "generate_recursive": lambda: sampler.generate_recursive(net, c, 1, "onestep", 0)}[fn]
    with pytest.raises(InterpError, match=needle):
        call()


@pytest.mark.parametrize("where", ["y", "c"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
@pytest.mark.parametrize("fn", ["adaptive_filter", "adaptive_filters", "split_evidence"])
def test_the_jacobian_refuses_non_finite_inputs(net, where, value, fn):
    y, c = torch.full((1, 8, 8), 0.5), torch.full((2, 8, 8), 0.5)
    (y if where == "y" else c)[0, 3, 3] = value
    call = {"adaptive_filter": lambda: jacobian.adaptive_filter(net, y, c, (4, 4)),
            "adaptive_filters": lambda: jacobian.adaptive_filters(net, y, c, [(4, 4)]),
            "split_evidence": lambda: jacobian.split_evidence(net, y, c)}[fn]
    with pytest.raises(InterpError, match=f"{where} holds non-finite"):
        call()


# --------------------------------------------------------------------------- data CLI temporaries (case 10)

_TERMINATED_WRITE = """
import os, signal, sys, time
import numpy as np
from interp.cli import data as data_cli
from interp.cli import run

def savez(f, **arrays):  # some bytes, then SIGTERM, as from `kill` during a long write
    f.write(bytes(1 << 20))
    f.flush()
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(30)
    raise SystemExit("SIGTERM did not stop the write")

np.savez = savez
sys.exit(run(data_cli.main, "python -m interp.data", sys.argv[1:]))
"""


def test_sigterm_during_a_dataset_write_removes_the_temporary(tmp_path):
    proc = subprocess.run([sys.executable, "-c", _TERMINATED_WRITE, "leaves", "--n", "2", "--quiet",
                           "--out", tmp_path / "x.npz"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, (proc.returncode, proc.stderr)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines == ["python -m interp.data: interrupted by SIGTERM"], proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_the_next_run_removes_the_temporaries_of_a_killed_one(tmp_path):
    stale = tmp_path / ".x.npz.k1ll3d.tmp"  # what SIGKILL during atomic_write leaves
    stale.write_bytes(bytes(1000))
    other = tmp_path / ".y.npz.k1ll3d.tmp"  # another output's: not this command's to remove
    other.write_bytes(b"")
    proc = run_cli("interp.data", "leaves", "--n", "2", "--quiet", "--out", tmp_path / "x.npz")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [".y.npz.k1ll3d.tmp", "x.npz"]


# ------------------------------------------------------------------ training: cards, locks, resume

TRAIN_CARD = """# a card with a comment that is not ASCII: résumé
[model]
tau = 2
width = 4

[data]
source = "leaves"
n = 40

[train]
recipe = "smoke"
samples = 64
batch_size = 16
"""


def _train_card(folder: Path, text: str = TRAIN_CARD) -> Path:
    card = folder / "c.toml"
    card.write_text(text, encoding="utf-8")
    return card


def _edit_config(path: Path, edit) -> None:
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    cfg = json.loads(header["__metadata__"]["config"])
    edit(cfg, header)
    header["__metadata__"]["config"] = json.dumps(cfg)
    new = json.dumps(header).encode()
    new += b" " * ((8 - len(new) % 8) % 8)
    path.write_bytes(len(new).to_bytes(8, "little") + new + raw[8 + n:])


@pytest.mark.parametrize("key, value, needle", [
    ("batch_size", "1000000000", "batch_size must be a positive integer up to"),
    ("batch_size", "100000000000", "batch_size must be a positive integer up to"),
    ("eval_windows", str(2**63 - 1), "eval_windows must be"),
    ("lr", "1e300", "lr must be a number in [0, 10]"),
    ("threads", str(10**20), "threads must be an integer in"),
    ("seed", BIG, "seed must be a non-negative integer below 2**63"),
])
def test_card_numbers_out_of_range_are_one_line_errors(tmp_path, capsys, key, value, needle):
    import re

    card = _train_card(tmp_path, re.sub(rf"(?m)^{key} = .*\n", "", TRAIN_CARD) + f"{key} = {value}\n")
    assert_main_one_line(capsys, train_cli.main, "train", [card, "--quiet"], needle, "c.toml")
    assert not card.with_suffix(".safetensors").exists()


def test_a_batch_larger_than_memory_is_refused_before_allocation(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(train_mod, "available_memory", lambda: 2**30)
    card = _train_card(tmp_path, TRAIN_CARD.replace("batch_size = 16", "batch_size = 65536"))
    assert_main_one_line(capsys, train_cli.main, "train", [card, "--quiet"], "out of memory", "batch_size = 65536")


def test_a_hand_written_results_table_is_replaced_not_doubled(tmp_path):
    card = _train_card(tmp_path, TRAIN_CARD + "\n[results]\nsteps = 1\n")
    train_mod.train(card, progress=False, log=lambda *a: None)
    text = card.read_text(encoding="utf-8")
    assert text.count("[results]") == 1 and "steps = 4" in text and "résumé" in text
    cards.read_card(card)  # still a card


def test_results_are_written_in_utf8_under_the_c_locale(tmp_path):
    card = _train_card(tmp_path)
    env = dict(os.environ, LC_ALL="C", LANG="C", PYTHONUTF8="0", PYTHONCOERCECLOCALE="0")
    proc = subprocess.run([sys.executable, "-m", "interp.train", str(card), "--quiet"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    text = card.read_bytes().decode("utf-8")
    assert "résumé" in text and "[results]" in text


def test_a_second_run_on_the_same_card_is_refused_naming_the_first(tmp_path, capsys):
    card = _train_card(tmp_path, TRAIN_CARD.replace("samples = 64", "samples = 200000"))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    first = subprocess.Popen([sys.executable, "-m", "interp.train", str(card), "--quiet"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lock = card.with_suffix(".lock")
        for _ in range(600):
            if lock.exists() and lock.read_text().strip():
                break
            assert first.poll() is None, first.communicate()
            import time
            time.sleep(0.05)
        assert_main_one_line(capsys, train_cli.main, "train", [card, "--quiet", "--resume"],
                             f"process {first.pid}", "already running")
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=120)
    assert not card.with_suffix(".lock").exists()  # released when the run stopped


def test_a_stale_lock_is_taken_over(tmp_path):
    card = _train_card(tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    card.with_suffix(".lock").write_text(f"{dead.pid}\n")
    train_mod.train(card, progress=False, log=lambda *a: None)
    assert not card.with_suffix(".lock").exists()


def _stopped_run(folder: Path) -> Path:
    card = _train_card(folder, TRAIN_CARD.replace("samples = 64", "samples = 256"))
    train_mod.train(card, max_minutes=1e-6, progress=False, log=lambda *a: None)
    return card


def _set_group(key, value):
    def edit(cfg, header):
        cfg["optim_groups"][0][key] = value
    return edit


def _set_adam_step(value):
    def edit(cfg, header):
        cfg["train_state"]["step"] = 1
    return edit


@pytest.mark.parametrize("edit, needle", [
    (lambda cfg, h: cfg.__setitem__("stages", [1]), "stages"),
    (_set_group("betas", "xy"), "optimizer settings are corrupt"),
    (_set_group("betas", [5, -3]), "optimizer settings are corrupt"),
    (_set_group("eps", "tiny"), "optimizer settings are corrupt"),
    (lambda cfg, h: cfg["train_state"].__setitem__("step", 2**62), "train_state is corrupt"),
    (lambda cfg, h: cfg["train_state"].__setitem__("step", -1e30), "train_state is corrupt"),
])
def test_resume_from_a_corrupt_training_state_is_one_line(tmp_path, capsys, edit, needle):
    card = _stopped_run(tmp_path)
    _edit_config(card.with_suffix(".safetensors"), edit)
    assert_main_one_line(capsys, train_cli.main, "train", [card, "--quiet", "--resume"], needle, "c.safetensors")


def test_an_adam_step_that_is_not_the_runs_is_refused(tmp_path, capsys):
    card = _stopped_run(tmp_path)
    ck = checkpoint.read(card.with_suffix(".safetensors"))
    optim = {k: (torch.full_like(v, -1e30) if k.endswith(".step") else v) for k, v in ck.optim.items()}
    from safetensors.torch import save_file

    tensors = {**{f"model.{k}": v for k, v in ck.model.items()}, **{f"optim.{k}": v for k, v in optim.items()},
               **{f"rng.{k}": v for k, v in ck.rng.items()}}
    save_file(tensors, str(card.with_suffix(".safetensors")),
              metadata={"format": checkpoint.FORMAT, "config": json.dumps(ck.config)})
    assert_main_one_line(capsys, train_cli.main, "train", [card, "--quiet", "--resume"], "optim.", "step")


def test_resuming_with_another_batch_size_counts_the_samples_seen(tmp_path):
    card = _train_card(tmp_path, TRAIN_CARD.replace("samples = 64", "samples = 256"))
    train_mod.train(card, max_minutes=1e-6, progress=False, log=lambda *a: None, keep_state=True)
    seen = checkpoint.read(card.with_suffix(".safetensors")).config["samples"]
    steps = checkpoint.read(card.with_suffix(".safetensors")).config["step"]
    assert seen == 16 * steps
    card.write_text(card.read_text().replace("batch_size = 16", "batch_size = 32"), encoding="utf-8")
    cfg = train_mod.train(card, resume=True, progress=False, log=lambda *a: None)
    assert cfg["samples"] == seen + 32 * (cfg["step"] - steps)


def test_the_length_note_gives_the_rate_the_checkpoint_had():
    note = train_mod._length_change_note(8, 32, 8, base_lr=1e-3, old_lr=2e-3)
    assert "from 6.25e-05 to 0.001" in note  # the old run ended at 2e-3 / 32, not 1e-3 / 32


# ----------------------------------------------------------------------- checkpoints at load
def test_non_finite_weights_are_refused_at_load(tmp_path, capsys):
    torch.manual_seed(0)
    net = UNet(tau=2, width=4)
    with torch.no_grad():
        net.enc1[0].weight[0, 0, 0, 0] = float("nan")
    path = checkpoint.save(tmp_path / "nan.safetensors", net, {})
    with pytest.raises(InterpError, match="nan.safetensors.*NaN or infinite"):
        checkpoint.load(path)
    assert_main_one_line(capsys, jacobian_cli.main, "jacobian", ["--ckpt", path, "--pixel", "center", "--out", tmp_path],
                         "NaN or infinite")


def test_a_checkpoint_whose_size_disagrees_with_its_header_is_refused(tmp_path):
    torch.manual_seed(0)
    path = checkpoint.save(tmp_path / "net.safetensors", UNet(tau=2, width=4), {})
    padded = tmp_path / "padded.safetensors"
    padded.write_bytes(path.read_bytes() + b"\0" * 64)
    with pytest.raises(InterpError, match="truncated or padded"):
        checkpoint.read(padded)
    huge = tmp_path / "huge.safetensors"  # 3 GB, sparse: refused from its first bytes, never read whole
    with open(huge, "wb") as f:
        f.write((2**40).to_bytes(8, "little"))
        f.truncate(3 * 2**30)
    with pytest.raises(InterpError, match="bad safetensors header"):
        checkpoint.read(huge)


def test_a_checkpoint_renamed_to_another_cards_name_is_not_that_model(tmp_path, monkeypatch):
    for name in ("a", "b"):
        (tmp_path / f"{name}.toml").write_text(TRAIN_CARD.replace("samples = 64", "samples = 32"), encoding="utf-8")
    train_mod.train(tmp_path / "a.toml", progress=False, log=lambda *a: None)
    shutil.copy(tmp_path / "a.safetensors", tmp_path / "b.safetensors")
    monkeypatch.setenv(figures.MODELS_DIR_ENV, str(tmp_path))
    assert figures.load_model("a").tau == 2
    with pytest.raises(InterpError, match="trained from card 'a', not 'b'"):
        figures.load_model("b")
    (tmp_path / "a.toml").write_text(TRAIN_CARD.replace("width = 4", "width = 8"), encoding="utf-8")
    with pytest.raises(InterpError, match="its card .*a.toml describes"):
        figures.load_model("a")


# ====================================================================== round two, remaining cases (9, 10)
# --------------------------------------------------------------------------- memory without bounds (case 9)


def _sample_argv(files: Path, *extra) -> list:
    return ["--ckpt", files / "net.safetensors", "--input", f"{files / 'good.npz'}:0", "--out", files / "s", *extra]


def test_the_sample_figure_shows_at_most_64_samples_and_the_data_all(files, capsys, monkeypatch):
    """``--n 10000`` drew a 10,003-panel PNG (a figure 10^6 pixels wide, 4.5 GB at its peak)."""
    tables = []
    monkeypatch.setattr(sample_cli, "_save_png", lambda path, table: tables.append((path.name, table)))
    rc = sample_cli.main([str(a) for a in _sample_argv(files, "--n", "70", "--max-iter", "2", "--recursive", "40")])
    out = capsys.readouterr().out
    assert rc == 0
    assert np.load(files / "s" / "samples.npy").shape[0] == 70  # every sample computed and written
    assert np.load(files / "s" / "recursive_samples.npy").shape[:2] == (70, 42)
    shown = dict(tables)
    samples = shown["samples.png"].drop_duplicates(["track", "slot"])
    assert (samples["role"] == "sample").sum() == sample_cli.SHOW_SAMPLES == 64
    assert "first 64 of 70 samples" in samples["track_label"].iloc[0]
    grid = shown["recursive.png"].drop_duplicates(["track", "slot"])
    assert grid["track"].nunique() == 1 + 16 and grid["slot"].nunique() == 2 + 32
    assert "samples.png shows the first 64 of the 70 samples" in out
    assert "recursive.png shows the first 32 frames of the first 16 sequences" in out


def test_sampling_beyond_memory_is_refused_before_it_starts(files, capsys, monkeypatch):

    monkeypatch.setattr(sample_cli, "available_memory", lambda: 2**30)
    monkeypatch.setattr(sample_cli, "sample", lambda *a, **k: pytest.fail("sampling started"))
    assert_main_one_line(capsys, sample_cli.main, sample_cli.PROG, _sample_argv(files, "--n", "1000000"),
                         "out of memory", "--n 1000000", "GiB are available")
    assert_main_one_line(capsys, sample_cli.main, sample_cli.PROG, _sample_argv(files, "--n", "100", "--recursive", "10000000"),
                         "out of memory", "--recursive 10000000")


@pytest.fixture(scope="module")
def thin(tmp_path_factory) -> Path:
    """Eleven 3000x2 frames: scaled to 128 rows (aspect kept) they were 192000 pixels wide, 2.5 GB."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("thin") / "clip"
    folder.mkdir()
    for i in range(11):
        Image.new("L", (3000, 2), 40 + i).save(folder / f"{i:05d}.png")
    return folder


@pytest.mark.parametrize("reader", ["video", "davis32"])
def test_frames_of_extreme_aspect_ratio_are_refused_before_scaling(tmp_path, capsys, monkeypatch, thin, reader):
    from interp.data import davis

    shrink = davis._shrink

    def spy(frame, height):
        assert frame.shape[1] < 100 * frame.shape[0], "a thin frame was scaled"
        return shrink(frame, height)

    monkeypatch.setattr(davis, "_shrink", spy)
    if reader == "video":
        argv, where = ["video", thin], str(thin)
    else:
        base = tmp_path / "DAVIS" / "JPEGImages" / "480p"
        _frames(base / "a", None)
        shutil.copytree(thin, base / "thin")
        argv, where = ["davis32", "--root", tmp_path / "DAVIS"], "'thin'"
    assert_main_one_line(capsys, data_cli.main, "python -m interp.data", [*argv, "--out", tmp_path / "x.npz", "--quiet"],
                         where, "3000x2", "too elongated", "16:1")
    assert not (tmp_path / "x.npz").exists()
    with pytest.raises(InterpError, match="too elongated"):
        davis.clips_from_frames(np.zeros((11, 2, 3000), np.float32))


@pytest.mark.parametrize("tool", ["sample", "jacobian"])
@pytest.mark.parametrize("shape", [(4, 3000), (3000, 4)])
def test_the_sampler_and_jacobian_refuse_frames_of_extreme_aspect_ratio(tmp_path, files, capsys, monkeypatch,
                                                                       tool, shape):
    """A 3000x4 clip made a sampler figure 79000 pixels high (0.9 GB at --n 2, more with more samples)."""
    Dataset(np.full((1, 3, *shape), 0.5, np.float32)).save(tmp_path / "thin.npz")
    monkeypatch.setattr(sample_cli, "sample", lambda *a, **k: pytest.fail("sampling started"))
    monkeypatch.setattr(jacobian, "adaptive_filters", lambda *a, **k: pytest.fail("the analysis started"))
    monkeypatch.setattr(jacobian_cli, "filter_and_output", lambda *a, **k: pytest.fail("the analysis started"))
    mod = {"sample": sample_cli, "jacobian": jacobian_cli}[tool]
    assert_main_one_line(capsys, mod.main, mod.PROG, ["--ckpt", files / "net.safetensors", "--input",
                                                      f"{tmp_path / 'thin.npz'}:0", "--out", tmp_path / "o"],
                         str(tmp_path / "thin.npz"), f"{shape[0]}x{shape[1]}", "too elongated")


@pytest.mark.parametrize("n_disks", ["1000000", "129"])
def test_leaves_disks_are_bounded(tmp_path, capsys, monkeypatch, n_disks):
    """``--n-disks 1000000`` took 4.6 GB for 2 sequences; from 129 on the painter's order (int8) wrapped."""
    from interp.data import leaves

    monkeypatch.setattr(data_cli, "generate", lambda *a, **k: pytest.fail("generation started"))
    assert_main_one_line(capsys, data_cli.main, "python -m interp.data",
                         ["leaves", "--variant", "many", "--n-disks", n_disks, "--n", "2", "--out", tmp_path / "x.npz"],
                         "n_disks", "from 2 to 128", n_disks)
    with pytest.raises(ValueError, match="from 2 to 128"):
        leaves.LeavesConfig(variant="many", n_disks=int(n_disks))


def test_leaves_with_the_most_disks_keep_their_painters_order():
    from interp.data.leaves import MAX_DISKS, LeavesConfig, generate

    ds = generate(2, seed=0, config=LeavesConfig(variant="many", n_disks=MAX_DISKS))
    layer = ds.meta["layer"].astype(np.int64)
    assert layer.min() == 0 and layer.max() == MAX_DISKS - 1  # no wrap past int8
    assert (np.sort(layer, axis=1) == np.arange(MAX_DISKS)[None, :, None]).all()


def test_a_leaves_dataset_larger_than_memory_is_refused_before_generating(tmp_path, capsys, monkeypatch):
    from interp.data import leaves

    monkeypatch.setattr(data_cli, "available_memory", lambda: 2**30)
    monkeypatch.setattr(data_cli, "generate", lambda *a, **k: pytest.fail("generation started"))
    assert_main_one_line(capsys, data_cli.main, "python -m interp.data", ["leaves", "--n", "100000", "--out", tmp_path / "x.npz"],
                         "out of memory", "--n 100000", "GiB are available")
    assert leaves.memory_estimate(100_000) > 100_000 * 11 * 32 * 32 * 4  # at least the frames


@pytest.mark.parametrize("boot", ["100001", str(10**12)])
def test_psychometrics_boot_is_capped(tmp_path, capsys, boot):
    assert_main_one_line(capsys, psychometrics_cli.main, psychometrics_cli.PROG,
                         ["--ckpt", tmp_path / "missing.safetensors", "--out", tmp_path, "--boot", boot],
                         "--boot", "at most 100000")


@pytest.mark.parametrize("fn", ["fit_logistic", "calibration"])
def test_the_bootstrap_functions_refuse_huge_resample_counts(fn):
    import pandas as pd

    table = pd.DataFrame({"dr": [-1.0, 1.0, -1.0, 1.0], "right_front": [0.0, 1.0, 0.0, 1.0], "valid": True,
                          "choice": ["left", "right", "left", "right"]})
    call = {"fit_logistic": lambda: psychometrics.fit_logistic(table["dr"], table["right_front"], n_boot=10**12),
            "calibration": lambda: psychometrics.calibration(table, n_boot=10**12)}[fn]
    with pytest.raises(InterpError, match="n_boot must be an integer in \\[0, 100000\\]"):
        call()


def test_a_checkpoint_claiming_a_huge_width_is_refused_without_building_it(tmp_path, monkeypatch):
    """A header saying width 512 over a width-4 network's tensors built the 470 MB U-net first."""
    from interp.nets.unet import UNet as Net

    path = checkpoint.save(tmp_path / "net.safetensors", Net(tau=2, width=4), {})
    _edit_config(path, lambda cfg, header: cfg["net"].__setitem__("width", 512))
    built = []
    init = Net.__init__

    def spy(self, *args, **kwargs):  # the device a U-net is built on (meta: no memory)
        built.append(torch.empty(0).device.type)
        init(self, *args, **kwargs)

    monkeypatch.setattr(Net, "__init__", spy)
    with pytest.raises(InterpError, match="config does not match the weights"):
        checkpoint.load(path)
    assert "cpu" not in built, built
    built.clear()
    _edit_config(path, lambda cfg, header: cfg["net"].__setitem__("width", 4))
    assert checkpoint.load(path).width == 4 and built.count("cpu") == 1  # a good one is still built, once


# --------------------------------------------------------------------------- figure temporaries (case 10)

FIG_MANIFEST = ('[[figure]]\nid = "fig02"\ntitle = "leaves"\nanalysis = "leaves_examples"\n'
                'params = { n_sequences = 1, seed = 3, frames = 2 }\noutputs = ["fig02.png", "fig02.pdf", "fig02.csv"]\n')


def test_figures_remove_the_temporaries_of_a_killed_run(tmp_path, capsys):
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(FIG_MANIFEST)
    spec = figures.load_manifest(manifest)[0]
    key, _ = figures.cache_key(spec)
    cached_csv, cached_json = figures.cache_paths(tmp_path / "cache", spec, key)
    cached_csv.parent.mkdir()
    stale = [tmp_path / ".fig02.png.k1ll3d.tmp", tmp_path / ".fig02.csv.k1ll3d.tmp", tmp_path / ".index.html.x.tmp",
             cached_csv.parent / f".{cached_csv.name}.k1ll3d.tmp", cached_json.parent / f".{cached_json.name}.q.tmp"]
    kept = [tmp_path / ".other.png.k1ll3d.tmp", tmp_path / ".fig02.png.k1ll3d.probe"]  # not this run's outputs
    for p in stale + kept:
        p.write_bytes(b"")
    assert figures_cli.main(["--manifest", str(manifest)]) == 0
    capsys.readouterr()
    assert not [p.name for p in stale if p.exists()]
    assert all(p.exists() for p in kept)
    assert (tmp_path / "fig02.png").stat().st_size > 0 and cached_csv.exists()


_TERMINATED_FIGURE = """
import os, signal, sys, time
from matplotlib.figure import Figure
from interp.cli import figures as figures_cli
from interp.cli import run

def savefig(self, f, **kwargs):  # some bytes, then SIGTERM, as from `kill` during a long write
    f.write(bytes(1 << 16))
    f.flush()
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(30)
    raise SystemExit("SIGTERM did not stop the write")

Figure.savefig = savefig
sys.exit(run(figures_cli.main, figures_cli.PROG, sys.argv[1:]))
"""


def test_sigterm_during_a_figure_write_removes_the_temporary(tmp_path):
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(FIG_MANIFEST)
    proc = subprocess.run([sys.executable, "-c", _TERMINATED_FIGURE, "--manifest", manifest, "--no-cache"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, (proc.returncode, proc.stderr)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines == ["python -m interp.figures: interrupted by SIGTERM"], proc.stderr
    assert not [p.name for p in tmp_path.rglob(".*")], list(tmp_path.rglob("*"))
    assert not (tmp_path / "fig02.png").exists()


# --------------------------------------------------------------------------- readers the fuzz found wanting


@pytest.mark.parametrize("entry", [None, [1, 2], {"rows": [{"metric": "m"}]}, {"rows": "x"}, {"notes": 5}])
def test_a_malformed_benchmark_entry_is_refused_before_anything_is_written(tmp_path, entry):
    """A kept entry that is not what the harness writes crashed the Markdown rendering, after
    results.json had already been rewritten."""
    from benchmarks import _harness

    path = tmp_path / "results.json"
    raw = json.dumps({"format": _harness.FORMAT, "benchmarks": {"old one": entry}}).encode()
    path.write_bytes(raw)
    with pytest.raises(InterpError, match="malformed entry 'old one'") as err:
        _harness.load_results(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(InterpError, match="malformed entry"):
        _harness.write_results(tmp_path, {"new": {"rows": [], "error": "stand-in"}}, {"device": "cpu"}, ["new"])
    assert path.read_bytes() == raw and not (tmp_path / "results.md").exists()


def test_a_damaged_npz_is_refused_and_closed(tmp_path, files):
    import gc
    import warnings

    path = tmp_path / "cut.npz"
    path.write_bytes((files / "good.npz").read_bytes()[:300])  # a zip whose directory is gone
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        with pytest.raises(InterpError, match="cut.npz"):
            data.load(path)
        gc.collect()
    assert not [w for w in caught if "cut.npz" in str(w.message)], [str(w.message) for w in caught]
