"""interp: score-based conditional density estimation for video prediction, opened up.

The public API is imported lazily, so ``python -m interp.<tool>`` starts fast:

* :func:`interp.load` -- a trained denoiser from a checkpoint or a shipped model's name, in eval
  mode with gradients off (:mod:`interp.nets`);
* :mod:`interp.data` -- clips: the dataset container and files, moving leaves, DAVIS32, footage;
* :mod:`interp.nets` -- the bias-free U-net, checkpoints, :func:`interp.validate_denoiser`;
* :mod:`interp.training` -- model cards and Algorithm 1;
* :func:`interp.sample`, :func:`interp.one_step` -- Algorithm 2 (:mod:`interp.analysis.sampler`);
* :func:`interp.adaptive_filter`, :func:`interp.adaptive_filters`, :func:`interp.full_jacobian`,
  :func:`interp.filter_centroids`, :func:`interp.split_evidence`, :func:`interp.evidence_partition`
  -- the Jacobian analyses of :mod:`interp.analysis.jacobian` (adaptive filters, eq. 5 and 7;
  one clip or a batch, any floating dtype, computed in the network's dtype);
* :func:`interp.denoising_curve`, :func:`interp.filter_example`, :func:`interp.next_frame_samples`,
  :func:`interp.probe_trial`, :func:`interp.psychometric_sweep`, :func:`interp.recursive_rollouts`
  -- the computations of the paper's figures, on any ``net(y, c)``; the other analyses
  (psychometrics, persistence, entropy, the 1-D example) are in :mod:`interp.analysis`;
* :mod:`interp.plotting` -- tidy tables to figures; :mod:`interp.figures` -- the paper's figures.

``interp.sample`` is always the sampler function; ``python -m interp.sample`` (like
``interp.train``, ``interp.jacobian``, ``interp.psychometrics``, ``interp.entropy``) is a command
whose front-end is in :mod:`interp.cli`.
"""

from __future__ import annotations

import importlib

from interp._util.errors import InterpError as InterpError

__version__ = "0.1.0"

_LAZY = {
    "load": ("interp.nets.checkpoint", "load"),
    "UNet": ("interp.nets.unet", "UNet"),
    "validate_denoiser": ("interp.nets.validate", "validate_denoiser"),
    "Dataset": ("interp.data.dataset", "Dataset"),
    "sample": ("interp.analysis.sampler", "sample"),
    "one_step": ("interp.analysis.sampler", "one_step"),
    "adaptive_filter": ("interp.analysis.jacobian", "adaptive_filter"),
    "adaptive_filters": ("interp.analysis.jacobian", "adaptive_filters"),
    "full_jacobian": ("interp.analysis.jacobian", "full_jacobian"),
    "filter_centroids": ("interp.analysis.jacobian", "filter_centroids"),
    "split_evidence": ("interp.analysis.jacobian", "split_evidence"),
    "evidence_partition": ("interp.analysis.jacobian", "evidence_partition"),
    "denoising_curve": ("interp.analysis.denoising", "denoising_curve"),
    "filter_example": ("interp.analysis.denoising", "filter_example"),
    "next_frame_samples": ("interp.analysis.denoising", "next_frame_samples"),
    "probe_trial": ("interp.analysis.psychometrics", "probe_trial"),
    "psychometric_sweep": ("interp.analysis.psychometrics", "psychometric_sweep"),
    "recursive_rollouts": ("interp.analysis.sampler", "recursive_rollouts"),
}
_SUBPACKAGES = {"data", "nets", "training", "analysis", "plotting", "figures", "cli"}

__all__ = sorted([*_LAZY, *_SUBPACKAGES, "InterpError", "__version__"])


def __getattr__(name: str):
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    if name in _SUBPACKAGES:
        return importlib.import_module(f"interp.{name}")
    raise AttributeError(f"module 'interp' has no attribute {name!r}")
