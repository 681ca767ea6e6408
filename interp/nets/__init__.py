"""Denoisers: the bias-free U-net (:mod:`interp.nets.unet`), checkpoints of weights and config
(:mod:`interp.nets.checkpoint`), and :func:`validate_denoiser`, the checks every analysis relies on."""

from interp.nets.checkpoint import Checkpoint, load, read, save
from interp.nets.unet import NORMS, BiasFreeBatchNorm, UNet
from interp.nets.validate import validate_denoiser

__all__ = ["NORMS", "BiasFreeBatchNorm", "Checkpoint", "UNet", "load", "read", "save", "validate_denoiser"]
