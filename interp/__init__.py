"""interp: score-based conditional density estimation for video prediction, opened up.

The public API is imported lazily, so ``python -m interp.<tool>`` starts fast:

* :func:`interp.load` -- a trained denoiser from a checkpoint, in eval mode;
* :mod:`interp.leaves`, :mod:`interp.data` -- the moving-leaves dataset and clip files;
* :mod:`interp.unet`, :mod:`interp.train` -- the bias-free U-net and Algorithm 1;
* :func:`interp.sample`, :func:`interp.one_step` -- Algorithm 2 (:mod:`interp.sampler`);
* :mod:`interp.psychometrics` -- occlusion probes, choice frequencies and logistic fits;
* :func:`interp.adaptive_filter`, :func:`interp.split_evidence` -- the Jacobian analyses of
  :mod:`interp.jacobian` (adaptive filters, eq. 5 and 7).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "load": ("interp.checkpoint", "load"),
    "UNet": ("interp.unet", "UNet"),
    "Dataset": ("interp.data", "Dataset"),
    "sample": ("interp.sampler", "sample"),
    "one_step": ("interp.sampler", "one_step"),
    "adaptive_filter": ("interp.jacobian", "adaptive_filter"),
    "split_evidence": ("interp.jacobian", "split_evidence"),
}
_SUBMODULES = {"leaves", "data", "unet", "train", "checkpoint", "cli", "io", "plotting", "figures",
               "sampler", "onedim", "psychometrics", "jacobian"}

__all__ = sorted([*_LAZY, *_SUBMODULES, "__version__"])


def __getattr__(name: str):
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"interp.{name}")
    raise AttributeError(f"module 'interp' has no attribute {name!r}")
