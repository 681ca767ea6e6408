"""``python -m benchmarks``: run the benchmarks, write the results table as JSON and Markdown."""

import os

# Before torch (and its OpenMP runtime) is imported: idle OpenMP threads sleep instead of
# spinning, which matters on a shared machine (see the design notes).
os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from interp import InterpError
from interp.cli.common import ArgumentParser, run, thread_count

from . import BENCHMARKS  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = Path(__file__).resolve().parent / "results"
SMOKE_TIMEOUT_S = 300  # per benchmark; a full run has no limit


def _parser() -> ArgumentParser:
    p = ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--smoke", action="store_true", help="tiny sizes: about a minute (the test suite runs this)")
    p.add_argument("--only", nargs="+", metavar="NAME", choices=BENCHMARKS,
                   help=f"run only these benchmarks ({', '.join(BENCHMARKS)})")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: benchmarks/results)")
    p.add_argument("--threads", type=thread_count, default=2, help="torch threads (default 2)")
    p.add_argument("--device", choices=("cpu", "cuda"), default=None,
                   help="where the networks run (default: cuda when present, else cpu); a cuda run writes "
                        "results-cuda.json and .md beside the CPU results")
    return p


def parse_args(argv=None) -> argparse.Namespace:
    p = _parser()
    args = p.parse_args(argv)
    import torch

    if args.device is None:
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    elif args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: this machine (or this torch build) has no CUDA device")
    return args


def _run_one(name: str, args, env: dict) -> dict:
    """The entry of one benchmark, run in its own process (benchmarks._worker)."""
    from ._harness import machine_info, now

    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        result = Path(tmp) / "entry.json"
        cmd = [sys.executable, *(f"-W{w}" for w in sys.warnoptions), "-m", "benchmarks._worker", name,
               "--json", str(result), "--threads", str(args.threads), "--device", args.device]
        if args.smoke:
            cmd.append("--smoke")
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, cwd=REPO, env=env, timeout=SMOKE_TIMEOUT_S if args.smoke else None)
            why = f"its process exited with code {proc.returncode} and wrote no results (see its output above)"
        except subprocess.TimeoutExpired:
            why = f"its process ran past {SMOKE_TIMEOUT_S} s and was stopped"
        wall = round(time.perf_counter() - t0, 2)
        try:
            entry = json.loads(result.read_text())
        except (OSError, ValueError):
            entry = {"name": name, "description": "", "mode": "smoke" if args.smoke else "full", "date": now(),
                     "device": args.device, "machine": machine_info(args.device), "rows": [], "error": why}
    entry["process_wall_s"] = wall
    return entry


def _check_out(out: Path, stem: str) -> None:
    """A one-line error, before any benchmark runs, unless the results can be written to ``out``."""
    from interp._util.io import check_writable

    if out.exists() and not out.is_dir():
        raise InterpError(f"--out {out} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InterpError(f"cannot create the --out folder {out}: {err.strerror or err}") from None
    for suffix in (".json", ".md"):
        check_writable(out / f"{stem}{suffix}")


def main(argv=None) -> int:
    args = parse_args(argv)
    # for this process and, through the environment, for each benchmark's
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = os.environ[var] = str(args.threads)

    import torch

    torch.set_num_threads(args.threads)

    from ._harness import load_results, machine_info, results_stem, write_results

    out = args.out.resolve()
    stem = results_stem(args.device)
    _check_out(out, stem)
    load_results(out / f"{stem}.json")  # a damaged results file stops the run before it starts
    machine = machine_info(args.device)
    names = [n for n in BENCHMARKS if args.only is None or n in args.only]
    entries, failed = {}, []
    for name in names:
        print(f"[bench] {name} ({'smoke' if args.smoke else 'full'}, {args.device})", file=sys.stderr, flush=True)
        entry = _run_one(name, args, env)
        if entry.get("error"):
            failed.append(name)
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
        print(f"[bench] {name}: {entry['process_wall_s']:.1f} s", file=sys.stderr, flush=True)
        # write after each benchmark, so a long run leaves its finished parts behind
        write_results(out, entries, machine, BENCHMARKS, stem)
    print(f"wrote {out / (stem + '.json')} and {out / (stem + '.md')}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run(main, "python -m benchmarks"))
