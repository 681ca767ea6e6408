"""Peak signal-to-noise ratio, for images in [0, 1] (peak 1): the one definition of the package."""

from __future__ import annotations

import numpy as np


def psnr_from_mse(mse, floor: float = 0.0):
    """``10 log10(1 / mse)`` in dB, elementwise; a NumPy array (float64) for array input, a
    tensor for a tensor. ``mse`` is clamped below at ``floor`` (0: a perfect estimate is inf dB)."""
    if hasattr(mse, "clamp_min"):  # a torch tensor
        return -10.0 * (mse.clamp_min(floor) if floor else mse).log10()
    mse = np.asarray(mse, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(1.0 / (np.maximum(mse, floor) if floor else mse))


def psnr(x, ref, *, floor: float = 1e-12, dtype=None):
    """PSNR in dB of each item of a batch, over all axes but the first (torch tensors), or of
    a whole NumPy array; the squared error is averaged in ``dtype`` (default: float32 for
    tensors, float64 for arrays) and clamped below at ``floor``."""
    if hasattr(x, "flatten") and hasattr(x, "float"):  # torch
        import torch

        dtype = dtype or torch.float32
        mse = (x.to(dtype) - ref.to(dtype)).pow(2).flatten(1).mean(1)
        return psnr_from_mse(mse, floor)
    diff = np.asarray(x, dtype=dtype or np.float64) - np.asarray(ref, dtype=dtype or np.float64)
    return float(psnr_from_mse(np.mean(diff ** 2), floor))
