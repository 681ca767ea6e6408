"""The bias-free U-net (appendix C): size, shapes, homogeneity and Euler's identity (eq. 5)."""

from __future__ import annotations

import pytest
import torch
from torch.func import jvp

from interp.nets.unet import UNet


def test_paper_width_has_about_1_86_million_parameters():
    n = sum(p.numel() for p in UNet(tau=2, width=64).parameters())
    assert 1.8e6 <= n <= 1.9e6, n


def test_no_bias_anywhere():
    for norm in ("none", "batch"):
        net = UNet(tau=2, width=8, norm=norm)
        for m in net.modules():
            assert getattr(m, "bias", None) is None, m
        names = [n for n, _ in net.named_parameters()]
        assert not any("bias" in n for n in names)


@pytest.mark.parametrize("tau", [0, 1, 2, 3])
def test_shapes(tau):
    net = UNet(tau=tau, width=8).eval()
    y = torch.rand(3, 1, 32, 32)
    c = torch.rand(3, tau, 32, 32)
    assert net(y, c).shape == (3, 1, 32, 32)
    assert net.tau == tau


def test_unconditional_can_omit_c():
    net = UNet(tau=0, width=8).eval()
    y = torch.rand(2, 1, 16, 16)
    torch.testing.assert_close(net(y), net(y, torch.zeros(2, 0, 16, 16)))


def test_prediction_only_network():
    net = UNet(tau=2, width=8, predict_only=True).eval()
    assert net(torch.rand(2, 2, 32, 32)).shape == (2, 1, 32, 32)
    with pytest.raises(TypeError):
        net(torch.rand(2, 1, 32, 32), torch.rand(2, 2, 32, 32))


def test_wrong_conditioning_is_refused():
    net = UNet(tau=2, width=8)
    with pytest.raises(ValueError, match="2 frames"):
        net(torch.rand(1, 1, 32, 32), torch.rand(1, 3, 32, 32))
    with pytest.raises(TypeError):
        net(torch.rand(1, 1, 32, 32))
    with pytest.raises(ValueError, match="multiples of 4"):
        net(torch.rand(1, 1, 30, 30), torch.rand(1, 2, 30, 30))


def _trained_batchnorm_net(tau):
    torch.manual_seed(0)
    net = UNet(tau=tau, width=8, norm="batch")
    for _ in range(3):  # move the running statistics away from their initial values
        net(torch.rand(4, 1, 32, 32) * 3, torch.rand(4, tau, 32, 32))
    return net.eval()


@pytest.mark.parametrize("norm", ["none", "batch"])
@pytest.mark.parametrize("tau", [0, 1, 2, 3])
def test_homogeneous_degree_one(tau, norm):
    """f(a y, a c) = a f(y, c) for random inputs and random a in [0.1, 10]."""
    torch.manual_seed(tau)
    net = UNet(tau=tau, width=8).eval() if norm == "none" else _trained_batchnorm_net(tau)
    g = torch.Generator().manual_seed(10 + tau)
    y = torch.rand(4, 1, 32, 32, generator=g) + 0.3 * torch.randn(4, 1, 32, 32, generator=g)
    c = torch.rand(4, tau, 32, 32, generator=g)
    with torch.no_grad():
        base = net(y, c)
        for a in (0.1 + 9.9 * torch.rand(5, generator=g)).tolist():
            torch.testing.assert_close(net(a * y, a * c), a * base, rtol=1e-4, atol=1e-5 * a)


def test_layer_norm_style_scale_invariance_would_be_caught():
    """The test above can fail: a net that divides by its input's own scale is degree 0."""
    net = UNet(tau=2, width=8).eval()

    def scale_invariant(y, c):
        s = torch.cat([y, c], 1).flatten(1).std(1).view(-1, 1, 1, 1)
        return net(y / s, c / s)

    y, c = torch.rand(2, 1, 32, 32), torch.rand(2, 2, 32, 32)
    with torch.no_grad():
        assert not torch.allclose(scale_invariant(3 * y, 3 * c), 3 * scale_invariant(y, c), rtol=1e-3)


@pytest.mark.parametrize("norm", ["none", "batch"])
def test_euler_identity_eq5(norm):
    """x_hat = J_y y + J_c c (eq. 5), each part one forward-mode product."""
    tau = 2
    net = UNet(tau=tau, width=8).eval() if norm == "none" else _trained_batchnorm_net(tau)
    g = torch.Generator().manual_seed(3)
    y = torch.rand(2, 1, 32, 32, generator=g) + 0.2 * torch.randn(2, 1, 32, 32, generator=g)
    c = torch.rand(2, tau, 32, 32, generator=g)
    out, x_y = jvp(lambda yy: net(yy, c), (y,), (y,))
    _, x_c = jvp(lambda cc: net(y, cc), (c,), (c,))
    torch.testing.assert_close(x_y + x_c, out, rtol=1e-4, atol=1e-5)
    assert x_y.abs().mean() > 1e-3 and x_c.abs().mean() > 1e-3  # both parts contribute


def test_skip_adds_the_observation_and_keeps_homogeneity_and_eq5():
    torch.manual_seed(0)
    plain = UNet(tau=2, width=8).eval()
    skip = UNet(tau=2, width=8, skip=True).eval()
    skip.load_state_dict(plain.state_dict())  # same weights: the skip adds no parameter
    y, c = torch.rand(2, 1, 16, 16), torch.rand(2, 2, 16, 16)
    with torch.no_grad():
        assert torch.allclose(skip(y, c), plain(y, c) + y, atol=1e-6)
        assert torch.allclose(skip(2.5 * y, 2.5 * c), 2.5 * skip(y, c), atol=1e-5)
    out, (jy, jc) = skip(y, c), (jvp(lambda v: skip(v, c), (y,), (y,))[1], jvp(lambda v: skip(y, v), (c,), (c,))[1])
    assert torch.allclose(jy + jc, out, atol=1e-5)  # Euler's identity, eq. 5
    assert skip.config()["skip"] is True and plain.config()["skip"] is False
    with pytest.raises(ValueError, match="prediction-only"):
        UNet(tau=2, width=8, predict_only=True, skip=True)
