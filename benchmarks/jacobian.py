"""jacobian: one adaptive filter, the `python -m interp.jacobian` command, and the eq. 5 split."""

from __future__ import annotations

import copy
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ._harness import SHIPPED_MODEL as MODEL
from ._harness import Candidate, Context, Memory, interleaved, row, run_child, shipped_network

DESCRIPTION = (
    "Local linear analysis (`interp.jacobian`). `filter_1px`: `adaptive_filter` of the centre pixel "
    "(one forward pass and one vector-Jacobian product with torch.func.vjp), interleaved with a plain "
    "forward pass of the same input (`forward_1`, the baseline: the ratio is the filter's cost in "
    "network evaluations). `cli_wall`: wall time of the whole command `python -m interp.jacobian --ckpt "
    "MODEL --pixel center --out DIR` in a fresh process (start-up, imports, default example, filter, "
    "figure and files), median of several runs; the issue's target is under 3 s. `split_jvp_64`: "
    "`split_evidence` (x_hat_y = J_y y and x_hat_c = J_c c, two forward-mode products torch.func.jvp per "
    "batch) for 64 moving-leaves test sequences, interleaved with `materialise_grad_loop_64`, the "
    "baseline as older code computes it: one forward pass with autograd, then torch.autograd.grad of "
    "each output pixel (summed over the batch, which gives every sequence's Jacobian row at once, a "
    "stronger baseline than one sequence at a time) to materialise the Jacobian rows, then "
    "x_hat_y = J_y y and x_hat_c = J_c c. Full: the shipped model models/leaves-tau2.safetensors on "
    "32x32 frames; the baseline's grad loop is timed on 64 of the 1024 output pixels and its time "
    "extrapolated linearly to all of them (every row is the same backward pass through the same graph), "
    "plus its forward pass, measured. Smoke: an untrained UNet(tau=2, width=4) on 16x16 crops, all rows "
    "computed. On a GPU the filter and the split run there (CUDA events); the command runs on the CPU "
    "(it has no device option)."
)
TAU = 2
N_SEQ = 64
TARGET_CLI_S = 3.0
REPO = Path(__file__).resolve().parents[1]


def _clips(n: int, size: int) -> torch.Tensor:
    """The first ``n`` test sequences of the seed-0 moving-leaves dataset, frames 0 .. tau, cropped."""
    from interp.data.leaves import generate

    ds = generate(10 * n, 0).test  # one test sequence in each block of ten
    frames = ds.frames[:n, : TAU + 1, :size, :size]
    return torch.from_numpy(np.ascontiguousarray(frames))


def materialise_split(net, y: torch.Tensor, c: torch.Tensor, rows: np.ndarray, log: list, sync=lambda: None) -> tuple:
    """The baseline: Jacobian rows of ``rows`` (flat output pixel indices) by a loop of autograd.grad.

    Returns (x_hat_y, x_hat_c) at those pixels, [B, len(rows)]; appends (forward seconds, grad
    loop seconds) to ``log``.
    """
    B, _, H, W = y.shape
    sync()
    t0 = time.perf_counter()
    with torch.enable_grad():
        yi = y.detach().clone().requires_grad_(True)
        ci = c.detach().clone().requires_grad_(True)
        out = net(yi, ci).reshape(B, H * W)
        sync()
        t1 = time.perf_counter()
        Jy = torch.empty((B, len(rows), H * W), dtype=y.dtype, device=y.device)
        Jc = torch.empty((B, len(rows), c.shape[1] * H * W), dtype=y.dtype, device=y.device)
        for k, p in enumerate(rows):
            gy, gc = torch.autograd.grad(out[:, p].sum(), (yi, ci), retain_graph=True)
            Jy[:, k], Jc[:, k] = gy.reshape(B, -1), gc.reshape(B, -1)
    x_y = torch.einsum("bkn,bn->bk", Jy, y.reshape(B, -1))
    x_c = torch.einsum("bkn,bn->bk", Jc, c.reshape(B, -1))
    sync()
    t2 = time.perf_counter()
    log.append((t1 - t0, t2 - t1))
    return x_y, x_c


