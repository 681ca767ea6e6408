"""Training a conditional denoiser (Algorithm 1, appendix E) from a model card.

::

    python -m interp.train models/leaves-tau2.toml [--resume] [--max-minutes M]

A model card is a small TOML file::

    [model]                       # the network (interp.unet.UNet)
    tau = 2
    width = 32
    norm = "none"                 # "none" | "batch"
    predict_only = false          # true: the prediction-only network of Fig. 6
    skip = false                  # true: x_hat = y + U-net output (not the paper's choice)

    [data]                        # where the clips come from
    source = "leaves"             # "leaves" (generated from seed) | "npz" (a dataset file)
    n = 100000                    # leaves: sequences (9:1 train/test split)
    seed = 0
    variant = "default"
    # path = "data/davis32.npz"   # npz: a file written by interp.data, relative to the card

    [train]
    recipe = "cpu"                # "paper" | "cpu" | "smoke": defaults for the keys below
    samples = 3_000_000           # training examples seen in the whole run

Each example is a window of tau + 1 consecutive frames at a random position of a random
training sequence: its last frame is the target x, the others are the conditioning c. The
noise variance is drawn log-uniformly in [1e-5, 1e2] (input PSNR 50 to -20 dB), y = x + sigma z,
and the loss is ||x - x_hat(y, c)||^2 / sigma^2, minimised with Adam (lr 1e-3). The paper
halves the learning rate at epoch 500 of 1000 and every 100 epochs after that; here the
schedule is expressed as fractions of the run (halve at 50%, 60%, 70%, 80%, 90%), so a shorter
run keeps its shape.
Raising ``samples`` and resuming therefore moves a run back to an earlier point of the
schedule, usually from a halved rate to the full one (a warm restart); ``--resume`` says so
in one line before it goes on. On the DAVIS32 models such an extension trained worse than one
run of the new length from scratch. Other edits of the ``[train]`` table between stop and
resume (``weight_cap``, ``focus``, ``lr`` ...) take effect from the checkpoint's step:
``--resume`` names the keys that changed, and the checkpoint records the run's history as
``stages``, a list of ``{"from_step", "recipe"}`` (speed and bookkeeping keys such as
``threads`` do not start a stage).

The checkpoint is written beside the card (``NAME.safetensors``), atomically, every
``checkpoint_seconds`` and at the end; it includes the optimizer and random state, so
``--resume`` continues exactly where a killed run stopped. A CSV log (``NAME.log.csv``) holds
the training loss and the test-split PSNR at a few input noise levels. At the end the card's
results section is rewritten with the final numbers.

Interruptions. Every file is replaced atomically (written to a dot-prefixed ``.tmp`` file
beside it, then renamed), so a run killed at any moment, even by SIGKILL, leaves the last
complete checkpoint, log and card, never a partial one; the next start deletes the
temporaries such a kill leaves. ``--resume`` drops the log rows written after the checkpoint
(the resumed run logs them again), so a run killed and resumed any number of times ends with
the weights and the log rows of an uninterrupted run, wall-clock times aside
(tests/test_interrupt.py).

Several processes
-----------------
Started by ``torchrun``, the same command trains with DistributedDataParallel, one process
per GPU (NCCL; process ``LOCAL_RANK`` of a node uses ``cuda:LOCAL_RANK``) or several CPU
processes (gloo)::

    # one machine, 4 processes
    torchrun --nproc_per_node 4 -m interp.train models/NAME.toml [--resume] [--max-minutes M]

    # two machines with 8 GPUs each: run this on both, with --node_rank 0 and --node_rank 1
    torchrun --nnodes 2 --node_rank 0 --nproc_per_node 8         --rdzv_backend c10d --rdzv_endpoint HOST:29400 -m interp.train models/NAME.toml

(``HOST`` is a machine every node can reach, usually the first node; a job scheduler's
launcher can supply these options instead.) Without torchrun, or with ``WORLD_SIZE=1``, no
process group is created and training is exactly the single-process run.

The run follows the same recipe whatever the number of processes N:

* ``batch_size`` in the card is the *global* batch and must be divisible by N. Every process
  draws the whole global batch (windows, noise levels, noise) from the same seeded generator,
  exactly as one process would, and trains on its own contiguous slice: rank r takes rows
  r B/N to (r+1) B/N - 1. The random stream, and so ``--resume``, is that of the one-process
  run, and a run can be resumed with a different N.
* Each process averages the loss over its slice; DDP averages the gradients over the
  processes, which gives the gradient of the mean over the global batch. The number of steps
  and the learning-rate schedule depend only on the global batch, so they are unchanged.
* With ``norm = "batch"`` the normalization layers pool their statistics over all processes
  (:func:`interp.unet.share_batch_statistics`): training normalizes by the global batch's
  statistics, as on one process, and the running variances saved for inference are the same
  in every process.
* Only rank 0 reads the checkpoint (its state is sent to the others), evaluates, writes the
  log, the checkpoints and the card's results; the others wait for it where they must. Every
  node still needs the card and the data (a ``leaves`` card generates them from its seed; an
  ``npz`` file must be present); processes that loaded different data refuse to start.
* A stop (SIGTERM or SIGINT in any process, or ``--max-minutes``) is agreed on by all
  processes at the same step, in the all-reduce that also averages the logged loss; rank 0
  then writes the checkpoint. A SIGTERM sent to torchrun reaches every process; torchrun
  waits 30 s for them (ample for finishing a step and writing the checkpoint), then reports
  the signal itself with a non-zero exit status. Errors in the card or the files are printed
  once, by the first process that met them, as one line naming the process.

The result equals the one-process run up to floating-point rounding (sums are taken in a
different order), and all processes hold bit-identical weights after every step;
``--trace-weights PREFIX`` writes a per-step hash of each process's weights to check this.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import hashlib
import json
import math
import os
import platform
import signal
import time
import traceback
from pathlib import Path

import numpy as np
import torch

from interp._util.errors import InterpError, short_repr
from interp._util.io import (
    atomic_write,
    available_memory,
    pid_lock,
    remove_stale_temporaries,
    sigterm_as_interrupt,
)
from interp.nets import checkpoint as ckpt_mod
from interp.nets.unet import UNet, share_batch_statistics
from interp.training.averaging import WeightAverage, ema_beta, recompute_statistics
from interp.training.cards import (
    _BOOKKEEPING_KEYS,
    Card,
    _is_int,
    _is_number,
    _write_card_results,
    normalized_recipe,
    read_card,
)
from interp.training.evaluation import EVAL_PSNRS, evaluate
from interp.training.loss import AdaptiveWeighting, Weighting, denoising_loss
from interp.training.windows import (
    contact_windows,
    dihedral,
    draw_windows,
    load_clips,
    lr_at,
    mirror_and_reverse,
    negative,
    sample_noise_levels,
)


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), as torch reports it.

    Elsewhere torch emulates bf16: on an AVX2-only AMD EPYC an autocast training step of the
    width-32 U-net (batch 128) took 10.5 s against 0.7-0.8 s in fp32 on two idle threads, and
    about 20 times the fp32 step on one busy thread.
    """
    probe = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    if all(p is None for p in probe):  # a torch without these probes: assume the fast path
        return True
    return any(p is not None and bool(p()) for p in probe)


