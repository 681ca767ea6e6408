"""The figure pipeline: manifest -> analysis table -> plot -> PNG/PDF/CSV, and its CLI."""

from __future__ import annotations

import dataclasses
import io
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, assert_one_line_error, manifest_subset, run_cli

from interp import InterpError, figures, plotting
from interp.cli import figures as figures_cli
from interp.figures import adapters
from interp.figures import cache as figures_cache
from interp.plotting import plots

MANIFEST = REPO / "figures" / "manifest.toml"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> tuple[Path, object]:
    """fig02 rendered once by the CLI into a temporary folder."""
    out = tmp_path_factory.mktemp("figs")
    proc = run_cli("interp.figures", "--only", "fig02", "--out", out)
    return out, proc


def _png_pixels(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "PNG"
        return np.asarray(im.convert("L"))


def test_manifest_parses_and_lists_fig02():
    specs = figures.load_manifest(MANIFEST)
    fig02 = {s.id: s for s in specs}["fig02"]
    assert fig02.analysis == "leaves_examples" and fig02.analysis in figures.ANALYSES
    assert fig02.models == ()
    assert fig02.params["n_sequences"] == 4 and fig02.params["frames"] == 11
    assert set(fig02.outputs) == {"fig02.png", "fig02.pdf", "fig02.csv"}
    proc = run_cli("interp.figures", "--list")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == len(specs)
    assert any(ln.startswith("fig02") and fig02.title in ln for ln in lines)


def test_leaves_examples_table_is_tidy():
    table = figures.leaves_examples(n_sequences=2, seed=3, frames=5)
    assert len(table) == 2 * 5 * 32 * 32
    assert {"sequence", "frame", "row", "col", "value"} <= set(table.columns)
    assert sorted(table["frame"].unique()) == [1, 2, 3, 4, 5]
    assert table["value"].between(0, 1).all()
    per_seq = table.groupby("sequence")[["meeting_frame", "radius_front", "radius_back"]].nunique()
    assert (per_seq == 1).all().all()  # per-sequence columns are constant within a sequence
    assert (table["radius_front"] >= table["radius_back"]).all()  # default rule: larger in front


def test_render_fig02_writes_png_pdf_csv(rendered):
    out, proc = rendered
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert "fig02 ... done" in proc.stdout
    pixels = _png_pixels((out / "fig02.png").read_bytes())
    assert pixels.shape[0] > 100 and pixels.shape[1] > 300
    assert pixels.min() < pixels.max()
    assert (out / "fig02.pdf").read_bytes().startswith(b"%PDF")
    table = pd.read_csv(out / "fig02.csv")
    assert len(table) == 4 * 11 * 32 * 32
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temporary files


def test_csv_redraws_without_recomputation(rendered):
    out, _ = rendered
    table = pd.read_csv(out / "fig02.csv")
    fig = plotting.plot_sequences(table)
    axes = fig.get_axes()
    assert len(axes) == 4 * 11
    image = axes[0].get_images()[0]
    assert image.get_clim() == (0.0, 1.0)
    assert axes[0].get_xticks().size == 0 and axes[0].get_yticks().size == 0
    assert axes[0].get_title() == "frame 0" and axes[10].get_title() == "frame 10"  # places from 0
    # the drawn frame is the table's frame
    first = table[(table["sequence"] == table["sequence"].min()) & (table["frame"] == 1)]
    expected = first.pivot(index="row", columns="col", values="value").to_numpy()
    np.testing.assert_allclose(image.get_array(), expected)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=50)
    assert _png_pixels(buf.getvalue()).std() > 0


def test_plot_sequences_names_missing_columns():
    with pytest.raises(ValueError, match="value"):
        plotting.plot_sequences(pd.DataFrame({"sequence": [0], "frame": [1], "row": [0], "col": [0]}))


def test_unknown_only_id_is_one_line_error():
    proc = run_cli("interp.figures", "--only", "fig02", "figXX")
    assert_one_line_error(proc, "figXX")
    assert proc.stdout == ""


