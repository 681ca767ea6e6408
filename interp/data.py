"""Datasets of short clips: the in-memory container, its ``.npz`` file format, and the CLI.

A dataset is ``frames``, float32 [N, T, H, W] in [0, 1], plus per-sequence metadata arrays
(first axis N) and a JSON description of its source. On disk it is one ``.npz`` holding
``frames``, ``meta.<name>`` arrays and ``source`` (a JSON string); it is read with
``allow_pickle=False``, so a file cannot run code when loaded.

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
            if len(v) != len(f):
                raise InterpError(f"metadata {k!r} has {len(v)} rows for {len(f)} sequences")

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
    or malformed file, or frames that are not finite float32 [N, T, H, W] in [0, 1].
    """
    path = Path(path)
    if not path.is_file():
        raise InterpError(f"dataset file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            names = set(z.files)
            if "frames" not in names:
                raise InterpError(f"{path} is not an interp dataset (no 'frames' array)")
            frames = z["frames"]
            source = json.loads(str(z["source"])) if "source" in names else {}
            meta = {k[5:]: z[k] for k in names if k.startswith("meta.")}
    except InterpError:
        raise
    except ValueError as err:
        if "pickle" in str(err).lower():
            raise InterpError(f"{path} holds pickled objects, which interp refuses to load") from None
        raise InterpError(f"{path} is not a readable dataset: {err}") from None
    except (zipfile.BadZipFile, OSError, EOFError, KeyError, json.JSONDecodeError) as err:
        raise InterpError(f"{path} is not a readable dataset ({type(err).__name__}: {err})") from None
    if frames.ndim != 4 or len(frames) == 0:
        raise InterpError(f"{path}: frames must be a non-empty [N, T, H, W] array, got shape {frames.shape}")
    if frames.dtype != np.float32:
        raise InterpError(f"{path}: frames must be float32, got {frames.dtype}")
    if not np.isfinite(frames).all():
        raise InterpError(f"{path}: frames contain non-finite values")
    lo, hi = float(frames.min()), float(frames.max())
    if lo < 0.0 or hi > 1.0:
        raise InterpError(f"{path}: frames must lie in [0, 1], found [{lo:.3g}, {hi:.3g}]")
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
