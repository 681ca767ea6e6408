"""The figure cache and the committed tables.

The cache (``figures/cache/``, ignored by git) keeps each computed table as CSV with a JSON
sidecar, keyed by what it depends on (:func:`cache_key`). The committed tables
(``figures/tables/``, tracked) are the tables the tracked figures are drawn from: one gzipped
CSV per figure with a JSON sidecar holding its provenance (the same key and the material it
hashes: code version, analysis, params, checkpoint hashes, data fingerprints), so a checkout
whose inputs match redraws its figures byte-identically without computing anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

from interp._util import hashing
from interp._util.errors import InterpError, describe
from interp._util.io import atomic_write, remove_stale_temporaries
from interp._util.resources import ROOT
from interp.data.natural import DAVIS32_FILES, davis_candidates
from interp.figures.manifest import FigureSpec, model_files

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd


#: Version of what the analyses compute. Bump it when an analysis changes its table: every
#: cached table is then recomputed.
CACHE_VERSION = 5  # 5: classify locates the disks and reads soft edges; ideal floor in occlusion_sweep

#: Version of one analysis, for a change that touches its table alone: bump (or add) its entry
#: and only that analysis's tables are recomputed. An analysis without an entry has version 1,
#: which the key leaves out (so adding this table changed no other key).
ANALYSIS_VERSIONS = {
    "evidence_weighting": 2,  # 2: each clip's noise from its own generator (clip_seed), batch-independent
}


#: Default cache folder, inside the output folder (``figures/cache``, ignored by git).
CACHE_FOLDER = "cache"


#: Folder of the committed tables, beside the manifest (``figures/tables``, tracked).
TABLES_FOLDER = "tables"


_CACHE_FORMAT = 1  # layout of a cache entry (CSV + JSON sidecar)


#: Analysis name -> function(spec) returning the files, other than the models' checkpoints,
#: whose bytes the analysis reads (a dataset, say); their hashes join the cache key. Register
#: with ``@_cache_inputs("analysis_name")``.
CACHE_INPUTS: dict[str, Callable[[FigureSpec], list]] = {}


def _cache_inputs(name: str):
    def register(fn):
        CACHE_INPUTS[name] = fn
        return fn

    return register


@_cache_inputs("denoising_curves")
@_cache_inputs("adaptive_filter_example")
@_cache_inputs("evidence_weighting")
@_cache_inputs("natural_samples")
def _natural_video_inputs(spec: FigureSpec) -> list:
    """The natural-video analyses (:mod:`interp.figures.video`) read their test clips from the
    file of the ``data`` param, else from the first DAVIS32 file that exists
    (:func:`interp.data.natural.natural_video_test_set`), else from the built-in set: the
    candidates up to the one used join the key, so a DAVIS32 file built later invalidates the
    cached tables (and a checkout without it does not match the committed ones)."""
    if spec.params.get("data"):
        return [spec.params["data"]]
    try:
        candidates = davis_candidates(DAVIS32_FILES)
    except (ImportError, InterpError):  # the analysis itself reports a bad $INTERP_DAVIS32
        return []
    used = next((i for i, p in enumerate(candidates) if p.is_file()), len(candidates) - 1)
    return candidates[: used + 1]


class CacheProblem(Exception):
    """A cache entry that cannot be used or written; the message says why (one line)."""


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes (remembered per path, size and modification time)."""
    return hashing.file_sha256(path, memo=True)


_FINGERPRINTS: dict[tuple, str] = {}


