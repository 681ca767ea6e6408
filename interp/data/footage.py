"""DAVIS32-style clips from your own footage: video files and folders of frames.

Each input is one video: either a video file (mp4, mov, avi, mkv, webm, ... anything FFmpeg
reads, decoded with PyAV) or a folder of frames (image files, in name order with numbers
compared by value, so ``frame2.png`` comes before ``frame10.png``; hidden files are skipped).
Frames become grayscale exactly as DAVIS frames do (:func:`interp.davis.read_frame_gray`:
ITU-R 601-2 luma of the 8-bit RGB frame, divided by 255; a decoded video frame is first
converted to 8-bit RGB) and are cut by :func:`interp.davis.clips_from_frames`: non-overlapping
11-frame windows, three scales (heights 128, 96, 64 by box averaging; a frame lower than 128
pixels is enlarged at the larger scales) and a 3 x 7 grid of 32x32 crops, so 63 clips per
window. Frames are read window by window, so a long video needs memory for its clips only.
Rotation flags stored in a video's metadata are not applied: frames are used as decoded.

The metadata per clip is DAVIS32's: ``video`` (the file's stem or the folder's name; when two
inputs share it, the file name with its extension, then ``-2``, ``-3`` ... keep names
unique), ``window``, ``first_frame``, ``scale``, ``location``, ``row``, ``col`` and ``test``.

Split by video, never inside one: with ``test_fraction`` strictly between 0 and 1 and two or
more videos, a seeded choice of test videos (:func:`interp.davis.split_videos`, at least one
on each side); ``test_fraction`` 0 puts everything on the train side and 1 everything on the
test side (to evaluate a trained model on new footage). A single video cannot be split by
video, so with a fraction strictly between 0 and 1 it goes to the train side, and
``source["split"]`` says so.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections import Counter
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from interp._util.errors import InterpError
from interp.data.dataset import Dataset
from interp.data.davis import (
    CLIP_FRAMES,
    FRAME_SUFFIXES,
    GRID,
    SCALE_HEIGHTS,
    SIZE,
    check_frame_shape,
    clips_from_frames,
    is_frame_file,
    read_frame_gray,
    split_videos,
)

__all__ = ["VIDEO_SUFFIXES", "frame_files", "read_video_gray", "unique_names", "build_footage"]

#: Common video file suffixes (documentation and error hints; any file FFmpeg reads works).
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".ts",
                  ".gif")
_META = ("window", "first_frame", "scale", "location", "row", "col")


def _natural_key(name: str) -> list:
    return [(0, int(tok), "") if tok.isdigit() else (1, 0, tok.lower()) for tok in re.split(r"(\d+)", name) if tok]


def frame_files(folder: Path) -> list[Path]:
    """The image files in ``folder``, in name order (numbers by value); an error when none."""
    folder = Path(folder)
    try:
        entries = list(folder.iterdir())
    except OSError as err:
        raise InterpError(f"cannot list folder {folder}: {err.strerror or err}") from None
    files = [p for p in entries if not p.name.startswith(".") and is_frame_file(p)]
    if not files:
        hint = ""
        if any(p.suffix.lower() in VIDEO_SUFFIXES for p in entries if p.is_file()):
            hint = "; it holds video files: pass those files themselves"
        raise InterpError(f"folder {folder} holds no frames (image files {', '.join(FRAME_SUFFIXES)}){hint}")
    return sorted(files, key=lambda p: _natural_key(p.name))


def read_video_gray(path: Path) -> Iterator[np.ndarray]:
    """The frames of a video file, one at a time, as float32 grayscale [H, W] in [0, 1]."""
    import av

    path = Path(path)
    with _open_video(path) as (container, stream):
        n = 0
        try:
            for frame in container.decode(stream):
                gray = frame.to_image().convert("L")  # 8-bit RGB, then ITU-R 601-2 luma, as for DAVIS
                n += 1
                yield np.asarray(gray, dtype=np.float32) / np.float32(255.0)
        except (av.error.FFmpegError, ValueError) as err:
            raise InterpError(f"cannot decode video {path} after {n} frames: {_av_reason(err)}") from None


def _av_reason(err: Exception) -> str:
    """FFmpeg's words for an error, without the errno and path PyAV wraps them in."""
    return str(getattr(err, "strerror", None) or err or type(err).__name__)


def _probe(path: Path) -> int | None:
    """Check that ``path`` opens as a video; the frame count it announces (None if it does not say)."""
    with _open_video(path) as (_, stream):
        return int(stream.frames) or None


@contextlib.contextmanager
def _open_video(path: Path):
    """(container, its first video stream), open for the ``with`` block; one-line errors."""
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, ValueError, OSError) as err:
        raise InterpError(f"cannot read video {path}: {_av_reason(err)}") from None
    with container:
        if not container.streams.video:
            raise InterpError(f"{path} holds no video stream")
        yield container, container.streams.video[0]


def unique_names(paths: Sequence[Path]) -> list[str]:
    """One video name per input: the stem of a file, the name of a folder, made unique."""
    given = [Path(os.path.normpath(Path(p).absolute())) for p in paths]  # as named: symbolic links kept
    stems = [(p.name if p.is_dir() else p.stem) or "video" for p in given]
    counts = Counter(stems)
    names: list[str] = []
    used: set[str] = set()
    for p, stem in zip(given, stems):
        base = stem if counts[stem] == 1 else (p.name or stem)
        name, k = base, 2
        while name in used:
            name, k = f"{base}-{k}", k + 1
        used.add(name)
        names.append(name)
    return names


