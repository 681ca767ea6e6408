"""Datasets of short clips: the in-memory container, its ``.npz`` file format, and the CLI.

A dataset is ``frames``, float32 [N, T, H, W] in [0, 1], plus per-sequence metadata arrays
(first axis N) and a JSON description of its source. On disk it is one ``.npz`` holding
``frames``, ``meta.<name>`` arrays and ``source`` (a JSON string); it is read with
``allow_pickle=False``, so a file cannot run code when loaded. :func:`load` rejects, with a
one-line error naming the file (and the first bad sequence), anything else: a pickle, an
object array, a plain ``.npy``, an empty dataset, metadata whose first axis is not N, and
frames that are not finite float32 values in [0, 1] (they are never clipped or repaired).

CLI::

    python -m interp.data leaves --n 100000 --seed 0 --out data/leaves.npz [--variant NAME]
"""

from __future__ import annotations

import dataclasses
import json
import sys
import zipfile
from pathlib import Path

import numpy as np

from .cli import ArgumentParser, InterpError, nonneg_int, positive_int, run
from .io import atomic_write, check_writable

__all__ = ["Dataset", "load", "save", "main"]

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
        z = np.load(path, allow_pickle=False)
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
        if "pickle" in str(err).lower():
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


def _parser() -> ArgumentParser:
    from .leaves import VARIANTS

    p = ArgumentParser(prog="python -m interp.data", description="Build clip datasets as .npz files.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)
    lv = sub.add_parser("leaves", help="the moving-leaves dataset (appendix D)")
    lv.add_argument("--n", type=positive_int, default=100_000, help="number of sequences (default 100000)")
    lv.add_argument("--seed", type=nonneg_int, default=0, help="dataset seed (default 0)")
    lv.add_argument("--start", type=nonneg_int, default=0, help="index of the first sequence (default 0)")
    lv.add_argument("--variant", choices=VARIANTS, default="default", help="generator variant")
    lv.add_argument("--n-disks", type=int, default=None, help="disks per sequence ('many' variant)")
    lv.add_argument("--out", required=True, help="output .npz path")
    lv.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "leaves":
        from .leaves import LeavesConfig, generate

        out = check_writable(args.out)
        n_disks = args.n_disks if args.n_disks is not None else (3 if args.variant == "many" else 2)
        cfg = LeavesConfig(variant=args.variant, n_disks=n_disks)
        ds = generate(args.n, args.seed, config=cfg, start=args.start, progress=not args.quiet)
        save(ds, out)
        n_test = int(ds.meta["test"].sum())
        print(f"wrote {out}: {len(ds)} sequences ({len(ds) - n_test} train, {n_test} test), "
              f"frames {tuple(ds.frames.shape)} float32")
    return 0


if __name__ == "__main__":
    sys.exit(run(main, "python -m interp.data"))
