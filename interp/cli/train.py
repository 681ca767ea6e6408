"""``python -m interp.train CARD``: train a denoiser from a model card (see :mod:`interp.training.loop`)."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import torch

from interp._util.errors import InterpError
from interp.cli.common import ArgumentParser, run
from interp.training.loop import PeerFailed, train, weights_digest


def _weights_trace(prefix: str):
    """An ``on_step`` hook appending ``STEP SHA256 NORM`` lines to ``PREFIX.rankR.txt``."""
    path = Path(f"{prefix}.rank{int(os.environ.get('RANK') or 0)}.txt")

    def hook(step: int, net: torch.nn.Module) -> None:
        with open(path, "a") as f:
            f.write(f"{step} {weights_digest(net)}\n")

    return hook


def main(argv=None) -> int:
    p = ArgumentParser(prog="python -m interp.train", description="Train a denoiser from a model card "
                       "(in several processes when started by torchrun; see the module docstring).")
    p.add_argument("card", help="model card (models/NAME.toml)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint beside the card")
    p.add_argument("--max-minutes", type=float, default=None, help="stop (with a checkpoint) after this long")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present; under torchrun "
                   "each process takes cuda:LOCAL_RANK)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--keep-state", action="store_true",
                   help="keep the optimizer, random and raw training state in the finished checkpoint (to extend "
                        "the run later); by default a finished checkpoint holds the weights for use only")
    p.add_argument("--trace-weights", metavar="PREFIX", default=None,
                   help="(debugging) after every step, each process appends the step, a SHA-256 and the norm "
                        "of its weights to PREFIX.rankR.txt")
    args = p.parse_args(argv)
    if args.max_minutes is not None and not args.max_minutes > 0:
        raise InterpError("--max-minutes must be positive")
    try:
        train(args.card, resume=args.resume, max_minutes=args.max_minutes, device=args.device,
              progress=not args.quiet, on_step=_weights_trace(args.trace_weights) if args.trace_weights else None,
              keep_state=args.keep_state)
    except PeerFailed:
        _await_reporter()
        return 2  # the process that met the error has printed it
    except RuntimeError as err:
        import torch.distributed as dist

        if dist.is_available() and isinstance(err, dist.DistError):
            first = next((ln for ln in str(err).splitlines() if ln.strip()), type(err).__name__)
            raise InterpError(f"lost contact with the other training processes ({first.strip()})") from None
        raise
    return 0


REPORTER_GRACE_S = 60.0


def _await_reporter() -> None:
    """Under torchrun, a process whose peer met the error waits before it exits.

    torchrun stops every worker as soon as one exits with an error. If this process left at
    once, the process that reports the error could be stopped before it prints it (seen on a
    busy machine: the job failed with no message). So this one waits, for at most
    ``REPORTER_GRACE_S``; torchrun ends the wait as soon as the reporting process exits.
    """
    import time

    time.sleep(REPORTER_GRACE_S)


def _prog() -> str:
    """The program name in messages; under torchrun it says which process speaks."""
    world = os.environ.get("WORLD_SIZE") or "1"
    if world != "1":
        return f"python -m interp.train (rank {os.environ.get('RANK', '?')} of {world})"
    return "python -m interp.train"


def _worker_exit(code: int) -> None:
    """End a torchrun worker without the interpreter's teardown.

    By the time :func:`main` returns, the checkpoint, log and card are written and closed and
    the process group is destroyed. What teardown would still do is destroy the C++ objects
    torch.distributed and gloo keep in module globals, in an order Python does not control.
    A worker once aborted in CI (SIGABRT, "terminate called without an active exception", no
    Python traceback; not reproduced in 42 runs here), and teardown is where such an abort can
    strike a run that has finished its work; torchrun would report the whole job as failed.
    So a worker flushes its output and leaves with ``os._exit``; ``faulthandler`` (enabled
    below) prints the Python stacks if a worker still aborts anywhere else.
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def entry() -> None:
    """Run the command (``python -m interp.train``); a torchrun worker leaves with ``os._exit``
    (see :func:`_worker_exit`)."""
    if (os.environ.get("WORLD_SIZE") or "1") != "1":
        import faulthandler

        faulthandler.enable()  # a worker that crashes in C++ still says where its Python code was
        _worker_exit(run(main, _prog()))
    sys.exit(run(main, _prog()))
