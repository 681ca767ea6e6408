"""``python -m interp.figures``: render the figures of the manifest.

CLI::

    python -m interp.figures                  # every figure, into the manifest's folder
    python -m interp.figures --only fig02     # some figures
    python -m interp.figures --list           # id and title of each figure
    python -m interp.figures --out DIR --manifest PATH
    python -m interp.figures --no-cache       # recompute every table (and refresh the cache)
    python -m interp.figures --gallery-only   # rewrite OUT/index.html from the files on disk
    python -m interp.figures --preset smoke   # tiny models trained from scratch, into runs/smoke/figures
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from interp._util.errors import InterpError, describe
from interp._util.io import remove_stale_temporaries, sigterm_as_interrupt
from interp.cli.common import ArgumentParser, run
from interp.figures.cache import CACHE_FOLDER
from interp.figures.gallery import GALLERY, write_gallery
from interp.figures.manifest import DEFAULT_MANIFEST, FigureSpec, load_manifest

if TYPE_CHECKING:  # pragma: no cover - typing only
    pass


PROG = "python -m interp.figures"




def _parser() -> ArgumentParser:
    p = ArgumentParser(
        prog=PROG,
        description="Render the figures named in the manifest (images and their data tables), and a "
                    "gallery page of them (index.html).",
    )
    p.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST,
                   help="figure manifest (default: figures/manifest.toml of this checkout)")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder, created if needed (default: the manifest's folder, or the preset's)")
    p.add_argument("--only", nargs="+", metavar="ID", help="render only these figure ids")
    p.add_argument("--list", action="store_true", help="print the id and title of each figure and exit")
    p.add_argument("--no-cache", action="store_true",
                   help="recompute every table instead of reading the cache (and refresh the cache)")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help=f"folder of cached tables (default: OUT/{CACHE_FOLDER})")
    p.add_argument("--gallery-only", action="store_true",
                   help=f"only rewrite OUT/{GALLERY} from the figures on disk")
    p.add_argument("--preset", metavar="NAME",
                   help="render from tiny models trained from scratch, with smaller parameters: "
                        "figures/presets/NAME.toml (e.g. smoke) or a preset file; into the preset's own folder")
    p.add_argument("--traceback", action="store_true", help="show the full traceback of a failing figure")
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    all_specs = load_manifest(args.manifest)
    specs = all_specs
    if args.only:
        by_id = {s.id: s for s in specs}
        unknown = [i for i in args.only if i not in by_id]
        if unknown:
            raise InterpError(
                f"unknown figure id(s) {', '.join(unknown)} in {args.manifest} "
                f"(known: {', '.join(by_id)})"
            )
        specs = [by_id[i] for i in dict.fromkeys(args.only)]
    if args.list:
        for s in specs:
            print(f"{s.id}  {s.title}")
        return 0

    preset = None
    if args.preset is not None:
        from interp.figures.presets import load_preset

        preset = load_preset(args.preset)
    out_dir = args.out if args.out is not None else (preset.out if preset else args.manifest.parent)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InterpError(f"cannot create output folder {out_dir}: {err.strerror or err}") from None
    # what a run killed while writing (SIGKILL) left beside the files this one is about to write
    remove_stale_temporaries(out_dir / GALLERY, *([] if args.gallery_only else
                                                   [out_dir / o for s in specs for o in s.outputs]))
    with sigterm_as_interrupt():  # SIGTERM, like Ctrl-C, removes the temporary being written
        if args.gallery_only:
            path = write_gallery(all_specs, out_dir, args.manifest.name)
            print(f"gallery written to {path}")
            return 0
        return _render(args, specs, all_specs, preset, out_dir)


def _render(args, specs: list[FigureSpec], all_specs: list[FigureSpec], preset, out_dir: Path) -> int:
    """The figures of ``specs`` and the gallery, written into ``out_dir`` (see :func:`main`)."""
    # the analyses (torch and the rest) are imported only now, so that --help and --list start fast
    import contextlib

    from interp.figures import adapters
    from interp.figures.render import draw_figure, figure_table, plot_function

    models = contextlib.nullcontext()
    if preset is not None:
        specs = preset.apply(specs)
        models = preset.prepare(specs, out_dir, log=print, progress=sys.stderr.isatty())
    cache_dir = args.cache_dir if args.cache_dir is not None else out_dir / CACHE_FOLDER

    failed: list[str] = []
    bars, adapters.PROGRESS_BARS = adapters.PROGRESS_BARS, sys.stderr.isatty()
    width = len(str(len(specs)))
    try:
        with models:
            for i, spec in enumerate(specs, 1):
                head = f"[{i:>{width}}/{len(specs)}] {spec.id} ..."
                print(head, end="\n" if adapters.PROGRESS_BARS else " ", flush=True)
                t0 = time.perf_counter()
                notes: list[str] = []
                try:
                    plot_function(spec)  # fail before computing if there is nothing to draw with
                    table, source, notes = figure_table(spec, cache_dir, refresh=args.no_cache)
                    draw_figure(spec, table, out_dir)
                except Exception as err:  # one figure's failure must not stop the others
                    print(f"{head + ' ' if adapters.PROGRESS_BARS else ''}failed ({time.perf_counter() - t0:.1f} s)",
                          flush=True)
                    if args.traceback:
                        import traceback

                        traceback.print_exc()
                    print(f"{PROG}: {spec.id}: {describe(err)}", file=sys.stderr, flush=True)
                    failed.append(spec.id)
                else:
                    where = "from cache" if source == "cache" else "computed"
                    print(f"{head + ' ' if adapters.PROGRESS_BARS else ''}done ({time.perf_counter() - t0:.1f} s, {where})",
                          flush=True)
                for note in notes:
                    print(f"{PROG}: note: {spec.id}: {note}", file=sys.stderr, flush=True)
    finally:
        adapters.PROGRESS_BARS = bars
    gallery = write_gallery(all_specs, out_dir, args.manifest.name)
    if failed:
        print(f"{PROG}: error: {len(failed)} of {len(specs)} figure(s) failed: {', '.join(failed)}",
              file=sys.stderr)
        return 1
    print(f"{len(specs)} figure(s) written to {out_dir}; gallery: {gallery}")
    return 0


def entry() -> None:
    """Run the command (``python -m`` entry point): exit with :func:`run`'s code."""
    sys.exit(run(main, PROG))
