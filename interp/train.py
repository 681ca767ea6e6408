"""Training a conditional denoiser (Algorithm 1, appendix E) from a model card.

::

    python -m interp.train models/leaves-tau2.toml [--resume] [--max-minutes M]

A model card is a small TOML file::

    [model]                       # the network (interp.unet.UNet)
    tau = 2
    width = 32
    norm = "none"                 # "none" | "batch"
    predict_only = false          # true: the prediction-only network of Fig. 6

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

The checkpoint is written beside the card (``NAME.safetensors``), atomically, every
``checkpoint_seconds`` and at the end; it includes the optimizer and random state, so
``--resume`` continues exactly where a killed run stopped. A CSV log (``NAME.log.csv``) holds
the training loss and the test-split PSNR at a few input noise levels. At the end the card's
results section is rewritten with the final numbers.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import hashlib
import json
import math
import platform
import signal
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import torch

from . import checkpoint as ckpt_mod
from .cli import ArgumentParser, InterpError, run
from .io import atomic_write
from .unet import NORMS, UNet

__all__ = ["RECIPES", "Card", "read_card", "lr_at", "train", "evaluate", "sample_noise_levels", "main"]

SIGMA2_MIN, SIGMA2_MAX = 1e-5, 1e2  # appendix E

# Defaults per recipe; a card's [train] table overrides any of them.
RECIPES: dict[str, dict] = {
    # The paper: 1000 epochs over the training split, Adam lr 1e-3, fp32. For a GPU.
    "paper": dict(epochs=1000, batch_size=128, lr=1e-3, precision="fp32", channels_last=False,
                  compile=False, eval_every=0.01, checkpoint_seconds=600, eval_windows=1024),
    # What the 2-core CPU affords: a fixed number of samples, the fastest step that keeps the
    # low-noise quality (see benchmarks/), same schedule shape.
    "cpu": dict(samples=4_000_000, batch_size=128, lr=1e-3, precision="bf16", channels_last=True,
                compile=False, eval_every=0.02, checkpoint_seconds=300, eval_windows=512),
    # Tiny runs for tests and `make figures PRESET=smoke`.
    "smoke": dict(samples=4096, batch_size=32, lr=1e-3, precision="fp32", channels_last=False,
                  compile=False, eval_every=0.25, checkpoint_seconds=60, eval_windows=64),
}
_TRAIN_KEYS = {"recipe", "seed", "samples", "epochs", "batch_size", "lr", "precision", "channels_last",
               "compile", "eval_every", "checkpoint_seconds", "eval_windows", "threads", "init"}
EVAL_PSNRS = (0.0, 20.0, 40.0)  # input PSNR levels logged during training
ONESTEP_SIGMA = 3.0  # the sampler's initial noise: y0 = 0.5 + 3 z (section 2.3)


@dataclasses.dataclass
class Card:
    """A parsed model card."""

    path: Path
    name: str
    model: dict
    data: dict
    train: dict  # recipe defaults merged with the card's values

    @property
    def checkpoint_path(self) -> Path:
        return self.path.with_suffix(".safetensors")

    @property
    def log_path(self) -> Path:
        return self.path.with_suffix(".log.csv")


def read_card(path) -> Card:
    """Parse and check a model card; one-line :class:`InterpError` naming the file on problems."""
    path = Path(path)
    if not path.is_file():
        raise InterpError(f"model card {path} does not exist")
    try:
        raw = tomllib.loads(path.read_text())
    except UnicodeDecodeError:
        raise InterpError(f"{path}: not a text file") from None
    except tomllib.TOMLDecodeError as err:
        raise InterpError(f"{path}: malformed TOML: {err}") from None
    for section in ("model", "data"):
        if not isinstance(raw.get(section), dict):
            raise InterpError(f"{path}: missing [{section}] table")
    model = dict(raw["model"])
    unknown = set(model) - {"tau", "width", "norm", "predict_only", "name"}
    if unknown:
        raise InterpError(f"{path}: unknown key(s) in [model]: {', '.join(sorted(unknown))}")
    tau, width = model.get("tau"), model.get("width", 64)
    if not isinstance(tau, int) or isinstance(tau, bool) or not 0 <= tau <= 10:
        raise InterpError(f"{path}: [model] tau must be an integer in 0..10, got {tau!r}")
    if not isinstance(width, int) or isinstance(width, bool) or not 1 <= width <= 512:
        raise InterpError(f"{path}: [model] width must be an integer in 1..512, got {width!r}")
    norm = model.get("norm", "none")
    if norm not in NORMS:
        raise InterpError(f"{path}: [model] norm must be one of {', '.join(NORMS)}, got {norm!r}")
    predict_only = model.get("predict_only", False)
    if not isinstance(predict_only, bool) or (predict_only and tau < 1):
        raise InterpError(f"{path}: [model] predict_only must be a boolean (and needs tau >= 1)")
    model = {"tau": tau, "width": width, "norm": norm, "predict_only": predict_only}

    data = dict(raw["data"])
    source = data.get("source")
    if source == "leaves":
        from .leaves import VARIANTS

        n = data.get("n", 100_000)
        if not isinstance(n, int) or n < 10:
            raise InterpError(f"{path}: [data] n must be an integer >= 10, got {n!r}")
        if data.get("variant", "default") not in VARIANTS:
            raise InterpError(f"{path}: [data] variant must be one of {', '.join(VARIANTS)}")
    elif source == "npz":
        if not isinstance(data.get("path"), str):
            raise InterpError(f"{path}: [data] source 'npz' needs path = \"FILE.npz\"")
    else:
        raise InterpError(f"{path}: [data] source must be 'leaves' or 'npz', got {source!r}")

    tr = dict(raw.get("train", {}))
    unknown = set(tr) - _TRAIN_KEYS
    if unknown:
        raise InterpError(f"{path}: unknown key(s) in [train]: {', '.join(sorted(unknown))}")
    recipe = tr.get("recipe", "cpu")
    if recipe not in RECIPES:
        raise InterpError(f"{path}: [train] recipe must be one of {', '.join(RECIPES)}, got {recipe!r}")
    merged = dict(RECIPES[recipe], recipe=recipe, seed=0)
    merged.update(tr)
    if merged.get("precision") not in ("fp32", "bf16"):
        raise InterpError(f"{path}: [train] precision must be 'fp32' or 'bf16'")
    for key in ("batch_size", "seed"):
        if not isinstance(merged[key], int) or merged[key] < (1 if key == "batch_size" else 0):
            raise InterpError(f"{path}: [train] {key} must be a {'positive' if key == 'batch_size' else 'non-negative'} integer")
    init = merged.get("init")
    if init is not None and (not isinstance(init, str) or not init.endswith(".safetensors")):
        raise InterpError(f"{path}: [train] init must be the path of a checkpoint (\"NAME.safetensors\", "
                          f"relative to the card), got {init!r}")
    if "samples" in tr and "epochs" in tr:
        raise InterpError(f"{path}: [train] give samples or epochs, not both")
    if "samples" in tr:
        merged.pop("epochs", None)
    if "epochs" in tr:
        merged.pop("samples", None)
    return Card(path=path, name=path.stem, model=model, data=data, train=merged)


def lr_at(fraction: float, base: float) -> float:
    """Learning rate at a fraction of the run: halved at 50%, then every further 10%.

    The paper halves at epoch 500 of 1000 and every 100 epochs after (appendix E).
    """
    if fraction < 0.5:
        return base
    return base * 0.5 ** (1 + min(4, int(math.floor((fraction - 0.5) / 0.1 + 1e-9))))


def sample_noise_levels(n: int, generator: torch.Generator) -> torch.Tensor:
    """sigma with log(sigma^2) uniform on [log 1e-5, log 1e2] (Algorithm 1, line 5)."""
    lo, hi = math.log(SIGMA2_MIN), math.log(SIGMA2_MAX)
    log_var = lo + (hi - lo) * torch.rand(n, generator=generator)
    return torch.exp(0.5 * log_var)


# ----------------------------------------------------------------------------------- data
def load_clips(card: Card) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """(train clips, test clips, data description with a fingerprint) for a card."""
    data = card.data
    if data["source"] == "leaves":
        from .leaves import generate

        ds = generate(int(data.get("n", 100_000)), int(data.get("seed", 0)), data.get("variant", "default"))
    else:
        from .data import load

        p = Path(data["path"])
        ds = load(p if p.is_absolute() else card.path.parent / p)
    if "test" not in ds.meta:
        raise InterpError(f"{card.path}: the dataset has no train/test split")
    train, test = ds.train.frames, ds.test.frames
    need = card.model["tau"] + 1
    if ds.frames.shape[1] < need:
        raise InterpError(f"{card.path}: sequences have {ds.frames.shape[1]} frames, tau={need - 1} needs {need}")
    if len(train) == 0 or len(test) == 0:
        raise InterpError(f"{card.path}: the dataset's train or test split is empty")
    h = hashlib.blake2b(digest_size=12)
    h.update(np.ascontiguousarray(ds.frames).view(np.uint8))
    desc = {**{k: v for k, v in data.items()}, "source_detail": ds.source, "fingerprint": h.hexdigest(),
            "n_train": int(len(train)), "n_test": int(len(test)), "shape": list(ds.frames.shape[1:])}
    return torch.from_numpy(np.ascontiguousarray(train)), torch.from_numpy(np.ascontiguousarray(test)), desc


def draw_windows(clips: torch.Tensor, n: int, span: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` random windows of ``span`` consecutive frames: [n, span, H, W]."""
    N, T = clips.shape[:2]
    seq = torch.randint(N, (n,), generator=generator)
    t0 = torch.randint(T - span + 1, (n,), generator=generator)
    return clips[seq[:, None], t0[:, None] + torch.arange(span)]


