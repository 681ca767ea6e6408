"""The exploratory notebooks in analyses/: stored clean, and each runs end to end on small settings."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")

REPO = Path(__file__).resolve().parents[1]
ANALYSES = REPO / "analyses"
EXPECTED = ("occlusion_decisions", "adaptive_filters", "evidence_weighting", "sampling_trajectories")
NOTEBOOKS = tuple(sorted(p.stem for p in ANALYSES.glob("*.ipynb")))  # a new notebook is checked too
SMALL_BUDGET_S = 120  # per notebook, kernel start included; they take about 5-10 s on 1 thread


def _read(name: str):
    return nbformat.read(ANALYSES / f"{name}.ipynb", as_version=4)


def _execute(name: str, monkeypatch, **overrides):
    """Run a notebook from the repository root with INTERP_NB_SMALL=1; ``overrides`` are injected as
    a cell after the ``parameters`` cell (as papermill does). Returns (notebook, seconds)."""
    from nbclient import NotebookClient

    nb = _read(name)
    if overrides:
        at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
        src = "\n".join(f"{k} = {v!r}" for k, v in overrides.items())
        nb.cells.insert(at + 1, nbformat.v4.new_code_cell(src, metadata={"tags": ["injected-parameters"]}))
    monkeypatch.setenv("INTERP_NB_SMALL", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "1"))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend renders the figures
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # no platformdirs migration warning
    client = NotebookClient(nb, timeout=SMALL_BUDGET_S, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(REPO)}})
    start = time.perf_counter()
    client.execute()
    return nb, time.perf_counter() - start


def _stream_text(nb) -> str:
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
                   if o.output_type == "stream")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_stored_clean(name):
    nb = _read(name)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, name
    for c in code:
        assert c.outputs == [], f"{name}: a code cell has stored outputs"
        assert c.execution_count is None, f"{name}: a code cell has an execution count"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[-1].cell_type == "markdown"
    assert "what to look at" in nb.cells[-1].source.lower()
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and "INTERP_NB_SMALL" in params[0].source
    for name_ in ("CKPT", "DATA"):  # the model and the data are parameters of every notebook
        assert any(line.startswith(f"{name_} = ") for line in params[0].source.splitlines()), name_
    assert nb.cells.index(params[0]) == 1  # right after the question


def test_the_four_notebooks_exist():
    assert set(EXPECTED) <= set(NOTEBOOKS)


def test_kernel_is_this_environment():
    """The ``python3`` kernel runs the interpreter of these tests (jupyter_client replaces a spec's
    bare ``python`` with sys.executable), so the notebooks import this environment's interp."""
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec("python3")
    exe = spec.argv[0]
    assert exe in ("python", "python3") or Path(exe).resolve() == Path(sys.executable).resolve(), spec.argv


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_small(name, monkeypatch):
    nb, seconds = _execute(name, monkeypatch)
    text = _stream_text(nb)
    assert "model:" in text
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert images >= 2, f"{name}: only {images} figure(s)"
    assert seconds < SMALL_BUDGET_S


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", ["adaptive_filters", "evidence_weighting"])
def test_natural_notebooks_fall_back_to_leaves(name, monkeypatch):
    """With the moving-leaves model (what they use when davis32-tau2 has not been trained)."""
    nb, _ = _execute(name, monkeypatch, CKPT="models/leaves-tau2-long.safetensors")
    text = _stream_text(nb)
    assert "moving leaves" in text and "moving-leaves test split" in text
