"""``python -m interp.figures``: render the figures of the manifest.

CLI::

    python -m interp.figures                  # every figure (tracked ones from their committed tables)
    python -m interp.figures --only fig02     # some figures
    python -m interp.figures --list           # id and title of each figure
    python -m interp.figures --update         # recompute what changed and write over the tracked figures
    python -m interp.figures --out DIR --manifest PATH
    python -m interp.figures --no-cache       # recompute every table (and refresh the cache)
    python -m interp.figures --gallery-only   # rewrite OUT/index.html from the files on disk
    python -m interp.figures --preset smoke   # tiny models trained from scratch, into runs/smoke/figures

Rendering into the manifest's own folder (the default) keeps the tracked figures canonical: a
figure whose inputs match the provenance of its committed table (``figures/tables/ID.json``)
is drawn from that table, byte for byte as committed; a figure whose inputs differ (another
checkpoint, other test data, no DAVIS32 beside the clone) is computed and drawn into
``runs/figures/`` instead, with one line saying why, and the tracked file is left as it is.
``--update`` writes computed figures and their tables over the tracked ones.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from interp._util.errors import InterpError, describe
from interp._util.io import remove_stale_temporaries, sigterm_as_interrupt
from interp.cli.common import ArgumentParser, run
from interp.figures.cache import CACHE_FOLDER, TABLES_FOLDER
from interp.figures.gallery import GALLERY, write_gallery
from interp.figures.manifest import DEFAULT_MANIFEST, FigureSpec, load_manifest

if TYPE_CHECKING:  # pragma: no cover - typing only
    pass


PROG = "python -m interp.figures"

#: Where figures whose inputs differ from their committed tables are drawn, relative to the
#: manifest's folder: ``runs/figures`` of the repository for ``figures/manifest.toml`` (ignored by git).
CHANGED_OUT = Path("..") / "runs" / "figures"

#: How to get the test data the committed natural-video tables were computed from.
DAVIS32_HINT = ("for the DAVIS32 figures as committed, put the DAVIS sequences at ../shared/data/davis-mini "
                "beside this clone and run make figures (it builds data/davis32-mini.npz; or "
                "python -m interp.data davis32 --root DIR --out data/davis32-mini.npz); "
                "python -m interp.data davis32 --download --root DIR --out data/davis32.npz gives the full DAVIS32")


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
    p.add_argument("--update", action="store_true",
                   help=f"write computed figures over the tracked ones and their tables into "
                        f"MANIFEST_FOLDER/{TABLES_FOLDER} (for a maintainer; default: a figure whose inputs "
                        "differ from its committed table goes to --changed-out)")
    p.add_argument("--changed-out", type=Path, default=None,
                   help="folder for figures whose inputs differ from their committed tables "
                        "(default: runs/figures beside the manifest's folder, i.e. of this checkout)")
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
    # the manifest's own folder is tracked when committed tables lie beside it (or --update writes them)
    tracked = preset is None and _same_folder(out_dir, args.manifest.parent) \
        and (_tables_dir(args.manifest).is_dir() or args.update)
    if args.update and not tracked:
        raise InterpError("--update writes over the tracked figures beside the manifest: "
                          "it takes neither --preset nor another --out")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InterpError(f"cannot create output folder {out_dir}: {err.strerror or err}") from None
    # what a run killed while writing (SIGKILL) left beside the files this one is about to write
    remove_stale_temporaries(out_dir / GALLERY, *([] if args.gallery_only else
                                                   [out_dir / o for s in specs for o in s.outputs]))
    with sigterm_as_interrupt():  # SIGTERM, like Ctrl-C, removes the temporary being written
        if args.gallery_only:
            path = _gallery(all_specs, out_dir, args.manifest, tracked)
            print(f"gallery written to {path}")
            return 0
        return _render(args, specs, all_specs, preset, out_dir, tracked)


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


def _tables_dir(manifest: Path) -> Path:
    return manifest.parent / TABLES_FOLDER


def _gallery(specs: list[FigureSpec], out_dir: Path, manifest: Path, tracked: bool) -> Path:
    """The gallery of ``out_dir``; for the tracked folder its key numbers come from the committed
    tables, so the page depends on the committed files alone (not on what this checkout computed)."""
    tables = None
    if tracked:
        from interp.figures.cache import CacheProblem, read_committed_table

        tables = {}
        for spec in specs:
            try:
                committed = read_committed_table(_tables_dir(manifest), spec)
            except CacheProblem:
                committed = None
            tables[spec.id] = None if committed is None else committed.table
    return write_gallery(specs, out_dir, manifest.name, tables=tables)


def _data_label(table) -> str | None:
    """The test data a natural-video figure's table was computed from (its ``data`` column); None
    for other figures."""
    if "data" not in getattr(table, "columns", ()) or not len(table):
        return None
    return str(table["data"].iloc[0])


def _data_hint(committed, material: dict) -> str:
    """How to get the test data a committed natural-video table was computed from: the DAVIS32
    hint, or for another data file (absent here, present when the table was committed) how it
    is built."""
    had = (committed.material.get("inputs") or {}) if committed is not None else {}
    absent = [name for name, fp in (material.get("inputs") or {}).items() if fp is None and had.get(name)]
    other = [name for name in absent if Path(name).name != "davis32-mini.npz"]
    if not other:
        return DAVIS32_HINT
    return (f"to draw it as committed, build {', '.join(other)} from the DAVIS sequences and footage of "
            "../shared/data beside this clone (python -m interp.data card CARD, for a model card whose [data] "
            "names that file; docs/data.md)")


def _is_builtin(label: str | None) -> bool:
    from interp.data.natural import BUILTIN_LABEL

    return label == BUILTIN_LABEL


def _render(args, specs: list[FigureSpec], all_specs: list[FigureSpec], preset, out_dir: Path,
            tracked: bool) -> int:
    """The figures of ``specs`` and the gallery, written into ``out_dir`` (see :func:`main`)."""
    # the analyses (torch and the rest) are imported only now, so that --help and --list start fast
    import contextlib

    from interp.figures import adapters
    from interp.figures.cache import (
        CacheProblem,
        cache_key,
        material_differences,
        read_committed_table,
        write_committed_table,
    )
    from interp.figures.render import draw_figure, figure_table, plot_function

    models = contextlib.nullcontext()
    if preset is not None:
        specs = preset.apply(specs)
        models = preset.prepare(specs, out_dir, log=print, progress=sys.stderr.isatty())
    cache_dir = args.cache_dir if args.cache_dir is not None else out_dir / CACHE_FOLDER
    changed_out = args.changed_out if args.changed_out is not None \
        else Path(os.path.normpath(args.manifest.parent.absolute() / CHANGED_OUT))
    tables_dir = _tables_dir(args.manifest)

    failed: list[str] = []
    changed: list[FigureSpec] = []
    bars, adapters.PROGRESS_BARS = adapters.PROGRESS_BARS, sys.stderr.isatty()
    width = len(str(len(specs)))
    try:
        with models:
            for i, spec in enumerate(specs, 1):
                head = f"[{i:>{width}}/{len(specs)}] {spec.id} ..."
                print(head, end="\n" if adapters.PROGRESS_BARS else " ", flush=True)
                t0 = time.perf_counter()
                notes: list[str] = []
                lines: list[str] = []
                try:
                    plot_function(spec)  # fail before computing if there is nothing to draw with
                    committed, unusable = None, None
                    if tracked:
                        key, material = cache_key(spec)
                        try:
                            committed = read_committed_table(tables_dir, spec)
                        except CacheProblem as err:
                            unusable = f"its committed table is unusable ({err})"
                    if committed is not None and committed.key == key and not args.no_cache:
                        table, where = committed.table, "from its committed table"
                        draw_figure(spec, table, out_dir)
                        dest = out_dir
                    else:
                        table, source, table_notes = figure_table(spec, cache_dir, refresh=args.no_cache)
                        notes += table_notes
                        where = "from cache" if source == "cache" else "computed"
                        if not tracked or args.update:
                            draw_figure(spec, table, out_dir)
                            dest = out_dir
                            if tracked:
                                write_committed_table(tables_dir, spec, key, material, table)
                                where += ", committed table written"
                        else:  # the tracked figure stays as committed; this checkout's version goes elsewhere
                            changed_out.mkdir(parents=True, exist_ok=True)
                            draw_figure(spec, table, changed_out)
                            dest = changed_out
                            changed.append(spec)
                            if committed is None:
                                why = unusable or f"no committed table in {tables_dir}"
                            else:
                                diffs = material_differences(committed.material, material)
                                why = ("inputs differ from its committed table (" + "; ".join(diffs) + ")") if diffs \
                                    else "recomputed (--no-cache)"
                                draw_figure(spec, committed.table, out_dir)  # the canonical outputs stay whole
                            data = _data_label(table)
                            was = _data_label(committed.table) if committed is not None else None
                            line = f"{spec.id}: {why}; "
                            if data is not None:
                                line += f"test data: {data}" + (f" (committed: {was})" if was and was != data else "")
                                line += "; "
                            line += (f"drawn into {changed_out / spec.outputs[0]}, {out_dir / spec.outputs[0]} left as "
                                     "committed (--update writes over it)")
                            if _is_builtin(data):
                                line += f"; {_data_hint(committed, material)}"
                            lines.append(line)
                    if dest == out_dir and _data_label(table) is not None:
                        data = _data_label(table)
                        lines.append(f"{spec.id}: test data: {data}; drawn into {out_dir / spec.outputs[0]}"
                                     + (f"; {DAVIS32_HINT}" if _is_builtin(data) else ""))
                except Exception as err:  # one figure's failure must not stop the others
                    print(f"{head + ' ' if adapters.PROGRESS_BARS else ''}failed ({time.perf_counter() - t0:.1f} s)",
                          flush=True)
                    if args.traceback:
                        import traceback

                        traceback.print_exc()
                    print(f"{PROG}: {spec.id}: {describe(err)}", file=sys.stderr, flush=True)
                    failed.append(spec.id)
                else:
                    print(f"{head + ' ' if adapters.PROGRESS_BARS else ''}done ({time.perf_counter() - t0:.1f} s, {where})",
                          flush=True)
                for line in lines:
                    print(f"  {line}", flush=True)
                for note in notes:
                    print(f"{PROG}: note: {spec.id}: {note}", file=sys.stderr, flush=True)
    finally:
        adapters.PROGRESS_BARS = bars
    gallery = _gallery(all_specs, out_dir, args.manifest, tracked)
    if changed:
        write_gallery(changed, changed_out, args.manifest.name)
    if failed:
        print(f"{PROG}: error: {len(failed)} of {len(specs)} figure(s) failed: {', '.join(failed)}",
              file=sys.stderr)
        return 1
    print(f"{len(specs) - len(changed)} figure(s) written to {out_dir}"
          + (f", {len(changed)} to {changed_out} ({', '.join(s.id for s in changed)})" if changed else "")
          + f"; gallery: {gallery}")
    return 0


def entry() -> None:
    """Run the command (``python -m`` entry point): exit with :func:`run`'s code."""
    sys.exit(run(main, PROG))