def test_malformed_manifest_is_one_line_error(tmp_path):
    bad = tmp_path / "manifest.toml"
    bad.write_text('[[figure]]\nid = "fig02"\ntitle = oops\n')
    proc = run_cli("interp.figures", "--manifest", bad, "--list")
    assert_one_line_error(proc, str(bad), "line 3")
    bad.write_text('[[figure]]\nid = "fig02"\ntitle = "x"\nanalysis = "leaves_examples"\n')
    proc = run_cli("interp.figures", "--manifest", bad)
    assert_one_line_error(proc, str(bad), "outputs")
    proc = run_cli("interp.figures", "--manifest", tmp_path / "missing.toml")
    assert_one_line_error(proc, "missing.toml")


def test_failing_figure_does_not_stop_the_others(tmp_path):
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(
        '[[figure]]\nid = "figbad"\ntitle = "broken"\nanalysis = "no_such_analysis"\n'
        'plot = "plot_sequences"\noutputs = ["figbad.png", "figbad.pdf", "figbad.csv"]\n\n'
        '[[figure]]\nid = "fig02"\ntitle = "leaves"\nanalysis = "leaves_examples"\n'
        'params = { n_sequences = 1, seed = 3, frames = 3 }\noutputs = ["fig02.png", "fig02.pdf", "fig02.csv"]\n'
    )
    proc = run_cli("interp.figures", "--manifest", manifest)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    err = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(err) == 2  # the failure, then the summary
    assert "figbad" in err[0] and "no_such_analysis" in err[0]
    assert "1 of 2" in err[1] and "figbad" in err[1]
    assert "fig02 ... done" in proc.stdout
    assert (tmp_path / "fig02.png").stat().st_size > 0 and (tmp_path / "fig02.csv").exists()
    assert not (tmp_path / "figbad.png").exists()


def test_every_figure_writes_png_pdf_and_csv(tmp_path):
    for spec in figures.load_manifest(MANIFEST):
        assert {Path(o).suffix for o in spec.outputs} >= {".png", ".pdf", ".csv"}, spec.id
    bad = tmp_path / "manifest.toml"
    bad.write_text('[[figure]]\nid = "f"\ntitle = "t"\nanalysis = "leaves_examples"\n'
                   'outputs = ["f.png", "f.svg", "f.csv"]\n')
    with pytest.raises(InterpError) as err:
        figures.load_manifest(bad)
    msg = str(err.value)
    assert "\n" not in msg and str(bad) in msg and "line 5" in msg and "missing a .pdf image" in msg


# --------------------------------------------------------------------------- Fig. 1


def test_fig01_is_a_diagram_drawn_from_its_table():
    spec = {s.id: s for s in figures.load_manifest(MANIFEST)}["fig01"]
    assert spec.analysis == "framework_diagram" and spec.models == () and spec.caption
    assert figures.plot_function(spec) is plotting.plot_framework_diagram
    table = figures.compute_table(spec)
    assert list(table.columns) == list(adapters.DIAGRAM_COLUMNS)
    assert not table.duplicated(["panel", "name"]).any()
    assert set(table["panel"]) == {"left", "right"}
    arrows = table[table["kind"] == "arrow"]
    assert len(arrows) >= 8 and np.isfinite(arrows[["x", "y", "x2", "y2"]].to_numpy()).all()
    assert set(table["style"]) - {""} <= set(plots.DIAGRAM_STYLES)
    labels = " ".join(table["label"])
    for word in ("denoiser", "latent", "implicit", "explicit", "iterative partial denoising", "regression"):
        assert word in labels, word
    # redrawn from its CSV, as every figure
    fig = plotting.plot_framework_diagram(pd.read_csv(io.StringIO(table.to_csv(index=False))))
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == list(table.loc[table["kind"] == "panel", "label"])
    drawn = " ".join(t.get_text() for ax in axes for t in ax.texts)
    assert "denoiser" in drawn and "latent" in drawn
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40)
    assert _png_pixels(buf.getvalue()).std() > 0


# --------------------------------------------------------------------------- cache and progress


def _main(capsys, *argv) -> tuple[int, str, str]:
    from interp.cli.common import run

    rc = run(figures_cli.main, figures_cli.PROG, [str(a) for a in argv])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def _outputs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("fig*"))}


