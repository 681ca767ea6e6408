"""Tracked figures stay canonical: drawn from their committed tables when the inputs match, drawn
elsewhere (with one line saying why) when they do not, written over only with --update; and one
frame-labelling convention across figures and commands."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, manifest_subset

from interp._util import labels
from interp.cli import figures as figures_cli
from interp.data.natural import BUILTIN_LABEL
from interp.figures import cache as figures_cache
from interp.figures import registry


def _main(capsys, *args) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = figures_cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def _bytes(folder: Path, names) -> dict[str, bytes]:
    return {n: (folder / n).read_bytes() for n in names}


@pytest.fixture
def tracked(tmp_path) -> tuple[Path, Path]:
    """A manifest folder holding fig09 (cheap, no model) and a folder for changed figures."""
    folder = tmp_path / "figs"
    folder.mkdir()
    (folder / "manifest.toml").write_text(manifest_subset(["fig09"]), encoding="utf-8")
    return folder, tmp_path / "changed"


def test_committed_table_redraws_the_same_bytes(tracked, capsys):
    folder, changed = tracked
    manifest = folder / "manifest.toml"
    rc, out, err = _main(capsys, "--manifest", manifest, "--update", "--changed-out", changed)
    assert rc == 0, err
    assert "computed, committed table written" in out
    tables = folder / "tables"
    assert sorted(p.name for p in tables.iterdir()) == ["fig09.csv.gz", "fig09.json"]
    meta = json.loads((tables / "fig09.json").read_text())
    assert meta["figure"] == "fig09" and meta["material"]["analysis"] == "onedim_score"
    assert meta["key"] == figures_cache.cache_key(figures_cli.load_manifest(manifest)[0])[0]
    names = ["fig09.png", "fig09.pdf", "fig09.csv", "index.html"]
    first = _bytes(folder, names)
    committed = _bytes(tables, ["fig09.csv.gz", "fig09.json"])

    shutil.rmtree(folder / "cache")  # nothing computed is left: the committed table is all there is
    for name in ("fig09.png", "fig09.pdf", "fig09.csv"):
        (folder / name).unlink()
    for _ in range(2):
        rc, out, err = _main(capsys, "--manifest", manifest, "--changed-out", changed)
        assert rc == 0 and err == "", err
        assert "fig09 ... done" in out and "from its committed table" in out
        assert _bytes(folder, names) == first  # images, table and gallery: the same bytes
    assert _bytes(tables, ["fig09.csv.gz", "fig09.json"]) == committed
    assert not changed.exists() and not (folder / "cache").exists()

    rc, out, _ = _main(capsys, "--manifest", manifest, "--update", "--changed-out", changed)
    assert rc == 0 and "from its committed table" in out  # nothing changed: nothing recomputed
    assert _bytes(tables, ["fig09.csv.gz", "fig09.json"]) == committed


def test_changed_inputs_are_drawn_elsewhere_until_update(tracked, capsys):
    folder, changed = tracked
    manifest = folder / "manifest.toml"
    assert _main(capsys, "--manifest", manifest, "--update", "--changed-out", changed)[0] == 0
    names = ["fig09.png", "fig09.pdf", "fig09.csv", "index.html"]
    canonical = _bytes(folder, names)
    meta = (folder / "tables" / "fig09.json").read_bytes()

    manifest.write_text(manifest_subset(["fig09"]).replace("n_points = 1001", "n_points = 501"), encoding="utf-8")
    rc, out, err = _main(capsys, "--manifest", manifest, "--changed-out", changed)
    assert rc == 0, err
    said = [ln for ln in out.splitlines() if ln.strip().startswith("fig09:")]
    assert len(said) == 1, out  # one line: why, and where the figure went
    assert "inputs differ from its committed table (params (n_points))" in said[0]
    assert str(changed / "fig09.png") in said[0] and "--update" in said[0]
    assert _bytes(folder, names) == canonical  # the tracked files are untouched
    assert (folder / "tables" / "fig09.json").read_bytes() == meta
    assert len(pd.read_csv(changed / "fig09.csv")) == 5 * 501  # what this checkout computes
    assert (changed / "index.html").is_file()
    assert f"1 to {changed}" in out.splitlines()[-1]

    rc, out, _ = _main(capsys, "--manifest", manifest, "--update", "--changed-out", changed)
    assert rc == 0 and "committed table written" in out
    assert len(pd.read_csv(folder / "fig09.csv")) == 5 * 501
    assert (folder / "fig09.png").read_bytes() != canonical["fig09.png"]
    assert json.loads((folder / "tables" / "fig09.json").read_text())["material"]["params"]["n_points"] == 501


def test_a_damaged_committed_table_is_not_trusted(tracked, capsys):
    folder, changed = tracked
    manifest = folder / "manifest.toml"
    assert _main(capsys, "--manifest", manifest, "--update", "--changed-out", changed)[0] == 0
    png = (folder / "fig09.png").read_bytes()
    gz = folder / "tables" / "fig09.csv.gz"
    import gzip

    gz.write_bytes(gzip.compress(gzip.decompress(gz.read_bytes()).replace(b"0.", b"1.", 1), mtime=0))
    rc, out, err = _main(capsys, "--manifest", manifest, "--changed-out", changed)
    assert rc == 0, err
    assert "committed table is unusable" in out and "checksum" in out
    assert (folder / "fig09.png").read_bytes() == png and (changed / "fig09.png").is_file()


def _fake_natural(data_file: Path):
    """An analysis shaped like the natural-video ones: its table names the test data it used,
    DAVIS32 when ``data_file`` exists, else the built-in set (as natural_video_test_set does)."""

    def analysis(seed: int = 0) -> pd.DataFrame:
        rng = np.random.default_rng(seed if data_file.is_file() else seed + 1)
        rows, cols = np.meshgrid(np.arange(4), np.arange(4), indexing="ij")
        table = pd.DataFrame({"track": 0, "slot": 0, "label": "t", "role": "conditioning",
                              "row": rows.ravel(), "col": cols.ravel(), "value": rng.random(16)})
        table["data"] = f"DAVIS32 test split ({data_file.name})" if data_file.is_file() else BUILTIN_LABEL
        return table

    return analysis


@pytest.mark.parametrize("name", ["davis32-mini.npz", "davis32-footage.npz"])
def test_natural_video_fallback_says_which_data_and_how_to_get_davis32(tracked, capsys, monkeypatch, name):
    folder, changed = tracked
    davis = folder.parent / name
    davis.write_bytes(b"stand-in for the DAVIS32 clips")
    monkeypatch.setitem(registry.ANALYSES, "fake_natural", _fake_natural(davis))
    monkeypatch.setitem(figures_cache.CACHE_INPUTS, "fake_natural", lambda spec: [davis])
    manifest = folder / "manifest.toml"
    manifest.write_text('[[figure]]\nid = "nat"\ntitle = "natural"\nanalysis = "fake_natural"\n'
                        'plot = "plot_frame_grid"\noutputs = ["nat.png", "nat.pdf", "nat.csv"]\n', encoding="utf-8")
    rc, out, err = _main(capsys, "--manifest", manifest, "--update", "--changed-out", changed)
    assert rc == 0, err
    assert f"nat: test data: DAVIS32 test split ({name})" in out
    png = (folder / "nat.png").read_bytes()

    rc, out, _ = _main(capsys, "--manifest", manifest, "--changed-out", changed)
    said = [ln for ln in out.splitlines() if ln.strip().startswith("nat:")]
    assert len(said) == 1 and "DAVIS32 test split" in said[0] and "../shared" not in said[0]

    davis.unlink()  # a clone without the DAVIS sequences beside it
    rc, out, err = _main(capsys, "--manifest", manifest, "--changed-out", changed)
    assert rc == 0, err
    said = [ln for ln in out.splitlines() if ln.strip().startswith("nat:")]
    assert len(said) == 1, out
    line = said[0]
    assert f"test data: {BUILTIN_LABEL}" in line and "(committed: DAVIS32 test split" in line
    assert f"{name} absent" in line and str(changed / "nat.png") in line
    if name == "davis32-mini.npz":  # how make figures builds it
        assert "../shared/data/davis-mini" in line and "python -m interp.data davis32" in line
    else:  # another clip set: how to build that file
        assert f"build {davis}" in line and "python -m interp.data card" in line
    assert (folder / "nat.png").read_bytes() == png and (changed / "nat.png").is_file()


def test_update_refuses_another_output_folder(tmp_path, capsys):
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(manifest_subset(["fig09"]), encoding="utf-8")
    with pytest.raises(figures_cli.InterpError, match="--update"):
        figures_cli.main(["--manifest", str(manifest), "--update", "--out", str(tmp_path / "elsewhere")])


def test_shipped_figures_have_committed_tables_with_provenance():
    """Every figure of the shipped manifest that has a tracked image has a committed table, and
    the tables are small enough to keep in the repository."""
    specs = figures_cli.load_manifest(REPO / "figures" / "manifest.toml")
    tables = REPO / "figures" / "tables"
    total = 0
    for spec in specs:
        if not (REPO / "figures" / f"{spec.id}.png").is_file():
            continue
        committed = figures_cache.read_committed_table(tables, spec)
        assert committed is not None, spec.id
        material = committed.material
        assert material["params"] == json.loads(figures_cache._canonical(spec.params)), spec.id
        assert set(material["models"]) == set(spec.models), spec.id
        assert not any(Path(name).is_absolute() for name in material["inputs"]), spec.id  # same in any clone
        total += (tables / f"{spec.id}.csv.gz").stat().st_size
    assert total < 5 * 2**20


# -- one frame-labelling convention ---------------------------------------------------------------


def test_frame_label_convention():
    assert [labels.frame_label(k) for k in (-2, -1, 0, 1, 2)] == ["t-2", "t-1", "t", "t+1", "t+2"]
    assert labels.conditioning_labels(3) == ["t-2", "t-1", "t"] and labels.conditioning_labels(0) == []
    assert labels.frame_index(0) == "frame 0"
    assert labels.frame_position(4, 3) == "t+1 (frame 4)"
    assert labels.normalize("t - 1") == "t-1" and labels.normalize("noisy t + 1 (16 dB)") == "noisy t+1 (16 dB)"
    assert labels.normalize("true next frame") == "true t+1"
    assert labels.normalize("t = 3", tau=2) == "t+1" and labels.normalize("t = 1", tau=2) == "t-1"
    assert labels.normalize("t = 3") == "t = 3"  # no tau: left alone
    assert labels.normalize("tau = 2") == "tau = 2" and labels.normalize("k = 11") == "k = 11"


def test_frame_grid_titles_follow_the_convention():
    from interp.plotting import plot_frame_grid

    def grid(labels_, roles, tau=None):
        rows = []
        for slot, (lab, role) in enumerate(zip(labels_, roles)):
            for r in range(2):
                for c in range(2):
                    rows.append({"track": 0, "slot": slot, "label": lab, "role": role, "row": r, "col": c,
                                 "value": 0.5})
        table = pd.DataFrame(rows)
        if tau is not None:
            table["tau"] = tau
        return table

    def titles(fig):
        return [ax.get_title() for ax in fig.axes]

    recursive = grid([f"t = {k}" for k in range(1, 6)], ["conditioning"] * 2 + ["sample"] * 3, tau=2)
    assert titles(plot_frame_grid(recursive)) == ["t-1", "t", "t+1", "t+2", "t+3"]
    probe = grid(["t = 1", "t = 2", "noise y0", "one-step"], ["conditioning"] * 3 + ["onestep"])
    assert titles(plot_frame_grid(probe)) == ["t-1", "t", "noise y0", "one-step"]
    natural = grid(["t - 1", "t", "true t + 1"], ["conditioning", "conditioning", "truth"])
    assert titles(plot_frame_grid(natural)) == ["t-1", "t", "true t+1"]


_HAND_MADE = re.compile(r"""f["'](?:t = \{|t-\{|t\+\{|t - \{|t \+ \{|frame \{t)|["']t \+ 1|["']t - 1""")


def test_frame_labels_come_from_one_helper():
    """No plotting function or command writes a frame label by hand: they call interp._util.labels."""
    files = sorted((REPO / "interp" / "plotting").glob("*.py")) + sorted((REPO / "interp" / "cli").glob("*.py"))
    offenders = [f"{p.relative_to(REPO)}:{i}: {line.strip()}" for p in files
                 for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if _HAND_MADE.search(line)]
    assert offenders == []
    users = {p.name for p in files if "interp._util.labels" in p.read_text(encoding="utf-8")}
    assert {"plots.py", "video.py", "outputs.py", "entropy.py", "sample.py", "jacobian.py"} <= users


# -- a fresh clone ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_fresh_clone_without_shared_data_stays_clean(tmp_path):
    """Clone HEAD into a folder with no ../shared beside it, render a figure of each kind there (a
    model-free one, a moving-leaves one and a natural-video one, which falls back to the built-in
    set), and check git sees no change. The full `make figures` is checked the same way by hand
    (docs/figures.md)."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        pytest.skip("not a git checkout")
    clone = tmp_path / "nodata" / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True, timeout=600)
    assert not (clone.parent.parent / "shared").exists() and not (clone.parent / "shared").exists()
    where = subprocess.run([sys.executable, "-c", "import interp, sys; sys.stdout.write(interp.__file__)"],
                           cwd=clone, capture_output=True, text=True, check=True).stdout
    assert Path(where).resolve().is_relative_to(clone.resolve())  # the clone's code, not this checkout's

    proc = subprocess.run([sys.executable, "-m", "interp.figures", "--only", "fig09", "fig05", "fig07"],
                          cwd=clone, capture_output=True, text=True, timeout=1800,
                          env={k: v for k, v in __import__("os").environ.items() if k != "INTERP_DAVIS32"})
    assert proc.returncode == 0, proc.stderr
    drawn = re.findall(r"\] (\w+) \.\.\. done \([\d.]+ s, (from its committed table|computed)\)", proc.stdout)
    assert drawn == [("fig09", "from its committed table"), ("fig05", "from its committed table"),
                     ("fig07", "computed")], proc.stdout
    said = [ln for ln in proc.stdout.splitlines() if ln.strip().startswith("fig07:")]
    assert len(said) == 1 and BUILTIN_LABEL in said[0] and "../shared/data/davis-mini" in said[0]
    assert (clone / "runs" / "figures" / "fig07.png").is_file()
    status = subprocess.run(["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True, check=True)
    assert status.stdout == ""
