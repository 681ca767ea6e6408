"""Figure presets (``python -m interp.figures --preset smoke``): tiny cards, scaled params, end to end."""

from __future__ import annotations

import inspect
import os
import shutil
import subprocess
import time

import pandas as pd
import pytest
from conftest import REPO, assert_main_one_line, manifest_subset

from interp import InterpError, figures
from interp.cli import figures as figures_cli
from interp.cli.common import run
from interp.figures import presets
from interp.training.cards import read_card

MODELS = REPO / "models"


def test_smoke_preset_maps_every_manifest_model_to_a_tiny_card(tmp_path):
    preset = presets.load_preset("smoke")
    assert preset.path == REPO / "figures" / "presets" / "smoke.toml"
    assert preset.out == REPO / "runs" / "smoke" / "figures"
    assert preset.models_folder(preset.out) == REPO / "runs" / "smoke" / "models"
    specs = figures.load_manifest()
    names = sorted({m for s in specs for m in s.models})
    assert {"leaves-tau2", "leaves-tau2-flips", "leaves-stochastic-tau2"} <= set(names)
    for name in names:
        doc, notes = presets.tiny_card(preset, name, MODELS)
        card = read_card(presets.write_card(tmp_path / f"{name}.toml", doc))
        original = read_card(MODELS / f"{name}.toml")
        for key in ("tau", "norm", "predict_only"):
            assert card.model[key] == original.model[key], (name, key)
        assert card.model["width"] == 8 and card.train["recipe"] == "smoke" and card.train["samples"] == 4096
        assert card.data["source"] == "leaves" and card.data["n"] == 1000
        if original.data["source"] == "leaves":
            assert card.data["variant"] == original.data.get("variant", "default") and not notes
        else:  # natural video: a documented moving-leaves stand-in
            assert len(notes) == 1 and "stand-in" in notes[0], notes
        assert "init" not in card.train and "focus" not in card.train  # trained from scratch


def test_smoke_preset_scales_the_params_down():
    preset = presets.load_preset("smoke")
    specs = figures.load_manifest()
    ids = {s.id for s in specs}
    assert set(preset.figures) <= ids
    accepted = set()
    for fn in figures.ANALYSES.values():
        accepted |= set(inspect.signature(fn).parameters)
    assert set(preset.params) <= accepted | {"max_sequences", "n_noise"}  # the last two: natural video
    scaled = {s.id: s for s in preset.apply(specs)}
    plain = {s.id: s for s in specs}
    assert scaled["fig04"].params["n"] == 8 and scaled["fig04"].params["n_boot"] == 50
    assert scaled["fig04"].params["differences"] == [-3.0, -1.0, 0.0, 1.0, 3.0]
    assert scaled["fig03"].params["n_samples"] == 3 and scaled["fig03"].params["max_iter"] == 200
    assert scaled["fig02"].params == plain["fig02"].params  # takes none of them
    assert all(scaled[i].title == plain[i].title and scaled[i].outputs == plain[i].outputs for i in ids)


def test_npz_cards_get_a_stand_in_or_the_dataset_the_preset_names(tmp_path):
    source = tmp_path / "models"
    source.mkdir()
    (source / "nat.toml").write_text('[model]\ntau = 3\nwidth = 32\n\n[data]\nsource = "npz"\npath = "x.npz"\n')
    (source / "pred.toml").write_text('[model]\ntau = 2\npredict_only = true\n\n[data]\nsource = "npz"\n'
                                      'path = "x.npz"\n')
    preset_path = tmp_path / "p.toml"
    preset_path.write_text('[card.model]\nwidth = 4\n[card.data]\nn = 50\n[card.train]\nrecipe = "smoke"\n'
                           '[cards.nat.data]\nsource = "npz"\npath = "small.npz"\n'
                           '[cards.extra.model]\ntau = 1\n')
    preset = presets.load_preset(preset_path)
    doc, notes = presets.tiny_card(preset, "pred", source)
    assert doc["model"] == {"tau": 2, "norm": "none", "predict_only": True, "width": 4}
    assert doc["data"] == {"source": "leaves", "variant": "default", "n": 50} and "stand-in" in notes[0]
    doc, notes = presets.tiny_card(preset, "nat", source)
    assert doc["data"] == {"source": "npz", "path": str(tmp_path / "small.npz")} and not notes
    assert doc["model"]["tau"] == 3
    doc, _ = presets.tiny_card(preset, "extra", source)  # no card: the override gives tau
    assert doc["model"]["tau"] == 1 and doc["data"]["source"] == "leaves"
    with pytest.raises(InterpError) as err:
        presets.tiny_card(preset, "absent", source)
    assert "\n" not in str(err.value) and str(preset_path) in str(err.value) and "absent.toml" in str(err.value)