def _cli_times(runs: int, ckpt: Path, threads: int, ctx: Context) -> tuple[list[float], float]:
    """Wall times of ``runs`` runs of the command, and the largest peak RSS of its process (MB)."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OMP_WAIT_POLICY="PASSIVE")
    times, peak = [], 0.0
    with tempfile.TemporaryDirectory(prefix="bench-jacobian-") as tmp:
        for i in range(runs):
            child = run_child([sys.executable, "-m", "interp.jacobian", "--ckpt", ckpt, "--pixel", "center",
                               "--out", Path(tmp) / f"run{i}"], cwd=REPO, env=env, timeout=120)
            if child.returncode != 0:
                raise RuntimeError(f"python -m interp.jacobian failed: {child.stderr.strip()[-500:]}")
            times.append(child.seconds)
            peak = max(peak, child.peak_rss_mb)
            ctx.log(f"  cli run {i + 1}/{runs}: {times[-1]:.2f} s, peak RSS {child.peak_rss_mb:.0f} MB")
    return times, peak


def run(ctx: Context) -> dict:
    from interp.analysis.jacobian import adaptive_filter, split_evidence

    smoke = ctx.smoke
    net, model_desc = shipped_network(smoke, TAU)
    net = net.to(ctx.torch_device)
    size = 16 if smoke else 32
    n_seq = 8 if smoke else N_SEQ
    clips = _clips(n_seq, size).to(ctx.torch_device)
    c, x = clips[:, :TAU], clips[:, TAU:]
    sigma = 10.0 ** (-16.0 / 20.0)
    y = x + sigma * torch.randn(x.shape, generator=torch.Generator().manual_seed(0)).to(x.device)
    rows_out = []

    # --- one filter, against one forward pass
    centre = (size // 2, size // 2)
    repeats = 5 if smoke else 20

    def forward():
        with torch.no_grad():
            net(y[:1], c[:1])

    def one_filter():
        adaptive_filter(net, y[0], c[0], centre)

    ctx.log(f"jacobian: filter of pixel {centre}, {repeats} rounds, {model_desc}")
    tm = interleaved([Candidate("filter_1px", one_filter), Candidate("forward_1", forward)], repeats, warmup=2,
                     ctx=ctx, log=False)
    rows_out.append(row("filter_1px", "time of one adaptive filter (centre pixel)", "ms",
                        1e3 * tm.times("filter_1px"), baseline="forward_1",
                        baseline_values=1e3 * tm.times("forward_1"), mem=tm.memory["filter_1px"],
                        note="ratio = filter time / forward time, per round (the filter in network evaluations)"))
    rows_out.append(row("forward_1", "time of one forward pass (batch 1)", "ms", 1e3 * tm.times("forward_1"),
                        baseline="forward_1", baseline_values=1e3 * tm.times("forward_1"),
                        mem=tm.memory["forward_1"]))

    # --- the whole command, in a fresh process
    runs = 1 if smoke else 5
    if smoke:
        from interp.nets.checkpoint import save

        tmpdir = tempfile.TemporaryDirectory(prefix="bench-jacobian-ckpt-")
        ckpt = Path(tmpdir.name) / "tiny.safetensors"
        save(ckpt, copy.deepcopy(net).to("cpu"), {})
    else:
        tmpdir, ckpt = None, MODEL
    try:
        ctx.log(f"jacobian: {runs} run(s) of python -m interp.jacobian --ckpt {ckpt.name} --pixel center")
        cli, cli_peak = _cli_times(runs, ckpt, ctx.threads, ctx)
        cli = np.array(cli)
    finally:
        if tmpdir is not None:
            tmpdir.cleanup()
    med = float(np.median(cli))
    rows_out.append(row("cli_wall", "wall time of `python -m interp.jacobian --pixel center`", "s", cli,
                        baseline=f"target {TARGET_CLI_S:g} s", ratio=med / TARGET_CLI_S, target=TARGET_CLI_S,
                        meets_target=bool(med < TARGET_CLI_S), mem=Memory(cli_peak, None),
                        note=f"fresh process each run (python start-up and imports included), OMP_NUM_THREADS="
                             f"{ctx.threads}; model {ckpt.name}; ratio = median / {TARGET_CLI_S:g} s target; "
                             "peak memory: the command's process (ru_maxrss), on the CPU"))

    # --- eq. 5 split: jvp against a materialised Jacobian
    HW = size * size
    n_rows = HW if smoke else 64
    rows_idx = np.linspace(0, HW - 1, n_rows).round().astype(int)
    base_log: list = []
    rounds = 2 if smoke else 3

    def jvp_split():
        split_evidence(net, y, c, batch_size=n_seq)

    def baseline():
        materialise_split(net, y, c, rows_idx, base_log, ctx.sync)

    ctx.log(f"jacobian: eq. 5 split of {n_seq} sequences, jvp vs a loop of autograd.grad over "
            f"{n_rows} of {HW} output pixels, {rounds} rounds")
    tm2 = interleaved([Candidate("split_jvp", jvp_split), Candidate("grad_loop", baseline)],
                      rounds, warmup=1, ctx=ctx)
    timed = base_log[1:]  # the first call was the warm-up
    base_s = np.array([fwd + loop * HW / n_rows for fwd, loop in timed])
    jvp_s = np.asarray(tm2.seconds["split_jvp"])
    # agreement of the two on the materialised rows (float32)
    xy, xc = split_evidence(net, y, c)
    by, bc = materialise_split(net, y, c, rows_idx, [])
    diff = max(float((xy.reshape(n_seq, -1)[:, rows_idx] - by).abs().max()),
               float((xc.reshape(n_seq, -1)[:, rows_idx] - bc).abs().max()))
    extrap = "" if n_rows == HW else f"; grad loop timed on {n_rows} of {HW} rows and scaled to all {HW}"
    rows_out.append(row(f"split_jvp_{n_seq}", f"eq. 5 split of {n_seq} sequences", "s", jvp_s,
                        baseline=f"materialise_grad_loop_{n_seq}", baseline_values=base_s,
                        mem=tm2.memory["split_jvp"], max_abs_difference=diff,
                        note=f"ratio = jvp time / materialising time, per round{extrap}; largest |difference| "
                             f"between the two on the materialised pixels {diff:.2g}"))
    rows_out.append(row(f"materialise_grad_loop_{n_seq}", f"eq. 5 split of {n_seq} sequences", "s", base_s,
                        baseline=f"materialise_grad_loop_{n_seq}", baseline_values=base_s,
                        mem=tm2.memory["grad_loop"],
                        forward_s=float(np.median([f for f, _ in timed])),
                        per_row_ms=float(np.median([1e3 * g / n_rows for _, g in timed])),
                        note="one forward pass with autograd, then autograd.grad per output pixel (retain_graph)"
                             + extrap))
    notes = [f"Setting: {model_desc}; {n_seq} moving-leaves test sequences (seed 0), frames 0 .. {TAU}, "
             f"{size}x{size}; observation at 16 dB."]
    if smoke:
        notes.append("smoke: tiny untrained net and crops; the numbers exercise the harness only.")
    return {"rows": rows_out, "notes": notes}
