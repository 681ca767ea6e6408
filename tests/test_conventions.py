"""One convention for shapes, dtypes and seeds across the public analysis functions.

* Shapes: every Jacobian analysis takes one clip (y [1, H, W], c [tau, H, W]) or a batch of
  B >= 1 clips (y [B, 1, H, W], c [B, tau, H, W]), returns a leading batch axis exactly when
  the input had one, and gives clip b of a batch the numbers it gives clip b alone.
* Pixels: ``"center"`` is (H // 2, W // 2), as in ``python -m interp.jacobian``.
* Dtypes: computed and returned in the network's dtype, whatever floating dtype the inputs
  have (float16, bfloat16, float32, float64); sample / one_step follow the same rule.
* Seeds: sample and one_step take no default seed; leaving it out is a one-line error.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import interp
from interp import InterpError
from interp.nets.unet import UNet

H = W = 16
TAU = 2
PUBLIC = ["adaptive_filter", "adaptive_filters", "full_jacobian", "split_evidence", "filter_centroids",
          "evidence_partition", "validate_denoiser", "one_step", "sample"]


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return UNet(tau=TAU, width=4).eval()


@pytest.fixture(scope="module")
def clips():
    """Three different clips (y [3, 1, H, W], c [3, tau, H, W]); clip 1 is the unbatched one."""
    g = torch.Generator().manual_seed(3)
    c = torch.rand((3, TAU, H, W), generator=g)
    y = torch.rand((3, 1, H, W), generator=g)
    return y, c


def close(a, b):
    torch.testing.assert_close(torch.as_tensor(a), torch.as_tensor(b), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", PUBLIC)
def test_the_public_names_are_importable_from_interp(name):
    assert callable(getattr(interp, name))
    assert name in interp.__all__


def _call(name, net, y, c):
    fn = getattr(interp, name)
    if name == "adaptive_filter":
        return fn(net, y, c, (5, 7))
    if name == "adaptive_filters":
        return fn(net, y, c, [(0, 0), (5, 7), (15, 3)])
    if name == "full_jacobian":
        return fn(net, y, c, chunk=128)
    if name == "split_evidence":
        return torch.stack(fn(net, y, c))  # [2, (B,) 1, H, W]
    raise AssertionError(name)


UNBATCHED_SHAPES = {"adaptive_filter": (TAU + 1, H, W), "adaptive_filters": (3, TAU + 1, H, W),
                    "full_jacobian": (H * W, (TAU + 1) * H * W), "split_evidence": (2, 1, H, W)}


@pytest.mark.parametrize("name", ["adaptive_filter", "adaptive_filters", "full_jacobian", "split_evidence"])
def test_unbatched_and_batched_inputs_give_the_same_numbers(net, clips, name):
    y, c = clips
    one = _call(name, net, y[1], c[1])  # unbatched: y [1, H, W], c [tau, H, W]
    assert tuple(one.shape) == UNBATCHED_SHAPES[name]
    b1 = _call(name, net, y[1:2], c[1:2])  # a batch of one
    b3 = _call(name, net, y, c)  # a batch of three different clips
    if name == "split_evidence":  # [2, B, 1, H, W]: the batch axis is the second
        b1, b3 = b1.transpose(0, 1), b3.transpose(0, 1)
    assert tuple(b1.shape) == (1, *one.shape) and tuple(b3.shape) == (3, *one.shape)
    close(b1[0], one)
    close(b3[1], one)
    assert not torch.allclose(b3[0], b3[1])  # the clips differ, so do their results
    for b in (0, 2):  # every clip of the batch is its own unbatched result
        close(b3[b], _call(name, net, y[b], c[b]))
    if name != "split_evidence":  # an [H, W] observation is one clip too
        close(_call(name, net, y[1, 0], c[1]), one)


def test_filter_centroids_keep_the_batch_axis(net, clips):
    y, c = clips
    one = interp.filter_centroids(interp.adaptive_filter(net, y[1], c[1], (5, 7)))
    many = interp.filter_centroids(interp.adaptive_filter(net, y, c, (5, 7)))
    assert one.shape == (TAU + 1, 2) and many.shape == (3, TAU + 1, 2)
    np.testing.assert_allclose(many[1], one, rtol=1e-5, atol=1e-6)


def test_evidence_partition_takes_one_clip_or_a_batch(net, clips):
    y, c = clips
    x = y  # clean frames: any frames will do
    # The noise of a clip comes from the seed and the clip itself, so clip 1 gets the same
    # numbers alone, in a batch of one and in the middle of a batch of three (two draws, two levels).
    kw = dict(psnrs=[20.0, 5.0], seed=5, n_noise=2)
    one = interp.evidence_partition(net, x[1], c[1], **kw)
    b1 = interp.evidence_partition(net, x[1:2], c[1:2], **kw)
    b3 = interp.evidence_partition(net, x, c, **kw)
    assert len(one) == len(b1) == 2 and len(b3) == 6
    cols = ["mse_total", "mse_c", "mse_y", "norm_x", "cross"]
    np.testing.assert_allclose(b1[cols].to_numpy(), one[cols].to_numpy(), rtol=1e-5)
    np.testing.assert_allclose(b3[b3["sequence"] == 1][cols].to_numpy(), one[cols].to_numpy(), rtol=1e-4)
    # the same clip in another place of another batch: still the same numbers
    swapped = interp.evidence_partition(net, x[[1, 0]], c[[1, 0]], **kw)
    np.testing.assert_allclose(swapped[swapped["sequence"] == 0][cols].to_numpy(), one[cols].to_numpy(), rtol=1e-4)
    # a different seed draws different noise
    other = interp.evidence_partition(net, x[1], c[1], psnrs=[20.0, 5.0], seed=6, n_noise=2)
    assert not np.allclose(other["mse_total"], one["mse_total"])


def test_batched_inputs_must_agree(net, clips):
    y, c = clips
    with pytest.raises(InterpError, match="c must be"):
        interp.adaptive_filter(net, y, c[:2], (0, 0))
    with pytest.raises(InterpError, match="c must be"):
        interp.adaptive_filter(net, y, c[0], (0, 0))  # a batch needs a batch of conditionings
    with pytest.raises(InterpError, match="y must be"):
        interp.adaptive_filter(net, y[:2, 0], c[0], (0, 0))  # [2, H, W] is not one frame
    with pytest.raises(InterpError, match="floating-point"):
        interp.adaptive_filter(net, (y[1] * 255).long(), c[1], (0, 0))


@pytest.mark.parametrize("spelling", ["center", "centre", "Center"])
def test_center_is_the_cli_centre_pixel(net, clips, spelling):
    y, c = clips
    ctr = (H // 2, W // 2)
    close(interp.adaptive_filter(net, y[1], c[1], spelling), interp.adaptive_filter(net, y[1], c[1], ctr))
    close(interp.adaptive_filter(net, y, c, spelling), interp.adaptive_filter(net, y, c, ctr))
    close(interp.adaptive_filters(net, y[1], c[1], [spelling, (0, 0)]),
          interp.adaptive_filters(net, y[1], c[1], [ctr, (0, 0)]))
    with pytest.raises(InterpError, match="pixel"):
        interp.adaptive_filter(net, y[1], c[1], "middle")


# --------------------------------------------------------------------------- dtypes

ANALYSES = {
    "adaptive_filter": lambda net, y, c: interp.adaptive_filter(net, y, c, "center"),
    "adaptive_filters": lambda net, y, c: interp.adaptive_filters(net, y, c, [(1, 2)]),
    "full_jacobian": lambda net, y, c: interp.full_jacobian(net, y, c, chunk=256),
    "split_evidence": lambda net, y, c: interp.split_evidence(net, y, c)[0],
    "sample": lambda net, y, c: interp.sample(net, c, 2, seed=0, max_iter=3, warn=False),
    "one_step": lambda net, y, c: interp.one_step(net, c, 2, seed=0),
}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16, np.float64])
@pytest.mark.parametrize("name", list(ANALYSES))
def test_any_floating_input_runs_in_the_network_dtype(net, clips, name, dtype):
    y, c = clips
    # values exact in bfloat16, so that every dtype holds the same numbers
    y, c = y[1].to(torch.bfloat16).float(), c[1].to(torch.bfloat16).float()
    fn = ANALYSES[name]
    reference = fn(net, y, c)
    conv = (lambda t: t.numpy().astype(np.float64)) if dtype is np.float64 else (lambda t: t.to(dtype))
    got = fn(net, conv(y), conv(c))
    assert reference.dtype == got.dtype == torch.float32  # a float32 network
    torch.testing.assert_close(got.nan_to_num(-1), reference.nan_to_num(-1), rtol=0, atol=0)


@pytest.mark.parametrize("name", list(ANALYSES))
def test_a_float64_network_computes_in_float64(net, clips, name):
    import copy

    y, c = clips
    net64 = copy.deepcopy(net).double()
    got = ANALYSES[name](net64, y[1], c[1])  # float32 inputs
    assert got.dtype == torch.float64
    assert next(net64.parameters()).dtype == torch.float64  # the network is untouched
    if name not in ("sample",):  # the sampler's chains may stop at other iterations
        close(got.float(), ANALYSES[name](net, y[1], c[1]))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_a_half_network_runs_through_a_float32_copy(net, clips, dtype):
    import copy

    y, c = clips
    half = copy.deepcopy(net).to(dtype)
    got = interp.adaptive_filter(half, y[1], c[1], (3, 3))
    assert got.dtype == torch.float32 and next(half.parameters()).dtype == dtype
    assert interp.one_step(half, c[1], 1, seed=0).dtype == torch.float32


# --------------------------------------------------------------------------- seeds

@pytest.mark.parametrize("fn", ["sample", "one_step"])
def test_a_missing_seed_is_a_one_line_error(net, clips, fn):
    c = clips[1][1]
    call = {"sample": lambda: interp.sample(net, c, 1, max_iter=2),
            "one_step": lambda: interp.one_step(net, c, 1)}[fn]
    with pytest.raises(InterpError, match="explicit seed") as err:
        call()
    assert isinstance(err.value, TypeError)  # like any missing argument
    assert "\n" not in str(err.value)
