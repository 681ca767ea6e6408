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
    python -m interp.data davis32 --root DAVIS --out data/davis32.npz [--seed 0 --test-fraction 0.2]
    python -m interp.data davis32 --download --root data/DAVIS --out data/davis32.npz [--url URL --sha256 HEX]
    python -m interp.data video FILE_OR_FOLDER... --out data/footage.npz [--seed 0 --test-fraction 0.2]

The output is written to a dot-prefixed temporary beside ``--out`` and renamed. A run stopped
by SIGTERM or Ctrl-C removes that temporary; one killed outright (SIGKILL) leaves it, and the
next run writing the same ``--out`` removes it.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import zipfile
from pathlib import Path

import numpy as np

from .cli import ArgumentParser, InterpError, nonneg_int, positive_int, run, seed_int, unit_float
from .io import atomic_write, available_memory, check_writable, remove_stale_temporaries, sigterm_as_interrupt

__all__ = ["Dataset", "load", "save", "check_frame_size", "main"]

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
    from .davis import MAX_ASPECT

    H, W = frames.shape[-2:]
    if H % 4 or W % 4:
        raise InterpError(f"{where}: frames of {H}x{W} pixels do not fit the U-net "
                          "(height and width must be multiples of 4)")
    if max(H, W) > MAX_ASPECT * min(H, W):
        raise InterpError(f"{where}: frames of {H}x{W} pixels are too elongated for the U-net "
                          f"(at most {MAX_ASPECT}:1 either way)")


def _open_unit_float(text: str) -> float:
    """argparse type: a number strictly between 0 and 1."""
    import argparse

    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}") from None
    if not 0.0 < v < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {v:g}")
    return v


def _sha256_arg(text: str) -> str:
    """argparse type: a SHA-256 digest (64 hexadecimal digits)."""
    import argparse

    from .download import is_sha256

    if not is_sha256(text):
        raise argparse.ArgumentTypeError(f"expected 64 hexadecimal digits, got {text!r}")
    return text.lower()


def _report(out: Path, ds: Dataset) -> None:
    n_test = int(ds.meta["test"].sum())
    print(f"wrote {out}: {len(ds)} sequences ({len(ds) - n_test} train, {n_test} test), "
          f"frames {tuple(ds.frames.shape)} float32")