def test_cached_tables_redraw_byte_identical_figures(tmp_path, capsys):
    rc, out, err = _main(capsys, "--only", "fig01", "fig09", "--out", tmp_path)
    assert rc == 0 and err == "", err
    assert "[1/2] fig01 ... done" in out and "[2/2] fig09 ... done" in out
    assert out.count("computed)") == 2
    fresh = _outputs(tmp_path)
    assert set(fresh) == {f"fig{i}.{e}" for i in ("01", "09") for e in ("png", "pdf", "csv")}
    entries = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(entries) == 4 and {Path(e).suffix for e in entries} == {".csv", ".json"}

    rc, out, err = _main(capsys, "--only", "fig01", "fig09", "--out", tmp_path)
    assert rc == 0 and err == "" and out.count("from cache)") == 2
    assert _outputs(tmp_path) == fresh  # PNG, PDF and CSV: the same bytes

    rc, out, err = _main(capsys, "--only", "fig09", "--out", tmp_path, "--no-cache")
    assert rc == 0 and "computed)" in out and "from cache" not in out
    assert _outputs(tmp_path) == fresh

    other = tmp_path / "elsewhere"
    rc, out, _ = _main(capsys, "--only", "fig09", "--out", tmp_path / "out2", "--cache-dir", other)
    assert rc == 0 and "computed)" in out and len(list(other.glob("*.json"))) == 1


def test_a_changed_param_recomputes_only_its_figure(tmp_path, capsys):
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(manifest_subset(["fig01", "fig09"]))
    assert _main(capsys, "--manifest", manifest)[0] == 0
    manifest.write_text(manifest_subset(["fig01", "fig09"]).replace("n_points = 1001", "n_points = 501")
                        .replace('title = "Two ways', 'title = "Restyled: two ways'))
    rc, out, _ = _main(capsys, "--manifest", manifest)
    assert rc == 0
    lines = out.splitlines()
    assert "fig01 ... done" in lines[0] and "from cache" in lines[0]  # a new title reuses the table
    assert "fig09 ... done" in lines[1] and "computed" in lines[1]
    assert len(pd.read_csv(tmp_path / "fig09.csv")) == 5 * 501


def _tiny_models(folder: Path, seed: int = 0) -> None:
    import torch

    from interp.nets import checkpoint
    from interp.nets.unet import UNet

    folder.mkdir(exist_ok=True)
    (folder / "tiny.toml").write_text('[model]\ntau = 2\nwidth = 4\n\n[data]\nsource = "leaves"\nn = 200\n')
    torch.manual_seed(seed)
    checkpoint.save(folder / "tiny.safetensors", UNet(tau=2, width=4), {})


