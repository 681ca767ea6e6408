"""Sphinx configuration of the interp documentation (`make docs`).

Sphinx, with MyST Markdown pages (myst-nb), the notebooks of analyses/ rendered by myst-nb, the
API pages by autodoc + napoleon (the docstrings are numpydoc-style) and the furo theme. Pages
that come from the code (card reference, CLI help, shipped models, figure gallery, benchmark
table, API page) are generated into docs/_generated/ by docs/_ext/interp_docs.py, which is
also the one place that names interp's modules.

Notebooks are rendered as stored (without outputs) and never executed, unless the build runs
with INTERP_DOCS_EXECUTE=1 (`make docs-execute`): then each notebook runs once, at the small
settings of INTERP_NB_SMALL=1 (a few seconds each on one thread), and its outputs appear.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))
os.environ.setdefault("OMP_NUM_THREADS", "1")

import interp_docs  # noqa: E402

import interp  # noqa: E402

interp_docs.generate()

project = "interp"
author = "the interp contributors"
copyright = "the interp contributors, MIT License"
release = version = interp.__version__

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "_generated/benchmarks-table.md",
                    "_generated/card-keys.md", "_generated/models.md", "_generated/gallery.md",
                    "_generated/cli.md", "**.ipynb_checkpoints"]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}

# MyST
myst_enable_extensions = ["dollarmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# Notebooks: rendered, not run (see the module docstring)
EXECUTE = os.environ.get("INTERP_DOCS_EXECUTE", "0") not in ("", "0")
nb_execution_mode = "force" if EXECUTE else "off"
nb_execution_timeout = 300
nb_execution_raise_on_error = True
nb_execution_show_tb = True
if EXECUTE:
    os.environ["INTERP_NB_SMALL"] = "1"  # the kernels inherit it
    os.environ.setdefault("JUPYTER_PLATFORM_DIRS", "1")
    os.environ.pop("MPLBACKEND", None)
nb_merge_streams = True
# the notebooks of analyses/ go from their title (H1) straight to H3 sections; they are rendered as
# they are stored, so that one check is off (it would flag only them)
suppress_warnings = ["myst.header"]

# autodoc
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the numpydoc Parameters sections give the types
autodoc_default_options = {"members": True, "show-inheritance": False}
napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_rtype = False

# HTML
html_theme = "furo"
html_title = f"interp {release}"
html_static_path: list[str] = []
html_show_sourcelink = False


def setup(app):
    app.connect("autodoc-process-docstring", interp_docs.escape_absolute_values)