# ------------------------------------------------------------------------------ evaluation
def psnr(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """PSNR in dB of each item of a batch (intensity range 1), over all but the first axis."""
    mse = (x.float() - ref.float()).pow(2).flatten(1).mean(1)
    return -10.0 * torch.log10(mse.clamp_min(1e-12))


@torch.no_grad()
def evaluate(net: torch.nn.Module, clips: torch.Tensor, n: int | None = 512, seed: int = 1234,
             psnrs=EVAL_PSNRS, batch: int = 256) -> dict[str, float]:
    """Mean output PSNR on fixed test windows at the given input PSNRs, and the one-step estimate.

    ``n`` windows at random positions of random sequences, or with ``n=None`` one window at
    a random position of every sequence (the whole split, each sequence counted once); PSNR
    is computed per window, then averaged.

    ``onestep`` is the PSNR of x_hat(0.5 + 3 z, c) against the true next frame: the estimate
    the sampler starts from (given the real conditioning frames, no information in y).
    For a prediction-only network, ``predict`` is the PSNR of net(c).
    """
    was_training = net.training
    net.eval()
    g = torch.Generator().manual_seed(seed)
    tau = net.tau
    if n is None:
        n = len(clips)
        t0 = torch.randint(clips.shape[1] - tau, (n,), generator=g)
        win = clips[torch.arange(n)[:, None], t0[:, None] + torch.arange(tau + 1)]
    else:
        win = draw_windows(clips, n, tau + 1, g)
    c, x = win[:, :tau], win[:, tau:]
    out: dict[str, float] = {}
    noise = torch.randn(x.shape, generator=g)
    try:
        if getattr(net, "predict_only", False):
            out["predict"] = torch.cat([psnr(net(c[i:i + batch]), x[i:i + batch]) for i in range(0, n, batch)]).mean().item()
            return out
        for p in psnrs:
            sigma = 10.0 ** (-p / 20.0)
            y = x + sigma * noise
            est = torch.cat([net(y[i:i + batch], c[i:i + batch]) for i in range(0, n, batch)])
            out[f"psnr_out@{p:g}dB"] = psnr(est, x).mean().item()
        y0 = 0.5 + ONESTEP_SIGMA * noise
        est = torch.cat([net(y0[i:i + batch], c[i:i + batch]) for i in range(0, n, batch)])
        out["onestep"] = psnr(est, x).mean().item()
    finally:
        net.train(was_training)
    return out


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
    from . import __version__

    return {"interp": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


class _Stop(Exception):
    pass


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


def train(card_path, resume: bool = False, max_minutes: float | None = None, device: str | None = None,
          progress: bool = True, log=print) -> dict:
    """Train the network a model card describes; returns the final config written to the checkpoint."""
    card = read_card(card_path)
    tr = card.train
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if tr.get("threads"):
        torch.set_num_threads(int(tr["threads"]))
    ckpt_path = card.checkpoint_path
    if ckpt_path.exists() and not resume:
        raise InterpError(f"{ckpt_path} exists: pass --resume to continue it, or delete it to start over")

    train_clips, test_clips, data_desc = load_clips(card)
    tau = card.model["tau"]
    predict_only = card.model["predict_only"]
    span = tau + 1
    bs = int(tr["batch_size"])
    if "samples" in tr:
        total_steps = max(1, int(tr["samples"]) // bs)
    else:
        windows = len(train_clips) * (train_clips.shape[1] - span + 1)
        total_steps = max(1, int(tr["epochs"]) * windows // bs)

    torch.manual_seed(int(tr["seed"]))
    net = UNet(**card.model).to(dev)
    init = _initial_weights(card, net) if tr.get("init") else None
    opt = torch.optim.Adam(net.parameters(), lr=float(tr["lr"]))
    gen = torch.Generator().manual_seed(int(tr["seed"]) + 1)
    state = {"step": 0, "wall_seconds": 0.0, "done": False, "loss_ema": None}
    results: dict = {}
    if resume and ckpt_path.exists():
        old = ckpt_mod.read(ckpt_path)
        if old.config.get("net") != net.config():
            raise InterpError(f"{ckpt_path} holds a different network than {card.path} describes")
        if old.config.get("data", {}).get("fingerprint") != data_desc["fingerprint"]:
            raise InterpError(f"{ckpt_path} was trained on different data than {card.path} describes")
        net.load_state_dict(old.model)
        if old.optim:
            opt.load_state_dict(ckpt_mod.optimizer_state(old))
        if "generator" in old.rng:
            gen.set_state(old.rng["generator"])
        state.update(old.config.get("train_state", {}))
        results = old.config.get("results", {})
        log(f"resuming {card.name} at step {state['step']} of {total_steps}")
    if state["done"] and state["step"] >= total_steps:
        log(f"{card.name} is already trained ({state['step']} steps)")
        return old.config

    use_bf16 = tr["precision"] == "bf16"
    memory_format = torch.channels_last if tr["channels_last"] else torch.contiguous_format
    net = net.to(memory_format=memory_format)
    step_net = torch.compile(net) if tr["compile"] else net

    def config(done: bool) -> dict:
        return {
            "card": card.name, "model": card.model, "recipe": tr, "data": data_desc, "init": init,
            "step": state["step"], "samples": state["step"] * bs, "total_steps": total_steps,
            "train_state": {**state, "done": done}, "results": results, "versions": _versions(),
            "hardware": _hardware(dev),
        }

    def write_checkpoint(done: bool) -> None:
        net_cpu_state = {"generator": gen.get_state()}
        ckpt_mod.save(ckpt_path, net, config(done), optimizer=opt, rng=net_cpu_state)

    log_fields = ["step", "samples", "wall_seconds", "lr", "loss"] + \
        (["predict"] if predict_only else [f"psnr_out@{p:g}dB" for p in EVAL_PSNRS] + ["onestep"])
    if not (resume and card.log_path.exists()):
        with atomic_write(card.log_path, "w") as f:
            csv.writer(f).writerow(log_fields)

    def log_row(row: dict) -> None:
        with open(card.log_path, "a", newline="") as f:
            csv.writer(f).writerow([row.get(k, "") for k in log_fields])

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
    t_start = time.monotonic()
    wall0 = state["wall_seconds"]
    try:
        while state["step"] < total_steps:
            step = state["step"]
            lr = lr_at(step / total_steps, float(tr["lr"]))
            for group in opt.param_groups:
                group["lr"] = lr
            win = draw_windows(train_clips, bs, span, gen)
            c, x = win[:, :tau], win[:, tau:]
            sigma = sample_noise_levels(bs, gen).view(bs, 1, 1, 1)
            z = torch.randn(x.shape, generator=gen)
            c, x, sigma, z = (t.to(dev, non_blocking=True) for t in (c, x, sigma, z))
            y = x + sigma * z
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_bf16):
                if predict_only:
                    est = step_net(c.contiguous(memory_format=memory_format))
                else:
                    est = step_net(y.contiguous(memory_format=memory_format), c.contiguous(memory_format=memory_format))
            err = (est.float() - x).pow(2).flatten(1).mean(1)
            loss = err.mean() if predict_only else (err / sigma.view(bs) ** 2).mean()  # Algorithm 1, line 7
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            state["step"] = step + 1
            lv = loss.item()
            if not math.isfinite(lv):
                raise InterpError(f"training diverged at step {step + 1} (loss {lv}); lower the learning rate")
            ema = state["loss_ema"]
            state["loss_ema"] = lv if ema is None else 0.98 * ema + 0.02 * lv
            state["wall_seconds"] = wall0 + time.monotonic() - t_start
            if bar is not None:
                bar.update(1)
                if state["step"] % 10 == 0:
                    bar.set_postfix(loss=f"{state['loss_ema']:.4g}",
                                    samples_s=f"{state['step'] * bs / max(1e-9, state['wall_seconds']):.0f}")
            final = state["step"] == total_steps
            if state["step"] % eval_every == 0 or final:
                metrics = evaluate(net, test_clips, n=int(tr["eval_windows"]))
                results = {k: round(v, 3) for k, v in metrics.items()}
                log_row({"step": state["step"], "samples": state["step"] * bs,
                         "wall_seconds": round(state["wall_seconds"], 1), "lr": lr,
                         "loss": round(state["loss_ema"], 6), **results})
            if final:
                break
            if time.monotonic() - last_ckpt > float(tr["checkpoint_seconds"]):
                write_checkpoint(False)
                last_ckpt = time.monotonic()
            if stop_signal:
                raise _Stop(f"stopped by signal {signal.Signals(stop_signal[0]).name}")
            if deadline is not None and time.monotonic() > deadline:
                raise _Stop(f"stopped after {max_minutes} min")
    except _Stop as why:
        write_checkpoint(False)
        if bar is not None:
            bar.close()
        log(f"{why} at step {state['step']} of {total_steps}; checkpoint written, continue with --resume")
        return config(False)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if bar is not None:
        bar.close()
    net = net.to(memory_format=torch.contiguous_format)
    log(f"evaluating on the whole test split ({len(test_clips)} sequences)")
    results = {f"test_{k}": round(v, 3) for k, v in evaluate(net, test_clips, n=None).items()}
    write_checkpoint(True)
    _write_card_results(card, config(True))
    log(f"trained {card.name}: {state['step']} steps, {state['step'] * bs} samples, "
        f"{state['wall_seconds'] / 60:.1f} min; {json.dumps(results)}")
    return config(True)


RESULTS_MARKER = "# ---- results: written by `python -m interp.train`; do not edit below ----"


def _write_card_results(card: Card, cfg: dict) -> None:
    """Rewrite the card's [results] table (everything below the marker) with the final numbers."""
    text = card.path.read_text()
    head = text.split(RESULTS_MARKER)[0].rstrip() + "\n\n"
    st = cfg["train_state"]
    lines = [RESULTS_MARKER, "[results]",
             f"steps = {cfg['step']}", f"samples = {cfg['samples']}",
             f"wall_minutes = {st['wall_seconds'] / 60:.1f}", f"hardware = {json.dumps(cfg['hardware'])}",
             f"torch = {json.dumps(cfg['versions']['torch'])}",
             f"final_loss_ema = {st['loss_ema']:.6g}"]
    for k, v in cfg["results"].items():
        lines.append(f"{json.dumps(k)} = {v}")
    with atomic_write(card.path, "w") as f:
        f.write(head + "\n".join(lines) + "\n")


def main(argv=None) -> int:
    p = ArgumentParser(prog="python -m interp.train", description="Train a denoiser from a model card.")
    p.add_argument("card", help="model card (models/NAME.toml)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint beside the card")
    p.add_argument("--max-minutes", type=float, default=None, help="stop (with a checkpoint) after this long")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    if args.max_minutes is not None and not args.max_minutes > 0:
        raise InterpError("--max-minutes must be positive")
    train(args.card, resume=args.resume, max_minutes=args.max_minutes, device=args.device,
          progress=not args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(run(main, "python -m interp.train"))
