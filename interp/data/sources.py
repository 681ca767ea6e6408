"""One clip set from several sources: DAVIS folders, folders of frame folders, video files and
``.npz`` clip files, split by video across all of them and cached by fingerprint.

A *source* is a small table (the entries of a card's ``[[data.sources]]``)::

    {kind = "davis",  path = "DAVIS",       test_fraction = 0.2}   # DAVIS layout (JPEGImages/480p/<video>/)
    {kind = "frames", path = "footage",     test_fraction = 0.15}  # every sub-folder with frames is a video
    {kind = "video",  path = "clips/a.mp4"}                         # a video file, or a folder of video files
    {kind = "npz",    path = "data/x.npz"}                          # clips written by interp.data; its split kept

Every source is cut into DAVIS32 clips exactly as :mod:`interp.data.davis` says (11 frames,
three scales, 63 crops of 32x32 per window) and the clip sets are concatenated. Videos are
named ``<source name>/<video>`` (the source name is its ``name`` or its folder's or file's
name), so two sources may hold videos of one name.

The split is by video, never inside one, and chosen per source with its own ``test_fraction``
and the set's ``seed``: a DAVIS folder uses DAVIS 2017's split files when present and a seeded
choice of videos otherwise (:func:`interp.data.davis.build_davis32`); frame folders and video
files a seeded choice (:func:`interp.data.davis.split_videos`); an ``.npz`` keeps its own
``test`` flags. The test videos are listed in ``source["test_videos"]`` of the result, which
training copies into every checkpoint.

:func:`fingerprint` hashes what the clips depend on: each source's kind and split parameters,
the names, sizes and bytes of every file read, the seed and a version of the clip-cutting code
(but not where the files live, so moving a card or the data keeps the cache). :func:`cached`
builds the set once into an ``.npz`` and rebuilds it only when the fingerprint changes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from interp._util.errors import InterpError
from interp.data.dataset import Dataset, load, save
from interp.data.davis import build_davis32, is_frame_file, list_videos
from interp.data.footage import VIDEO_SUFFIXES, build_footage, frame_files

__all__ = ["KINDS", "BUILD_VERSION", "check_sources", "fingerprint", "build_sources", "cached"]

KINDS = ("davis", "frames", "video", "npz")
#: Bumped whenever the way frames become clips changes, so cached sets are rebuilt.
BUILD_VERSION = 1
_SOURCE_KEYS = {"kind", "path", "test_fraction", "name"}
_CLIP_META = ("window", "first_frame", "scale", "location", "row", "col")
_DEFAULT_FRACTION = {"davis": 0.2, "frames": 0.15, "video": 0.15}


def check_sources(sources, where: str = "[data] sources") -> list[dict]:
    """The source tables checked (one-line :class:`InterpError` naming ``where``), with names filled in.

    Paths are kept as given; resolve them before calling (a card resolves them against its folder).
    """
    if not isinstance(sources, (list, tuple)) or not sources:
        raise InterpError(f"{where} must be a non-empty list of tables, got {type(sources).__name__}")
    out, names = [], set()
    for i, s in enumerate(sources):
        at = f"{where}[{i}]"
        if not isinstance(s, dict):
            raise InterpError(f"{at} must be a table (kind = ..., path = ...), got {type(s).__name__}")
        unknown = sorted(set(s) - _SOURCE_KEYS)
        if unknown:
            raise InterpError(f"{at}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(_SOURCE_KEYS))})")
        kind = s.get("kind")
        if kind not in KINDS:
            raise InterpError(f"{at}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
        path = s.get("path")
        if not isinstance(path, (str, Path)) or not str(path):
            raise InterpError(f"{at}: path must be a file or folder name, got {path!r}")
        frac = s.get("test_fraction", _DEFAULT_FRACTION.get(kind))
        if kind == "npz":
            if "test_fraction" in s:
                raise InterpError(f"{at}: an npz source keeps its own split (no test_fraction)")
        elif isinstance(frac, bool) or not isinstance(frac, (int, float)) or not 0.0 <= frac <= 1.0:
            raise InterpError(f"{at}: test_fraction must be a number in [0, 1], got {frac!r}")
        name = s.get("name", Path(path).stem if kind in ("npz", "video") else Path(path).name)
        if not isinstance(name, str) or not name or "/" in name:
            raise InterpError(f"{at}: name must be a non-empty string without '/', got {name!r}")
        if name in names:
            raise InterpError(f"{at}: two sources are named {name!r}; give one a name = \"...\"")
        names.add(name)
        item = {"kind": kind, "path": Path(path), "name": name}
        if kind != "npz":
            item["test_fraction"] = float(frac)
        out.append(item)
    return out


def _videos_of(source: dict) -> dict[str, list[Path]]:
    """{video name: the files that make it} for one source (one-line error when there are none)."""
    kind, path = source["kind"], source["path"]
    if not path.exists():
        raise InterpError(f"data source {path} ({kind}) does not exist")
    if kind == "davis":
        return list_videos(path)
    if kind == "npz":
        if not path.is_file():
            raise InterpError(f"data source {path} (npz) is not a file")
        return {path.stem: [path]}
    if kind == "frames":
        if not path.is_dir():
            raise InterpError(f"data source {path} (frames) is not a folder")
        if any(is_frame_file(f) for f in path.iterdir() if f.is_file()):
            return {path.name: frame_files(path)}  # the folder itself is one video
        found = {d.name: frame_files(d) for d in sorted(p for p in path.iterdir() if p.is_dir()
                                                          and not p.name.startswith("."))}
        if not found:
            raise InterpError(f"data source {path} (frames) holds no folders of frames")
        return found
    # video: one file, or every video file in a folder
    if path.is_file():
        return {path.stem: [path]}
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
    if not files:
        raise InterpError(f"data source {path} (video) holds no video files ({', '.join(VIDEO_SUFFIXES)})")
    return {f.stem: [f] for f in files}


def fingerprint(sources: Sequence[dict], seed: int) -> str:
    """A digest of everything the clip set depends on (see the module docstring)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(json.dumps({"version": BUILD_VERSION, "seed": int(seed)}).encode())
    for s in check_sources(sources):
        h.update(json.dumps({k: v for k, v in s.items() if k != "path"}, sort_keys=True).encode())
        base = s["path"] if s["path"].is_dir() else s["path"].parent
        for video, files in _videos_of(s).items():
            h.update(video.encode() + b"\0")
            for f in files:
                h.update(f"{f.relative_to(base).as_posix()}\0{f.stat().st_size}\0".encode())
                with open(f, "rb") as fh:
                    for block in iter(lambda: fh.read(1 << 20), b""):
                        h.update(block)
    return h.hexdigest()


