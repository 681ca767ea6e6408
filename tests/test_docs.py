"""The documentation: the README a newcomer reads, its quickstart, the docs site and the card reference.

The site is built with warnings as errors, as `make docs` does (skipped, with the reason, when
the `docs` extra is not installed; `make install` installs it with `dev`). The model-card
reference must describe every key the code accepts, so a key added to interp.train shows up.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
README = REPO / "README.md"
HAND_WRITTEN = sorted(DOCS.glob("*.md"))  # the pages written by hand (generated ones live in docs/_generated)
ISSUE_REF = re.compile(r"\bissues?\s+#?\d+", re.IGNORECASE)


def _docs_module():
    spec = importlib.util.spec_from_file_location("interp_docs", DOCS / "_ext" / "interp_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _quickstart() -> str:
    text = README.read_text(encoding="utf-8")
    m = re.search(r"^## Quickstart\n(.*?)^```python\n(.*?)^```", text, re.S | re.M)
    assert m, "README.md has no ```python block under '## Quickstart'"
    return m.group(2)


def test_readme_is_short_and_has_no_issue_numbers():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) < 250
    assert not ISSUE_REF.search(text), ISSUE_REF.search(text).group(0)
    for name in ("make install", "make test", "make figures", "make docs", "CITATION.cff", "LICENSE"):
        assert name in text, name


@pytest.mark.parametrize("page", HAND_WRITTEN, ids=lambda p: p.name)
def test_pages_have_no_issue_numbers(page):
    m = ISSUE_REF.search(page.read_text(encoding="utf-8"))
    assert not m, f"{page.name}: {m.group(0)!r} (say what the target was, not which issue set it)"


def test_readme_quickstart_runs_verbatim(tmp_path):
    """The README's Python block, run as a user would, from the repository root."""
    script = tmp_path / "quickstart.py"
    script.write_text(_quickstart(), encoding="utf-8")
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"), MPLBACKEND="Agg")
    r = subprocess.run([sys.executable, "-W", "error", str(script)], cwd=REPO, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "split adds up: True" in r.stdout, r.stdout


def test_readme_names_every_shipped_model():
    text = README.read_text(encoding="utf-8")
    for card in (REPO / "models").glob("*.toml"):
        name = card.stem
        short = "-" + name.split("-", 1)[1] if name.startswith("davis32-") else None
        assert f"`{name}`" in text or (short and f"`{short}`" in text), f"README's model table lacks {name}"


def _resolves(name: str) -> bool:
    """Whether a dotted ``interp...`` name exists: each part an attribute of the one before, or
    else a submodule (attributes first, so ``interp.sample`` is the function, not the command)."""
    import importlib

    obj, path = importlib.import_module("interp"), "interp"
    for part in name.split(".")[1:]:
        path = f"{path}.{part}"
        if hasattr(obj, part):
            obj = getattr(obj, part)
            continue
        try:
            obj = importlib.import_module(path)
        except ImportError:
            return False
    return True


def test_every_python_name_in_the_docs_exists():
    """A module moved or a function renamed shows up here, not in a reader's traceback."""
    missing = []
    for page in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            for name in re.findall(r"`(interp(?:\.[A-Za-z_]\w*)+)", line):
                if f"-m {name}" in line and name.count(".") == 1:  # a command, `python -m interp.X`
                    continue
                if not _resolves(name):
                    missing.append(f"{page.name}:{number}: {name}")
    assert not missing, missing
    assert _resolves("interp.analysis.sampler.generate_recursive") and not _resolves("interp.sampler.nothing")


def test_card_reference_describes_every_key():
    """Every key read_card accepts has a meaning in docs/card-keys.toml, and no entry is stale."""
    pytest.importorskip("interp.train")
    problems = _docs_module().card_reference_problems()
    assert not problems, "\n".join(problems)


def test_card_reference_catches_a_new_key(monkeypatch):
    """The check itself: a key the code starts to accept is reported."""
    docs = _docs_module()
    train = importlib.import_module(docs.CARD_MODULE)
    monkeypatch.setattr(train, "_TRAIN_KEYS", train._TRAIN_KEYS | {"brand_new_key"})
    monkeypatch.setattr(train, "_MODEL_KEYS", train._MODEL_KEYS | {"another_key"})
    problems = docs.card_reference_problems()
    assert any("brand_new_key" in p for p in problems) and any("another_key" in p for p in problems), problems


def test_cards_in_the_docs_are_valid(tmp_path):
    """Every TOML block of the pages that is a whole card (has [model]) is accepted by read_card."""
    train = importlib.import_module(_docs_module().CARD_MODULE)
    (tmp_path / "data").mkdir()
    n = 0
    for page in HAND_WRITTEN:
        for block in re.findall(r"^```toml\n(.*?)^```", page.read_text(encoding="utf-8"), re.S | re.M):
            if "[model]" not in block:
                continue
            tomllib.loads(block)
            card = tmp_path / "models" / f"card{n}.toml"
            card.parent.mkdir(exist_ok=True)
            card.write_text(block, encoding="utf-8")
            train.read_card(card)
            n += 1
    assert n >= 3


def test_docs_build_with_warnings_as_errors(tmp_path):
    """`make docs` in a temporary output folder: Sphinx with -W (notebooks rendered, not run)."""
    for module in ("sphinx", "myst_nb", "furo"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed: the docs extra is missing (pip install -e '.[docs]', "
                        f"or `make install`, whose dev extra includes it)")
    out = tmp_path / "html"
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"), INTERP_DOCS_EXECUTE="0")
    r = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                        "-d", str(tmp_path / "doctrees"), str(DOCS), str(out)],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, (r.stdout + r.stderr)[-5000:]
    for page in ("index", "getting-started", "tutorials", "train-your-own-video", "card-reference", "models",
                 "figures", "cli", "benchmarks", "robustness", "experiments", "gpu", "_generated/api",
                 "_generated/tutorials/occlusion_decisions"):
        assert (out / f"{page}.html").is_file(), page
    cards = (out / "card-reference.html").read_text(encoding="utf-8")
    assert "undescribed" not in cards
    for key in ("focus_depth", "weight_cap", "predict_only", "variant"):
        assert key in cards, key
    cli = (out / "cli.html").read_text(encoding="utf-8")
    assert "--max-minutes" in cli and "--test-fraction" in cli
    api = (out / "_generated" / "api.html").read_text(encoding="utf-8")
    for name in ("adaptive_filter", "split_evidence", "evidence_partition", "denoising_loss"):
        assert name in api, name
