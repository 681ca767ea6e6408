"""Shared test helpers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def run_cli(module: str, *args, cwd=REPO, timeout=300) -> subprocess.CompletedProcess:
    """Run ``python -m module args`` and capture its output."""
    env = dict(os.environ, PYTHONWARNINGS="error::DeprecationWarning:interp")
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    """Bad input: exit code 2, a single line on stderr naming the problem, no traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for n in needles:
        assert n.lower() in lines[0].lower(), lines[0]


@pytest.fixture
def repo() -> Path:
    return REPO