def data_fingerprint(path: str | Path) -> str:
    """Fingerprint of a data file's content: for an ``.npz``, the SHA-256 of its members' names
    and uncompressed bytes (so the same arrays written at another time, or compressed otherwise,
    give the same fingerprint); for any other file, the SHA-256 of its bytes. Remembered per
    path, size and modification time."""
    import hashlib
    import os
    import zipfile

    path = Path(path)
    st = os.stat(path)
    memo = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if memo in _FINGERPRINTS:
        return _FINGERPRINTS[memo]
    if path.suffix.lower() != ".npz" or not zipfile.is_zipfile(path):
        digest = file_sha256(path)
    else:
        h = hashlib.sha256(b"npz-members-1\0")
        try:
            with zipfile.ZipFile(path) as z:
                for info in sorted(z.infolist(), key=lambda i: i.filename):
                    h.update(f"{info.filename}\0{info.file_size}\0".encode("utf-8"))
                    with z.open(info) as f:
                        for block in iter(lambda: f.read(1 << 20), b""):
                            h.update(block)
        except (OSError, zipfile.BadZipFile, EOFError) as err:  # the analysis reports the bad file
            return f"unreadable: {describe(err)}"
        digest = "npz:" + h.hexdigest()
    _FINGERPRINTS[memo] = digest
    return digest


def input_name(path: str | Path) -> str:
    """How an input file is named in a key: relative to the repository root (``data/x.npz``)
    when inside it, so that every clone of the repository gives the same key; else as given."""
    path = Path(path)
    try:
        return path.resolve().relative_to(ROOT.resolve()).as_posix()
    except (ValueError, OSError):
        return str(path)


def _canonical(value) -> str:
    """Canonical JSON text: sorted keys, no spaces; non-JSON values (TOML dates) by repr."""
    import json

    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=True,
                      default=lambda o: {"repr": repr(o)})


def cache_key(spec: FigureSpec) -> tuple[str, dict]:
    """``(key, material)``: what a figure's table depends on, and its SHA-256.

    The material is :data:`CACHE_VERSION`, the analysis name (and its :data:`ANALYSIS_VERSIONS`
    entry, if any), its params, and for each model
    the SHA-256 of its checkpoint's bytes with its card's ``[model]`` and ``[data]`` tables
    (plus the files :data:`CACHE_INPUTS` names: each by :func:`input_name`, with its
    :func:`data_fingerprint`, or null when absent). Title, caption, plot and outputs are not
    part of it: restyling a figure reuses its table. It holds no absolute path, so clones
    with the same inputs share keys. A missing model fails here, with the same one-line error
    as the analysis would give.
    """
    import hashlib
    import json
    import tomllib

    models = {}
    for name in spec.models:
        card, ckpt = model_files(name)
        try:
            doc = tomllib.loads(card.read_text(encoding="utf-8"))
            card_part = {"model": doc.get("model"), "data": doc.get("data")}
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            card_part = {"card_sha256": file_sha256(card)}  # the analysis reports what is wrong
        models[name] = {"checkpoint_sha256": file_sha256(ckpt), **card_part}
    inputs = {}
    hook = CACHE_INPUTS.get(spec.analysis)
    for p in (hook(spec) if hook else []):
        p = Path(p)
        inputs[input_name(p)] = data_fingerprint(p) if p.is_file() else None
    material = {"cache_version": CACHE_VERSION, "analysis": spec.analysis}
    if ANALYSIS_VERSIONS.get(spec.analysis, 1) != 1:
        material["analysis_version"] = ANALYSIS_VERSIONS[spec.analysis]
    material = json.loads(_canonical({**material, "params": spec.params, "models": models, "inputs": inputs}))
    return hashlib.sha256(_canonical(material).encode("ascii")).hexdigest(), material


def cache_paths(cache_dir: str | Path, spec: FigureSpec, key: str) -> tuple[Path, Path]:
    """``(table.csv, sidecar.json)`` of ``spec``'s cache entry for ``key``."""
    import re

    stem = f"{re.sub(r'[^A-Za-z0-9_-]', '_', spec.analysis)[:60]}-{key[:24]}"
    return Path(cache_dir) / f"{stem}.csv", Path(cache_dir) / f"{stem}.json"


def _encode(value) -> str:
    """One cell of a non-numeric column as typed text (``s:`` string, ``f:`` float...)."""
    import math

    import numpy as np
    import pandas as pd

    if value is None:
        return "N:"
    if value is pd.NA:
        return "A:"
    if isinstance(value, (bool, np.bool_)):
        return f"b:{bool(value)}"
    if isinstance(value, (int, np.integer)):
        return f"i:{int(value)}"
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return "f:nan" if math.isnan(v) else f"f:{v!r}"
    if isinstance(value, str):
        return f"s:{value}"
    raise CacheProblem(f"a cell holds a {type(value).__name__}, which a CSV cannot hold exactly")


