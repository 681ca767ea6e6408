"""validate_denoiser: the checks the Jacobian analyses rely on (bias-free, homogeneous, tau,
output shape), and interp.load's analysis-ready networks."""

import pytest
import torch

import interp
from interp import InterpError
from interp.analysis.jacobian import adaptive_filter
from interp.nets import validate_denoiser
from interp.nets.unet import UNet


def test_a_bias_free_unet_passes():
    torch.manual_seed(0)
    net = UNet(tau=2, width=4)
    validate_denoiser(net, tau=2)
    validate_denoiser(net)  # its own tau
    assert net.training  # the mode is restored


def test_a_net_with_a_bias_is_named():
    net = UNet(tau=1, width=4)
    net.extra = torch.nn.Conv2d(1, 1, 3, padding=1)  # a bias parameter somewhere
    with pytest.raises(InterpError, match="not bias-free.*extra.bias"):
        validate_denoiser(net, tau=1)


def test_an_additive_constant_is_found():
    with pytest.raises(InterpError, match=r"not bias-free: f\(0, 0\)"):
        validate_denoiser(lambda y, c: 0.5 * y + 0.25, tau=0)


class InstanceNormed(torch.nn.Module):
    """A bias-free net normalized by each sample's own statistics: scale invariant."""

    def __init__(self, tau):
        super().__init__()
        self.tau = tau
        self.conv = torch.nn.Conv2d(tau + 1, 1, 3, padding=1, bias=False)
        self.norm = torch.nn.InstanceNorm2d(1, affine=False)

    def forward(self, y, c):
        return self.norm(self.conv(torch.cat([c, y], 1))) * 0.1 + 0.0 * y


def test_a_scale_invariant_normalization_breaks_homogeneity():
    with pytest.raises(InterpError, match="not homogeneous"):
        validate_denoiser(InstanceNormed(2), tau=2)


def test_tau_and_shape_are_checked():
    with pytest.raises(InterpError, match="tau mismatch"):
        validate_denoiser(UNet(tau=2, width=4), tau=1)
    with pytest.raises(InterpError, match="shape"):
        validate_denoiser(lambda y, c: y[..., :4], tau=0)
    with pytest.raises(InterpError, match="callable"):
        validate_denoiser(3)


def test_the_jacobian_analyses_refuse_a_non_homogeneous_net():
    y, c = torch.rand(1, 16, 16), torch.rand(2, 16, 16)
    with pytest.raises(InterpError, match="not homogeneous"):
        adaptive_filter(InstanceNormed(2), y, c, (3, 4))


def test_load_gives_an_analysis_ready_net(tmp_path):
    from interp.nets import checkpoint

    checkpoint.save(tmp_path / "n.safetensors", UNet(tau=2, width=4), {})
    net = interp.load(tmp_path / "n.safetensors")
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    out = net(torch.rand(1, 1, 16, 16), torch.rand(1, 2, 16, 16))
    assert out.numpy().shape == (1, 1, 16, 16)  # no .detach() needed
    with pytest.raises(InterpError, match="no shipped model"):
        interp.load("no-such-model")


def test_load_resolves_a_shipped_model_by_name():
    from interp._util.resources import shipped

    names = sorted(p.stem for p in shipped("models").glob("*.safetensors"))
    if not names:
        pytest.skip("no shipped model in this checkout")
    net = interp.load(names[0])
    assert net.checkpoint_config.get("card") in (None, names[0])
