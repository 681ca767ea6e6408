"""``python -m benchmarks``: run the benchmarks, write results.json and results.md."""

import os

# Before torch (and its OpenMP runtime) is imported: idle OpenMP threads sleep instead of
# spinning, which matters on a shared machine (see the design notes).
os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

import argparse  # noqa: E402
import importlib  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402

from . import BENCHMARKS  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "results"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--smoke", action="store_true", help="tiny sizes: finishes in seconds (for the tests)")
    p.add_argument("--only", nargs="+", metavar="NAME", choices=BENCHMARKS,
                   help=f"run only these benchmarks ({', '.join(BENCHMARKS)})")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: benchmarks/results)")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    args = p.parse_args(argv)
    if args.threads < 1:
        p.error("--threads must be at least 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    # numpy's BLAS and OpenMP read these at load time; torch gets set_num_threads below.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    import torch

    torch.set_num_threads(args.threads)

    from ._harness import Context, machine_info, now, write_results

    ctx = Context(smoke=args.smoke, threads=args.threads)
    machine = machine_info()
    names = [n for n in BENCHMARKS if args.only is None or n in args.only]
    entries, failed = {}, []
    for name in names:
        mod = importlib.import_module(f".{name}", __package__)
        ctx.log(f"{name} ({'smoke' if args.smoke else 'full'})")
        entry = {"name": name, "description": mod.DESCRIPTION, "mode": "smoke" if args.smoke else "full",
                 "date": now(), "machine": machine_info()}
        t0 = time.perf_counter()
        try:
            entry.update(mod.run(ctx))
        except Exception as err:  # record it, run the others, exit non-zero
            traceback.print_exc()
            entry["error"] = f"{type(err).__name__}: {' '.join(str(err).split())}"
            entry["rows"] = []
            failed.append(name)
        entry["wall_s"] = round(time.perf_counter() - t0, 2)
        entry["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
        cpus = entry["machine"].get("usable_cpus") or os.cpu_count() or 1
        busy = max(entry["machine"]["loadavg_at_start"][0], entry["loadavg_at_end"][0])
        if busy > cpus + 0.5:
            entry.setdefault("notes", []).append(
                f"machine busy during this run (1-min load average up to {busy:.1f} on {cpus} CPUs): "
                "absolute numbers are depressed and noisy; with another multi-threaded process on the same "
                "cores, OpenMP barriers stall and several threads can be much slower than one "
                "(compare --threads 1).")
        entries[name] = entry
        ctx.log(f"{name}: {entry['wall_s']:.1f} s")
        # write after each benchmark, so a long run leaves its finished parts behind
        write_results(args.out, entries, machine, BENCHMARKS)
    print(f"wrote {args.out / 'results.json'} and {args.out / 'results.md'}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