@pytest.mark.parametrize("text, needles", [
    ("[other]\nx = 1\n", ["line 1", "unknown top-level"]),
    ("[preset]\nout = 3\n", ["line 2", "out"]),
    ("[preset]\ncolour = 'red'\n", ["line 2", "colour"]),
    ("[card.weights]\nx = 1\n", ["[card]"]),
    ("[figure.fig04]\nn = 3\n", ["figure.fig04", "params"]),
    ("[preset\n", ["malformed TOML"]),
])
def test_bad_presets_are_one_line_errors(tmp_path, capsys, text, needles):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert_main_one_line(capsys, figures_cli.main, figures_cli.PROG, ["--preset", path, "--only", "fig01", "--out", tmp_path],
                         str(path), *needles)


def test_unknown_preset_names_the_known_ones(capsys, tmp_path):
    assert_main_one_line(capsys, figures_cli.main, figures_cli.PROG, ["--preset", "nosuch", "--out", tmp_path],
                         "nosuch.toml not found", "smoke")


def test_makefile_passes_the_preset_through():
    assert "--preset $(PRESET)" in (REPO / "Makefile").read_text()
    if shutil.which("make"):
        proc = subprocess.run(["make", "-n", "-W", "pyproject.toml", "figures", "PRESET=smoke"], cwd=REPO,
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert "-m interp.figures --preset smoke" in proc.stdout
        proc = subprocess.run(["make", "-n", "figures"], cwd=REPO, capture_output=True, text=True, timeout=60)
        assert "--preset" not in proc.stdout


def _render(capsys, *argv) -> tuple[int, str, str]:
    rc = run(figures_cli.main, figures_cli.PROG, [str(a) for a in argv])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def test_a_tiny_preset_end_to_end(tmp_path, capsys, monkeypatch):
    """Train one tiny card from scratch, render two figures from it, then again from the cache."""
    monkeypatch.delenv(figures.MODELS_DIR_ENV, raising=False)
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(manifest_subset(["fig01", "fig03"]))
    preset = tmp_path / "tiny.toml"
    preset.write_text(f'[preset]\nout = "{tmp_path / "figs"}"\n'
                      '[card.model]\nwidth = 4\n[card.data]\nn = 100\n'
                      '[card.train]\nrecipe = "smoke"\nsamples = 64\neval_windows = 8\n'
                      '[params]\nn_samples = 2\nn_states = 1\nmax_iter = 20\n')
    rc, out, err = _render(capsys, "--manifest", manifest, "--preset", preset)
    assert rc == 0, err
    card = tmp_path / "models" / "leaves-tau2-flips.toml"
    assert f"model leaves-tau2-flips: tiny card {card}" in out and "model leaves-tau2-flips: trained" in out
    assert read_card(card).model["width"] == 4 and card.with_suffix(".safetensors").is_file()
    assert "[1/2] fig01 ... done" in out and "[2/2] fig03 ... done" in out and out.count("computed)") == 2
    for name in ("fig01.png", "fig03.png", "fig03.pdf", "fig03.csv", "index.html"):
        assert (tmp_path / "figs" / name).is_file(), name
    table = pd.read_csv(tmp_path / "figs" / "fig03.csv")
    assert set(table["model"]) == {"leaves-tau2-flips"} and (table["panel"] == "sample").any()
    assert not (REPO / "runs" / "tiny").exists()
    assert figures.MODELS_DIR_ENV not in os.environ  # restored after rendering
    stamp = card.with_suffix(".safetensors").stat().st_mtime_ns
    rc, out, err = _render(capsys, "--manifest", manifest, "--preset", preset)
    assert rc == 0 and out.count("from cache)") == 2, (out, err)
    assert card.with_suffix(".safetensors").stat().st_mtime_ns == stamp  # not trained again


def test_smoke_preset_end_to_end(tmp_path, capsys, monkeypatch):
    """The real smoke preset on the figures that read trained models: two tiny models trained
    from scratch and four figures, about 20 s on 2 busy cores (so not marked slow)."""
    monkeypatch.delenv(figures.MODELS_DIR_ENV, raising=False)
    t0 = time.perf_counter()
    rc, out, err = _render(capsys, "--preset", "smoke", "--only", "fig03", "fig04", "fig05", "fig11",
                           "--out", tmp_path / "figures")
    assert rc == 0, err
    for name in ("leaves-tau2", "leaves-tau2-flips"):
        assert (tmp_path / "models" / f"{name}.safetensors").is_file()
    for fid in ("fig03", "fig04", "fig05", "fig11"):
        for ext in ("png", "pdf", "csv"):
            assert (tmp_path / "figures" / f"{fid}.{ext}").stat().st_size > 0
    page = (tmp_path / "figures" / "index.html").read_text(encoding="utf-8")
    assert "logistic slope" in page and "sampled frames converged" in page
    assert time.perf_counter() - t0 < 600
