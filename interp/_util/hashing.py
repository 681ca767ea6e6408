"""SHA-256 of a file's bytes: the one file hash of the package (checkpoints, downloads, the figure cache)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_CHUNK = 1 << 20
_MEMO: dict[tuple, str] = {}


def file_sha256(path: str | os.PathLike, hasher=None, *, memo: bool = False) -> str:
    """Hex SHA-256 of a file's bytes (or of ``hasher``, fed with them, when given).

    ``memo=True`` remembers the digest per path, size and modification time (the figure cache
    hashes the same checkpoints again and again).
    """
    path = Path(path)
    key = None
    if memo and hasher is None:
        st = os.stat(path)
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
        if key in _MEMO:
            return _MEMO[key]
    h = hasher if hasher is not None else hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    digest = h.hexdigest()
    if key is not None:
        _MEMO[key] = digest
    return digest
