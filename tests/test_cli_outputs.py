"""Every CLI shows its result: the PNGs of interp.sample, interp.psychometrics and interp.jacobian
open, are of a reasonable size and are not blank; jacobian's default data, --crop and its
missing-dataset message."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import assert_main_one_line

from interp.cli import jacobian as jacobian_cli
from interp.cli import psychometrics as psycho_cli
from interp.cli import sample as sample_cli
from interp.cli.common import run


def assert_png_shows_something(path) -> None:
    from PIL import Image

    assert path.is_file(), path
    with Image.open(path) as im:
        assert im.format == "PNG"
        w, h = im.size
        assert w > 100 and h > 100, (path, im.size)
        px = np.asarray(im.convert("L"), dtype=np.float64)
    assert px.std() > 5.0, (path, px.std())


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Untrained tau=2 width-4 checkpoints (leaves, natural-video) and a 16x16 leaves dataset."""
    from interp.data.leaves import LeavesConfig, generate
    from interp.nets.checkpoint import save
    from interp.nets.unet import UNet

    root = tmp_path_factory.mktemp("cli_outputs")
    torch.manual_seed(0)
    net = UNet(tau=2, width=4)
    save(root / "net.safetensors", net, {})
    save(root / "natural.safetensors", net, {"data": {"source": "npz", "path": "data/davis32.npz",
                                                      "source_detail": {"name": "davis32"}}})
    save(root / "leavesnpz.safetensors", net, {"data": {"source": "npz", "path": "data/leaves.npz",
                                                        "source_detail": {"kind": "leaves"}}})
    generate(2, 0, config=LeavesConfig(frames=4, size=16)).save(root / "data.npz")
    return root


def _run(main, prog, argv):
    return run(main, prog, [str(a) for a in argv])


def test_sample_writes_prediction_png(tiny, capsys):
    out = tiny / "sample"
    assert _run(sample_cli.main, sample_cli.PROG, ["--ckpt", tiny / "net.safetensors", "--input",
                                                   f"{tiny / 'data.npz'}:0", "--n", 2, "--max-iter", 30,
                                                   "--out", out]) == 0
    text = capsys.readouterr().out
    assert "prediction.png" in text  # untrained chains stop at --max-iter (NaN samples): no PSNR line
    for png in ("samples.png", "prediction.png"):
        assert_png_shows_something(out / png)


def test_sample_prediction_without_true_frame(tiny, capsys):
    out = tiny / "sample_end"  # --frame 4 of a 4-frame clip: no true frame to compare with
    assert _run(sample_cli.main, sample_cli.PROG, ["--ckpt", tiny / "net.safetensors", "--input",
                                                   f"{tiny / 'data.npz'}:0", "--n", 2, "--max-iter", 30,
                                                   "--frame", 4, "--out", out]) == 0
    assert "PSNR" not in capsys.readouterr().out
    assert_png_shows_something(out / "prediction.png")


def test_plot_prediction_labels():
    from interp.plotting import plot_prediction

    rng = np.random.default_rng(0)
    fig = plot_prediction(rng.random((2, 8, 8)), rng.random((3, 8, 8)), truth=rng.random((8, 8)),
                          psnr=[10.0, 11.5, float("nan")])
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[:3] == ["t-1", "t", "true t+1"]
    assert titles[3:] == ["sample 1, PSNR 10.0 dB", "sample 2, PSNR 11.5 dB", "sample 3"]


def test_psychometrics_writes_plot_and_examples(tiny, capsys):
    out = tiny / "psycho"
    assert _run(psycho_cli.main, psycho_cli.PROG, ["--ckpt", tiny / "net.safetensors", "--out", out,
                                                   "--differences", -2, 2, "--n", 2, "--boot", 0,
                                                   "--quiet"]) == 0
    assert "psychometric.png" in capsys.readouterr().out
    for f in ("samples.csv", "fit.json"):
        assert (out / f).is_file()
    for png in ("psychometric.png", "examples.png"):
        assert_png_shows_something(out / png)