def _decode(text: str):
    import pandas as pd

    tag, value = text[:2], text[2:]
    if tag == "s:":
        return value
    if tag == "f:":
        return float(value)
    if tag == "i:":
        return int(value)
    if tag == "b:" and value in ("True", "False"):
        return value == "True"
    if tag == "N:":
        return None
    if tag == "A:":
        return pd.NA
    raise InterpError(f"bad cell {text[:20]!r}")


def _table_to_csv(table: "pd.DataFrame") -> tuple[bytes, list[dict]]:
    """CSV bytes and column schema of a table; numeric columns plain, the others typed cells."""
    import numpy as np
    import pandas as pd

    index = table.index
    if not isinstance(index, pd.RangeIndex) or index.start != 0 or index.step != 1:
        raise CacheProblem("its index is not 0..n-1")
    names = list(table.columns)
    if not names or not all(isinstance(c, str) for c in names) or len(set(names)) != len(names):
        raise CacheProblem("its column names are not unique strings")
    cells, schema = {}, []
    for name in names:
        col = table[name]
        plain = isinstance(col.dtype, np.dtype) and col.dtype.kind in "biuf"
        cells[name] = col.to_numpy() if plain else np.array([_encode(v) for v in col.tolist()], dtype=object)
        schema.append({"name": name, "dtype": str(col.dtype), "encoding": "plain" if plain else "typed"})
    text = pd.DataFrame(cells, columns=names).to_csv(index=False, lineterminator="\n")
    return text.encode("utf-8"), schema


def _csv_to_table(data: bytes, schema: list[dict]) -> "pd.DataFrame":
    """The table :func:`_table_to_csv` wrote."""
    import io

    import numpy as np
    import pandas as pd

    names = [c["name"] for c in schema]
    if len(set(names)) != len(names) or not all(isinstance(n, str) for n in names):
        raise InterpError("bad column list")
    dtypes, na = {}, {}
    for c in schema:
        if c["encoding"] == "plain":
            dt = np.dtype(c["dtype"])
            if dt.kind not in "biuf":
                raise InterpError(f"column {c['name']!r}: bad dtype {c['dtype']!r}")
            dtypes[c["name"]] = "float64" if dt.kind == "f" else dt
            if dt.kind == "f":
                na[c["name"]] = [""]
        elif c["encoding"] == "typed":
            dtypes[c["name"]] = object
        else:
            raise InterpError(f"column {c['name']!r}: unknown encoding")
    frame = pd.read_csv(io.BytesIO(data), header=0, names=names, dtype=dtypes, keep_default_na=False,
                        na_values=na, encoding="utf-8")
    columns = {}
    for c in schema:
        col = frame[c["name"]]
        if c["encoding"] == "plain":
            columns[c["name"]] = col.astype(c["dtype"]) if str(col.dtype) != c["dtype"] else col
        else:
            values = pd.Series([_decode(v) for v in col.tolist()], dtype=object)
            columns[c["name"]] = values if c["dtype"] == "object" else values.astype(c["dtype"])
    return pd.DataFrame(columns, columns=names)


def read_cached_table(cache_dir: str | Path, spec: FigureSpec, key: str) -> "pd.DataFrame | None":
    """The cached table of ``spec`` for ``key``; None when there is none.

    Raises :class:`CacheProblem` (one line) for an entry that exists but cannot be used:
    unreadable, for another key, or a CSV that does not match the checksum in its sidecar.
    """
    import hashlib
    import json

    csv_path, meta_path = cache_paths(cache_dir, spec, key)
    if not meta_path.exists() and not csv_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_bytes().decode("utf-8"))
        if not isinstance(meta, dict) or meta.get("format") != _CACHE_FORMAT or meta.get("key") != key:
            raise CacheProblem("its sidecar is not for this key")
        data = csv_path.read_bytes()
        if hashlib.sha256(data).hexdigest() != meta.get("csv_sha256"):
            raise CacheProblem("its CSV does not match the checksum in its sidecar")
        table = _csv_to_table(data, meta["columns"])
        if len(table) != meta.get("rows"):
            raise CacheProblem(f"it has {len(table)} rows, its sidecar says {meta.get('rows')}")
    except CacheProblem:
        raise
    except Exception as err:  # anything unreadable: the entry is ignored, never trusted
        raise CacheProblem(describe(err)) from None
    return table


