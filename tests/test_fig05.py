"""Fig. 5: recursive generation from a model-card name, on a tiny untrained checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import REPO, run_cli

from interp import InterpError, figures, plotting
from interp.data.leaves import generate
from interp.figures import adapters
from interp.nets import checkpoint
from interp.nets.unet import UNet
from interp.plotting import plots

CARD = """\
# a tiny card for the tests: tau 2, width 4, 200 moving-leaves sequences
[model]
tau = 2
width = 4
norm = "none"

[data]
source = "leaves"
n = 200
seed = 0
variant = "default"

[train]
recipe = "cpu"
samples = 1000
seed = 0
"""
TAU, K = 2, 9


@pytest.fixture
def models(tmp_path, monkeypatch):
    """A models folder with the card and an untrained checkpoint of ``tiny``; selected via the env."""
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "tiny.toml").write_text(CARD)
    torch.manual_seed(0)
    checkpoint.save(folder / "tiny.safetensors", UNet(tau=TAU, width=4), {})
    monkeypatch.setenv(figures.MODELS_DIR_ENV, str(folder))
    return folder


@pytest.fixture
def table(models):
    return adapters.recursive_generation(["tiny"], n_examples=2, k=K, seed=0, max_iter=10)


def test_fig05_is_in_the_manifest():
    spec = {s.id: s for s in figures.load_manifest()}["fig05"]
    assert spec.analysis == "recursive_generation" and spec.analysis in figures.ANALYSES
    assert spec.models == ("leaves-tau2",)
    assert figures.plot_function(spec) is plotting.plot_frame_grid
    assert {"fig05.png", "fig05.pdf", "fig05.csv"} == set(spec.outputs)


def test_model_files_resolve_in_the_repository(monkeypatch):
    monkeypatch.delenv(figures.MODELS_DIR_ENV, raising=False)
    assert figures.models_dir() == REPO / "models"
    with pytest.raises(InterpError, match="plain model-card name"):
        figures.model_files("../leaves-tau2")


def test_recursive_generation_rows_and_frames(table):
    frames = table.drop_duplicates(["track", "slot"])
    labels = frames.drop_duplicates("track").sort_values("track")["track_label"].tolist()
    assert labels == ["A: one-step", "A: sampled", "A: true", "B: sampled", "B: true"]
    assert (frames.groupby("track")["slot"].apply(sorted) == [list(range(TAU + K))] * 5).all()
    assert len(table) == 5 * (TAU + K) * 32 * 32
    assert set(plots.FRAME_GRID_COLUMNS) <= set(table.columns)
    # roles: the tau real frames in red, then green (one-step) or blue (samples); truth rows plain
    for label, role in [("A: one-step", "onestep"), ("A: sampled", "sample"), ("B: sampled", "sample")]:
        row = frames[frames["track_label"] == label].sort_values("slot")
        assert row["role"].tolist() == ["conditioning"] * TAU + [role] * K
        assert row["generated"].tolist() == [False] * TAU + [True] * K
        assert row["step"].tolist() == [0] * TAU + list(range(1, K + 1))
        assert row["frame"].tolist() == list(range(1, TAU + K + 1))
    assert set(frames[frames["method"] == "truth"]["role"]) == {"truth"}
    sampled = frames[frames["role"] == "sample"]
    assert set(sampled["status"]) <= {"converged", "max_iter", "diverged", "skipped"}
    assert set(frames[frames["role"] != "sample"]["status"]) == {""}

    # the examples are the first test sequences whose meeting frame is in tau+2 .. tau+k
    ds = generate(200, 0)
    meet = ds.meta["meeting_frame"].astype(int) + 1
    expected = np.flatnonzero(ds.meta["test"] & (meet >= TAU + 2) & (meet <= TAU + K))[:2]
    per_example = frames.drop_duplicates("example").set_index("example")
    assert per_example.loc[["A", "B"], "sequence"].tolist() == expected.tolist()
    assert per_example.loc[["A", "B"], "meeting_frame"].tolist() == meet[expected].tolist()

    def image(label, slot):
        part = table[(table["track_label"] == label) & (table["slot"] == slot)]
        return part.pivot(index="row", columns="col", values="value").to_numpy()

    for letter, seq in zip("AB", expected):
        for t in range(TAU + K):  # the truth row is the data set's sequence
            np.testing.assert_allclose(image(f"{letter}: true", t), ds.frames[seq, t], atol=1e-6)
        for t in range(TAU):  # the generated rows start from its real frames
            np.testing.assert_allclose(image(f"{letter}: sampled", t), ds.frames[seq, t], atol=1e-6)
    np.testing.assert_allclose(image("A: one-step", 0), ds.frames[expected[0], 0], atol=1e-6)
    assert np.isfinite(image("A: one-step", TAU + K - 1)).all()  # one-step estimates never fail

    fig = plotting.plot_frame_grid(table)
    assert len([ax for ax in fig.get_axes() if ax.get_images()]) == 5 * (TAU + K)


def test_recursive_generation_is_deterministic_and_truth_is_optional(models, table):
    again = adapters.recursive_generation(["tiny"], n_examples=2, k=K, seed=0, max_iter=10)
    np.testing.assert_array_equal(again["value"].to_numpy(), table["value"].to_numpy())
    short = adapters.recursive_generation(["tiny"], n_examples=1, k=2, seed=0, truth=False, max_iter=5)
    labels = short.drop_duplicates("track")["track_label"].tolist()
    assert labels == ["A: one-step", "A: sampled"]
    assert short["slot"].max() == TAU + 2 - 1


def test_compute_table_passes_the_models(models):
    spec = figures.FigureSpec(id="fig05", title="t", analysis="recursive_generation", outputs=("x.png",),
                              models=("tiny",), params={"n_examples": 1, "k": 2, "max_iter": 5})
    table = figures.compute_table(spec)
    assert set(table["model"]) == {"tiny"} and set(table["tau"]) == {TAU}


def test_missing_checkpoint_names_the_file_and_how_to_train_it(models):
    (models / "tiny.safetensors").unlink()
    with pytest.raises(InterpError) as err:
        adapters.recursive_generation(["tiny"])
    msg = str(err.value)
    assert "\n" not in msg
    assert str(models / "tiny.safetensors") in msg
    assert f"python -m interp.train {models / 'tiny.toml'}" in msg
    with pytest.raises(InterpError, match="model card .*nothere.toml"):
        adapters.recursive_generation(["nothere"])
    with pytest.raises(InterpError, match="needs a trained model"):
        adapters.recursive_generation([])


def test_missing_checkpoint_fails_the_figure_on_one_line(models, tmp_path):
    (models / "tiny.safetensors").unlink()
    manifest = tmp_path / "manifest.toml"
    manifest.write_text('[[figure]]\nid = "fig05"\ntitle = "recursive"\nanalysis = "recursive_generation"\n'
                        'models = ["tiny"]\noutputs = ["fig05.png", "fig05.pdf", "fig05.csv"]\n')
    proc = run_cli("interp.figures", "--manifest", manifest, "--out", tmp_path / "out")
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    err = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(err) == 2 and "Traceback" not in proc.stderr
    assert "fig05" in err[0] and "tiny.safetensors" in err[0] and "python -m interp.train" in err[0]