def test_jacobian_png_and_crop(tiny, capsys):
    out = tiny / "jac"
    args = ["--ckpt", tiny / "net.safetensors", "--input", f"{tiny / 'data.npz'}:0"]
    assert _run(jacobian_cli.main, jacobian_cli.PROG, [*args, "--out", out]) == 0
    assert_png_shows_something(out / "filters.png")
    crop = tiny / "jac_crop"
    assert _run(jacobian_cli.main, jacobian_cli.PROG, [*args, "--crop", 6, "--pixel", "1,15",
                                                       "--out", crop]) == 0
    assert_png_shows_something(crop / "filters.png")
    assert np.load(crop / "filters.npy").shape == (3, 16, 16)  # the saved filters stay whole
    capsys.readouterr()
    assert_main_one_line(capsys, jacobian_cli.main, jacobian_cli.PROG, [*args, "--crop", 17, "--out", crop],
                         "--crop 17", "16x16")
    assert_main_one_line(capsys, jacobian_cli.main, jacobian_cli.PROG, [*args, "--crop", 0, "--out", crop],
                         "--crop")


def test_crop_window_stays_inside():
    assert jacobian_cli.crop_window((8, 8), 6, (16, 16)) == (5, 5)
    assert jacobian_cli.crop_window((1, 15), 6, (16, 16)) == (0, 10)
    assert jacobian_cli.crop_window((0, 0), 16, (16, 16)) == (0, 0)


def test_jacobian_crop_draws_cropped_filters():
    rng = np.random.default_rng(0)
    inputs, filters = rng.random((3, 16, 16)), rng.standard_normal((3, 16, 16))
    fig = jacobian_cli._plot(inputs, filters, (8, 8), ["a", "b", "c"], "t", crop=6)
    shapes = [ax.images[0].get_array().shape for ax in fig.axes if ax.images]
    assert shapes[:3] == [(16, 16)] * 3 and shapes[3:] == [(6, 6)] * 3
    assert "6x6 crop" in fig.axes[3].get_title()


def test_jacobian_default_data_follows_the_model(tiny, monkeypatch):
    assert jacobian_cli.is_leaves_model({})
    assert jacobian_cli.is_leaves_model({"data": {"source": "leaves", "n": 10}})
    assert jacobian_cli.is_leaves_model({"data": {"source": "npz", "source_detail": {"kind": "leaves"}}})
    assert not jacobian_cli.is_leaves_model({"data": {"source": "npz", "source_detail": {"name": "davis32"}}})
    assert not jacobian_cli.is_leaves_model({"data": {"source": "npz"}})

    from interp.nets.checkpoint import load

    seen = []
    real = jacobian_cli._default_example

    def spy(config=None):
        clip, source = real(config)
        seen.append(source)
        return clip, source

    monkeypatch.setattr(jacobian_cli, "_default_example", spy)
    for name, word in (("natural", "natural"), ("leavesnpz", "moving-leaves"), ("net", "moving-leaves")):
        assert jacobian_cli.is_leaves_model(load(tiny / f"{name}.safetensors").checkpoint_config) == (name != "natural")
        out = tiny / f"jac_default_{name}"
        assert run(jacobian_cli.main, jacobian_cli.PROG, ["--ckpt", str(tiny / f"{name}.safetensors"),
                                                          "--out", str(out)]) == 0
        assert word in seen[-1], seen[-1]
        assert_png_shows_something(out / "filters.png")


def test_jacobian_missing_dataset_says_how_to_build_it(tiny, capsys):
    missing = tiny / "nowhere" / "davis32-mini.npz"
    assert_main_one_line(capsys, jacobian_cli.main, jacobian_cli.PROG,
                         ["--ckpt", tiny / "net.safetensors", "--input", f"{missing}:0", "--out", tiny / "x"],
                         "does not exist", "build it with: python -m interp.data davis32 --root",
                         f"--out {missing}")
    leaves = tiny / "leaves-small.npz"
    assert_main_one_line(capsys, jacobian_cli.main, jacobian_cli.PROG,
                         ["--ckpt", tiny / "net.safetensors", "--input", f"{leaves}:0", "--out", tiny / "x"],
                         "build it with: python -m interp.data leaves", f"--out {leaves}")
