"""make_figures: wall time of `make figures` (``python -m interp.figures``) with the shipped models."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from ._harness import Context, Memory, row, run_child

DESCRIPTION = (
    "Wall time of `python -m interp.figures --out DIR`, the command `make figures` runs, in a fresh "
    "process each time (interpreter start-up, imports, every figure of figures/manifest.toml with the "
    "shipped models of models/; DIR is a temporary folder, so the shipped figures are not touched). "
    "When the command has a `--no-cache` option, the timed runs pass it (`figures`: everything "
    "computed, and the cache refreshed) and are interleaved with runs without it (`figures_cached`, "
    "reading the tables the uncached run of the round stored; ratio = cached / uncached time; a full "
    "run first fills the cache once, untimed). Every run is interleaved with "
    "`python -m interp.figures --list` (`startup`: interpreter, imports and manifest, no figure), the "
    "baseline that follows the machine's load. A figure whose models are not shipped fails alone; the "
    "command then exits 1 and the row names the failed figures. Peak memory: each run's process "
    "(ru_maxrss). Smoke: `--only fig09` (no model). Runs on the CPU, also in a GPU run."
)
REPO = Path(__file__).resolve().parents[1]
PROG = [sys.executable, "-m", "interp.figures"]


def _has_option(option: str, env: dict) -> bool:
    """Whether ``python -m interp.figures --help`` lists ``option``."""
    proc = subprocess.run([*PROG, "--help"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    return proc.returncode == 0 and re.search(rf"(^|[\s,\[]){re.escape(option)}\b", proc.stdout) is not None


def _failed_figures(stderr: str) -> list[str]:
    m = re.search(r"figure\(s\) failed: (.*)$", stderr.strip(), re.MULTILINE)
    return [f.strip() for f in m.group(1).split(",")] if m else []


def run(ctx: Context) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(ctx.threads), OMP_WAIT_POLICY="PASSIVE")
    only = ["--only", "fig09"] if ctx.smoke else []
    repeats = 2  # a full uncached render takes minutes on 2 cores
    timeout = 300 if ctx.smoke else 4 * 3600
    no_cache = _has_option("--no-cache", env)
    runs: dict[str, list] = {"startup": [], "figures": []}
    if no_cache:
        runs["figures_cached"] = []
    failed: dict[str, set] = {k: set() for k in runs}
    with tempfile.TemporaryDirectory(prefix="bench-figures-") as tmp:
        out = Path(tmp) / "figures"
        cmds = {"startup": [*PROG, "--list"],
                "figures": [*PROG, "--out", out, *only, *(["--no-cache"] if no_cache else [])],
                "figures_cached": [*PROG, "--out", out, *only]}

        def once(name: str):
            child = run_child(cmds[name], cwd=REPO, env=env, timeout=timeout)
            if child.returncode not in (0, 1) or (child.returncode == 1 and not _failed_figures(child.stderr)):
                raise RuntimeError(f"python -m interp.figures exited with {child.returncode}: "
                                   f"{' '.join(child.stderr.strip().splitlines()[-1:])[-500:]}")
            failed[name].update(_failed_figures(child.stderr))
            return child

        # each round's uncached run (--no-cache refreshes the cache) fills it for the cached run
        for r in range(repeats):
            for name in runs:
                runs[name].append(once(name))
            ctx.log(f"  round {r + 1}/{repeats}: " + ", ".join(f"{k} {v[-1].seconds:.2f}s" for k, v in runs.items()))

    sec = {k: np.array([c.seconds for c in v]) for k, v in runs.items()}
    mem = {k: Memory(max(c.peak_rss_mb for c in v), None) for k, v in runs.items()}
    selection = "fig09 only (smoke)" if ctx.smoke else "every figure of the manifest"

    def failures(name: str) -> str:
        return f"; figures that failed (models not shipped): {', '.join(sorted(failed[name]))}" if failed[name] else ""

    rows = [row("startup", "wall time of `python -m interp.figures --list`", "s", sec["startup"],
                baseline="startup", baseline_values=sec["startup"], mem=mem["startup"],
                note="the command's fixed cost: interpreter, imports, manifest; no figure"),
            row("figures", "wall time of `make figures`" + (" (--no-cache)" if no_cache else ""), "s",
                sec["figures"], baseline="startup", baseline_values=sec["startup"], mem=mem["figures"],
                failed_figures=sorted(failed["figures"]),
                note=f"{selection}; ratio = time / start-up time, per round{failures('figures')}")]
    if no_cache:
        rows.append(row("figures_cached", "wall time of `make figures`, cache filled", "s", sec["figures_cached"],
                        baseline="figures", baseline_values=sec["figures"], mem=mem["figures_cached"],
                        failed_figures=sorted(failed["figures_cached"]),
                        note=f"{selection}; ratio = cached / uncached time, per round{failures('figures_cached')}"))
    notes = ["`python -m interp.figures` has " + ("a --no-cache option: uncached and cached runs are both timed."
                                                  if no_cache else "no --no-cache option (no cache to bypass).")]
    return {"rows": rows, "notes": notes}
