"""A non-editable install finds the shipped models and the figure manifest without the repository."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_a_wheel_install_loads_shipped_models_and_renders_a_figure(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    env = {**os.environ, "PIP_CONSTRAINT": str(ROOT / "constraints.txt"), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    # from the package index pip is configured with (the local one), torch pinned by the constraints
    subprocess.run([str(py), "-m", "pip", "install", "-q", str(ROOT)],
                   check=True, env=env, cwd=tmp_path, timeout=900)
    out = tmp_path / "figout"
    code = ("import interp, pathlib; assert 'site-packages' in interp.__file__, interp.__file__; "
            "net = interp.load('davis32-tau2'); print(type(net).__name__, net.tau)")
    proc = subprocess.run([str(py), "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "UNet 2" in proc.stdout, proc.stderr
    proc = subprocess.run([str(py), "-m", "interp.figures", "--only", "fig09", "--out", str(out)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert (out / "fig09.png").stat().st_size > 0