def _parser() -> ArgumentParser:
    from .leaves import VARIANTS

    p = ArgumentParser(prog="python -m interp.data", description="Build clip datasets as .npz files.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)
    lv = sub.add_parser("leaves", help="the moving-leaves dataset (appendix D)")
    lv.add_argument("--n", type=positive_int, default=100_000, help="number of sequences (default 100000)")
    lv.add_argument("--seed", type=seed_int, default=0, help="dataset seed (default 0)")
    lv.add_argument("--start", type=nonneg_int, default=0, help="index of the first sequence (default 0)")
    lv.add_argument("--variant", choices=VARIANTS, default="default", help="generator variant")
    lv.add_argument("--n-disks", type=int, default=None,
                    help="disks per sequence ('many' variant; 2 to 128, default 3)")
    lv.add_argument("--out", required=True, help="output .npz path")
    lv.add_argument("--quiet", action="store_true", help="no progress bar")
    dv = sub.add_parser("davis32", help="DAVIS32 (appendix D) from a DAVIS 2017 folder in its own layout")
    dv.add_argument("--root", required=True, help="DAVIS folder (holding JPEGImages/480p/<video>/...)")
    dv.add_argument("--out", required=True, help="output .npz path")
    dv.add_argument("--seed", type=seed_int, default=0,
                    help="seed of the by-video split when the DAVIS split files are absent (default 0)")
    dv.add_argument("--test-fraction", type=_open_unit_float, default=0.2,
                    help="share of videos on the test side of a seeded split (default 0.2)")
    dv.add_argument("--quiet", action="store_true", help="no progress bar")
    dv.add_argument("--download", action="store_true",
                    help="first fetch the DAVIS 2017 trainval 480p archive (about 833 MB, resumable, checked "
                         "by SHA-256) and unpack it as --root, unless --root already holds JPEGImages/480p")
    dv.add_argument("--url", default=None, help="with --download: where to fetch the archive from "
                                                "(default: the official DAVIS address)")
    dv.add_argument("--sha256", type=_sha256_arg, default=None,
                    help="with --download: the archive's expected SHA-256 (default: the recorded digest of the "
                         "official archive; for another --url, the digest recorded at its first download)")
    dv.add_argument("--keep-archive", action="store_true", help="with --download: keep the zip after unpacking")
    vd = sub.add_parser("video", help="DAVIS32-style clips from your own video files or folders of frames")
    vd.add_argument("inputs", nargs="+", metavar="FILE_OR_FOLDER",
                    help="video files (mp4, mov, avi, mkv, webm, ...) or folders of frames, one video each")
    vd.add_argument("--out", required=True, help="output .npz path")
    vd.add_argument("--seed", type=seed_int, default=0, help="seed of the by-video split (default 0)")
    vd.add_argument("--test-fraction", type=unit_float, default=0.2,
                    help="share of videos on the test side (default 0.2; 0: all train, 1: all test; a single "
                         "video is all train unless this is 1)")
    vd.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    out = check_writable(args.out)
    remove_stale_temporaries(out)  # what an earlier run of this command, killed while writing, left
    with sigterm_as_interrupt():  # SIGTERM, like Ctrl-C, removes the temporary being written
        _build(args, out)
    return 0


def _build(args, out: Path) -> None:
    if args.command == "leaves":
        from .leaves import LeavesConfig, generate, memory_estimate

        n_disks = args.n_disks if args.n_disks is not None else (3 if args.variant == "many" else 2)
        cfg = LeavesConfig(variant=args.variant, n_disks=n_disks)
        need, have = memory_estimate(args.n, cfg), available_memory()
        if have is not None and need > have:
            raise InterpError(f"out of memory (--n {args.n} sequences of {cfg.frames} frames of {cfg.size}x{cfg.size} "
                              f"with {cfg.n_disks} disks need about {need / 2**30:.1f} GiB; "
                              f"{have / 2**30:.1f} GiB are available)")
        ds = generate(args.n, args.seed, config=cfg, start=args.start, progress=not args.quiet)
        save(ds, out)
        _report(out, ds)
    elif args.command == "davis32":
        from .davis import build_davis32

        if not args.download:
            given = [o for o, v in (("--url", args.url), ("--sha256", args.sha256),
                                    ("--keep-archive", args.keep_archive)) if v]
            if given:
                raise InterpError(f"{given[0]} only goes with --download")
            if not Path(args.root).exists():
                raise InterpError(f"DAVIS folder {args.root} does not exist "
                                  f"(add --download to fetch DAVIS 2017 into it)")
        else:
            from .download import fetch_davis

            fetch_davis(args.root, url=args.url, sha256=args.sha256, progress=not args.quiet,
                        keep_archive=args.keep_archive)
        ds = build_davis32(args.root, seed=args.seed, test_fraction=args.test_fraction, progress=not args.quiet)
        save(ds, out)
        _report(out, ds)
        videos = ds.source["videos"]
        print(f"  {len(videos)} videos, {len(ds.source['test_videos'])} on the test side: "
              f"{', '.join(ds.source['test_videos'])} ({ds.source['split']})")
    elif args.command == "video":
        from .footage import build_footage

        ds = build_footage(args.inputs, seed=args.seed, test_fraction=args.test_fraction, progress=not args.quiet)
        save(ds, out)
        _report(out, ds)
        test = ds.source["test_videos"]
        n = len(ds.source["videos"])
        print(f"  {n} video{'s' if n != 1 else ''}, {len(test)} on the test side"
              f"{': ' + ', '.join(test) if test else ''} (split: {ds.source['split']})")
        for item in ds.source["inputs"]:
            if item["enlarged"]:
                print(f"  note: {item['video']} is {item['height']} pixels high, so its frames are enlarged "
                      f"(not shrunk) to the 128-pixel scale")


if __name__ == "__main__":
    sys.exit(run(main, "python -m interp.data"))
