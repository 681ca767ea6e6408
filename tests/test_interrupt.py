"""Interrupted training loses nothing: SIGKILL at random moments, resume, same weights and log.

A tiny card (width 4, smoke recipe, 300 steps, a checkpoint every 0.05 s) is trained in a
subprocess, killed with SIGKILL at a random (seeded) moment of its training several times,
resumed with ``--resume`` each time, then left to finish. Its final weights must equal, bit
for bit, those of an uninterrupted run of the same card (CPU, same thread count), and its log
the uninterrupted run's rows (wall-clock times aside). Between kills the folder is inspected
as a reader would find it: every file under a final name is complete (the checkpoint loads,
the log parses into whole rows, the card parses); temporaries are dot-prefixed ``.tmp``
files, and the next start removes them.
"""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from interp.nets import checkpoint
from interp.training import cards
from interp.training import loop as train

REPO_ROOT = Path(__file__).resolve().parents[1]


CARD = """[model]
tau = 2
width = 4

[data]
source = "leaves"
n = 100
seed = 0

[train]
recipe = "smoke"
samples = 9600
batch_size = 32
checkpoint_seconds = 0.05
eval_every = 0.1
ema_halflife = 2000
ema_rampup = 0.05
eval_windows = 32
threads = 1
"""
# c.lock: the lock a killed run leaves behind, taken over by the next run
FINAL_NAMES = {"c.toml", "c.safetensors", "c.log.csv", "trace.rank0.txt", "c.lock"}


def _start(folder: Path, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE")
    return subprocess.Popen([sys.executable, "-m", "interp.train", "c.toml", "--quiet", "--device", "cpu",
                             "--trace-weights", "trace", "--keep-state", *extra], cwd=folder, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _steps_traced(folder: Path) -> int:
    try:
        return (folder / "trace.rank0.txt").read_text().count("\n")
    except FileNotFoundError:
        return 0


def _log_rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows and rows[0][0] == "step", rows[:1]
    assert all(len(r) == len(rows[0]) for r in rows), rows  # whole rows only
    steps = [int(r[0]) for r in rows[1:]]
    assert steps == sorted(set(steps)), steps  # no row logged twice
    return rows


def _inspect(folder: Path) -> int | None:
    """What a reader finds after a kill: complete files under final names. Returns the checkpoint's step."""
    for p in folder.iterdir():
        if p.name.startswith("."):
            assert p.name.endswith(".tmp"), p.name  # a temporary, never mistaken for a result
        else:
            assert p.name in FINAL_NAMES, p.name
    cards.read_card(folder / "c.toml")
    if (folder / "c.log.csv").exists():
        _log_rows(folder / "c.log.csv")
    if not (folder / "c.safetensors").exists():
        return None
    ckpt = checkpoint.read(folder / "c.safetensors")
    ckpt.build()
    return ckpt.config["step"]


def _interrupted_run(folder: Path, kills: int, seed: int) -> list[int | None]:
    rng = random.Random(seed)
    steps = []
    for k in range(kills):
        proc = _start(folder, *(["--resume"] if k else []))
        try:
            before = _steps_traced(folder)
            deadline = time.monotonic() + 120
            while _steps_traced(folder) <= before:  # training is under way
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.6))
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.kill()
            proc.communicate()
        steps.append(_inspect(folder))
    proc = _start(folder, "--resume")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return steps


def _run_and_compare(tmp_path: Path, kills: int, seed: int) -> None:
    ref_dir, cut_dir = tmp_path / "ref", tmp_path / "cut"
    for d in (ref_dir, cut_dir):
        d.mkdir()
        (d / "c.toml").write_text(CARD)
    reference = _start(ref_dir)  # runs alongside the interrupted one
    try:
        steps = _interrupted_run(cut_dir, kills, seed)
    finally:
        out, err = reference.communicate(timeout=300)
    assert reference.returncode == 0, err
    done = [s for s in steps if s is not None]
    assert done == sorted(done), steps  # checkpoints only move forward
    assert any(s is not None and 0 < s < 300 for s in steps), steps  # resumed from the middle at least once

    a, b = checkpoint.read(ref_dir / "c.safetensors"), checkpoint.read(cut_dir / "c.safetensors")
    assert a.config["step"] == b.config["step"] == 300
    assert a.model.keys() == b.model.keys()
    for k in a.model:
        assert torch.equal(a.model[k], b.model[k]), k
    for k in a.optim:
        assert torch.equal(a.optim[k], b.optim[k]), k
    assert a.train.keys() == b.train.keys() == a.model.keys()  # the raw weights beside their average
    for k in a.train:
        assert torch.equal(a.train[k], b.train[k]), k
    assert a.config["results"] == b.config["results"]

    ref_rows, cut_rows = _log_rows(ref_dir / "c.log.csv"), _log_rows(cut_dir / "c.log.csv")
    wall = ref_rows[0].index("wall_seconds")
    strip = lambda rows: [r[:wall] + r[wall + 1:] for r in rows]  # noqa: E731
    assert strip(cut_rows) == strip(ref_rows)
    assert len(ref_rows) == 11  # header and one row per 30 steps
    assert not [p.name for p in cut_dir.iterdir() if p.name.startswith(".")]  # temporaries cleaned up
    assert not (cut_dir / "c.lock").exists()  # the stale lock of the last kill was taken over, then released
    assert "[results]" in (cut_dir / "c.toml").read_text()