def _build_one(source: dict, seed: int, progress: bool) -> Dataset:
    kind, path, frac = source["kind"], source["path"], source.get("test_fraction")
    if kind == "davis":
        if not 0.0 < frac < 1.0:
            raise InterpError(f"data source {path} (davis): test_fraction must lie strictly between 0 and 1")
        return build_davis32(path, seed=seed, test_fraction=frac, progress=progress)
    if kind == "npz":
        ds = load(path)
        if "test" not in ds.meta:
            raise InterpError(f"data source {path} (npz) has no train/test split (no 'meta.test' array)")
        if "video" not in ds.meta:
            ds.meta["video"] = np.full(len(ds), path.stem)
        return ds
    inputs = [files[0].parent if kind == "frames" else files[0] for files in _videos_of(source).values()]
    return build_footage(inputs, seed=seed, test_fraction=frac, progress=progress)


def build_sources(sources: Sequence[dict], seed: int = 0, progress: bool = False) -> Dataset:
    """Build every source and concatenate them into one clip set, split by video (module docstring)."""
    checked = check_sources(sources)
    parts, described = [], []
    for s in checked:
        ds = _build_one(s, seed, progress)
        parts.append(ds)
        test_videos = sorted(str(v) for v in set(ds.meta["video"][ds.meta["test"].astype(bool)].astype(str)))
        described.append({"name": s["name"], "kind": s["kind"], "path": str(s["path"].resolve()),
                          "test_fraction": s.get("test_fraction"), "clips": int(len(ds)),
                          "videos": sorted(str(v) for v in set(ds.meta["video"].astype(str))), "test_videos": test_videos,
                          "detail": {k: v for k, v in ds.source.items() if k not in ("videos", "test_videos")}})
    shape = parts[0].frames.shape[1:]
    for s, ds in zip(checked, parts):
        if ds.frames.shape[1:] != shape:
            raise InterpError(f"data source {s['path']}: clips of shape {ds.frames.shape[1:]} do not match "
                              f"the first source's {shape}")
    frames = np.concatenate([ds.frames for ds in parts])
    meta = {"video": np.concatenate([np.char.add(f"{s['name']}/", ds.meta["video"].astype(str))
                                     for s, ds in zip(checked, parts)]),
            "test": np.concatenate([ds.meta["test"].astype(bool) for ds in parts]),
            "source_index": np.concatenate([np.full(len(ds), i, np.int32) for i, ds in enumerate(parts)])}
    for k in _CLIP_META:
        meta[k] = np.concatenate([np.asarray(ds.meta[k], np.int32) if k in ds.meta else np.full(len(ds), -1, np.int32)
                                  for ds in parts])
    videos = sorted(str(v) for v in set(meta["video"]))
    test_videos = sorted(str(v) for v in set(meta["video"][meta["test"]]))
    if not test_videos or len(test_videos) == len(videos):
        raise InterpError(f"the sources' split leaves the {'test' if not test_videos else 'train'} side empty "
                          f"({len(videos)} videos); adjust test_fraction")
    source = {"name": "sources", "seed": int(seed), "build_version": BUILD_VERSION, "sources": described,
              "videos": videos, "test_videos": test_videos,
              "split": "by video, per source (see each source's test_fraction)"}
    return Dataset(frames=frames, meta=meta, source=source)


def cached(sources: Sequence[dict], path, seed: int = 0, progress: bool = False,
           log: Callable[[str], None] | None = None) -> Dataset:
    """The clip set of ``sources``, read from ``path`` when it was built from the same fingerprint,
    else built and written there (atomically)."""
    path = Path(path)
    fp = fingerprint(sources, seed)
    if path.exists():
        ds = load(path)
        if ds.source.get("fingerprint") == fp:
            return ds
        if log:
            log(f"{path} was built from other sources or an older build; rebuilding it")
    elif log:
        log(f"building {path} from {len(sources)} source{'s' if len(sources) != 1 else ''} (once; cached after)")
    ds = build_sources(sources, seed=seed, progress=progress)
    ds.source["fingerprint"] = fp
    path.parent.mkdir(parents=True, exist_ok=True)
    save(ds, path)
    return ds
