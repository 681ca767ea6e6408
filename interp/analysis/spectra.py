"""Spatial power spectra of frames: how much of an image's variance sits at fine scales.

* :func:`high_frequency_share`: the share of a frame's spectral power above a fraction of the
  Nyquist frequency, averaged over frames; Fig. 12's samples are judged by it against the true
  next frames (a grainy sample has too much power at fine scales, a blurry one too little).
"""

from __future__ import annotations

import numpy as np

from interp._util.errors import InterpError

__all__ = ["radial_frequency", "high_frequency_share"]


def radial_frequency(h: int, w: int) -> np.ndarray:
    """``[h, w]``: the radial spatial frequency |f| = sqrt(f_row^2 + f_col^2) of each bin of a
    2-D discrete Fourier transform of an ``h`` x ``w`` frame, in cycles per pixel (bins in
    :func:`numpy.fft.fft2` order; the Nyquist frequency is 0.5)."""
    fr, fc = np.meshgrid(np.fft.fftfreq(h), np.fft.fftfreq(w), indexing="ij")
    return np.hypot(fr, fc)


def high_frequency_share(frames, cutoff: float = 0.5) -> float:
    """The share of spectral power above ``cutoff`` times the Nyquist frequency, mean over frames.

    Definition. Each frame ``[H, W]`` has its own mean removed, then its 2-D power spectrum
    ``P(f) = |DFT(frame - mean)|^2`` is taken (no window: the frame is treated as one period,
    so frames with different edges compare on the same footing only when both are treated
    alike). Its share is ``sum P(f) over |f| > cutoff * 0.5 / sum P(f) over all f``, with ``|f|``
    the radial frequency in cycles per pixel (:func:`radial_frequency`; the Nyquist frequency
    is 0.5 cycles/pixel, so the default threshold is 0.25 cycles/pixel, a disk of radius a
    quarter of the sampling rate; the corners of the frequency square beyond the Nyquist
    radius count as above it). The result is the mean of the shares over frames; a frame with
    no power once its mean is removed (a constant frame) has no share and is left out of the
    mean.

    Reference values: white noise has the same expected power at every frequency, so its
    share is the fraction of non-zero frequency bins beyond the threshold, close to
    ``1 - pi cutoff^2 / 4`` (``1 - pi / 16``, about 0.804, at the default) for large frames;
    a smooth image has a share near 0; a sinusoid above the threshold has share 1.

    Parameters
    ----------
    frames : array-like
        ``[H, W]`` or ``[..., H, W]`` (any leading axes, flattened: one share per frame);
        finite real values (a torch tensor is converted).
    cutoff : float
        The threshold as a fraction of the Nyquist frequency, in (0, sqrt(2)) (the largest
        radial frequency of the square is sqrt(2) times the Nyquist frequency).

    Returns
    -------
    float
        The mean share over frames, in [0, 1]; NaN when no frame has any power.
    """
    if hasattr(frames, "detach"):
        frames = frames.detach().cpu().numpy()
    a = np.asarray(frames)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise InterpError(f"frames must be a real numeric array, got dtype {a.dtype}")
    if a.ndim < 2 or a.shape[-1] < 2 or a.shape[-2] < 2:
        raise InterpError(f"frames must be [..., H, W] with H, W >= 2, got shape {a.shape}")
    if isinstance(cutoff, bool) or not isinstance(cutoff, (int, float, np.floating)) or not 0 < cutoff < np.sqrt(2):
        raise InterpError(f"cutoff must be a fraction of the Nyquist frequency in (0, sqrt(2)), got {cutoff!r}")
    a = a.reshape(-1, *a.shape[-2:]).astype(np.float64)
    if a.shape[0] == 0:
        raise InterpError("frames is empty: no frame to measure")
    if not np.isfinite(a).all():
        raise InterpError("frames must be finite (found NaN or infinity)")
    raw = (a ** 2).sum(axis=(1, 2))
    a = a - a.mean(axis=(1, 2), keepdims=True)
    power = np.abs(np.fft.fft2(a)) ** 2
    high = radial_frequency(*a.shape[-2:]) > cutoff * 0.5
    total = power.sum(axis=(1, 2))
    # no power beyond round-off of the frame's own values: a constant (or all-zero) frame
    ok = (a ** 2).sum(axis=(1, 2)) > 1e-20 * raw
    if not ok.any():
        return float("nan")
    return float(np.mean(power[ok][:, high].sum(axis=1) / total[ok]))