def test_sigkill_once_then_resume_matches(tmp_path):
    _run_and_compare(tmp_path, kills=1, seed=1)


def test_sigkill_three_times_then_resume_matches(tmp_path):
    _run_and_compare(tmp_path, kills=3, seed=2)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
def test_sigkill_many_times_then_resume_matches(tmp_path, seed):
    _run_and_compare(tmp_path, kills=8, seed=10 + seed)


def test_stale_temporaries_are_removed_and_never_read(tmp_path):
    """What a kill during a write leaves (a dot-prefixed .tmp) is not read, and is cleaned up."""
    card = tmp_path / "c.toml"
    card.write_text(CARD.replace("samples = 9600", "samples = 64").replace("threads = 1\n", ""))
    junk = [tmp_path / ".c.safetensors.abc123.tmp", tmp_path / ".c.log.csv.xyz.tmp"]
    for p in junk:
        p.write_bytes(b"half a file")
    train.train(card, progress=False, log=lambda *a: None)
    assert not any(p.exists() for p in junk)
    assert checkpoint.read(tmp_path / "c.safetensors").config["step"] == 2


def _stop_at(step: int):
    """An ``on_step`` hook that stops training after ``step`` as SIGINT would, whatever the clock
    says (``max_minutes`` depends on how fast the machine is): the loop's handler runs inside
    :func:`signal.raise_signal`, before the loop asks whether to stop."""
    def hook(s: int, net) -> None:
        if s == step:
            signal.raise_signal(signal.SIGINT)
    return hook


def test_resume_drops_log_rows_after_the_checkpoint(tmp_path):
    """Rows logged after the last checkpoint (the run was then killed) are not kept twice.

    Both runs are deterministic: the first stops at step 1 by a signal it sends itself (not
    after a wall-clock budget), and the second must run to its end (a stop signal reaching the
    test process would end it early, with fewer rows: that is said as such, not as a log diff).
    """
    card = tmp_path / "c.toml"
    text = CARD.replace("samples = 9600", "samples = 640").replace("threads = 1\n", "")
    card.write_text(text.replace("checkpoint_seconds = 0.05", "checkpoint_seconds = 1000"))
    messages = []
    first = train.train(card, progress=False, log=messages.append, on_step=_stop_at(1))
    assert first["step"] == 1 and checkpoint.read(tmp_path / "c.safetensors").config["step"] == 1, messages
    log = tmp_path / "c.log.csv"
    assert [r[0] for r in _log_rows(log)] == ["step"]  # nothing logged before the checkpoint
    with open(log, "a", newline="") as f:  # as if the run had gone on, logged, then been killed
        csv.writer(f).writerows([["2", "64", "0.1", "0.001", "1.0", "1", "2", "3", "4"], ["3", "96", "0.2"]])
    final = train.train(card, resume=True, progress=False, log=messages.append)
    assert final["step"] == 20 and final["train_state"]["done"], messages  # ran to the end
    steps = [int(r[0]) for r in _log_rows(log)[1:]]
    assert steps == [2, 4, 6, 8, 10, 12, 14, 16, 18, 20]


WRITER = """
import sys
from interp._util.io import atomic_write
target = sys.argv[1]
i = 0
while True:  # alternate two complete versions of a 4 MB file until killed
    block = (b"A" if i % 2 else b"B") * (4 << 20)
    with atomic_write(target) as f:
        for k in range(0, len(block), 1 << 16):
            f.write(block[k:k + (1 << 16)])
    i += 1
"""


def test_sigkill_during_atomic_writes_never_leaves_a_partial_file(tmp_path):
    """Every writer (checkpoints, datasets, tables, figures, logs) goes through atomic_write:
    killed at any moment, the final name holds a complete old or new version."""
    target = tmp_path / "result.bin"
    target.write_bytes(b"A" * (4 << 20))
    rng = random.Random(0)
    for _ in range(5):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], cwd=REPO_ROOT)
        time.sleep(rng.uniform(0.3, 1.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        data = target.read_bytes()
        assert len(data) == 4 << 20 and data in (b"A" * (4 << 20), b"B" * (4 << 20))
        # a kill can leave a dot-prefixed temporary: the data (.tmp) or check_writable's probe (.probe)
        others = [p.name for p in tmp_path.iterdir() if p != target]
        assert all(n.startswith(".result.bin.") and n.endswith((".tmp", ".probe")) for n in others), others
