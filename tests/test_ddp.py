"""Training in several processes: torchrun, DistributedDataParallel, gloo on the loopback.

Each test starts ``torchrun --standalone --nproc_per_node 2 -m interp.train`` as a subprocess
(CPU, gloo) on a tiny card: width 4, batch normalization (to exercise the shared batch
statistics), 24 steps of the smoke recipe. ``--trace-weights`` makes every process write a
hash of its weights after each step, which is how the tests see inside the processes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import REPO

from interp.nets.checkpoint import read
from interp.training import loop as train

CARD = """
[model]
tau = 2
width = 4
norm = "batch"

[data]
source = "leaves"
n = 300
seed = 0

[train]
recipe = "smoke"
samples = {samples}
batch_size = {batch_size}
"""
STEPS = 24
BATCH = 32


def write_card(folder: Path, samples: int = STEPS * BATCH, batch_size: int = BATCH) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    card = folder / "tiny.toml"
    card.write_text(CARD.format(samples=samples, batch_size=batch_size))
    return card


def _env() -> dict:
    return dict(os.environ, OMP_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE",
                PYTHONWARNINGS="error::DeprecationWarning:interp")


def _command(card: Path, *args) -> list[str]:
    """torchrun (as ``python -m torch.distributed.run``) with two CPU processes on this machine."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
            "-m", "interp.train", str(card), "--device", "cpu", "--quiet",
            "--trace-weights", str(card.parent / "trace"), "--keep-state", *map(str, args)]


def torchrun(card: Path, *args, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(_command(card, *args), cwd=REPO, env=_env(), capture_output=True, text=True,
                          timeout=timeout)


def read_trace(folder: Path, rank: int) -> list[tuple[int, str, float]]:
    """The (step, weights hash, weights norm) lines one process wrote."""
    rows = []
    for line in (folder / f"trace.rank{rank}.txt").read_text().splitlines():
        step, digest, norm = line.split()
        rows.append((int(step), digest, float(norm)))
    return rows


def assert_close_weights(a: dict, b: dict, rel: float = 1e-4) -> None:
    assert a.keys() == b.keys()
    for k in a:
        scale = float(a[k].abs().max())
        torch.testing.assert_close(b[k], a[k], rtol=0.0, atol=rel * scale, msg=lambda m, k=k: f"{k}: {m}")


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """The reference: the same card trained in this process, no process group."""
    folder = tmp_path_factory.mktemp("one")
    trace = []
    train.train(write_card(folder), device="cpu", progress=False, log=lambda *a: None,
                on_step=lambda step, net: trace.append((step, *train.weights_digest(net).split())))
    return folder, [(s, d, float(n)) for s, d, n in trace]


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("two")
    t0 = time.monotonic()
    proc = torchrun(write_card(folder))
    assert proc.returncode == 0, proc.stderr
    return folder, proc, time.monotonic() - t0


def test_ddp_ranks_agree_every_step_and_match_one_process(one_process, two_processes):
    one, trace1 = one_process
    two, proc, _ = two_processes
    rank0, rank1 = read_trace(two, 0), read_trace(two, 1)
    assert [r[0] for r in rank0] == list(range(1, STEPS + 1))
    assert rank0 == rank1  # bit-identical weights and buffers in both processes after every step
    assert [r[0] for r in trace1] == list(range(1, STEPS + 1))
    for (_, _, n1), (_, _, n2) in zip(trace1, rank0):  # the same trajectory as one process
        assert n2 == pytest.approx(n1, rel=1e-5)

    a, b = read(one / "tiny.safetensors"), read(two / "tiny.safetensors")
    assert any(k.endswith("running_var") for k in b.model)  # shared statistics, saved once
    assert_close_weights(a.model, b.model)
    assert b.config["processes"] == 2 and b.config["samples"] == STEPS * BATCH
    assert b.config["total_steps"] == a.config["total_steps"] == STEPS
    assert b.config["results"].keys() == a.config["results"].keys()

    # only rank 0 logs and writes: one log line per evaluation, one final message
    assert proc.stdout.count("trained tiny") == 1, proc.stdout
    log_rows = (two / "tiny.log.csv").read_text().splitlines()
    assert len(log_rows) == 1 + 4  # header, and an evaluation every quarter of the run
    assert (two / "tiny.toml").read_text().count("[results]") == 1
    assert sorted(p.name for p in two.iterdir()) == ["tiny.log.csv", "tiny.safetensors", "tiny.toml",
                                                      "trace.rank0.txt", "trace.rank1.txt"]


def test_ddp_stop_and_resume_is_exact(tmp_path, two_processes):
    """--max-minutes stops both processes at the same step; --resume ends bit-identical."""
    full, _, _ = two_processes
    card = write_card(tmp_path)
    cut = torchrun(card, "--max-minutes", "1e-5")
    assert cut.returncode == 0, cut.stderr
    assert cut.stdout.count("stopped after 1e-05 min at step 1 of 24") == 1, cut.stdout
    assert read(tmp_path / "tiny.safetensors").config["step"] == 1
    assert read_trace(tmp_path, 0) == read_trace(tmp_path, 1) == read_trace(full, 0)[:1]

    resumed = torchrun(card, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming tiny at step 1 of 24" in resumed.stdout
    assert read_trace(tmp_path, 0) == read_trace(tmp_path, 1) == read_trace(full, 0)
    a, b = read(full / "tiny.safetensors"), read(tmp_path / "tiny.safetensors")
    for k in a.model:
        assert torch.equal(a.model[k], b.model[k]), k
    for k in a.optim:
        assert torch.equal(a.optim[k], b.optim[k]), k


def _workers(parent: int) -> dict[int, int]:
    """{rank: pid} of the training processes that torchrun (pid ``parent``) started."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid != parent:
                continue
            env = dict(kv.split("=", 1) for kv in (entry / "environ").read_bytes().decode().split("\0") if "=" in kv)
        except (OSError, ValueError, IndexError):
            continue
        if "RANK" in env:
            found[int(env["RANK"])] = int(entry.name)
    return found


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
def test_ddp_signal_to_one_process_stops_both_at_the_same_step(tmp_path):
    card = write_card(tmp_path, samples=400 * BATCH)
    proc = subprocess.Popen(_command(card), cwd=REPO, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        trace1 = tmp_path / "trace.rank1.txt"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if trace1.exists() and len(trace1.read_text().splitlines()) >= 3:
                break
            time.sleep(0.05)
        workers = _workers(proc.pid)
        assert set(workers) == {0, 1}, workers
        os.kill(workers[1], signal.SIGTERM)  # only rank 1 is told to stop
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopped because another process was told to stop" in out, out
    steps = read(tmp_path / "tiny.safetensors").config["step"]
    assert 3 <= steps < 400
    rank0, rank1 = read_trace(tmp_path, 0), read_trace(tmp_path, 1)
    assert rank0 == rank1 and rank0[-1][0] == steps


def test_ddp_bad_input_is_one_line(tmp_path):
    """An error every process meets is printed once, as one line, with no Python traceback."""
    card = write_card(tmp_path, batch_size=33)
    proc = torchrun(card, timeout=120)
    assert proc.returncode != 0
    ours = [ln for ln in proc.stderr.splitlines() if ln.startswith("python -m interp.train")]
    assert len(ours) == 1, proc.stderr
    assert "error:" in ours[0] and "batch_size = 33" in ours[0] and "divisible" in ours[0]
    assert "interp/train.py" not in proc.stderr  # torchrun reports the exit code, not our stack
