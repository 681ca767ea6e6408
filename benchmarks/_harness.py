"""Timing, memory, machine description and result files shared by the benchmarks."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import os
import platform
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

FORMAT = "interp.benchmarks/1"

MEMORY_NOTE = (
    "peak memory: every benchmark runs in its own process. peak_rss_mb is that process's resident-set "
    "high-water mark (VmHWM) during the row's measured calls, reset before each call by writing 5 to "
    "/proc/self/clear_refs; it is absolute, so it includes the interpreter, torch and the benchmark's "
    "data. rss_rise_mb is the part the call added (VmHWM minus the resident set just before the call; "
    "memory freed earlier and reused by the allocator is not counted). Where the peak cannot be reset "
    "(no /proc, or clear_refs refused) the process's ru_maxrss so far stands in, and the rise is "
    "reported only when the call raised it (otherwise it is unknown: blank). A row measured in a child process (a command's "
    "wall time) reports that child's ru_maxrss (no rise). On a GPU run peak_gpu_mb is "
    "torch.cuda.max_memory_allocated during the call (reset before it). Rows derived from a measurement "
    "(FLOP shares, evaluation counts, quality deltas) carry the memory of the measurement they come from."
)
RATIO_NOTE = (
    "ratio = value / baseline value of the same metric; for measurements interleaved with "
    "their baseline it is the median of the per-round ratios (ratio_min/ratio_max: their range)."
)
SPREAD_NOTE = "spread: min .. max over the repeats (quartiles in the JSON file)."


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


def _maxrss_kb(who: int = resource.RUSAGE_SELF) -> int:
    kb = resource.getrusage(who).ru_maxrss
    return kb // 1024 if sys.platform == "darwin" else kb  # bytes on macOS, KiB on Linux


_process_peak_kb = 0  # the highest VmHWM seen before a reset (clear_refs forgets it)


def _note_peak(kb: int | None) -> None:
    global _process_peak_kb
    if kb:
        _process_peak_kb = max(_process_peak_kb, kb)


def process_peak_mb() -> float:
    """Peak resident memory of this process since it started, in MB (resets included)."""
    _note_peak(_status_kb("VmHWM"))
    _note_peak(_maxrss_kb())
    return _process_peak_kb / 1024.0


class PeakRSS:
    """Context manager: ``.mb``, the process's peak resident memory during the block, and
    ``.rise_mb``, how far that peak rose above the resident memory before the block (MB)."""

    def __enter__(self) -> "PeakRSS":
        _note_peak(_status_kb("VmHWM"))
        self.rss0 = _status_kb("VmRSS")
        self.resettable = _reset_peak()
        self.maxrss0 = _maxrss_kb()
        self.mb, self.rise_mb = 0.0, None
        return self

    def __exit__(self, *exc) -> None:
        hwm = _status_kb("VmHWM") if self.resettable else None
        if self.rss0 is not None and hwm is not None:
            self.mb, self.rise_mb = hwm / 1024.0, max(0.0, (hwm - self.rss0) / 1024.0)
        else:
            # no reset: ru_maxrss is the process's peak so far. If the block raised it, that is
            # the block's peak; if not, the block's peak is hidden under an earlier one, and its
            # rise is unknown (None), never a silent 0.
            maxrss = _maxrss_kb()
            self.mb = maxrss / 1024.0
            if maxrss > self.maxrss0:
                base = self.rss0 if self.rss0 is not None else self.maxrss0
                self.rise_mb = max(0.0, (maxrss - base) / 1024.0)
        _note_peak(hwm)


@dataclasses.dataclass
class Memory:
    """Peak memory of measured calls, MB: resident high-water mark, its rise over the resident
    memory before the call (None for a command's own process, which starts from nothing), and
    on a GPU run the CUDA allocator's peak."""

    rss_mb: float = 0.0
    rise_mb: float | None = 0.0
    gpu_mb: float | None = None

    def __or__(self, other: "Memory") -> "Memory":
        """The larger of each field (the peak over both measurements)."""
        def top(a, b):
            return b if a is None else a if b is None else max(a, b)
        return Memory(max(self.rss_mb, other.rss_mb), top(self.rise_mb, other.rise_mb), top(self.gpu_mb, other.gpu_mb))


# -------------------------------------------------------------------------------- timing
class Clock:
    """Times one call and its peak memory.

    On the CPU: the wall clock (time.perf_counter) and :class:`PeakRSS`. On a GPU run (``cuda``
    is the ``torch.cuda`` module): CUDA events recorded on the current stream before and after
    the call, after a synchronize, so queued work of earlier calls is not counted and the call's
    own work is; and torch.cuda.max_memory_allocated, reset before the call.
    """

    def __init__(self, cuda=None):
        self.cuda = cuda
        self.gpu_peak_mb = 0.0  # the largest peak_gpu_mb measured by this clock

    def sync(self) -> None:
        if self.cuda is not None:
            self.cuda.synchronize()

    def measure(self, fn: Callable[[], object]) -> tuple[float, Memory, object]:
        """``(seconds, memory, fn())`` of one call."""
        cuda = self.cuda
        with PeakRSS() as rss:
            if cuda is None:
                t0 = time.perf_counter()
                out = fn()
                seconds = time.perf_counter() - t0
            else:
                cuda.synchronize()
                cuda.reset_peak_memory_stats()
                start, end = cuda.Event(enable_timing=True), cuda.Event(enable_timing=True)
                start.record()
                out = fn()
                end.record()
                end.synchronize()
                seconds = start.elapsed_time(end) / 1e3  # elapsed_time is in ms
        gpu = None if cuda is None else cuda.max_memory_allocated() / 2**20
        if gpu is not None:
            self.gpu_peak_mb = max(self.gpu_peak_mb, gpu)
        return seconds, Memory(rss.mb, rss.rise_mb, gpu), out


# ------------------------------------------------------------------------------- context
@dataclasses.dataclass
class Context:
    """What a benchmark gets: the mode, thread count, device, its clock and a logger."""

    smoke: bool
    threads: int
    device: str = "cpu"  # "cpu" or "cuda"
    clock: Clock | None = None

    def __post_init__(self) -> None:
        if self.clock is None:
            if self.device == "cuda":
                import torch

                self.clock = Clock(torch.cuda)
            else:
                self.clock = Clock()

    @property
    def cuda(self) -> bool:
        return self.device == "cuda"

    @property
    def torch_device(self):
        import torch

        return torch.device(self.device)

    def on_cpu(self) -> "Context":
        """The same context with the CPU clock, for work that never touches the GPU."""
        return dataclasses.replace(self, device="cpu", clock=Clock())

    def measure(self, fn: Callable[[], object]) -> tuple[float, Memory, object]:
        return self.clock.measure(fn)

    def sync(self) -> None:
        self.clock.sync()

    def log(self, msg: str) -> None:
        print(f"[bench] {msg}", file=sys.stderr, flush=True)


@dataclasses.dataclass
class Candidate:
    """A callable timed as one unit of work; ``units`` is what a call produces (samples, ...)."""

    name: str
    fn: Callable[[], object]
    units: float = 1.0


@dataclasses.dataclass
class Timings:
    seconds: dict[str, list[float]]
    memory: dict[str, Memory]
    units: dict[str, float]

    def rates(self, name: str) -> np.ndarray:
        return self.units[name] / np.asarray(self.seconds[name])

    def times(self, name: str) -> np.ndarray:
        return np.asarray(self.seconds[name]) / self.units[name]


def interleaved(candidates: Sequence[Candidate], repeats: int, warmup: int = 1,
                ctx: Context | None = None, log: bool = True) -> Timings:
    """Time the candidates round-robin (A B C A B C ...), after ``warmup`` untimed rounds,
    with the context's clock (the CPU clock without a context)."""
    clock = ctx.clock if ctx is not None else Clock()
    for _ in range(warmup):
        for c in candidates:
            c.fn()
    clock.sync()
    seconds = {c.name: [] for c in candidates}
    memory = {c.name: Memory() for c in candidates}
    for r in range(repeats):
        for c in candidates:
            dt, mem, _ = clock.measure(c.fn)
            seconds[c.name].append(dt)
            memory[c.name] = memory[c.name] | mem
        if ctx is not None and log:
            ctx.log("  round %d/%d: %s" % (r + 1, repeats, ", ".join(
                f"{c.name} {seconds[c.name][-1]:.3g}s" for c in candidates)))
    return Timings(seconds, memory, {c.name: c.units for c in candidates})


# ------------------------------------------------------------------------ child processes
@dataclasses.dataclass
class ChildRun:
    seconds: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str


def run_child(cmd: Sequence[str], *, cwd=None, env=None, timeout: float | None = None) -> ChildRun:
    """Run a command; its wall time and its own peak resident memory (ru_maxrss from wait4).

    Output goes to temporary files (no pipe to fill). On timeout the child is killed (SIGKILL,
    by its pid) and TimeoutError is raised.
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        reaped: dict = {}
        t0 = time.perf_counter()
        proc = subprocess.Popen(list(map(str, cmd)), cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=err)

        def reap():
            _, status, usage = os.wait4(proc.pid, 0)
            reaped.update(t=time.perf_counter(), status=status, usage=usage)

        waiter = threading.Thread(target=reap, daemon=True)
        waiter.start()
        waiter.join(timeout)
        if waiter.is_alive():  # not reaped yet, so the pid is still this child's
            os.kill(proc.pid, signal.SIGKILL)
            waiter.join()
            proc.returncode = os.waitstatus_to_exitcode(reaped["status"])
            raise TimeoutError(f"{' '.join(map(str, cmd[:4]))} ... ran past {timeout:g} s")
        proc.returncode = os.waitstatus_to_exitcode(reaped["status"])  # Popen must not wait again
        kb = reaped["usage"].ru_maxrss // (1024 if sys.platform == "darwin" else 1)
        out.seek(0)
        err.seek(0)
        return ChildRun(reaped["t"] - t0, kb / 1024.0, proc.returncode, out.read(), err.read())


# -------------------------------------------------------------------------------- rows
def spread(values) -> dict:
    """median, min, max, quartiles, spread (max - min) and count of a sample."""
    v = np.asarray(values, dtype=np.float64)
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    return {"median": float(med), "min": float(v.min()), "max": float(v.max()),
            "q1": float(q1), "q3": float(q3), "spread": float(v.max() - v.min()), "repeats": int(v.size)}


def _memory_fields(mem: Memory | None) -> dict:
    if mem is None:
        return {"peak_rss_mb": None, "rss_rise_mb": None, "peak_gpu_mb": None}
    def mb(x):
        return None if x is None else round(float(x), 1)
    return {"peak_rss_mb": mb(mem.rss_mb), "rss_rise_mb": mb(mem.rise_mb), "peak_gpu_mb": mb(mem.gpu_mb)}


def row(name: str, metric: str, unit: str, values, *, baseline: str | None = None,
        baseline_values=None, ratio: float | None = None, mem: Memory | None = None,
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
           **_memory_fields(mem), "target": target, "meets_target": meets_target, "note": note}
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


def error_row(name: str, metric: str, unit: str, error: BaseException | str, *, note: str = "",
              mem: Memory | None = None, **extra) -> dict:
    """A measurement that could not be made (e.g. torch.compile without a working compiler):
    it stays in the table, with the one-line error in place of numbers."""
    if isinstance(error, BaseException):
        error = f"{type(error).__name__}: {error}"
    out = {"name": name, "metric": metric, "value": None, "unit": unit, "median": None, "min": None,
           "max": None, "q1": None, "q3": None, "spread": None, "repeats": 0, "baseline": None,
           "ratio": None, "ratio_min": None, "ratio_max": None, **_memory_fields(mem), "target": None,
           "meets_target": None, "note": note, "error": " ".join(str(error).split())[:500]}
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


def gpu_info() -> dict | None:
    """Name, compute capability, memory and CUDA version of the GPU a ``cuda`` run uses."""
    import torch

    if not torch.cuda.is_available():
        return None
    props = torch.cuda.get_device_properties(0)
    return {"name": torch.cuda.get_device_name(0), "capability": ".".join(map(str, (props.major, props.minor))),
            "memory_gb": round(props.total_memory / 2**30, 1), "count": torch.cuda.device_count(),
            "cuda": torch.version.cuda}


def machine_info(device: str = "cpu") -> dict:
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
    info = {
        "device": device,
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
    if device == "cuda":
        info["gpu"] = gpu_info()
    return info


def hardware(machine: dict) -> str:
    """The hardware of a run in words: the GPU (for a cuda run) and the CPU."""
    cpu = (f"{machine.get('cpu_model')} ({machine.get('usable_cpus')} usable CPUs, flags "
           f"{', '.join(machine.get('cpu_flags', []))})")
    gpu = machine.get("gpu")
    if machine.get("device") == "cuda" and gpu:
        return (f"GPU {gpu['name']} (compute capability {gpu['capability']}, {gpu['memory_gb']} GB, CUDA "
                f"{gpu['cuda']}), host CPU {cpu}")
    return cpu


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).astimezone().isoformat(timespec="seconds")


# -------------------------------------------------------------------------------- output
def results_stem(device: str) -> str:
    """``results`` for CPU runs, ``results-cuda`` for GPU runs: the two never overwrite each other."""
    return "results" if device == "cpu" else f"results-{device}"


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
    """The results in ``path`` ({} when there is no such file yet).

    A file that is not a results object of :data:`FORMAT` (not JSON, a list, another format)
    is a one-line :class:`interp.cli.InterpError`: dropping it would lose the results of the
    benchmarks not run this time. A UTF-8 byte-order mark (an editor's) is allowed.
    """
    from interp import InterpError
    from interp._util.errors import short_repr

    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as err:
        raise InterpError(f"cannot read the results file {path}: {getattr(err, 'strerror', None) or err}") from None
    except ValueError as err:
        raise InterpError(f"the results file {path} is not valid JSON ({err}); move it away to start "
                          "a new one") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("benchmarks"), dict):
        raise InterpError(f"the results file {path} is not a JSON object of format {FORMAT!r} with a "
                          "'benchmarks' table; move it away to start a new one")
    for name, entry in data["benchmarks"].items():  # each kept entry is shown again in results.md
        for device in ("cpu", "cuda"):
            try:
                render_markdown({"machine": {"device": device}, "updated": "", "benchmarks": {name: entry},
                                 "notes": {"memory": "", "ratio": "", "spread": ""}})
            except (AttributeError, KeyError, TypeError, ValueError, IndexError) as err:
                raise InterpError(f"the results file {path} has a malformed entry {short_repr(name)} "
                                  f"({type(err).__name__}: {short_repr(str(err), 60)}); move the file away or "
                                  "delete the entry") from None
    return data


def write_results(out_dir: Path, entries: dict[str, dict], machine: dict, order: Sequence[str],
                  stem: str = "results") -> dict:
    """Merge ``entries`` into ``out_dir/STEM.json`` (atomically) and rewrite ``STEM.md``."""
    from interp._util.io import atomic_write

    out_dir.mkdir(parents=True, exist_ok=True)
    path, md = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    old = load_results(path).get("benchmarks", {})
    merged = {**old, **entries}
    benchmarks = {k: merged[k] for k in list(order) + sorted(set(merged) - set(order)) if k in merged}
    data = _clean({"format": FORMAT, "updated": now(), "machine": machine,
                   "notes": {"memory": MEMORY_NOTE, "ratio": RATIO_NOTE, "spread": SPREAD_NOTE},
                   "benchmarks": benchmarks})
    with atomic_write(path, "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
    with atomic_write(md, "w") as f:
        f.write(render_markdown(data))
    for p in (path, md):  # mkstemp makes them private; they are reports
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


def _cell(text: str) -> str:
    return str(text).replace("|", "/")


def render_markdown(data: dict) -> str:
    m = data["machine"]
    gpu = m.get("device") == "cuda"
    title = "# Benchmarks on a GPU" if gpu else "# Benchmarks"
    lines = [title, "",
             f"Written by `python -m benchmarks{' --device cuda' if gpu else ''}` on {data['updated']}. "
             f"Hardware of the latest run: {hardware(m)}; torch {m.get('torch')} with {m.get('torch_threads')} "
             f"threads, OMP_WAIT_POLICY={m.get('OMP_WAIT_POLICY')}, load average at start "
             f"{m.get('loadavg_at_start')}.", ""]
    if gpu:
        lines += ["GPU run: the networks run on the GPU, timed with CUDA events; work that never touches the "
                  "GPU (moving-leaves generation, the CLI commands) runs on the host CPU.", ""]
    lines += [f"- {data['notes']['ratio']}", f"- {data['notes']['memory']}", f"- {data['notes']['spread']}", ""]
    cols = ["benchmark", "name", "metric", "value (median)", "spread (min .. max)", "unit", "n", "baseline",
            "ratio", "target", "met", "peak RSS MB (rise)"] + (["peak GPU MB"] if gpu else [])
    lines += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for bname, entry in data["benchmarks"].items():
        if entry.get("error"):
            lines.append(f"| {bname} | ERROR | {_cell(entry['error'])} |" + " |" * (len(cols) - 3))
            continue
        for r in entry.get("rows", []):
            mem = ""
            if r.get("peak_rss_mb") is not None:
                mem = _fmt(r["peak_rss_mb"])
                if r.get("rss_rise_mb") is not None:
                    mem += f" (+{_fmt(r['rss_rise_mb'])})"
            cells = [bname, r["name"], r["metric"]]
            if r.get("error"):
                cells += [f"FAILED: {r['error']}", "", r["unit"], "0", "", "", "", "", mem]
            else:
                spread_txt = "" if r["repeats"] <= 1 else f"{_fmt(r['min'])} .. {_fmt(r['max'])}"
                ratio = _fmt(r["ratio"])
                if r.get("ratio_min") is not None and r["repeats"] > 1:
                    ratio += f" ({_fmt(r['ratio_min'], 3)} .. {_fmt(r['ratio_max'], 3)})"
                cells += [_fmt(r["value"]), spread_txt, r["unit"], str(r["repeats"]), r["baseline"] or "", ratio,
                          _fmt(r.get("target")), _fmt(r.get("meets_target")), mem]
            if gpu:
                cells.append(_fmt(r.get("peak_gpu_mb")))
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    lines.append("")
    for bname, entry in data["benchmarks"].items():
        em = entry.get("machine", {})
        lines += [f"## {bname}", "", f"{entry.get('description', '')}", ""]
        lines.append(f"- mode: {entry.get('mode')}; run {entry.get('date')}; wall time {_fmt(entry.get('wall_s'))} s "
                     f"(its process: {_fmt(entry.get('process_wall_s'))} s, peak RSS "
                     f"{_fmt(entry.get('process_peak_rss_mb'))} MB"
                     + (f", peak GPU {_fmt(entry.get('process_peak_gpu_mb'))} MB" if gpu else "")
                     + f"); {hardware(em) if em else ''}, {em.get('torch_threads')} torch threads, torch "
                     f"{em.get('torch')}, load average at start {em.get('loadavg_at_start')}")
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
    ``UNet(tau, width=4)`` (seeded), so that smoke runs need no trained weights. On the CPU;
    the caller moves it."""
    import torch

    if smoke:
        from interp.nets.unet import UNet

        torch.manual_seed(0)
        return UNet(tau=tau, width=4).eval(), f"untrained UNet(tau={tau}, width=4) (smoke)"
    if not SHIPPED_MODEL.is_file():
        raise FileNotFoundError(f"{SHIPPED_MODEL} not found: train it with `python -m interp.train models/leaves-tau2.toml`")
    from interp.nets import checkpoint

    net = checkpoint.load(SHIPPED_MODEL)
    cfg = net.checkpoint_config
    return net, f"{SHIPPED_MODEL.name} (step {cfg.get('step')}, samples {cfg.get('samples')})"
