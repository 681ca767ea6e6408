"""The figure pipeline: manifest -> analysis table -> plot -> PNG/PDF/CSV, and its CLI."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from interp import figures, plotting

from conftest import REPO, assert_one_line_error, run_cli

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
    assert axes[0].get_title() == "t = 1" and axes[10].get_title() == "t = 11"
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
        'plot = "plot_sequences"\noutputs = ["figbad.png"]\n\n'
        '[[figure]]\nid = "fig02"\ntitle = "leaves"\nanalysis = "leaves_examples"\n'
        'params = { n_sequences = 1, seed = 3, frames = 3 }\noutputs = ["fig02.png", "fig02.csv"]\n'
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
