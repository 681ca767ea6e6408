"""DAVIS32 (appendix D): 11-frame, 32x32 grayscale clips cropped from DAVIS 2017 videos.

How a video becomes clips, exactly:

1. Frames are read in file-name order (``JPEGImages/480p/<video>/00000.jpg ...``) and mapped to
   grayscale with ITU-R 601-2 luma (``L = 0.299 R + 0.587 G + 0.114 B``, Pillow's ``convert("L")``
   on 8-bit values), then divided by 255, so intensities lie in [0, 1].
2. Time: non-overlapping windows of 11 frames, starting at frames 0, 11, 22, ...; a tail
   shorter than 11 frames is dropped.
3. Three spatial scales: each frame is shrunk by area averaging (box filter) so that its
   height is 128, 96 or 64 pixels (scales 0, 1, 2; for DAVIS's 854x480 frames, factors of
   3.75, 5 and 7.5), keeping the aspect ratio.
4. Twenty-one locations per scale: a 3 x 7 grid of 32x32 crops whose top-left corners are
   evenly spaced from edge to edge of the shrunk frame (rows at 0, (H-32)/2 and H-32;
   columns at round(k (W-32)/6), k = 0..6). At the smallest scale neighbouring crops overlap.

Every window therefore gives 3 x 21 = 63 clips; per clip the provenance is kept as metadata
(``video``, ``window``: the window index, ``first_frame``, ``scale``, ``location`` (0..20,
row-major over the grid), ``row`` and ``col``: the crop's corner in the shrunk frame). The
split is by video: the DAVIS 2017 ``ImageSets/2017/train.txt`` and ``val.txt`` lists when both
exist (val is the test side), otherwise a seeded shuffle of the sorted video names that puts
``test_fraction`` of the videos (at least one) on the test side. No video is ever on both sides.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from interp._util.errors import InterpError
from interp.data.dataset import MAX_ASPECT, Dataset

__all__ = ["CLIP_FRAMES", "SIZE", "SCALE_HEIGHTS", "GRID", "crop_grid", "clips_from_frames", "list_videos",
           "read_split", "split_videos", "build_davis32", "is_frame_file", "read_frame_gray", "check_frame_shape",
           "MAX_ASPECT"]

CLIP_FRAMES = 11
SIZE = 32
SCALE_HEIGHTS = (128, 96, 64)
GRID = (3, 7)
FRAME_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
#: The image formats a frame file may hold (Pillow's names).
FRAME_FORMATS = ("JPEG", "PNG", "BMP", "TIFF")




def check_frame_shape(shape, where) -> None:
    """A one-line error naming ``where`` unless a frame of ``shape`` ([H, W]) can be cut into
    clips: no side 0, and no more elongated than :data:`MAX_ASPECT` to 1. Checked before any
    frame is scaled, so an absurd shape costs no memory."""
    h, w = (int(v) for v in shape[-2:])
    if h <= 0 or w <= 0:
        raise InterpError(f"{where}: a frame of {w}x{h} pixels is empty")
    if max(h, w) > MAX_ASPECT * min(h, w):
        wide = max(SIZE, round(w * max(SCALE_HEIGHTS) / h))
        raise InterpError(f"{where}: frames of {w}x{h} pixels are too elongated (at most {MAX_ASPECT}:1 either "
                          f"way; scaled to {max(SCALE_HEIGHTS)} rows they would be {wide} pixels wide)")


def crop_grid(height: int, width: int, size: int = SIZE, grid: tuple[int, int] = GRID) -> list[tuple[int, int]]:
    """Top-left corners (row, col) of a rows x cols grid of ``size`` crops spanning the frame."""
    if height < size or width < size:
        raise InterpError(f"a {height}x{width} frame is smaller than one {size}x{size} crop")
    rows, cols = grid

    def spaced(extent: int, n: int) -> list[int]:
        return [int(round(k * (extent - size) / (n - 1))) if n > 1 else (extent - size) // 2 for k in range(n)]

    return [(r, c) for r in spaced(height, rows) for c in spaced(width, cols)]


def _shrink(frame: np.ndarray, height: int) -> np.ndarray:
    """A float32 grayscale frame shrunk by area averaging to ``height`` rows (aspect kept)."""
    from PIL import Image

    h, w = frame.shape
    width = max(SIZE, int(round(w * height / h)))
    img = Image.fromarray(np.ascontiguousarray(frame, dtype=np.float32), mode="F")
    out = np.asarray(img.resize((width, height), resample=Image.Resampling.BOX), dtype=np.float32)
    return np.clip(out, 0.0, 1.0)  # box averages of [0, 1] values; clip only float rounding


def clips_from_frames(frames: Sequence[np.ndarray] | np.ndarray, scale_heights: Sequence[int] = SCALE_HEIGHTS
                      ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Cut one video's grayscale frames ([T, H, W] in [0, 1]) into DAVIS32 clips.

    Returns (clips [N, 11, 32, 32] float32, metadata arrays ``window``, ``first_frame``,
    ``scale``, ``location``, ``row``, ``col``), ordered by window, then scale, then location.
    A video shorter than 11 frames gives no clips.
    """
    n_windows = len(frames) // CLIP_FRAMES
    for w in range(n_windows):  # every frame before any is scaled
        for t in range(CLIP_FRAMES):
            check_frame_shape(np.shape(frames[w * CLIP_FRAMES + t]), f"frame {w * CLIP_FRAMES + t}")
    clips, meta = [], {k: [] for k in ("window", "first_frame", "scale", "location", "row", "col")}
    for w in range(n_windows):
        window = [np.asarray(frames[w * CLIP_FRAMES + t], dtype=np.float32) for t in range(CLIP_FRAMES)]
        for s, height in enumerate(scale_heights):
            shrunk = np.stack([_shrink(f, height) for f in window])
            for loc, (r, c) in enumerate(crop_grid(*shrunk.shape[1:])):
                clips.append(shrunk[:, r:r + SIZE, c:c + SIZE])
                for k, v in zip(meta, (w, w * CLIP_FRAMES, s, loc, r, c)):
                    meta[k].append(v)
    out = np.stack(clips) if clips else np.zeros((0, CLIP_FRAMES, SIZE, SIZE), np.float32)
    return out.astype(np.float32, copy=False), {k: np.asarray(v, dtype=np.int32) for k, v in meta.items()}


