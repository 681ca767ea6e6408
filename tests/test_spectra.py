"""interp.analysis.spectra: the share of spectral power above half the Nyquist frequency."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from interp import InterpError
from interp.analysis.spectra import high_frequency_share, radial_frequency


def test_radial_frequency_grid():
    f = radial_frequency(4, 8)
    assert f.shape == (4, 8) and f[0, 0] == 0.0
    assert f[0, 4] == pytest.approx(0.5) and f[2, 0] == pytest.approx(0.5)  # the Nyquist bins
    assert f.max() == pytest.approx(math.sqrt(0.5))


def test_white_noise_share_is_the_share_of_frequency_bins():
    rng = np.random.default_rng(0)
    frames = rng.standard_normal((200, 64, 64))
    f = radial_frequency(64, 64)
    bins = float((f > 0.25).sum()) / (f.size - 1)  # every non-zero bin has the same expected power
    share = high_frequency_share(frames)
    assert share == pytest.approx(bins, abs=0.005)
    assert share == pytest.approx(1 - math.pi / 16, abs=0.01)  # the continuum limit: a disk in a square
    # a quarter of the Nyquist frequency: the disk of radius 1/8 cycle/pixel
    assert high_frequency_share(frames, cutoff=0.25) == pytest.approx(1 - math.pi / 64, abs=0.01)


def test_smooth_image_has_almost_no_power_at_fine_scales():
    rr, cc = np.meshgrid(np.arange(32.0), np.arange(32.0), indexing="ij")
    blob = np.exp(-((rr - 16) ** 2 + (cc - 14) ** 2) / (2 * 5.0 ** 2))
    assert high_frequency_share(blob) < 0.01
    wave = np.cos(2 * np.pi * 2 * cc / 32)  # 1/16 cycle/pixel
    assert high_frequency_share(wave) < 1e-12
    fine = np.cos(2 * np.pi * 12 * cc / 32 + 0.3)  # 3/8 cycle/pixel, above a quarter
    assert high_frequency_share(fine) == pytest.approx(1.0)


def test_mean_removed_scale_free_and_averaged_over_frames():
    rng = np.random.default_rng(1)
    a = rng.random((3, 32, 32))
    one = [high_frequency_share(f) for f in a]
    assert high_frequency_share(a) == pytest.approx(np.mean(one))
    assert high_frequency_share(5.0 * a + 2.0) == pytest.approx(high_frequency_share(a))  # offset and gain
    assert high_frequency_share(a.reshape(3, 1, 32, 32)) == pytest.approx(high_frequency_share(a))  # leading axes
    assert high_frequency_share(torch.from_numpy(a).float()) == pytest.approx(high_frequency_share(a), rel=1e-5)
    # a constant frame has no spectrum: left out of the mean, NaN when alone
    with_flat = np.concatenate([a, np.full((1, 32, 32), 0.5)])
    assert high_frequency_share(with_flat) == pytest.approx(high_frequency_share(a))
    assert math.isnan(high_frequency_share(np.zeros((2, 8, 8))))


@pytest.mark.parametrize("frames, cutoff, needle", [
    (np.zeros(8), 0.5, "H, W"),
    (np.zeros((0, 8, 8)), 0.5, "empty"),
    (np.full((8, 8), np.nan), 0.5, "finite"),
    (np.array([["a", "b"], ["c", "d"]]), 0.5, "numeric"),
    (np.zeros((8, 8)), 0.0, "cutoff"),
    (np.zeros((8, 8)), 1.5, "cutoff"),
    (np.zeros((8, 8)), True, "cutoff"),
])
def test_bad_input_is_a_one_line_error(frames, cutoff, needle):
    with pytest.raises(InterpError, match=needle) as err:
        high_frequency_share(frames, cutoff)
    assert "\n" not in str(err.value)