def write_cached_table(cache_dir: str | Path, spec: FigureSpec, key: str, material: dict,
                       table: "pd.DataFrame", seconds: float | None = None) -> Path:
    """Store ``table`` as ``spec``'s cache entry for ``key`` (CSV, then its JSON sidecar).

    The CSV is read back first and must equal the table exactly (values and dtypes), so that
    a figure drawn from the cache is the figure drawn from a fresh computation; otherwise, or
    when the folder cannot be written, :class:`CacheProblem` says why.
    """
    import hashlib
    import json

    try:
        data, schema = _table_to_csv(table)
        if not _csv_to_table(data, schema).equals(table):
            raise CacheProblem("its CSV does not read back exactly")
    except CacheProblem:
        raise
    except Exception as err:
        raise CacheProblem(f"cannot write it as CSV: {describe(err)}") from None
    csv_path, meta_path = cache_paths(cache_dir, spec, key)
    meta = {"format": _CACHE_FORMAT, "key": key, "material": material, "figure": spec.id, "rows": len(table),
            "columns": schema, "csv_sha256": hashlib.sha256(data).hexdigest(),
            "compute_seconds": None if seconds is None else round(seconds, 3)}
    try:
        csv_path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(csv_path, meta_path)  # left by a run killed while writing this entry
        with atomic_write(csv_path, "wb") as f:
            f.write(data)
        with atomic_write(meta_path, "wb") as f:
            f.write(json.dumps(meta, indent=1, sort_keys=True, allow_nan=True).encode("utf-8") + b"\n")
    except (OSError, InterpError) as err:
        raise CacheProblem(f"cannot write {csv_path.parent}: {describe(err)}") from None
    return csv_path


# -- committed tables ------------------------------------------------------------------------

_COMMITTED_FORMAT = 1  # layout of a committed table (gzipped CSV + JSON sidecar)


class CommittedTable:
    """A figure's committed table: ``table``, its ``key`` and ``material`` (the provenance), and
    the ``path`` of its sidecar."""

    def __init__(self, table: "pd.DataFrame", key: str, material: dict, path: Path):
        self.table, self.key, self.material, self.path = table, key, material, path


def committed_paths(tables_dir: str | Path, spec: FigureSpec) -> tuple[Path, Path]:
    """``(ID.csv.gz, ID.json)``: where figure ``spec``'s committed table and provenance live."""
    return Path(tables_dir) / f"{spec.id}.csv.gz", Path(tables_dir) / f"{spec.id}.json"


def read_committed_table(tables_dir: str | Path, spec: FigureSpec) -> CommittedTable | None:
    """The committed table of ``spec``; None when it has none.

    Raises :class:`CacheProblem` (one line) for one that exists but cannot be used: an
    unreadable sidecar, one for another figure or analysis, or a CSV that does not match the
    checksum in it.
    """
    import gzip
    import hashlib
    import json

    csv_path, meta_path = committed_paths(tables_dir, spec)
    if not meta_path.exists() and not csv_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_bytes().decode("utf-8"))
        if not isinstance(meta, dict) or meta.get("format") != _COMMITTED_FORMAT or meta.get("figure") != spec.id:
            raise CacheProblem(f"{meta_path.name} is not the provenance of figure {spec.id!r}")
        material = meta.get("material")
        if not isinstance(material, dict) or material.get("analysis") != spec.analysis:
            raise CacheProblem(f"{meta_path.name} is for another analysis")
        data = gzip.decompress(csv_path.read_bytes())
        if hashlib.sha256(data).hexdigest() != meta.get("csv_sha256"):
            raise CacheProblem(f"{csv_path.name} does not match the checksum in {meta_path.name}")
        table = _csv_to_table(data, meta["columns"])
        if len(table) != meta.get("rows"):
            raise CacheProblem(f"{csv_path.name} has {len(table)} rows, {meta_path.name} says {meta.get('rows')}")
    except CacheProblem:
        raise
    except Exception as err:  # anything unreadable is never trusted
        raise CacheProblem(describe(err)) from None
    return CommittedTable(table, str(meta.get("key")), material, meta_path)