def test_cache_key_follows_checkpoint_bytes_params_and_version(tmp_path, monkeypatch):
    models = tmp_path / "models"
    _tiny_models(models)
    monkeypatch.setenv(figures.MODELS_DIR_ENV, str(models))
    spec = figures.FigureSpec(id="f", title="t", analysis="recursive_generation", models=("tiny",),
                              outputs=("f.png", "f.pdf", "f.csv"), params={"k": 2, "n_examples": 1})
    key, material = figures.cache_key(spec)
    assert figures.cache_key(spec)[0] == key and len(key) == 64
    assert material["models"]["tiny"]["checkpoint_sha256"] == figures.file_sha256(models / "tiny.safetensors")
    restyled = dataclasses.replace(spec, title="other", caption="c", plot="plot_frame_grid", outputs=("g.png",))
    assert figures.cache_key(restyled)[0] == key
    assert figures.cache_key(dataclasses.replace(spec, params={"k": 3, "n_examples": 1}))[0] != key
    assert figures.cache_key(dataclasses.replace(spec, params={"n_examples": 1, "k": 2}))[0] == key  # canonical
    # one analysis's version: its keys change, version 1 is the key without an entry, others keep theirs
    other = dataclasses.replace(spec, analysis="occlusion_example")
    other_key = figures.cache_key(other)[0]
    monkeypatch.setitem(figures_cache.ANALYSIS_VERSIONS, "recursive_generation", 1)
    assert figures.cache_key(spec)[0] == key
    monkeypatch.setitem(figures_cache.ANALYSIS_VERSIONS, "recursive_generation", 2)
    new_key, new_material = figures.cache_key(spec)
    assert new_key != key and figures.cache_key(other)[0] == other_key
    assert figures_cache.material_differences(material, new_material) == [
        "code version of recursive_generation (1 -> 2)"]
    monkeypatch.setitem(figures_cache.ANALYSIS_VERSIONS, "recursive_generation", 1)
    monkeypatch.setattr(figures_cache, "CACHE_VERSION", figures_cache.CACHE_VERSION + 1)
    assert figures.cache_key(spec)[0] != key
    monkeypatch.undo()
    monkeypatch.setenv(figures.MODELS_DIR_ENV, str(models))
    _tiny_models(models, seed=1)  # retrained: other weights, same size
    st = os.stat(models / "tiny.safetensors")
    os.utime(models / "tiny.safetensors", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert figures.cache_key(spec)[0] != key
    (models / "tiny.safetensors").unlink()
    with pytest.raises(InterpError, match="python -m interp.train"):
        figures.cache_key(spec)


def test_a_damaged_cache_entry_is_recomputed_with_a_note(tmp_path, capsys):
    assert _main(capsys, "--only", "fig09", "--out", tmp_path)[0] == 0
    fresh = _outputs(tmp_path)
    csv = next((tmp_path / "cache").glob("*.csv"))
    sidecar = csv.with_suffix(".json")
    damages = [
        lambda: csv.write_bytes(csv.read_bytes()[: len(csv.read_bytes()) // 2]),  # truncated
        lambda: sidecar.write_bytes(b"\x00\xff not json"),
        lambda: sidecar.write_text('{"format": 1, "key": "0", "columns": []}'),
        lambda: csv.unlink(),
    ]
    for damage in damages:
        damage()
        rc, out, err = _main(capsys, "--only", "fig09", "--out", tmp_path)
        assert rc == 0 and "computed)" in out, (out, err)
        notes = [ln for ln in err.splitlines() if ln.strip()]
        assert len(notes) == 1 and "note: fig09: cache entry" in notes[0] and "recomputing" in notes[0], err
        assert _outputs(tmp_path) == fresh
        rc, out, err = _main(capsys, "--only", "fig09", "--out", tmp_path)
        assert rc == 0 and err == "" and "from cache)" in out  # repaired


def test_cache_round_trips_awkward_tables_exactly(tmp_path):
    n = 7
    table = pd.DataFrame({
        "f64": [0.1, -0.0, np.nan, np.inf, -np.inf, 5e-324, 1 / 3],
        "f32": np.arange(n, dtype=np.float32) / np.float32(3),
        "i64": np.arange(n, dtype=np.int64) - 3,
        "u8": np.arange(n, dtype=np.uint8),
        "flag": [True, False, True, True, False, False, True],
        "text": ["a", "", "comma, here", 'quote " here', "line\nbreak", "s:looks encoded", "é ✓"],
        "text_nan": pd.Series(["x", None, "", "y", None, "z", "nan"], dtype="str"),
        "mixed": [True, np.nan, "x", 3, None, 2.5, False],
    })
    spec = figures.FigureSpec(id="t", title="t", analysis="leaves_examples", outputs=("t.png",))
    key = "ab" * 32
    figures.write_cached_table(tmp_path, spec, key, {"why": "test"}, table)
    back = figures.read_cached_table(tmp_path, spec, key)
    assert back.equals(table)
    assert list(back.dtypes) == list(table.dtypes)
    assert np.signbit(back["f64"][1]) and back["f64"][5] == 5e-324
    assert [type(v) for v in back["mixed"]] == [bool, float, str, int, type(None), float, bool]
    assert back["text"].tolist() == table["text"].tolist()
    assert figures.read_cached_table(tmp_path, spec, "cd" * 32) is None  # another key: no entry


def test_a_table_the_cache_cannot_hold_is_still_drawn(tmp_path, monkeypatch):
    monkeypatch.setitem(figures.ANALYSES, "tuples", lambda: pd.DataFrame({"a": [(1, 2)]}))
    spec = figures.FigureSpec(id="t", title="t", analysis="tuples", outputs=("t.png",))
    table, source, notes = figures.figure_table(spec, tmp_path)
    assert source == "computed" and table["a"][0] == (1, 2)
    assert len(notes) == 1 and "not cached" in notes[0] and "tuple" in notes[0]
    assert not list(tmp_path.glob("*.json"))


def test_an_unwritable_cache_is_a_note_not_a_failure(tmp_path, capsys):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    rc, out, err = _main(capsys, "--only", "fig09", "--out", tmp_path / "out", "--cache-dir", blocker)
    assert rc == 0 and "fig09 ... done" in out and "computed)" in out
    notes = [ln for ln in err.splitlines() if ln.strip()]
    assert len(notes) == 1 and "note: fig09: table not cached: cannot write" in notes[0], err
    assert (tmp_path / "out" / "fig09.png").is_file()