def choose_precision(net: torch.nn.Module, device: torch.device, batch: int, channels_last: bool,
                     size: tuple[int, int] = (32, 32), rounds: int = 3) -> tuple[str, dict]:
    """``precision = "auto"``: the faster of fp32 and bf16 autocast for this network here.

    On a GPU: bf16 where the device supports it. On a CPU without bf16 instructions: fp32
    (torch emulates bf16, 10-20x slower). On a CPU with them, the speed of bf16 still depends
    on the processor (2.7x fp32 on an AMD EPYC with AVX512-BF16, 0.7x on an Intel Xeon whose
    torch reports only AVX512), so both are timed: ``rounds`` training steps of a copy of the
    network on one random batch, after one warm-up step each; the real network is untouched.
    Returns the choice and the measured samples/s (empty when nothing was timed).
    """
    import copy

    if device.type == "cuda":
        return ("bf16" if torch.cuda.is_bf16_supported() else "fp32"), {}
    if not cpu_has_bf16():
        return "fp32", {}
    mf = torch.channels_last if channels_last else torch.contiguous_format
    g = torch.Generator().manual_seed(0)
    n = min(batch, 128)
    c = torch.rand(n, net.tau, *size, generator=g).contiguous(memory_format=mf)
    x = torch.rand(n, 1, *size, generator=g).contiguous(memory_format=mf)
    rates = {}
    for name in ("fp32", "bf16"):
        probe = copy.deepcopy(net).to(memory_format=mf).train()
        opt = torch.optim.SGD(probe.parameters(), lr=0.0)
        for i in range(rounds + 1):
            if i == 1:
                t0 = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=name == "bf16"):
                est = probe(c) if net.predict_only else probe(x, c)
            loss = (est.float() - x).pow(2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        rates[name] = round(rounds * n / (time.perf_counter() - t0), 1)
    return max(rates, key=rates.get), rates


# -------------------------------------------------------------------------------- training
def _hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA)"
    model = platform.processor() or "cpu"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{model}, {torch.get_num_threads()} threads"