def write_committed_table(tables_dir: str | Path, spec: FigureSpec, key: str, material: dict,
                          table: "pd.DataFrame") -> Path:
    """Store ``table`` as ``spec``'s committed table with its provenance (``key``, ``material``).

    The bytes depend on the table alone (gzip without a time stamp or file name, sorted JSON),
    so writing the same table again changes no file. The CSV must read back exactly
    (:class:`CacheProblem` otherwise).
    """
    import gzip
    import hashlib
    import json

    try:
        data, schema = _table_to_csv(table)
        if not _csv_to_table(data, schema).equals(table):
            raise CacheProblem("its CSV does not read back exactly")
    except CacheProblem:
        raise
    except Exception as err:
        raise CacheProblem(f"cannot write it as CSV: {describe(err)}") from None
    csv_path, meta_path = committed_paths(tables_dir, spec)
    meta = {"format": _COMMITTED_FORMAT, "figure": spec.id, "key": key, "material": material, "rows": len(table),
            "columns": schema, "csv_sha256": hashlib.sha256(data).hexdigest()}
    try:
        csv_path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(csv_path, meta_path)
        with atomic_write(csv_path, "wb") as f:
            f.write(gzip.compress(data, compresslevel=9, mtime=0))
        with atomic_write(meta_path, "wb") as f:
            f.write(json.dumps(meta, indent=1, sort_keys=True, allow_nan=True).encode("utf-8") + b"\n")
    except (OSError, InterpError) as err:
        raise CacheProblem(f"cannot write {csv_path.parent}: {describe(err)}") from None
    return meta_path


def material_differences(old: dict, new: dict) -> list[str]:
    """What differs between two keys' material, in words (``["test data: data/davis32-mini.npz
    absent", ...]``); empty when they are the same."""
    out = []
    if old.get("cache_version") != new.get("cache_version"):
        out.append(f"code version (CACHE_VERSION {old.get('cache_version')} -> {new.get('cache_version')})")
    if old.get("analysis") != new.get("analysis"):
        out.append(f"analysis ({old.get('analysis')} -> {new.get('analysis')})")
    elif old.get("analysis_version", 1) != new.get("analysis_version", 1):
        out.append(f"code version of {new.get('analysis')} ({old.get('analysis_version', 1)} -> "
                   f"{new.get('analysis_version', 1)})")
    if old.get("params") != new.get("params"):
        changed = sorted(k for k in set(old.get("params") or {}) | set(new.get("params") or {})
                         if (old.get("params") or {}).get(k) != (new.get("params") or {}).get(k))
        out.append(f"params ({', '.join(changed)})")
    old_models, new_models = old.get("models") or {}, new.get("models") or {}
    for name in sorted(set(old_models) | set(new_models)):
        a, b = old_models.get(name), new_models.get(name)
        if a is None or b is None:
            out.append(f"model {name} {'added' if a is None else 'removed'}")
        elif a.get("checkpoint_sha256") != b.get("checkpoint_sha256"):
            out.append(f"model {name}: another checkpoint")
        elif a != b:
            out.append(f"model {name}: its card's [model] or [data]")
    old_in, new_in = old.get("inputs") or {}, new.get("inputs") or {}
    for name in sorted(set(old_in) | set(new_in)):
        a, b = old_in.get(name), new_in.get(name)
        if a == b:
            continue
        if b is None:
            out.append(f"test data: {name} absent")
        elif a is None:
            out.append(f"test data: {name} present")
        else:
            out.append(f"test data: {name} has other content")
    return out
