"""Datasets of short clips: the in-memory container, its ``.npz`` file format, and the CLI.

A dataset is ``frames``, float32 [N, T, H, W] in [0, 1], plus per-sequence metadata arrays
(first axis N) and a JSON description of its source. On disk it is one ``.npz`` holding
``frames``, ``meta.<name>`` arrays and ``source`` (a JSON string); it is read with
``allow_pickle=False``, so a file cannot run code when loaded. :func:`load` rejects, with a
one-line error naming the file (and the first bad sequence), anything else: a pickle, an
object array, a plain ``.npy``, an empty dataset, metadata whose first axis is not N, and
frames that are not finite float32 values in [0, 1] (they are never clipped or repaired).
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
from pathlib import Path

import numpy as np

from interp._util.errors import InterpError
from interp._util.io import (
    atomic_write,
    check_writable,
)

#: The most elongated frame taken, width to height or height to width. A frame is scaled to 128,
#: 96 and 64 rows with its aspect kept, so a 3000x2 frame would become 192000 pixels wide (1 GB
#: per 11-frame window) for 21 crops; DAVIS's frames are 16:9, ultra-wide video about 2.4:1.
MAX_ASPECT = 16

FORMAT = "interp.dataset/1"


@dataclasses.dataclass
class Dataset:
    """Frames [N, T, H, W] float32 in [0, 1], per-sequence metadata and a source description."""

    frames: np.ndarray
    meta: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    source: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        f = self.frames
        if not isinstance(f, np.ndarray) or f.ndim != 4:
            raise InterpError(f"frames must be an array [N, T, H, W], got shape {getattr(f, 'shape', None)}")
        if f.dtype != np.float32:
            raise InterpError(f"frames must be float32, got {f.dtype}")
        for k, v in self.meta.items():
            if np.ndim(v) == 0 or len(v) != len(f):
                raise InterpError(f"metadata {k!r} has shape {np.shape(v)}, its first axis must be the "
                                  f"{len(f)} sequences")

    def __len__(self) -> int:
        return len(self.frames)

    def __repr__(self) -> str:
        """One line: shape, split and source (the arrays themselves are not printed)."""
        n, t, h, w = self.frames.shape
        split = f", {int(self.meta['test'].astype(bool).sum())} test" if "test" in self.meta else ", no split"
        kind = self.source.get("kind") or self.source.get("source") or self.source.get("name")
        return (f"Dataset({n} sequences of {t} frames, {h}x{w}{split}"
                f"{f', source {kind!r}' if kind else ''}; meta: {', '.join(sorted(self.meta)) or 'none'})")

    def test_clips(self) -> np.ndarray:
        """Indices of the test sequences, in order (``ds[ds.test_clips()]`` is ``ds.test``)."""
        return np.flatnonzero(self._test_mask())

    def __getitem__(self, idx) -> "Dataset":
        """A subset (index array, boolean mask or slice), metadata kept aligned."""
        if isinstance(idx, (int, np.integer)):
            idx = [idx]
        return Dataset(self.frames[idx], {k: v[idx] for k, v in self.meta.items()}, dict(self.source))

    @property
    def train(self) -> "Dataset":
        return self[~self._test_mask()]

    @property
    def test(self) -> "Dataset":
        return self[self._test_mask()]

    def _test_mask(self) -> np.ndarray:
        if "test" not in self.meta:
            raise InterpError("this dataset has no train/test split (no 'test' metadata)")
        return self.meta["test"].astype(bool)

    def save(self, path) -> Path:
        return save(self, path)


def save(ds: Dataset, path) -> Path:
    """Write ``ds`` to ``path`` (.npz) atomically."""
    path = check_writable(path)
    arrays = {"frames": ds.frames, "format": np.array(FORMAT), "source": np.array(json.dumps(ds.source))}
    arrays.update({f"meta.{k}": np.asarray(v) for k, v in ds.meta.items()})
    with atomic_write(path) as f:
        np.savez(f, **arrays)
    return path


def load(path) -> Dataset:
    """Read a dataset written by :func:`save` (never unpickles).

    Raises :class:`interp.cli.InterpError` with a one-line message for a missing, unreadable
    or malformed file (a pickle, a plain ``.npy``, an object array, metadata whose first axis
    is not the number of sequences, a source that is not a JSON object), an empty dataset, or
    frames that are not finite float32 [N, T, H, W] in [0, 1]; the message names the file and,
    for bad frame values, the first offending sequence.
    """
    path = Path(path)
    if not path.exists():
        raise InterpError(f"dataset file {path} does not exist")
    if not path.is_file():
        raise InterpError(f"dataset file {path} is not a file")
    try:
        # the file is ours to close: np.load(path) leaves it open when a damaged zip fails to parse
        with open(path, "rb") as fh:
            z = np.load(fh, allow_pickle=False)
            if not isinstance(z, np.lib.npyio.NpzFile):  # a plain .npy: an array, not a dataset
                raise InterpError(f"{path} is not an interp dataset (a single .npy array, not an .npz archive)")
            with z:
                names = set(z.files)
                if "frames" not in names:
                    raise InterpError(f"{path} is not an interp dataset (no 'frames' array)")
                arrays = {k: z[k] for k in sorted(names) if k in ("frames", "source") or k.startswith("meta.")}
                for k, v in arrays.items():  # a member that is not in .npy format comes back as raw bytes
                    if not isinstance(v, np.ndarray):
                        raise InterpError(f"{path} is not an interp dataset (its member {k!r} is not a .npy array)")
                frames = arrays.pop("frames")
                source = json.loads(str(arrays.pop("source")[()])) if "source" in arrays else {}
                meta = {k[5:]: v for k, v in arrays.items()}
    except InterpError:
        raise
    except ValueError as err:
        if "pickle" in str(err).lower():  # an object array, or a file that is neither a zip nor a .npy
            if not _head(path).startswith((b"PK", b"\x93NUMPY", b"\x80")):  # \x80: a pickle (protocol 2+)
                raise InterpError(f"{path} is not an .npz file (neither a zip archive nor a .npy array)") from None
            raise InterpError(f"{path} holds pickled objects, which interp refuses to load") from None
        raise InterpError(f"{path} is not a readable dataset: {err}") from None
    except (zipfile.BadZipFile, OSError, EOFError, KeyError, IndexError, TypeError,
            json.JSONDecodeError) as err:
        raise InterpError(f"{path} is not a readable dataset ({type(err).__name__}: {err})") from None
    if not isinstance(source, dict):
        raise InterpError(f"{path} is not an interp dataset (its 'source' is not a JSON object)")
    if frames.ndim != 4:
        raise InterpError(f"{path}: frames must be an [N, T, H, W] array, got shape {frames.shape}")
    if frames.size == 0:
        raise InterpError(f"{path}: the dataset is empty (frames of shape {frames.shape})")
    if frames.dtype != np.float32:
        raise InterpError(f"{path}: frames must be float32, got {frames.dtype}")
    for k, v in meta.items():
        if v.ndim == 0 or len(v) != len(frames):
            raise InterpError(f"{path}: metadata {k!r} has shape {v.shape}, its first axis must be the "
                              f"{len(frames)} sequences")
    test = meta.get("test")
    if test is not None and (test.shape != (len(frames),) or test.dtype.kind not in "bui"
                             or not np.isin(test, (0, 1)).all()):
        raise InterpError(f"{path}: metadata 'test' must be one true/false flag per sequence, shape "
                          f"({len(frames)},), got shape {test.shape} of {test.dtype}")
    per_seq = frames.reshape(len(frames), -1)
    bad = ~np.isfinite(per_seq).all(axis=1)
    if bad.any():
        raise InterpError(f"{path}: sequence {int(np.argmax(bad))} has non-finite frame values "
                          f"({int(bad.sum())} of {len(frames)} sequences do)")
    bad = (per_seq.min(axis=1) < 0.0) | (per_seq.max(axis=1) > 1.0)
    if bad.any():
        i = int(np.argmax(bad))
        raise InterpError(f"{path}: frames must lie in [0, 1]; sequence {i} spans "
                          f"[{per_seq[i].min():.3g}, {per_seq[i].max():.3g}] "
                          f"({int(bad.sum())} of {len(frames)} sequences are outside)")
    return Dataset(frames=frames, meta=meta, source=source)


def _head(path: Path, n: int = 8) -> bytes:
    """The first ``n`` bytes of a file (empty if it cannot be read)."""
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError:
        return b""


def check_frame_size(frames: np.ndarray, where) -> None:
    """A one-line error naming ``where`` (a file, a sequence) unless the frames' height and width
    are multiples of 4, as the U-net needs, and neither is more than 16 times the other (the
    U-net's coarsest scale would be a line of pixels, and a figure of such frames takes GBs)."""
    H, W = frames.shape[-2:]
    if H % 4 or W % 4:
        raise InterpError(f"{where}: frames of {H}x{W} pixels do not fit the U-net "
                          "(height and width must be multiples of 4)")
    if max(H, W) > MAX_ASPECT * min(H, W):
        raise InterpError(f"{where}: frames of {H}x{W} pixels are too elongated for the U-net "
                          f"(at most {MAX_ASPECT}:1 either way)")
