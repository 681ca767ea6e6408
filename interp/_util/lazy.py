"""A package's public names, imported from its modules only when first used (as lazy_loader does),
so that ``python -m interp.<tool> --help`` does not import every analysis."""

from __future__ import annotations

import importlib


def attach(package: str, names: dict[str, str]):
    """``(__getattr__, __dir__, __all__)`` for ``package`` whose public ``names`` map onto the
    submodule (relative to ``package``) that defines each."""

    def __getattr__(name: str):
        if name in names:
            value = getattr(importlib.import_module(f"{package}.{names[name]}"), name)
            setattr(importlib.import_module(package), name, value)
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(names)

    return __getattr__, __dir__, sorted(names)
