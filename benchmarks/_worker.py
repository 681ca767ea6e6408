"""One benchmark in a process of its own (what ``python -m benchmarks`` starts for each).

::

    python -m benchmarks._worker NAME --json FILE [--smoke] [--threads N] [--device cpu|cuda]

Writes the benchmark's entry (rows, notes, machine, the process's peak memory) to FILE. A
process per benchmark keeps their peak memory apart (one benchmark's high-water mark is not
the next one's), gives each the same fresh start, and lets a crash in one (a compiler failure
inside torch.compile, say) leave the others running.
"""

import os

# Before torch (and its OpenMP runtime) is imported: idle OpenMP threads sleep instead of
# spinning, which matters on a shared machine (see the design notes).
os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

import importlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402

from interp.cli.common import ArgumentParser, thread_count

from . import BENCHMARKS  # noqa: E402


def main(argv=None) -> int:
    p = ArgumentParser(prog="python -m benchmarks._worker", description=__doc__)
    p.add_argument("name", choices=BENCHMARKS)
    p.add_argument("--json", type=Path, required=True, help="where to write the entry")
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--threads", type=thread_count, default=2)
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = p.parse_args(argv)
    # numpy's BLAS and OpenMP read these at load time; torch gets set_num_threads below.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    import torch

    torch.set_num_threads(args.threads)

    from interp._util.io import atomic_write

    from ._harness import Context, machine_info, now, process_peak_mb

    ctx = Context(smoke=args.smoke, threads=args.threads, device=args.device)
    entry = {"name": args.name, "description": "", "mode": "smoke" if args.smoke else "full", "date": now(),
             "device": args.device, "machine": machine_info(args.device)}
    t0 = time.perf_counter()
    try:
        mod = importlib.import_module(f".{args.name}", __package__)
        entry["description"] = mod.DESCRIPTION
        entry.update(mod.run(ctx))
    except Exception as err:  # record it; the parent reports it and runs the others
        traceback.print_exc()
        entry["error"] = f"{type(err).__name__}: {' '.join(str(err).split())}"
        entry["rows"] = []
    entry["wall_s"] = round(time.perf_counter() - t0, 2)
    entry["process_peak_rss_mb"] = round(process_peak_mb(), 1)
    if ctx.cuda:
        entry["process_peak_gpu_mb"] = round(ctx.clock.gpu_peak_mb, 1)
    from ._harness import _clean

    with atomic_write(args.json, "w") as f:
        json.dump(_clean(entry), f)
    return 1 if "error" in entry else 0


if __name__ == "__main__":
    sys.exit(main())