def is_frame_file(path: Path) -> bool:
    """Whether ``path`` is a frame: a file with a suffix of :data:`FRAME_SUFFIXES`.

    A frame-named symbolic link to nothing is a one-line error, not skipped: a clip would
    silently jump over the missing frame.
    """
    path = Path(path)
    if path.suffix.lower() not in FRAME_SUFFIXES:
        return False
    if path.is_symlink() and not path.exists():
        raise InterpError(f"frame {path} is a symbolic link to a missing file ({os.readlink(path)})")
    return path.is_file()


def read_frame_gray(path: Path) -> np.ndarray:
    """One image file as float32 grayscale in [0, 1] (ITU-R 601-2 luma of 8-bit RGB).

    Only the formats of :data:`FRAME_FORMATS` are decoded, whatever the file's name says (a
    PostScript file named ``.png`` never reaches Ghostscript), and an image larger than
    Pillow's ``Image.MAX_IMAGE_PIXELS`` is refused before it is decoded (a decompression bomb).
    """
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=FRAME_FORMATS) as img:
                img.load()
                if img.mode in ("I;16", "I;16B", "I;16L", "I"):
                    raise InterpError(f"{path}: {img.mode} images are not supported (8-bit images only)")
                gray = img.convert("L")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise InterpError(f"image {path} is too large to read: {err}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise InterpError(f"cannot read image {path}: {err}") from None
    return np.asarray(gray, dtype=np.float32) / 255.0


def list_videos(root: Path) -> dict[str, list[Path]]:
    """{video name: its frame files in name order} under ``root/JPEGImages/480p``."""
    base = Path(root) / "JPEGImages" / "480p"
    if not Path(root).is_dir():
        raise InterpError(f"DAVIS folder {root} does not exist")
    if not base.is_dir():
        raise InterpError(f"{root} is not a DAVIS folder: {base} is missing "
                          f"(expected JPEGImages/480p/<video>/00000.jpg ...)")
    videos = {}
    for d in sorted(p for p in base.iterdir() if p.is_dir()):
        files = sorted(f for f in d.iterdir() if is_frame_file(f))
        if files:
            videos[d.name] = files
    if not videos:
        raise InterpError(f"{base} holds no video folders with frames")
    return videos


def read_split(root: Path) -> tuple[list[str], list[str]] | None:
    """DAVIS 2017's (train, val) video lists, or None when either file is absent."""
    sets = Path(root) / "ImageSets" / "2017"
    train, val = sets / "train.txt", sets / "val.txt"
    if not (train.is_file() and val.is_file()):
        return None

    def names(p: Path) -> list[str]:
        try:
            return [ln.strip() for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]
        except (OSError, UnicodeDecodeError) as err:
            raise InterpError(f"cannot read split file {p}: {err}") from None

    a, b = names(train), names(val)
    both = sorted(set(a) & set(b))
    if both:
        raise InterpError(f"{sets}: video {both[0]!r} is listed in both train.txt and val.txt")
    return a, b


def split_videos(names: Iterable[str], seed: int = 0, test_fraction: float = 0.2) -> set[str]:
    """A seeded choice of test videos: ``test_fraction`` of them (at least one, never all)."""
    names = sorted(names)
    if len(names) < 2:
        raise InterpError(f"a split by video needs at least 2 videos, found {len(names)}")
    if not 0.0 < test_fraction < 1.0:
        raise InterpError(f"test fraction must lie strictly between 0 and 1, got {test_fraction}")
    n_test = min(len(names) - 1, max(1, int(math.floor(test_fraction * len(names) + 0.5))))
    order = np.random.default_rng(seed).permutation(len(names))
    return {names[i] for i in order[:n_test]}


def build_davis32(root, seed: int = 0, test_fraction: float = 0.2, videos: Sequence[str] | None = None,
                  progress: bool = False) -> Dataset:
    """DAVIS32 from a DAVIS 2017 folder in its own layout (see the module docstring)."""
    root = Path(root)
    found = list_videos(root)
    if videos is not None:
        missing = [v for v in videos if v not in found]
        if missing:
            raise InterpError(f"video {missing[0]!r} is not under {root}/JPEGImages/480p")
        found = {v: found[v] for v in videos}
    split = read_split(root)
    if split is not None:
        train_list, val_list = split
        test_videos = set(val_list) & set(found)
        unlisted = sorted(set(found) - set(train_list) - set(val_list))
        kept = {v: f for v, f in found.items() if v not in unlisted}
        how = {"split": "DAVIS 2017 ImageSets/2017 train.txt and val.txt (val = test)",
               "unlisted_videos_skipped": unlisted}
        found = kept
    else:
        test_videos = split_videos(found, seed, test_fraction)
        how = {"split": f"seeded by video (seed {seed}, test fraction {test_fraction})"}
    if not found:
        raise InterpError(f"no video under {root} is listed in the DAVIS split files")

    from tqdm import tqdm

    clips, meta = [], {k: [] for k in ("video", "window", "first_frame", "scale", "location", "row", "col",
                                       "test")}
    total = sum(len(f) // CLIP_FRAMES * CLIP_FRAMES for f in found.values())
    bar = tqdm(total=total, unit="frame", desc="DAVIS32", disable=not progress, leave=False)
    for name, files in found.items():
        used = files[: len(files) // CLIP_FRAMES * CLIP_FRAMES]
        frames = []
        for f in used:
            frames.append(read_frame_gray(f))
            if len(frames) == 1:  # before the other frames are read
                check_frame_shape(frames[0].shape, f"video {name!r} ({f})")
            bar.update(1)
        shapes = {fr.shape for fr in frames}
        if len(shapes) > 1:
            raise InterpError(f"video {name!r}: its frames differ in size ({sorted(shapes)[:2]} ...)")
        c, m = clips_from_frames(frames)
        clips.append(c)
        for k, v in m.items():
            meta[k].append(v)
        meta["video"].append(np.full(len(c), name))
        meta["test"].append(np.full(len(c), name in test_videos))
    bar.close()
    frames = np.concatenate(clips) if clips else np.zeros((0, CLIP_FRAMES, SIZE, SIZE), np.float32)
    if len(frames) == 0:
        raise InterpError(f"no video under {root} has {CLIP_FRAMES} frames or more")
    meta_arrays = {k: np.concatenate(v) for k, v in meta.items()}
    meta_arrays["video"] = meta_arrays["video"].astype(str)
    source = {"name": "davis32", "root": str(root.resolve()), "clip_frames": CLIP_FRAMES, "size": SIZE,
              "scale_heights": list(SCALE_HEIGHTS), "grid": list(GRID), "grayscale": "ITU-R 601-2 luma / 255",
              "shrink": "box (area average)", "videos": sorted(found), "test_videos": sorted(test_videos & set(found)),
              **how}
    return Dataset(frames=frames, meta=meta_arrays, source=source)
