"""The package's shape (DESIGN.md, Layout): subpackages in layers, each importing only from the
layers below it (the import-linter contracts of pyproject.toml), and no private name imported
from another subpackage."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "interp"


def test_import_contracts_are_kept():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    proc = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _subpackage(module: str) -> str:
    """``interp.X`` for a module of subpackage X (the top-level modules count as ``interp``)."""
    parts = module.split(".")
    if len(parts) >= 2 and (PACKAGE / parts[1]).is_dir():
        return ".".join(parts[:2])
    return "interp"


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_imports() -> list[str]:
    """``file:line: what`` for every import of a private name from another subpackage.

    ``interp._util`` is the one private package every layer shares: its modules may be imported,
    but not their private names.
    """
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        here = _module(path)
        package = here if path.name == "__init__.py" else here.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if not target.startswith("interp"):
                    continue
                for alias in node.names:
                    full = f"{target}.{alias.name}"
                    other = _subpackage(full if (PACKAGE / full.split(".", 1)[-1].replace(".", "/")).is_dir()
                                        else target)
                    path_parts = [p for p in target.split(".")[1:] if p != "_util"]
                    bad_path = any(_private(p) for p in path_parts)
                    if other != _subpackage(here) and (_private(alias.name) or bad_path):
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}: from {target} import {alias.name}")
    return found


def test_no_private_name_is_imported_from_another_subpackage():
    assert private_imports() == []


def test_the_scan_finds_a_private_import(tmp_path, monkeypatch):
    """The scan itself: a planted ``from interp.data.leaves import _key`` in the analyses is found."""
    fake = tmp_path / "interp"
    shutil.copytree(PACKAGE, fake, ignore=shutil.ignore_patterns("__pycache__"))
    (fake / "analysis" / "planted.py").write_text("from interp.data.leaves import _key\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    assert private_imports() == ["interp/analysis/planted.py:1: from interp.data.leaves import _key"]


def test_every_command_runs_as_a_module():
    """``python -m interp.<tool> --help`` for every command of the README's table."""
    for tool in ("train", "sample", "jacobian", "psychometrics", "entropy", "data", "figures"):
        proc = subprocess.run([sys.executable, "-m", f"interp.{tool}", "--help"], cwd=ROOT, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0 and "usage:" in proc.stdout, (tool, proc.stderr)
