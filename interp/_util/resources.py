"""Where the files shipped with the package are: the trained models (``models/``) and the figure
manifest (``figures/manifest.toml``, with its presets).

In a source checkout (an editable install) they are the repository's own top-level ``models/``
and ``figures/`` folders; an installed wheel carries copies of them as package data under
``interp/_shipped/`` (see ``[tool.setuptools]`` in pyproject.toml).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["PACKAGE", "CHECKOUT", "ROOT", "shipped"]

#: The ``interp`` package folder.
PACKAGE = Path(__file__).resolve().parents[1]
#: The folder above the package: the repository root when running from a checkout.
CHECKOUT = PACKAGE.parent


def shipped(kind: str) -> Path:
    """The folder of shipped ``kind`` (``"models"`` or ``"figures"``): the installed package
    data when present, else the checkout's top-level folder."""
    installed = PACKAGE / "_shipped" / kind
    return installed if installed.is_dir() else CHECKOUT / kind


#: Where relative outputs and data (``data/``, ``runs/``) are resolved: the repository root in a
#: checkout, else the current directory (an installed package never writes inside itself).
ROOT = CHECKOUT if not (PACKAGE / "_shipped").is_dir() else Path.cwd()
