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


def assert_main_one_line(capsys, main, prog: str, argv, *needles: str) -> None:
    """Call a CLI's ``main`` in-process through :func:`interp.cli.run`: bad input must give exit
    code 2 and a single stderr line naming the problem (argparse's usage errors included)."""
    from interp.cli.common import run

    try:
        rc = run(main, prog, [str(a) for a in argv])
    except SystemExit as exit:  # argparse's own usage errors
        rc = exit.code
    assert rc == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    for n in needles:
        assert n.lower() in lines[0].lower(), lines[0]


def manifest_subset(ids, path: Path = REPO / "figures" / "manifest.toml") -> str:
    """The ``[[figure]]`` entries of ``ids`` (in that order), as TOML text cut from a manifest."""
    import re
    import tomllib

    text = path.read_text(encoding="utf-8")
    blocks = {}
    for block in re.split(r"(?m)^(?=\[\[figure\]\]\s*$)", text):
        if block.startswith("[[figure]]"):
            entry = tomllib.loads(block)["figure"][0]
            blocks[entry["id"]] = block.rstrip() + "\n"
    return "\n".join(blocks[i] for i in ids)
