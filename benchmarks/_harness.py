"""Timing, memory, machine description and result files shared by the benchmarks."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

FORMAT = "interp.benchmarks/1"

MEMORY_NOTE = (
    "peak_rss_mb: largest rise of the process's resident set (VmHWM after the call minus VmRSS "
    "before it) over the measured calls; the peak is reset before each call by writing 5 to "
    "/proc/self/clear_refs. Memory freed earlier and reused by the allocator is not counted. "
    "Where the peak cannot be reset it falls back to the rise of ru_maxrss (0 unless the call "
    "set a new high)."
)
RATIO_NOTE = (
    "ratio = value / baseline value of the same metric; for measurements interleaved with "
    "their baseline it is the median of the per-round ratios (ratio_min/ratio_max: their range)."
)


# ------------------------------------------------------------------------------- context
@dataclasses.dataclass
class Context:
    """What a benchmark gets: the mode and a logger."""

    smoke: bool
    threads: int

    def log(self, msg: str) -> None:
        print(f"[bench] {msg}", file=sys.stderr, flush=True)


# -------------------------------------------------------------------------------- memory
def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class PeakRSS:
    """Context manager: ``.mb`` is the rise of peak resident memory during the block, in MB."""

    def __enter__(self) -> "PeakRSS":
        self.resettable = _reset_peak()
        self.rss0 = _status_kb("VmRSS") if self.resettable else None
        self.maxrss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        self.mb = 0.0
        return self

    def __exit__(self, *exc) -> None:
        hwm = _status_kb("VmHWM") if self.resettable else None
        if self.rss0 is not None and hwm is not None:
            self.mb = max(0.0, (hwm - self.rss0) / 1024.0)
        else:
            self.mb = max(0.0, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - self.maxrss0) / 1024.0)


# -------------------------------------------------------------------------------- timing
@dataclasses.dataclass
class Candidate:
    """A callable timed as one unit of work; ``units`` is what a call produces (samples, ...)."""

    name: str
    fn: Callable[[], object]
    units: float = 1.0


@dataclasses.dataclass
class Timings:
    seconds: dict[str, list[float]]
    peak_mb: dict[str, float]
    units: dict[str, float]

    def rates(self, name: str) -> np.ndarray:
        return self.units[name] / np.asarray(self.seconds[name])

    def times(self, name: str) -> np.ndarray:
        return np.asarray(self.seconds[name]) / self.units[name]


def interleaved(candidates: Sequence[Candidate], repeats: int, warmup: int = 1,
                ctx: Context | None = None) -> Timings:
    """Time the candidates round-robin (A B C A B C ...), after ``warmup`` untimed rounds."""
    for _ in range(warmup):
        for c in candidates:
            c.fn()
    seconds = {c.name: [] for c in candidates}
    peak = {c.name: 0.0 for c in candidates}
    for r in range(repeats):
        for c in candidates:
            with PeakRSS() as mem:
                t0 = time.perf_counter()
                c.fn()
                dt = time.perf_counter() - t0
            seconds[c.name].append(dt)
            peak[c.name] = max(peak[c.name], mem.mb)
        if ctx is not None:
            ctx.log("  round %d/%d: %s" % (r + 1, repeats, ", ".join(
                f"{c.name} {seconds[c.name][-1]:.3g}s" for c in candidates)))
    return Timings(seconds, peak, {c.name: c.units for c in candidates})


def spread(values) -> dict:
    """median, min, max, quartiles and count of a sample."""
    v = np.asarray(values, dtype=np.float64)
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    return {"median": float(med), "min": float(v.min()), "max": float(v.max()),
            "q1": float(q1), "q3": float(q3), "repeats": int(v.size)}


def row(name: str, metric: str, unit: str, values, *, baseline: str | None = None,
        baseline_values=None, ratio: float | None = None, peak_mb: float | None = None,
        note: str = "", target: float | None = None, meets_target: bool | None = None,
        **extra) -> dict:
    """One result: ``value`` is the median of ``values`` (a number or a sample).

    The ratio is ``ratio`` if given, else the median of the per-round ratios
    ``values[i] / baseline_values[i]`` (paired rounds of an interleaved measurement),
    else ``value / baseline_values`` for a single baseline number.
    """
    vals = np.atleast_1d(np.asarray(values, dtype=np.float64))
    s = spread(vals)
    out = {"name": name, "metric": metric, "value": s["median"], "unit": unit, **s,
           "baseline": baseline, "ratio": None, "ratio_min": None, "ratio_max": None,
           "peak_rss_mb": None if peak_mb is None else round(float(peak_mb), 1),
           "target": target, "meets_target": meets_target, "note": note}
    if ratio is not None:
        out["ratio"] = float(ratio)
    elif baseline_values is not None:
        b = np.atleast_1d(np.asarray(baseline_values, dtype=np.float64))
        per_round = vals / b if b.size == vals.size else np.atleast_1d(s["median"] / np.median(b))
        out["ratio"] = float(np.median(per_round))
        out["ratio_min"], out["ratio_max"] = float(per_round.min()), float(per_round.max())
    if extra:
        out["extra"] = extra
    return out


# ------------------------------------------------------------------------------- machine
def _cpuinfo() -> tuple[str, list[str]]:
    model, flags = platform.processor() or "unknown", []
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model in ("unknown", platform.processor()):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = line.split(":", 1)[1].split()
    except OSError:
        pass
    return model, flags


def machine_info() -> dict:
    import torch

    model, flags = _cpuinfo()
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gb = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None
    return {
        "cpu_model": model,
        "cpu_flags": [f for f in ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile")
                      if f in flags],
        "logical_cpus": os.cpu_count(),
        "usable_cpus": affinity,
        "memory_gb": mem_gb,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).astimezone().isoformat(timespec="seconds")


# -------------------------------------------------------------------------------- output
def _finite_or_none(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _clean(obj):
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.floating,)):
        return _finite_or_none(float(obj))
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    return _finite_or_none(obj)


def load_results(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if data.get("format") == FORMAT and isinstance(data.get("benchmarks"), dict) else {}


def write_results(out_dir: Path, entries: dict[str, dict], machine: dict, order: Sequence[str]) -> dict:
    """Merge ``entries`` into ``out_dir/results.json`` (atomically) and rewrite ``results.md``."""
    from interp.io import atomic_write

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "results.json"
    old = load_results(path).get("benchmarks", {})
    merged = {**old, **entries}
    benchmarks = {k: merged[k] for k in list(order) + sorted(set(merged) - set(order)) if k in merged}
    data = _clean({"format": FORMAT, "updated": now(), "machine": machine,
                   "notes": {"memory": MEMORY_NOTE, "ratio": RATIO_NOTE}, "benchmarks": benchmarks})
    with atomic_write(path, "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
    with atomic_write(out_dir / "results.md", "w") as f:
        f.write(render_markdown(data))
    for p in (path, out_dir / "results.md"):  # mkstemp makes them private; they are reports
        try:
            p.chmod(0o644)
        except OSError:
            pass
    return data


def _fmt(x, digits: int = 4) -> str:
    if x is None:
        return ""
    if isinstance(x, bool):
        return "yes" if x else "NO"
    if isinstance(x, (int, float)):
        if x == 0:
            return "0"
        if abs(x) >= 10 ** digits or abs(x) < 1e-3:
            return f"{x:.{digits - 1}e}"
        return f"{x:.{digits}g}"
    return str(x)


def render_markdown(data: dict) -> str:
    m = data["machine"]
    lines = ["# Benchmarks", "",
             f"Written by `python -m benchmarks` on {data['updated']}. Machine of the latest run: "
             f"{m.get('cpu_model')} ({m.get('usable_cpus')} usable CPUs, flags {', '.join(m.get('cpu_flags', []))}), "
             f"torch {m.get('torch')} with {m.get('torch_threads')} threads, OMP_WAIT_POLICY={m.get('OMP_WAIT_POLICY')}, "
             f"load average at start {m.get('loadavg_at_start')}.", "",
             f"- {data['notes']['ratio']}", f"- {data['notes']['memory']}",
             "- spread: min .. max over the repeats (quartiles in results.json).", ""]
    header = ("| benchmark | name | metric | value (median) | spread (min .. max) | unit | n | baseline | ratio "
              "| target | met | peak RSS MB |")
    lines += [header, "|" + "---|" * (header.count("|") - 1)]
    for bname, entry in data["benchmarks"].items():
        if entry.get("error"):
            lines.append(f"| {bname} | ERROR | {entry['error']} |" + " |" * 9)
            continue
        for r in entry.get("rows", []):
            spread_txt = "" if r["repeats"] <= 1 else f"{_fmt(r['min'])} .. {_fmt(r['max'])}"
            ratio = _fmt(r["ratio"])
            if r.get("ratio_min") is not None and r["repeats"] > 1:
                ratio += f" ({_fmt(r['ratio_min'], 3)} .. {_fmt(r['ratio_max'], 3)})"
            lines.append(
                f"| {bname} | {r['name']} | {r['metric']} | {_fmt(r['value'])} | {spread_txt} | {r['unit']} "
                f"| {r['repeats']} | {r['baseline'] or ''} | {ratio} | {_fmt(r.get('target'))} "
                f"| {_fmt(r.get('meets_target'))} | {_fmt(r.get('peak_rss_mb'))} |")
    lines.append("")
    for bname, entry in data["benchmarks"].items():
        lines.append(f"## {bname}")
        lines.append("")
        lines.append(f"{entry.get('description', '')}")
        lines.append("")
        lines.append(f"- mode: {entry.get('mode')}; run {entry.get('date')}; wall time {_fmt(entry.get('wall_s'))} s; "
                     f"machine {entry.get('machine', {}).get('cpu_model')}, "
                     f"{entry.get('machine', {}).get('torch_threads')} torch threads, torch "
                     f"{entry.get('machine', {}).get('torch')}, load average at start "
                     f"{entry.get('machine', {}).get('loadavg_at_start')}")
        for note in entry.get("notes", []):
            lines.append(f"- {note}")
        for r in entry.get("rows", []):
            if r.get("note"):
                lines.append(f"- `{r['name']}`: {r['note']}")
        if entry.get("error"):
            lines.append(f"- ERROR: {entry['error']}")
        lines.append("")
    return "\n".join(lines)


#: The shipped moving-leaves model the sampler and Jacobian benchmarks time.
SHIPPED_MODEL = Path(__file__).resolve().parents[1] / "models" / "leaves-tau2.safetensors"


def shipped_network(smoke: bool, tau: int = 2):
    """``(network, description)``: the shipped tau = 2 model, or for a smoke run an untrained
    ``UNet(tau, width=4)`` (seeded), so that smoke runs need no trained weights."""
    import torch

    if smoke:
        from interp.unet import UNet

        torch.manual_seed(0)
        return UNet(tau=tau, width=4).eval(), f"untrained UNet(tau={tau}, width=4) (smoke)"
    if not SHIPPED_MODEL.is_file():
        raise FileNotFoundError(f"{SHIPPED_MODEL} not found: train it with `python -m interp.train models/leaves-tau2.toml`")
    from interp import checkpoint

    net = checkpoint.load(SHIPPED_MODEL)
    cfg = net.checkpoint_config
    return net, f"{SHIPPED_MODEL.name} (step {cfg.get('step')}, samples {cfg.get('samples')})"