def _versions() -> dict:
    from interp import __version__

    return {"interp": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


class _Stop(Exception):
    pass


class PeerFailed(InterpError):
    """Raised in a process whose run stopped because another process reported an error.

    The other process prints the message; the command line exits with code 2 quietly.
    """


def _device(name: str | None) -> torch.device:
    """The torch device a ``--device`` names (default: cuda when present); one-line errors."""
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        raise InterpError(f"--device {name!r} is not a device (use cpu, cuda or cuda:N)") from None
    if dev.type not in ("cpu", "cuda"):
        raise InterpError(f"--device {name!r}: training runs on cpu or cuda, not {dev.type}")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InterpError(f"--device {name!r}: this machine (or this torch build) has no CUDA device")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InterpError(f"--device {name!r}: there are only {torch.cuda.device_count()} CUDA device(s)")
    return dev


class _Processes:
    """The processes taking part in one run, and the few things they have to agree on.

    Without torchrun (no ``WORLD_SIZE`` in the environment, or ``WORLD_SIZE=1``) this is one
    process, no process group exists, and every method is a pass-through. Under torchrun each
    process joins the default process group (NCCL on CUDA, gloo otherwise); on CUDA it uses
    the GPU ``cuda:LOCAL_RANK``. A group that the caller initialised is used and left open.
    """

    timeout = datetime.timedelta(hours=1)  # how long a process waits for rank 0's evaluations

    def __init__(self, device: str | None):
        self.world = int(os.environ.get("WORLD_SIZE") or 1)
        self.rank = int(os.environ.get("RANK") or 0) if self.world > 1 else 0
        dev = _device(device)
        self.owns_group = False
        if self.world > 1:
            import torch.distributed as dist

            if not dist.is_available():
                raise InterpError("WORLD_SIZE > 1, but this torch has no torch.distributed")
            if dev.type == "cuda":
                dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK") or 0))
                torch.cuda.set_device(dev)
            if not dist.is_initialized():
                dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", timeout=self.timeout)
                self.owns_group = True
            if dist.get_world_size() != self.world or dist.get_rank() != self.rank:
                raise InterpError(f"the process group ({dist.get_world_size()} processes) does not match "
                                  f"WORLD_SIZE={self.world}, RANK={self.rank}")
        self.device = dev
        self.main = self.rank == 0
        self._wrapped: list = []

    def wrap(self, net: torch.nn.Module) -> torch.nn.Module:
        """``net`` itself on one process; else ``net`` in DistributedDataParallel, statistics shared."""
        if self.world == 1:
            return net
        import torch.distributed as dist
        from torch.nn.parallel import DistributedDataParallel

        share_batch_statistics(net, dist.group.WORLD)
        # The only buffers (running variances) are computed from shared statistics, hence equal
        # everywhere: they need no broadcast before every forward pass.
        ddp = DistributedDataParallel(net, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                                      forward_sync_buffers=False)
        self._wrapped.append((net, ddp))
        return ddp

    def close(self) -> None:
        for net, _ in self._wrapped:
            share_batch_statistics(net, None)
        self._wrapped.clear()
        if self.owns_group:
            import gc

            import torch.distributed as dist

            # Whatever still refers to the process group (DDP's reducer, finished collectives)
            # must be gone before it is destroyed: otherwise gloo's worker threads outlive it
            # and can abort the interpreter at exit ("terminate called without an active exception").
            gc.collect()
            dist.destroy_process_group()
            self.owns_group = False

    def agree(self, error: Exception | None, fingerprint: str | None) -> None:
        """Raise in every process if any process failed to set up, or loaded different data.

        The first failing process raises its error (the command line prints it); a process
        whose error reads differently raises its own too; the others raise :class:`PeerFailed`,
        so an error that every process meets (a bad card) is printed once, not once per process.
        """
        if self.world == 1:
            if error is not None:
                raise error
            return
        import torch.distributed as dist

        reports: list = [None] * self.world
        dist.all_gather_object(reports, (None if error is None else " ".join(str(error).split()), fingerprint))
        failures = [(r, msg) for r, (msg, _) in enumerate(reports) if msg is not None]
        reference = reports[0][1]
        for r, (msg, fp) in enumerate(reports):
            if msg is None and reference is not None and fp != reference:
                failures.append((r, f"process {r} loaded different data than process 0 (fingerprint {fp}, "
                                    f"not {reference}); every node needs the same data"))
        if not failures:
            return
        failures.sort()
        first_rank, first_msg = failures[0]
        mine = dict(failures).get(self.rank)
        if mine is not None and (self.rank == first_rank or mine != first_msg):
            if error is not None and " ".join(str(error).split()) == mine:
                raise error
            raise InterpError(mine)
        raise PeerFailed(f"process {first_rank} failed: {first_msg}")

    def fail(self, message: str):
        """Raise an error that every process met at the same point: printed by rank 0 only."""
        raise (InterpError if self.main else PeerFailed)(message)

    def share(self, obj):
        """Rank 0's ``obj`` in every process (tensors in it must be on the CPU)."""
        if self.world == 1:
            return obj
        import torch.distributed as dist

        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def sum(self, *values) -> list[float]:
        """Each value (a number or a 0-d tensor) summed over the processes, in one all-reduce."""
        import torch.distributed as dist

        t = torch.stack([torch.as_tensor(v, dtype=torch.float64).to(self.device).reshape(()) for v in values])
        dist.all_reduce(t)
        return t.tolist()


def _initial_weights(card: Card, net: torch.nn.Module) -> dict:
    """Load the weights named by the card's ``[train] init`` into ``net`` (fine-tuning).

    Only the weights are taken: the optimizer, the schedule and the random streams start
    afresh, as in a new run. Returns what the checkpoint records about where they came from.
    """
    p = Path(card.train["init"])
    path = p if p.is_absolute() else card.path.parent / p
    if path.resolve() == card.checkpoint_path.resolve():
        raise InterpError(f"{card.path}: [train] init names the card's own checkpoint; use --resume instead")
    old = ckpt_mod.read(path)
    if old.config.get("net") != net.config():
        raise InterpError(f"{card.path}: [train] init {path} holds a different network than the card describes")
    net.load_state_dict(old.model)
    return {"path": card.train["init"], "sha256": ckpt_mod.file_hash(path), "card": old.config.get("card"),
            "samples": old.config.get("samples")}


def _starting_point(card: Card, net: torch.nn.Module, resume: bool, data_desc: dict, total_steps: int,
                    log) -> dict:
    """Where the run starts: initial weights, and the saved training state when resuming.

    Read by rank 0 (the one process that owns the files) and handed to the others, so that
    every process starts from the same state even when only rank 0 can see the checkpoint.
    """
    start = {"init": None, "model": None, "train": None, "optim": None, "generator": None, "state": {},
             "results": {}, "finished": None, "stages": [{"from_step": 0, "recipe": dict(card.train)}]}
    if card.train.get("init"):
        start["init"] = _initial_weights(card, net)
        start["model"] = {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()}
    ckpt_path = card.checkpoint_path
    if resume and ckpt_path.exists():
        old = ckpt_mod.read(ckpt_path)
        if old.config.get("net") != net.config():
            raise InterpError(f"{ckpt_path} holds a different network than {card.path} describes")
        old.build()  # the weights match the network (one-line error otherwise)
        data = old.config.get("data")
        if not isinstance(data, dict) or data.get("fingerprint") != data_desc["fingerprint"]:
            if not _same_generated_data(data, data_desc):
                raise InterpError(f"{ckpt_path} was trained on different data than {card.path} describes")
            log(f"{card.name}: the moving-leaves data regenerated here differ from the checkpoint's in their "
                f"last bits (fingerprint {data_desc['fingerprint']}, was {data.get('fingerprint')}): same "
                f"generator, seed and split, another CPU's floating-point rounding; going on")
        _check_training_state(old, net)
        start["model"] = old.model
        start["train"] = old.train or None  # the raw weights of a run that averages them
        if old.optim:
            start["optim"] = ckpt_mod.optimizer_state(old)
        start["generator"] = old.rng.get("generator")
        start["state"] = old.config.get("train_state", {})
        start["results"] = old.config.get("results", {})
        step = start["state"].get("step", 0)
        log(f"resuming {card.name} at step {step} of {total_steps}")
        old_recipe = (old.config.get("stages") or [{}])[-1].get("recipe") or old.config.get("recipe") or {}
        old_lr = old_recipe.get("lr") if _is_number(old_recipe.get("lr")) else card.train["lr"]
        note = _length_change_note(old.config.get("total_steps"), total_steps, step, float(card.train["lr"]),
                                   float(old_lr))
        if _is_int(old.config.get("samples")):
            start["samples_seen"] = old.config["samples"]
        if note:
            log(f"{card.name}: {note}")
        start["stages"] = _recipe_stages(old.config, card.train, step)
        if len(start["stages"]) > len(old.config.get("stages") or [None]):
            log(f"{card.name}: the recipe changes at step {step}: "
                f"{_recipe_change(start['stages'][-2]['recipe'], card.train)} (recorded in the checkpoint's stages)")
        if start["state"].get("done") and start["state"].get("step", 0) >= total_steps:
            start["finished"] = old.config
        elif not old.optim and start["state"].get("step", 0) > 0:
            raise InterpError(f"{ckpt_path} holds a finished run's weights only (no optimizer state), so it "
                              f"cannot be continued exactly; train further from a new card with [train] init = "
                              f"\"{ckpt_path.name}\" (or finish runs with --keep-state)")
    return start


def _same_generated_data(saved, now: dict) -> bool:
    """Whether two descriptions name the same generated moving-leaves data.

    The fingerprint hashes the frames' exact bytes. Frames generated from the same seed on
    another CPU can differ in their last bits (numpy and BLAS pick SIMD kernels per processor,
    and sin, log or a Cholesky factor round differently), which changes the hash but not the
    data. For generated data the generator's full description (kind, seed, every parameter),
    the split sizes and the shape must then agree, and so must the frames' checksum where both
    runs recorded one (a weighted sum that rounding moves by far less than ``1e-6``).
    """
    if not isinstance(saved, dict) or now.get("source") != "leaves" or saved.get("source") != "leaves":
        return False
    keys = ("source_detail", "n_train", "n_test", "shape")
    as_saved = json.loads(json.dumps({k: now.get(k) for k in keys}, default=str))  # tuples become lists
    if any(saved.get(k) != as_saved[k] for k in keys):
        return False
    a, b = saved.get("checksum"), now.get("checksum")
    if _is_number(a) and _is_number(b):
        return abs(a - b) <= 1e-6 * max(1.0, abs(b))
    return True


def _recipe_change(before: dict, after: dict) -> str:
    """``"key a -> b, ..."`` over the [train] keys that differ, bookkeeping keys aside."""
    before, after = normalized_recipe(before), normalized_recipe(after)
    keys = sorted((set(before) | set(after)) - _BOOKKEEPING_KEYS)
    return ", ".join(f"{k} {before.get(k)} -> {after.get(k)}" for k in keys if before.get(k) != after.get(k))


def _recipe_stages(old_config: dict, recipe: dict, step: int) -> list[dict]:
    """The checkpoint's recipe history, with a new stage from ``step`` if ``recipe`` differs.

    Each stage is ``{"from_step": s, "recipe": [train] table}``. Checkpoints written before
    stages were recorded count as one stage with their saved recipe.
    """
    stages = old_config.get("stages")
    if not isinstance(stages, list) or not stages:
        stages = [{"from_step": 0, "recipe": old_config.get("recipe") or {}}]
    stages = [dict(s) for s in stages]
    if _recipe_change(stages[-1].get("recipe") or {}, recipe):
        stages.append({"from_step": int(step), "recipe": dict(recipe)})
    return stages


def _length_change_note(old_total, total_steps: int, step: int, base_lr: float,
                        old_lr: float | None = None) -> str | None:
    """What resuming with a different run length does to the learning rate, or None if nothing.

    The schedule is a fraction of the run, so raising ``samples`` and resuming moves the run
    back to an earlier point of the schedule: from a halved rate back to the full one (a warm
    restart). Such an extension can train worse than one run of the new length from scratch;
    the note says so before the run goes on.
    """
    if not _is_int(old_total) or old_total == total_steps or old_total <= 0:
        return None
    before = lr_at(min(step / old_total, 1.0), base_lr if old_lr is None else old_lr)
    after = lr_at(min(step / total_steps, 1.0), base_lr)
    text = (f"the card asks for {total_steps} steps, the checkpoint was trained towards {old_total}; "
            f"the learning-rate schedule follows the new length, so at step {step} the rate goes "
            f"from {before:g} to {after:g}")
    if after > before:
        text += " (a warm restart: training from scratch at the new length may end better)"
    return text


# floats kept per pixel of the first scale and per channel of the width, per training example:
# the U-net's feature maps (about 10 w H W across its scales, with the skip concatenations),
# their ReLU masks and gradients; measured peak of a width-32 batch of 128 at 32x32: 0.5 GB.
_FLOATS_PER_PIXEL_AND_CHANNEL = 30


def _check_memory(card: Card, batch: int, size: tuple[int, int], device: torch.device) -> None:
    """``out of memory (...)`` before a batch is allocated that this machine cannot hold."""
    h, w = size
    need = batch * _FLOATS_PER_PIXEL_AND_CHANNEL * card.model["width"] * h * w * 4
    need += int(card.train["eval_windows"]) * (card.model["tau"] + 2) * h * w * 4  # fixed test windows + noise
    if device.type == "cuda":
        have = torch.cuda.mem_get_info(device)[0]
    else:
        have = available_memory()
    if have is not None and need > have:
        raise InterpError(f"out of memory ({card.path}: [train] batch_size = {card.train['batch_size']} and "
                          f"eval_windows = {card.train['eval_windows']} at width {card.model['width']}, {h}x{w} "
                          f"frames need about {need / 2**30:.1f} GiB; {have / 2**30:.1f} GiB are available)")


def _valid_adam_group(g) -> bool:
    """Whether a saved Adam parameter group holds only values Adam can use."""
    if not isinstance(g, dict):
        return False
    betas = g.get("betas", (0.9, 0.999))
    checks = [_is_number(g.get("lr", 0.0)) and g.get("lr", 0.0) >= 0,
              isinstance(betas, (list, tuple)) and len(betas) == 2 and all(_is_number(b) and 0 <= b < 1 for b in betas),
              _is_number(g.get("eps", 1e-8)) and g.get("eps", 1e-8) > 0,
              _is_number(g.get("weight_decay", 0.0)) and g.get("weight_decay", 0.0) >= 0]
    checks += [g.get(k) is None or isinstance(g.get(k), bool)
               for k in ("amsgrad", "maximize", "foreach", "capturable", "differentiable", "fused",
                         "decoupled_weight_decay")]
    return all(checks)


def _check_training_state(old: ckpt_mod.Checkpoint, net: torch.nn.Module) -> None:
    """One-line error unless a checkpoint's training state (step, Adam, generator) is usable."""
    where = f"{old.path} cannot be resumed:"
    st = old.config.get("train_state", {})
    if not isinstance(st, dict) or not _is_int(st.get("step", 0)) or st.get("step", 0) < 0 \
            or not (st.get("loss_ema") is None or _is_number(st["loss_ema"])) \
            or not _is_number(st.get("wall_seconds", 0.0)):
        raise InterpError(f"{where} its train_state is corrupt")
    if not isinstance(old.config.get("results", {}), dict):
        raise InterpError(f"{where} its results are corrupt")
    if st.get("step", 0) > 10**12 or not (st.get("samples") is None or (_is_int(st["samples"]) and st["samples"] >= 0)):
        raise InterpError(f"{where} its train_state is corrupt (step {short_repr(st.get('step'))})")
    stages = old.config.get("stages")
    if stages is not None and not (isinstance(stages, list) and all(
            isinstance(x, dict) and _is_int(x.get("from_step")) and x["from_step"] >= 0
            and isinstance(x.get("recipe"), dict) for x in stages)):
        raise InterpError(f"{where} its recipe history (stages) is corrupt")
    ws = st.get("weighting_state")
    if ws is not None and not (isinstance(ws, list) and all(_is_number(v) and math.isfinite(v) and v >= 0 for v in ws)):
        raise InterpError(f"{where} its train_state is corrupt (weighting_state {short_repr(ws)})")
    if st.get("precision") not in (None, "fp32", "bf16"):
        raise InterpError(f"{where} its train_state is corrupt (precision {short_repr(st.get('precision'))})")
    expected = net.state_dict()
    for k, v in old.train.items():
        if k not in expected or tuple(v.shape) != tuple(expected[k].shape) or not v.is_floating_point():
            raise InterpError(f"{where} its training weights train.{k} do not fit the network")
    if old.train and set(old.train) != set(expected):
        raise InterpError(f"{where} its training weights do not cover the network")
    params = list(net.parameters())
    for k, v in old.optim.items():
        i, _, key = k.partition(".")
        ok = i.isdigit() and int(i) < len(params) and key in ("step", "exp_avg", "exp_avg_sq")
        if not ok or not v.is_floating_point() or (key != "step" and v.shape != params[int(i)].shape):
            raise InterpError(f"{where} optimizer state optim.{k} does not fit the network")
        if key == "step" and not (v.numel() == 1 and math.isfinite(float(v)) and float(v) == st.get("step", 0)):
            found = float(v.reshape(-1)[0]) if v.numel() else None
            raise InterpError(f"{where} optimizer state optim.{k} is corrupt (Adam's step {found} is not the "
                              f"run's step {st.get('step', 0)})")
    if old.optim:
        groups = old.config.get("optim_groups")
        if not (isinstance(groups, list) and len(groups) == 1 and isinstance(groups[0], dict)
                and groups[0].get("params") == list(range(len(params)))):
            raise InterpError(f"{where} its optimizer parameter groups do not fit the network")
        if not _valid_adam_group(groups[0]):
            raise InterpError(f"{where} its optimizer settings are corrupt "
                              f"({short_repr({k: v for k, v in groups[0].items() if k != 'params'})})")
    g = old.rng.get("generator")
    if g is not None and (g.dtype != torch.uint8 or g.shape != torch.Generator().get_state().shape):
        raise InterpError(f"{where} its random generator state is corrupt")


def _repair_log(path: Path, fields: list[str], step: int) -> None:
    """Make a resumed run's CSV log agree with its checkpoint: keep the rows up to ``step``.

    Rows logged after the checkpoint was written (the run was killed before the next one)
    are logged again by the resumed run, so they are dropped here, as is a row cut short by
    the kill. A log that is not this run's (another header) is started afresh.
    """
    rows: list[list[str]] = []
    with contextlib.suppress(OSError, UnicodeDecodeError, csv.Error):
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    keep = [fields]
    if rows and rows[0] == fields:
        for row in rows[1:]:
            if len(row) != len(fields):
                continue
            with contextlib.suppress(ValueError):
                if int(row[0]) <= step:
                    keep.append(row)
    with atomic_write(path, "w") as f:
        csv.writer(f).writerows(keep)


def weights_digest(net: torch.nn.Module) -> str:
    """``"SHA256 NORM"``: a hash of every weight and buffer's bytes, and their float64 L2 norm.

    Equal hashes mean bit-identical networks (the processes of a run are checked this way);
    the norm allows a comparison to a tolerance (a run on one process against several).
    """
    h = hashlib.sha256()
    sq = 0.0
    for name, t in sorted(net.state_dict().items()):
        t = t.detach().to("cpu").contiguous()
        h.update(name.encode())
        h.update(t.numpy().tobytes())
        sq += float(t.double().pow(2).sum())
    return f"{h.hexdigest()} {math.sqrt(sq)!r}"


def train(card_path, resume: bool = False, max_minutes: float | None = None, device: str | None = None,
          progress: bool = True, log=print, on_step=None, keep_state: bool = False) -> dict:
    """Train the network a model card describes; returns the final config written to the checkpoint.

    Under torchrun every process calls this; see the module docstring. ``on_step(step, net)``,
    if given, is called in every process after each optimizer step (tests use it to follow
    the weights). A finished run's checkpoint holds the weights for use only (the average, when
    the card averages them), unless ``keep_state``: then also the optimizer, random and raw
    training state, so the run can be extended exactly.
    """
    procs = _Processes(device)
    held = contextlib.ExitStack()  # the run's lock, taken by _train once the card is read
    try:
        with sigterm_as_interrupt():  # before the loop takes SIGTERM over: stop cleanly, lock released
            return _train(procs, card_path, resume, max_minutes, progress if procs.main else False,
                          log if procs.main else (lambda *a, **k: None), on_step, keep_state, held)
    except BaseException as err:
        if procs.owns_group:  # the frames' locals hold the DDP wrapper: let the group shut down
            traceback.clear_frames(err.__traceback__)
        raise
    finally:
        held.close()
        procs.close()


def _train(procs: _Processes, card_path, resume: bool, max_minutes: float | None, progress: bool, log,
           on_step, keep_state: bool = False, held: contextlib.ExitStack | None = None) -> dict:
    dev = procs.device
    fingerprint = start = None
    try:  # everything that can go wrong with the user's input, agreed on by all processes below
        card = read_card(card_path)
        tr = card.train
        if tr.get("threads"):
            torch.set_num_threads(int(tr["threads"]))
        ckpt_path = card.checkpoint_path
        if procs.main and held is not None:  # one run per card at a time: a second one is refused
            held.enter_context(pid_lock(card.path.with_suffix(".lock"), f"training of {card.path}"))
        if procs.main and ckpt_path.exists() and not resume:
            raise InterpError(f"{ckpt_path} exists: pass --resume to continue it, or delete it to start over")
        bs = int(tr["batch_size"])
        if bs % procs.world:
            raise InterpError(f"{card.path}: [train] batch_size = {bs} (the global batch) must be divisible "
                              f"by the number of processes, {procs.world}")

        train_clips, test_clips, data_desc = load_clips(card, log)
        fingerprint = data_desc["fingerprint"]
        weighting = Weighting.from_recipe(tr)
        focus = None
        if tr.get("focus"):
            events = contact_windows(card, card.model["tau"] + 1, float(tr.get("focus_depth", 0.0)))
            focus = (float(tr["focus"]), events)
            data_desc["focus_windows"] = int(len(events))
        flips = bool(tr.get("flips", False))
        negate = bool(tr.get("negate", False))
        hflip, reverse = bool(tr.get("hflip", False)), bool(tr.get("reverse", False))
        tau = card.model["tau"]
        predict_only = card.model["predict_only"]
        span = tau + 1
        if "samples" in tr:
            total_steps = max(1, int(tr["samples"]) // bs)
        else:
            windows = len(train_clips) * (train_clips.shape[1] - span + 1)
            total_steps = max(1, int(tr["epochs"]) * windows // bs)

        _check_memory(card, bs // procs.world, tuple(train_clips.shape[-2:]), dev)
        torch.manual_seed(int(tr["seed"]))
        net = UNet(**card.model).to(dev)
        start = _starting_point(card, net, resume, data_desc, total_steps, log) if procs.main else None
        error = None
    except (InterpError, ValueError, OSError) as err:
        error = err
    procs.agree(error, fingerprint)
    start = procs.share(start)

    init = start["init"]
    if start["model"] is not None:
        net.load_state_dict(start["train"] or start["model"])
    halflife, rampup = float(tr.get("ema_halflife") or 0.0), float(tr.get("ema_rampup") or 0.0)
    average = WeightAverage(net) if halflife > 0 else None
    if average is not None and start["train"]:  # resuming a run that averaged: its average goes on
        average.average.load_state_dict(start["model"])
    average_net = average.average.to(dev) if average is not None else None
    opt = torch.optim.Adam(net.parameters(), lr=float(tr["lr"]))
    gen = torch.Generator().manual_seed(int(tr["seed"]) + 1)
    try:
        if start["optim"]:
            opt.load_state_dict(start["optim"])
        if start["generator"] is not None:
            gen.set_state(start["generator"])
        if isinstance(weighting, AdaptiveWeighting) and start["state"].get("weighting_state") is not None:
            weighting.load_state(start["state"]["weighting_state"])  # the loss weights go on where they were
    except (ValueError, KeyError, TypeError, IndexError, RuntimeError, InterpError) as err:
        procs.fail(f"{card.checkpoint_path} cannot be resumed: its training state does not load "
                   f"({type(err).__name__}: {' '.join(str(err).split())[:200]})")
    state = {"step": 0, "wall_seconds": 0.0, "done": False, "loss_ema": None}
    state.update(start["state"])
    state.setdefault("samples", start.get("samples_seen", state["step"] * bs))  # older checkpoints
    results: dict = start["results"]
    if start["finished"] is not None:
        log(f"{card.name} is already trained ({state['step']} steps)")
        return start["finished"]

    precision, rates = tr["precision"], {}
    if precision == "auto":
        if state.get("precision") in ("fp32", "bf16"):  # a resumed run keeps the numerics it started with
            precision = state["precision"]
        else:
            precision, rates = choose_precision(net, dev, bs, bool(tr["channels_last"]),
                                                tuple(train_clips.shape[-2:]))
            if procs.world > 1:
                precision = procs.share(precision)
            log(f"{card.name}: precision auto -> {precision}"
                + (f" (measured here: {', '.join(f'{k} {v:g} samples/s' for k, v in rates.items())})" if rates else ""))
    state["precision"] = precision
    use_bf16 = precision == "bf16"
    if use_bf16 and dev.type == "cpu" and not cpu_has_bf16():
        log(f"{card.name}: precision bf16 on a CPU without bf16 instructions "
            f"({torch.backends.cpu.get_cpu_capability()}): torch emulates it, and a step can run 10 to 20 times "
            f"slower than in fp32; set [train] precision = \"fp32\" in the card")
    memory_format = torch.channels_last if tr["channels_last"] else torch.contiguous_format
    net = net.to(memory_format=memory_format)
    step_net = procs.wrap(net)  # DistributedDataParallel under torchrun
    step_net = torch.compile(step_net) if tr["compile"] else step_net
    # This process's rows of every global batch: rank r of N takes rows [r B/N, (r+1) B/N).
    lo, hi = procs.rank * bs // procs.world, (procs.rank + 1) * bs // procs.world
    hardware = _hardware(dev) if procs.world == 1 else f"{procs.world} processes; rank 0: {_hardware(dev)}"

    def config(done: bool) -> dict:
        return {
            "card": card.name, "model": card.model, "recipe": tr, "data": data_desc, "init": init,
            "step": state["step"], "samples": state["samples"], "total_steps": total_steps,
            "train_state": {**state, "done": done,
                            **({"weighting_state": weighting.state()} if isinstance(weighting, AdaptiveWeighting) else {})},
            "results": results, "versions": _versions(),
            "hardware": hardware, "processes": procs.world, "stages": start["stages"],
            "weighting": str(weighting), "weights": "average" if average is not None else "trained",
            **({"precision_rates": rates} if rates else {}),
        }

    def statistics_batches():
        """Fixed training batches (their own seed) to measure the average's normalization statistics."""
        g = torch.Generator().manual_seed(int(tr["seed"]) + 2)
        for _ in range(8):
            win = draw_windows(train_clips, min(bs, 256), span, g)
            c, x = win[:, :tau].to(dev), win[:, tau:].to(dev)
            sig = sample_noise_levels(len(x), g).view(-1, 1, 1, 1).to(dev)
            yield (c,) if predict_only else (x + sig * torch.randn(x.shape, generator=g).to(dev), c)

    def usable_net() -> torch.nn.Module:
        """The weights for use: the average (its statistics measured for it), else the trained net."""
        if average_net is None:
            return net
        recompute_statistics(average_net, statistics_batches())
        return average_net

    def write_checkpoint(done: bool) -> None:
        full = not done or keep_state
        ckpt_mod.save(ckpt_path, usable_net(), config(done), optimizer=opt if full else None,
                      rng={"generator": gen.get_state()} if full else None,
                      training_weights=net.state_dict() if full and average is not None else None)

    log_fields = ["step", "samples", "wall_seconds", "lr", "loss"] + \
        (["predict"] if predict_only else [f"psnr_out@{p:g}dB" for p in EVAL_PSNRS] + ["onestep"])
    if procs.main:
        remove_stale_temporaries(ckpt_path, card.log_path, card.path)
        if resume and card.log_path.exists():
            _repair_log(card.log_path, log_fields, state["step"])
        else:
            with atomic_write(card.log_path, "w") as f:
                csv.writer(f).writerow(log_fields)

    def log_row(row: dict) -> None:
        # rewrite the whole (small) file atomically: a kill never leaves half a row behind
        try:
            with open(card.log_path, newline="") as f:
                old = f.read()
        except FileNotFoundError:  # deleted during the run: start it again
            old = ""
        with atomic_write(card.log_path, "w") as f:
            f.write(old)
            writer = csv.writer(f)
            if not old:
                writer.writerow(log_fields)
            writer.writerow([row.get(k, "") for k in log_fields])

    eval_every = max(1, int(round(float(tr["eval_every"]) * total_steps)))
    deadline = None if max_minutes is None else time.monotonic() + 60.0 * max_minutes
    last_ckpt = time.monotonic()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total_steps, initial=state["step"], unit="step", desc=card.name, dynamic_ncols=True)
    net.train()
    stop_signal: list[int] = []
    previous = {}
    for sig in (signal.SIGTERM, signal.SIGINT):  # finish the step, checkpoint, then stop
        with contextlib.suppress(ValueError):  # not in the main thread: no handlers
            previous[sig] = signal.signal(sig, lambda signum, frame: stop_signal.append(signum))

    def stop_reason() -> str | None:
        if stop_signal:
            return f"stopped by signal {signal.Signals(stop_signal[0]).name}"
        if deadline is not None and time.monotonic() > deadline:
            return f"stopped after {max_minutes} min"
        return None

    t_start = time.monotonic()
    wall0 = state["wall_seconds"]
    try:
        while state["step"] < total_steps:
            step = state["step"]
            lr = lr_at(step / total_steps, float(tr["lr"]))
            for group in opt.param_groups:
                group["lr"] = lr
            # Every process draws the whole global batch from the same stream (so the stream,
            # and --resume, are those of a single-process run), then keeps its own rows.
            win = draw_windows(train_clips, bs, span, gen, focus)
            if flips:
                win = dihedral(win, gen)
            if negate:
                win = negative(win, gen)
            if hflip or reverse:
                win = mirror_and_reverse(win, gen, hflip, reverse)
            c, x = win[:, :tau], win[:, tau:]
            sigma = sample_noise_levels(bs, gen).view(bs, 1, 1, 1)
            z = torch.randn(x.shape, generator=gen)
            if procs.world > 1:
                c, x, sigma, z = (t[lo:hi] for t in (c, x, sigma, z))
            c, x, sigma, z = (t.to(dev, non_blocking=True) for t in (c, x, sigma, z))
            c, x = c.contiguous(memory_format=memory_format), x.contiguous(memory_format=memory_format)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_bf16):
                if predict_only:
                    loss = (step_net(c).float() - x).pow(2).flatten(1).mean(1).mean()
                else:
                    # Algorithm 1, line 7, averaged over this process's rows; DDP averages the
                    # gradients over the processes, which gives the gradient of the global mean.
                    loss = denoising_loss(step_net, x, c, sigma, z, weighting)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if average is not None:
                average.update(net, ema_beta(bs, halflife, rampup, seen=(step + 1) * bs))
            state["step"] = step + 1
            state["samples"] += bs
            if procs.world == 1:
                lv, stop_why = loss.item(), None
            else:  # the global loss, and whether any process wants to stop, in one all-reduce
                stop_why = stop_reason()
                loss_sum, n_stop = procs.sum(loss.detach(), stop_why is not None)
                lv = loss_sum / procs.world
                if n_stop and stop_why is None:
                    stop_why = "stopped because another process was told to stop"
            if not math.isfinite(lv):
                procs.fail(f"training diverged at step {step + 1} (loss {lv}); lower the learning rate")
            if on_step is not None:
                on_step(state["step"], net)
            ema = state["loss_ema"]
            state["loss_ema"] = lv if ema is None else 0.98 * ema + 0.02 * lv
            state["wall_seconds"] = wall0 + time.monotonic() - t_start
            if bar is not None:
                bar.update(1)
                if state["step"] % 10 == 0:
                    bar.set_postfix(loss=f"{state['loss_ema']:.4g}",
                                    samples_s=f"{state['step'] * bs / max(1e-9, state['wall_seconds']):.0f}")
            final = state["step"] == total_steps
            if procs.main and (state["step"] % eval_every == 0 or final):
                metrics = evaluate(usable_net(), test_clips, n=int(tr["eval_windows"]))
                results = {k: round(v, 3) for k, v in metrics.items()}
                log_row({"step": state["step"], "samples": state["samples"],
                         "wall_seconds": round(state["wall_seconds"], 1), "lr": lr,
                         "loss": round(state["loss_ema"], 6), **results})
            if final:
                break
            if procs.main and time.monotonic() - last_ckpt > float(tr["checkpoint_seconds"]):
                write_checkpoint(False)
                last_ckpt = time.monotonic()
            if procs.world == 1:
                stop_why = stop_reason()
            if stop_why:
                raise _Stop(stop_why)
    except _Stop as why:
        if procs.main:
            write_checkpoint(False)
        if bar is not None:
            bar.close()
        log(f"{why} at step {state['step']} of {total_steps}; checkpoint written, continue with --resume")
        return procs.share(config(False) if procs.main else None)  # the others wait for rank 0 here
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if bar is not None:
        bar.close()
    if procs.main:
        net = net.to(memory_format=torch.contiguous_format)
        log(f"evaluating on the whole test split ({len(test_clips)} sequences)"
            + (" with the averaged weights" if average is not None else ""))
        results = {f"test_{k}": round(v, 3) for k, v in evaluate(usable_net(), test_clips, n=None).items()}
        write_checkpoint(True)
        _write_card_results(card, config(True))
        log(f"trained {card.name}: {state['step']} steps, {state['samples']} samples, "
            f"{state['wall_seconds'] / 60:.1f} min; {json.dumps(results)}")
    return procs.share(config(True) if procs.main else None)  # the others wait for rank 0 here