def _clips_of_stream(frames: Iterable[np.ndarray], label: str, bar=None
                     ) -> tuple[list[np.ndarray], dict[str, list[np.ndarray]], int, tuple[int, int]]:
    """Cut a stream of grayscale frames into clips, one 11-frame window at a time."""
    clips: list[np.ndarray] = []
    meta: dict[str, list[np.ndarray]] = {k: [] for k in _META}
    window: list[np.ndarray] = []
    shape = None
    n = 0
    for frame in frames:
        if shape is None:
            shape = frame.shape
            check_frame_shape(shape, label)  # before a window of them is read and scaled
        elif frame.shape != shape:
            raise InterpError(f"{label}: frame {n} is {frame.shape[1]}x{frame.shape[0]} pixels, "
                              f"the first frame is {shape[1]}x{shape[0]}; all frames must have one size")
        n += 1
        window.append(frame)
        if bar is not None:
            bar.update(1)
        if len(window) == CLIP_FRAMES:
            w = n // CLIP_FRAMES - 1
            c, m = clips_from_frames(window)
            m["window"] = np.full(len(c), w, np.int32)
            m["first_frame"] = np.full(len(c), w * CLIP_FRAMES, np.int32)
            clips.append(c)
            for k in _META:
                meta[k].append(m[k])
            window = []
    if n < CLIP_FRAMES:
        raise InterpError(f"{label} is too short: {n} frame{'s' if n != 1 else ''}, a clip needs {CLIP_FRAMES}")
    return clips, meta, n, shape


def _check_inputs(paths: Sequence) -> list[Path]:
    if not paths:
        raise InterpError("no video files or folders given")
    out, seen = [], {}
    for p in map(Path, paths):
        if not p.exists():
            raise InterpError(f"{p} does not exist")
        if p.is_file() and p.suffix.lower() in FRAME_SUFFIXES:
            raise InterpError(f"{p} is an image, not a video; pass the folder that holds the frames")
        if not (p.is_file() or p.is_dir()):
            raise InterpError(f"{p} is neither a file nor a folder")
        key = p.resolve()
        if key in seen:
            raise InterpError(f"{p} is given twice (as {seen[key]} and {p})")
        seen[key] = p
        out.append(p)
    return out


def build_footage(paths: Sequence, seed: int = 0, test_fraction: float = 0.2, progress: bool = False) -> Dataset:
    """DAVIS32-style clips [N, 11, 32, 32] from video files and folders of frames (see the module docstring)."""
    from tqdm import tqdm

    if not 0.0 <= test_fraction <= 1.0:
        raise InterpError(f"test fraction must lie in [0, 1], got {test_fraction}")
    inputs = _check_inputs(paths)
    names = unique_names(inputs)
    for p in inputs:  # fail on an empty folder or an unreadable file before decoding anything
        if p.is_dir():
            frame_files(p)
        else:
            _probe(p)
    clips, meta = [], {k: [] for k in ("video", *_META)}
    described = []
    for p, name in zip(inputs, names):
        if p.is_dir():
            files = frame_files(p)
            stream, total, kind = (read_frame_gray(f) for f in files), len(files), "frames"
        else:
            stream, total, kind = read_video_gray(p), _probe(p), "video"
        bar = tqdm(total=total, unit="frame", desc=name, disable=not progress, leave=False)
        try:
            c, m, n, shape = _clips_of_stream(stream, f"{'folder' if kind == 'frames' else 'video'} {p}", bar)
        finally:
            bar.close()
            if hasattr(stream, "close"):
                stream.close()
        clips.extend(c)
        for k in _META:
            meta[k].extend(m[k])
        meta["video"].append(np.full(sum(len(x) for x in c), name))
        described.append({"video": name, "path": str(p.resolve()), "kind": kind, "frames": n,
                          "height": int(shape[0]), "width": int(shape[1]),
                          "enlarged": bool(shape[0] < max(SCALE_HEIGHTS))})

    if test_fraction == 0.0:
        test_videos, how = set(), "none: test fraction 0, every video on the train side"
    elif test_fraction == 1.0:
        test_videos, how = set(names), "none: test fraction 1, every video on the test side"
    elif len(names) == 1:
        test_videos, how = set(), "none: a single video cannot be split by video, so it is all on the train side"
    else:
        test_videos = split_videos(names, seed, test_fraction)
        how = f"seeded by video (seed {seed}, test fraction {test_fraction})"
    frames = np.concatenate(clips).astype(np.float32, copy=False)
    meta_arrays = {k: np.concatenate(v) for k, v in meta.items()}
    meta_arrays["video"] = meta_arrays["video"].astype(str)
    meta_arrays["test"] = np.isin(meta_arrays["video"], sorted(test_videos))
    source = {"name": "footage", "inputs": described, "clip_frames": CLIP_FRAMES, "size": SIZE,
              "scale_heights": list(SCALE_HEIGHTS), "grid": list(GRID), "grayscale": "ITU-R 601-2 luma / 255",
              "shrink": "box (area average)", "videos": names, "test_videos": sorted(test_videos), "split": how}
    return Dataset(frames=frames, meta=meta_arrays, source=source)
