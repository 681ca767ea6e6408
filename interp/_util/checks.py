"""Argument checks shared by the analyses: one-line :class:`InterpError` naming the argument."""

from __future__ import annotations

import numpy as np

from interp._util.errors import InterpError, short_repr


def check_int(name: str, value, minimum: int, limit: int | None = None) -> int:
    """``value`` as an int >= ``minimum`` (and < ``limit``), else a one-line error naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum \
            or (limit is not None and value >= limit):
        bounds = f">= {minimum}" if limit is None else f"in [{minimum}, {short_repr(limit)})"
        raise InterpError(f"{name} must be an integer {bounds}, got {short_repr(value)}")
    return int(value)
