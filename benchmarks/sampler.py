"""sampler: batched Algorithm 2 against one chain per call; evaluations and the sampler's overhead."""

from __future__ import annotations

import time

import numpy as np
import torch

from ._harness import Candidate, Context, interleaved, row, shipped_network

DESCRIPTION = (
    "`interp.sampler.sample` drawing 64 samples of the next frame for one moving-leaves test "
    "conditioning (the tau = 2 frames just before the meeting frame of the first test sequence of "
    "seed 0), in one batched call (`batched_n64`), interleaved round by round with the same 64 "
    "chains run one at a time, 64 calls of `sample(n=1)` as reference code does (`sequential_n1`, "
    "the baseline; chain i seeded i). Full: the shipped model models/leaves-tau2.safetensors with "
    "the paper's settings (sigma 3 -> 0.01, beta 0.5, h0 0.01, max_iter 1000). The denoiser is "
    "wrapped in a timer: the sampler's overhead share is 1 - (time inside denoiser calls) / (wall "
    "time of the call), i.e. everything the sampler does besides the network (noise draws, "
    "residual norms, bookkeeping of stopped chains); the issue's target is at most 5% for the "
    "batched call. Network evaluations per sample are SampleInfo.evaluations (K + 1 for a "
    "converged chain), the spread taken over the chains of all timed rounds. On a GPU the network and the "
    "chains run there; the timer around the denoiser synchronizes before and after each call, so that "
    "the time inside it is the network's."
)
N_CHAINS = 64
TAU = 2
TARGET_OVERHEAD = 0.05


class TimedDenoiser:
    """Calls the network and adds the time spent inside it to ``seconds`` (``sync``: a function
    that waits for the GPU, called before and after the network; nothing on the CPU)."""

    def __init__(self, net: torch.nn.Module, sync=lambda: None):
        self.net, self.tau, self.seconds, self.calls = net, getattr(net, "tau", None), 0.0, 0
        self.sync = sync

    def __call__(self, y: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        self.sync()
        t0 = time.perf_counter()
        out = self.net(y, c)
        self.sync()
        self.seconds += time.perf_counter() - t0
        self.calls += 1
        return out


def _conditioning() -> tuple[torch.Tensor, int, int]:
    """The tau frames before the meeting frame of the first test sequence of seed 0."""
    from interp.data.leaves import generate

    ds = generate(10, 0)  # one test sequence in each block of ten
    i = int(np.flatnonzero(ds.meta["test"])[0])
    t = max(int(ds.meta["meeting_frame"][i]), TAU)
    return torch.from_numpy(np.ascontiguousarray(ds.frames[i, t - TAU:t])), int(ds.meta["index"][i]), t


def run(ctx: Context) -> dict:
    from interp.analysis.sampler import sample

    repeats = 2 if ctx.smoke else 3
    max_iter = 8 if ctx.smoke else 1000
    net, model_desc = shipped_network(ctx.smoke, TAU)
    net = net.to(ctx.torch_device)
    cond, seq, frame = _conditioning()
    cond = cond.to(ctx.torch_device)
    timed = TimedDenoiser(net, ctx.sync)
    log: dict[str, list] = {"batched_n64": [], "sequential_n1": []}

    def batched():
        timed.seconds = 0.0
        ctx.sync()
        t0 = time.perf_counter()
        _, info = sample(timed, cond, N_CHAINS, seed=0, max_iter=max_iter, return_info=True, warn=False)
        ctx.sync()
        log["batched_n64"].append((time.perf_counter() - t0, timed.seconds, info.evaluations.copy(),
                                   info.status.copy()))

    def sequential():
        timed.seconds = 0.0
        evals, status = [], []
        ctx.sync()
        t0 = time.perf_counter()
        for i in range(N_CHAINS):
            _, info = sample(timed, cond, 1, seed=i, max_iter=max_iter, return_info=True, warn=False)
            evals.append(info.evaluations[0])
            status.append(info.status[0])
        ctx.sync()
        log["sequential_n1"].append((time.perf_counter() - t0, timed.seconds, np.array(evals), np.array(status)))

    ctx.log(f"sampler: {N_CHAINS} chains batched vs {N_CHAINS} calls of n=1, {repeats} rounds, {model_desc}")
    tm = interleaved([Candidate("batched_n64", batched, N_CHAINS), Candidate("sequential_n1", sequential, N_CHAINS)],
                     repeats, warmup=1, ctx=ctx)
    per = {}
    for name, runs in log.items():
        timed_runs = runs[1:]  # the first call of each was the warm-up
        wall = np.array([r[0] for r in timed_runs])
        inside = np.array([r[1] for r in timed_runs])
        evals = np.concatenate([r[2].reshape(-1) for r in timed_runs])
        status = np.concatenate([r[3].reshape(-1) for r in timed_runs])
        per[name] = dict(wall=wall, overhead=1.0 - inside / wall, evals=evals,
                         counts={s: int((status == s).sum()) for s in np.unique(status)},
                         eval_ms=1e3 * inside / np.array([r[2].sum() for r in timed_runs]))
    base_ms = 1e3 * tm.times("sequential_n1")
    setting = (f"{model_desc}; max_iter {max_iter}; conditioning: frames {frame - TAU + 1}..{frame} of test "
               f"sequence {seq} (seed 0)")
    rows = []
    for name in ("batched_n64", "sequential_n1"):
        p = per[name]
        status_txt = ", ".join(f"{v} {k}" for k, v in p["counts"].items())
        rows.append(row(f"{name}", "wall time per sample", "ms", 1e3 * tm.times(name), baseline="sequential_n1",
                        baseline_values=base_ms, mem=tm.memory[name], chains=N_CHAINS,
                        statuses=p["counts"],
                        note=f"{N_CHAINS} chains per timed call; chain statuses over the rounds: {status_txt}"
                             + ("; ratio = batched / one-at-a-time time" if name == "batched_n64" else "")))
        rows.append(row(f"evaluations/{name}", "network evaluations per sample", "evaluations", p["evals"],
                        baseline="evaluations/sequential_n1",
                        baseline_values=float(np.median(per["sequential_n1"]["evals"])), mem=tm.memory[name],
                        note="SampleInfo.evaluations of every chain of the timed rounds (spread over chains)"))
        overhead = float(np.median(p["overhead"]))
        is_batched = name == "batched_n64"
        rows.append(row(f"overhead/{name}", "sampler overhead share of wall time", "fraction", p["overhead"],
                        baseline="target 5%" if is_batched else None,
                        ratio=overhead / TARGET_OVERHEAD if is_batched else None,
                        target=TARGET_OVERHEAD if is_batched else None,
                        meets_target=bool(overhead <= TARGET_OVERHEAD) if is_batched else None, mem=tm.memory[name],
                        denoiser_ms_per_evaluation=float(np.median(p["eval_ms"])),
                        note="1 - time inside the denoiser / wall time"
                             + ("; ratio = share / 5% target" if is_batched else "")
                             + f"; {float(np.median(p['eval_ms'])):.3g} ms per network evaluation (per chain)"))
    notes = [f"Setting: {setting}."]
    if ctx.smoke:
        notes.append("smoke: an untrained net rarely converges, so the chains mostly stop at the low max_iter; "
                     "the numbers exercise the harness and say nothing about the shipped model.")
    return {"rows": rows, "notes": notes}
