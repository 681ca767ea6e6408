"""``python -m interp.data``: build clip datasets as ``.npz`` files (see :mod:`interp.data`).

CLI::

    python -m interp.data leaves --n 100000 --seed 0 --out data/leaves.npz [--variant NAME]
    python -m interp.data davis32 --root DAVIS --out data/davis32.npz [--seed 0 --test-fraction 0.2]
    python -m interp.data davis32 --download --root data/DAVIS --out data/davis32.npz [--url URL --sha256 HEX]
    python -m interp.data video FILE_OR_FOLDER... --out data/footage.npz [--seed 0 --test-fraction 0.2]
    python -m interp.data card models/davis32-tau2.toml     # the clip set a card's [data] names, cached

The output is written to a dot-prefixed temporary beside ``--out`` and renamed. A run stopped
by SIGTERM or Ctrl-C removes that temporary; one killed outright (SIGKILL) leaves it, and the
next run writing the same ``--out`` removes it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from interp._util.errors import InterpError
from interp._util.io import (
    available_memory,
    check_writable,
    remove_stale_temporaries,
    sigterm_as_interrupt,
)
from interp.cli.common import ArgumentParser, nonneg_int, open_unit_float, positive_int, run, seed_int, unit_float
from interp.data.dataset import Dataset, save
from interp.data.davis import build_davis32
from interp.data.download import fetch_davis, is_sha256
from interp.data.footage import build_footage
from interp.data.leaves import VARIANTS, LeavesConfig, generate, memory_estimate
from interp.data.sources import cached


def _sha256_arg(text: str) -> str:
    """argparse type: a SHA-256 digest (64 hexadecimal digits)."""
    import argparse

    if not is_sha256(text):
        raise argparse.ArgumentTypeError(f"expected 64 hexadecimal digits, got {text!r}")
    return text.lower()


def _report(out: Path, ds: Dataset, verb: str = "wrote") -> None:
    n_test = int(ds.meta["test"].sum())
    print(f"{verb} {out}: {len(ds)} sequences ({len(ds) - n_test} train, {n_test} test), "
          f"frames {tuple(ds.frames.shape)} float32")


PROG = "python -m interp.data"


def _parser() -> ArgumentParser:
    p = ArgumentParser(prog=PROG, description="Build clip datasets as .npz files.")
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
    dv.add_argument("--test-fraction", type=open_unit_float, default=0.2,
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
    cd = sub.add_parser("card", help="build (or check) the clip set of a model card whose [data] names several "
                                     "sources, at the card's path; cached, rebuilt when a source changes")
    cd.add_argument("card", help="model card (.toml) with [data] source = \"sources\"")
    cd.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "card":
        return _card(args)
    out = check_writable(args.out)
    remove_stale_temporaries(out)  # what an earlier run of this command, killed while writing, left
    with sigterm_as_interrupt():  # SIGTERM, like Ctrl-C, removes the temporary being written
        _build(args, out)
    return 0


def _build(args, out: Path) -> None:
    if args.command == "leaves":
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
        if not args.download:
            given = [o for o, v in (("--url", args.url), ("--sha256", args.sha256),
                                    ("--keep-archive", args.keep_archive)) if v]
            if given:
                raise InterpError(f"{given[0]} only goes with --download")
            if not Path(args.root).exists():
                raise InterpError(f"DAVIS folder {args.root} does not exist "
                                  f"(add --download to fetch DAVIS 2017 into it)")
        else:
            fetch_davis(args.root, url=args.url, sha256=args.sha256, progress=not args.quiet,
                        keep_archive=args.keep_archive)
        ds = build_davis32(args.root, seed=args.seed, test_fraction=args.test_fraction, progress=not args.quiet)
        save(ds, out)
        _report(out, ds)
        videos = ds.source["videos"]
        print(f"  {len(videos)} videos, {len(ds.source['test_videos'])} on the test side: "
              f"{', '.join(ds.source['test_videos'])} ({ds.source['split']})")
    elif args.command == "video":
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


def _card(args) -> int:
    from interp.training.cards import read_card
    from interp.training.windows import card_relative, card_sources

    card = read_card(args.card)
    if card.data["source"] != "sources":
        raise InterpError(f"{card.path}: [data] source is {card.data['source']!r}; this command builds "
                          f"the clip set of a card with source = \"sources\"")
    out = check_writable(card_relative(card, card.data["path"]))
    remove_stale_temporaries(out)
    with sigterm_as_interrupt():
        ds = cached(card_sources(card), out, seed=int(card.data.get("seed", 0)), progress=not args.quiet,
                    log=print)
    _report(out, ds, "clip set")
    for s in ds.source["sources"]:
        print(f"  {s['name']} ({s['kind']}): {s['clips']} clips of {len(s['videos'])} videos; test: "
              f"{', '.join(s['test_videos']) or 'none'}")
    return 0


def entry() -> None:
    """Run the command (``python -m`` entry point): exit with :func:`run`'s code."""
    sys.exit(run(main, PROG))
