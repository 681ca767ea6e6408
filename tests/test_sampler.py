"""Algorithm 2 (iterative partial denoising) on analytic denoisers of known priors, and its CLI.

The statistical checks use the exact blind MMSE denoiser of a Gaussian mixture
(:class:`MixtureDenoiser`: eq. 18 with a log-uniform prior on the noise level), so a sampler
that does what Algorithm 2 says must reproduce the prior; each check is also run on a
deliberately wrong denoiser or setting, to show that it can fail.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import assert_main_one_line, assert_one_line_error, run_cli

import interp
from interp import InterpError
from interp.analysis import sampler
from interp.analysis.sampler import generate_recursive, one_step, sample
from interp.cli import sample as sample_cli
from interp.cli.common import run


class MixtureDenoiser:
    """Exact blind MMSE denoiser for the prior sum_j w_j N(m_j, s^2 I) (images m_j).

    Blind as in appendix B (eq. 18): the noise level is integrated out under a log-uniform
    prior p(sigma) ~ 1/sigma on a fine log grid, E[x|y] = sum over (sigma, j) of
    p(sigma, j | y) E[x | y, sigma, j], with E[x | y, sigma, j] = m_j + s^2/(s^2 + sigma^2) (y - m_j).
    Only ||y - m_j||^2 enters the likelihood, so it is cheap for many chains.
    """

    def __init__(self, means, weights, spread, shape, sigma_range=(1e-5, 30.0), grid=800):
        means = torch.as_tensor(np.asarray(means, dtype=float))
        if means.ndim == 1:  # constant images
            means = means.view(-1, 1, 1).expand(-1, *shape)
        self.m = means.reshape(len(weights), 1, *shape).to(torch.float64)
        self.logw = torch.log(torch.as_tensor(weights, dtype=torch.float64))
        self.s2 = float(spread) ** 2
        self.d = int(np.prod(shape))
        self.sigmas = torch.logspace(math.log10(sigma_range[0]), math.log10(sigma_range[1]), grid,
                                     dtype=torch.float64)

    def _estimate(self, y, sigmas):
        y64 = y.double()
        dist = (y64[:, None] - self.m[None]).pow(2).flatten(2).sum(2)  # [B, J]
        v = self.s2 + sigmas**2  # [G]
        loglik = (self.logw[None, None] - 0.5 * self.d * torch.log(v)[None, :, None]
                  - dist[:, None, :] / (2 * v[None, :, None]))  # [B, G, J]
        post = torch.softmax(loglik.flatten(1), 1).view_as(loglik)
        r = (self.s2 / v)[None, :, None]
        a = (post * r).sum((1, 2))
        b = (post * (1 - r)).sum(1)  # [B, J]
        est = a.view(-1, 1, 1, 1) * y64 + torch.einsum("bj,jchw->bchw", b, self.m)
        return est.to(y.dtype)

    def posterior_mean(self, y, sigma):
        """E[x | y] at a known noise level (the non-blind MMSE denoiser)."""
        return self._estimate(y, torch.tensor([float(sigma)], dtype=torch.float64))

    def __call__(self, y, c):
        return self._estimate(y, self.sigmas)


def nearest_mode(x: torch.Tensor, den: MixtureDenoiser):
    """Index of the nearest component mean and the RMS distance to it, per image."""
    dist = (x.double()[:, None] - den.m[None]).pow(2).flatten(2).mean(2)  # [N, J]
    rms, j = dist.min(1)
    return j.numpy(), rms.sqrt().numpy()


def mode_offset(x: torch.Tensor) -> np.ndarray:
    """Distance of each image's mean intensity from the nearest of the mixture's a and b."""
    m = x.double().flatten(1).mean(1).numpy()[:, None]
    return np.abs(m - np.array([[MIX["a"], MIX["b"]]])).min(1)


def frequency_ok(freq: float, p: float, n: int, z: float = 4.5) -> bool:
    """Whether an observed frequency is within z binomial standard errors of p."""
    return abs(freq - p) <= z * math.sqrt(p * (1 - p) / n)


# --------------------------------------------------------------------------- statistics


GAUSS = dict(mu=0.4, s=0.2, shape=(32, 32))


def gaussian_moments(den, n=600, **kw):
    x = sample(den, torch.zeros(0, *GAUSS["shape"]), n, seed=11, **kw).double()
    d = x[0].numel()
    per_image = x.flatten(1).mean(1)
    return {
        "mean_error": x.mean().item() - GAUSS["mu"],
        "var_ratio": x.var().item() / GAUSS["s"] ** 2,
        "image_mean_var_ratio": per_image.var().item() * d / GAUSS["s"] ** 2,
    }


def gaussian_ok(m) -> bool:
    # mean: within 0.002 of mu. The standard error is s / sqrt(n d) = 2.6e-4; starting every
    # chain around 0.5 rather than mu leaves a bias of about +6e-4 (2.5 SE, over 4 seeds).
    # variance: within 8%. The blind denoiser cannot tell a little residual noise from signal
    # (both only change ||y - mu||), so every sample ends with nearly the same ||x - mu||^2 / d
    # (no chi-square spread), about 3.5% above s^2 at d = 1024 with sigma_stop = 0.01 (+7% at
    # d = 256; +0.8% at d = 1024 with sigma_stop = 0.001); the statistical error is 0.2%.
    # per-image means (the projection on the constant image): variance across chains within
    # 25% of s^2 / d (relative SE sqrt(2 / n) = 6%); chains sharing their noise would give 0.
    return abs(m["mean_error"]) < 0.002 and abs(m["var_ratio"] - 1) < 0.08 and abs(m["image_mean_var_ratio"] - 1) < 0.25


def test_gaussian_prior_moments():
    den = MixtureDenoiser([GAUSS["mu"]], [1.0], GAUSS["s"], GAUSS["shape"])
    m = gaussian_moments(den)
    assert gaussian_ok(m), m


def test_gaussian_moments_can_fail():
    # a denoiser for a prior 25% wider in standard deviation: the samples follow it, not N(mu, s^2)
    wide = MixtureDenoiser([GAUSS["mu"]], [1.0], 1.25 * GAUSS["s"], GAUSS["shape"])
    m = gaussian_moments(wide, n=200)
    assert not gaussian_ok(m), m
    # a denoiser for a prior centred elsewhere
    shifted = MixtureDenoiser([GAUSS["mu"] + 0.02], [1.0], GAUSS["s"], GAUSS["shape"])
    m = gaussian_moments(shifted, n=200)
    assert not gaussian_ok(m), m


# Two constant images a and b (plus N(0, s^2) per pixel), weights w and 1 - w, centred on 0.5
# (w a + (1 - w) b = 0.5) so that y_0 ~ N(0.5, 9 I) is close to the noisy prior at sigma = 3.
MIX = dict(a=0.2, b=0.6, w=0.25, s=0.05, shape=(4, 4), n=4000)


def mixture(weights=None):
    w = MIX["w"]
    return MixtureDenoiser([MIX["a"], MIX["b"]], weights or [w, 1 - w], MIX["s"], MIX["shape"])


def mode_frequency(den, n=MIX["n"], **kw):
    x, info = sample(den, torch.zeros(0, *MIX["shape"]), n, seed=5, return_info=True, **kw)
    assert info.converged.all(), info.summary()
    j, rms = nearest_mode(x, mixture())
    assert np.median(mode_offset(x)) < 0.02  # samples sit on a mode, not between them
    return float((j == 0).mean()), rms


def test_mixture_mode_weights():
    # Each sample picks a mode with the prior's weight: the frequency of mode a is within 4.5
    # binomial standard errors (0.0068 at n = 4000, so +-0.031) of w = 0.25.
    freq, rms = mode_frequency(mixture())
    assert frequency_ok(freq, MIX["w"], MIX["n"]), freq
    # and is a sharp sample of that mode, not a blend: RMS distance to the nearest mode is
    # about s (a blend halfway between a and b would be 4 s away)
    assert np.median(rms) < 1.5 * MIX["s"] and rms.max() < 3 * MIX["s"], (np.median(rms), rms.max())


def test_mixture_mode_weights_can_fail():
    # a denoiser that only knows mode a, and one that ignores the weights
    freq, _ = mode_frequency(mixture([1.0 - 1e-12, 1e-12]), n=1000)
    assert not frequency_ok(freq, MIX["w"], MIX["n"]), freq
    freq, _ = mode_frequency(mixture([0.5, 0.5]), n=1000)
    assert not frequency_ok(freq, MIX["w"], MIX["n"]), freq


def test_beta_zero_never_lowers_the_noise():
    # beta = 0 injects as much noise as the step removes (gamma_k^2 = (1 - (1 - alpha_k)^2) sigma_k^2):
    # the effective noise level does not fall, nothing converges
    x, info = sample(mixture(), torch.zeros(0, *MIX["shape"]), 8, seed=0, beta=0.0, max_iter=60,
                     return_info=True, warn=False)
    assert (info.status == "max_iter").all() and torch.isnan(x).all()
    assert (info.iterations == 60).all() and (info.evaluations == 60).all()


def test_one_step_is_the_posterior_mean_at_sigma_3():
    den = mixture()
    shape = MIX["shape"]
    est = one_step(den, torch.zeros(0, *shape), 64, seed=3)
    y0 = 0.5 + 3.0 * torch.randn((64, 1, *shape), generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(est, den(y0, None))  # x_hat(y0) with y0 = 0.5 + 3 z, drawn first
    # it is a blend of the two modes (Fig. 3): its mean intensity lies well between a and b,
    # where a sample's is within s / sqrt(d) = 0.0125 of one of them
    assert np.median(mode_offset(est)) > 0.05, np.median(mode_offset(est))
    # With 1024 pixels the blind denoiser infers sigma = 3 to a few per cent, so its estimate is
    # the posterior mean at sigma = 3 (observed max deviation 0.0045 for the Gaussian, 0.007 for
    # the mixture, whose modes are 0.4 apart; with 16 pixels it is 0.05).
    for prior, tol in ((([0.4], [1.0], 0.2), 0.01), (([0.2, 0.6], [0.25, 0.75], 0.05), 0.02)):
        g = MixtureDenoiser(*prior, (32, 32))
        est = one_step(g, torch.zeros(0, 32, 32), 16, seed=4)
        y0 = 0.5 + 3.0 * torch.randn((16, 1, 32, 32), generator=torch.Generator().manual_seed(4))
        torch.testing.assert_close(est, g.posterior_mean(y0, 3.0), atol=tol, rtol=0)


def test_one_step_equals_the_sampler_first_estimate():
    den = mixture()
    c = torch.zeros(0, *MIX["shape"])
    _, info = sample(den, c, 5, seed=9, trace=[0, 3], return_info=True)
    assert info.trace_iterations == (0, 3)
    torch.testing.assert_close(info.trace_xhat[:, 0], one_step(den, c, 5, seed=9), rtol=0, atol=0)
    y0 = 0.5 + 3.0 * torch.randn((5, 1, *MIX["shape"]), generator=torch.Generator().manual_seed(9))
    torch.testing.assert_close(info.trace_y[:, 0], y0, rtol=0, atol=0)


# --------------------------------------------------------------------------- mechanics


class Tagged:
    """A denoiser whose behaviour per chain is set by its conditioning's value (its tag):

    tag 0..: shrink towards 0.5 at rate ``rates[tag]`` (converges, after more iterations the
    smaller the rate); tag -1: a constant offset (sigma stays 0.2: max_iter); tag -2: x_hat = 3 y
    (blows up: diverged); tag -3: NaN. Records every chain tag it is given.
    """

    def __init__(self, rates=(1.0, 0.3, 0.1)):
        self.rates = rates
        self.seen: list[np.ndarray] = []

    def __call__(self, y, c):
        tag = c[:, 0, 0, 0]
        self.seen.append(c[:, 1, 0, 0].numpy().copy())  # chain ids, when given
        out = torch.empty_like(y)
        for t in tag.unique().tolist():
            m = tag == t
            if t >= 0:
                out[m] = y[m] + self.rates[int(t)] * (0.5 - y[m])
            elif t == -1:
                out[m] = y[m] + 0.2
            elif t == -2:
                out[m] = 3 * y[m]
            else:
                out[m] = float("nan")
        return out


def tagged_conditioning(tags, shape=(4, 4)):
    c = torch.zeros(len(tags), 2, *shape)
    c[:, 0] = torch.as_tensor(tags, dtype=torch.float32).view(-1, 1, 1)
    c[:, 1] = torch.arange(len(tags), dtype=torch.float32).view(-1, 1, 1)  # conditioning id
    return c


def test_statuses_and_failed_chains_are_nan():
    den = Tagged()
    c = tagged_conditioning([0, -1, -2, -3, 2])
    with pytest.warns(RuntimeWarning, match="did not converge"):
        x, info = sample(den, c, 3, seed=0, max_iter=200, return_info=True)
    assert x.shape == (5, 3, 1, 4, 4) and info.status.shape == (5, 3)
    assert (info.status[0] == "converged").all() and (info.status[4] == "converged").all()
    assert (info.status[1] == "max_iter").all() and (info.iterations[1] == 200).all()
    assert (info.status[2] == "diverged").all() and (info.status[3] == "diverged").all()
    assert (info.iterations[3] == 1).all()  # NaN residual at the first iteration
    assert torch.isfinite(x[[0, 4]]).all() and torch.isnan(x[1:4]).all()
    assert np.nanmin(info.sigmas[1]) > 0.19  # the offset keeps sigma_k at 0.2
    assert (np.nanmax(info.sigmas[2], axis=1) > 30).all()  # diverged past 10 sigma_init
    # eval counts: K + 1 for converged chains (the final x_hat(y_K)), K for the others
    assert (info.evaluations[[0, 4]] == info.iterations[[0, 4]] + 1).all()
    assert (info.evaluations[1:4] == info.iterations[1:4]).all()
    table = info.table()
    assert len(table) == 15 and list(table["status"].value_counts().sort_index().items()) == [
        ("converged", 6), ("diverged", 6), ("max_iter", 3)]
    assert info.counts() == {"converged": 6, "max_iter": 3, "diverged": 6}
    with pytest.warns(RuntimeWarning):
        sample(den, c[1], 2, seed=0, max_iter=5)
    sample(den, c[1], 2, seed=0, max_iter=5, warn=False)  # no warning asked for


def test_frozen_chains_are_not_evaluated_again():
    den = Tagged(rates=(1e-3, 1.0, 0.1))  # stops at iteration 1, about 50, about 110
    c = tagged_conditioning([0, 1, 2])
    x, info = sample(den, c, 4, seed=1, trace=True, return_info=True, batch_size=5)
    assert info.converged.all()
    k = info.iterations
    assert k[0].max() < k[1].min() and k[1].max() < k[2].min()  # they stop at different times
    # the network saw each conditioning exactly as often as its chains' evaluation counts say
    seen = np.concatenate(den.seen)
    for b in range(3):
        assert (seen == b).sum() == info.evaluations[b].sum()
    assert max(len(s) for s in den.seen) <= 5  # batch_size bounds every call
    # after stopping, a chain's trace is NaN, its sigma schedule is NaN, and its sample is
    # the estimate of its last state x_hat(y_K)
    for b in range(3):
        for j in range(4):
            kk = k[b, j]
            pos = info.trace_iterations.index(kk)
            torch.testing.assert_close(info.trace_xhat[b, j, pos], x[b, j], rtol=0, atol=0)
            torch.testing.assert_close(info.trace_y[b, j, pos], info.last_y[b, j], rtol=0, atol=0)
            assert torch.isnan(info.trace_y[b, j, pos + 1:]).all()
            assert np.isfinite(info.sigmas[b, j, :kk]).all() and np.isnan(info.sigmas[b, j, kk:]).all()
            assert info.sigmas[b, j, kk - 1] < 0.01
            if kk > 1:
                assert info.sigmas[b, j, kk - 2] >= 0.01


def test_schedule_follows_algorithm_2():
    den = mixture()
    _, info = sample(den, torch.zeros(0, *MIX["shape"]), 3, seed=2, trace=True, return_info=True)
    sched = info.schedule()
    assert set(sched.columns) == {"sample", "iteration", "sigma", "alpha", "gamma"}
    k = sched["iteration"].to_numpy()
    np.testing.assert_allclose(sched["alpha"], 0.01 * k / (1 + 0.01 * (k - 1)))
    a, s = sched["alpha"].to_numpy(), sched["sigma"].to_numpy()
    np.testing.assert_allclose(sched["gamma"], np.sqrt((1 - 0.5 * a) ** 2 - (1 - a) ** 2) * s)
    first = sched[sched["iteration"] == 1]["sigma"]
    assert ((first > 2.5) & (first < 3.5)).all()  # the effective noise level starts at about 3
    # sigma_k is the RMS of the residual x_hat(y_{k-1}) - y_{k-1}, recomputed from the trace
    j = 1
    res = (info.trace_xhat[j] - info.trace_y[j]).double().pow(2).flatten(1).mean(1).sqrt().numpy()
    kk = info.iterations[j]
    np.testing.assert_allclose(res[:kk], info.sigmas[j, :kk], rtol=1e-5)
    # y_k = y_{k-1} + alpha_k s_k + gamma_k z_k: the injected noise has the scheduled size
    y, xh = info.trace_y[j].double(), info.trace_xhat[j].double()
    for it in (1, 10, kk - 1):
        alpha = 0.01 * it / (1 + 0.01 * (it - 1))
        z = (y[it] - y[it - 1] - alpha * (xh[it - 1] - y[it - 1])).flatten()
        gamma = math.sqrt((1 - 0.5 * alpha) ** 2 - (1 - alpha) ** 2) * info.sigmas[j, it - 1]
        # RMS of 16 standard normals times gamma: within a factor 2
        assert 0.5 * gamma < z.pow(2).mean().sqrt().item() < 2 * gamma, (it, gamma)
    # a healthy denoiser needs on the order of 50 evaluations at the default settings
    assert 20 < np.median(info.evaluations) < 80


def test_same_seed_same_samples_any_batch_size():
    den = mixture()
    c = torch.rand(3, 1, *MIX["shape"])  # ignored by the denoiser, but per-conditioning
    ref, info = sample(den, c, 5, seed=4, batch_size=256, return_info=True)
    for bs in (1, 4, 7):
        x, inf = sample(den, c, 5, seed=4, batch_size=bs, return_info=True)
        torch.testing.assert_close(x, ref, rtol=0, atol=0)
        np.testing.assert_array_equal(inf.evaluations, info.evaluations)
        np.testing.assert_array_equal(inf.sigmas, info.sigmas)
    other = sample(den, c, 5, seed=5)
    assert not torch.allclose(other, ref)
    # chains differ from one another (each has its own noise)
    flat = ref.flatten(0, 1)
    assert torch.cdist(flat.flatten(1), flat.flatten(1)).fill_diagonal_(1).min() > 1e-3


def test_shapes_shared_and_per_conditioning():
    den = mixture()
    h, w = MIX["shape"]
    x = sample(den, torch.zeros(2, h, w), 3, seed=0)
    assert x.shape == (3, 1, h, w) and x.dtype == torch.float32
    x, info = sample(den, np.zeros((4, 2, h, w), dtype=np.float32), 3, seed=0, return_info=True)
    assert x.shape == (4, 3, 1, h, w)
    assert info.status.shape == info.iterations.shape == info.evaluations.shape == (4, 3)
    assert info.sigmas.shape[:2] == (4, 3) and info.last_y.shape == (4, 3, 1, h, w)
    assert info.trace_y is None and info.trace_iterations == ()
    assert {"conditioning", "sample"} <= set(info.table().columns)
    assert one_step(den, torch.zeros(2, h, w), 2, seed=0).shape == (2, 1, h, w)
    assert one_step(den, torch.zeros(4, 2, h, w), 2, seed=0).shape == (4, 2, 1, h, w)
    _, info = sample(den, torch.zeros(0, h, w), 2, seed=0, trace=[0, 2, 10_000], return_info=True)
    assert info.trace_iterations == (0, 2) and info.trace_y.shape == (2, 2, 1, h, w)
    assert interp.sample is sample and interp.one_step is one_step


def test_network_runs_in_eval_mode_without_grad():
    from interp.nets.unet import UNet

    torch.manual_seed(0)
    net = UNet(tau=2, width=4, norm="batch").train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x, info = sample(net, torch.rand(2, 8, 8), 2, seed=0, max_iter=400, return_info=True, warn=False)
    assert net.training  # restored
    for k, v in net.state_dict().items():  # eval mode: running statistics untouched
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)
    assert not x.requires_grad and info.evaluations.min() >= 1
    est = one_step(net, torch.rand(2, 8, 8), 2, seed=0)
    assert not est.requires_grad and net.training


@pytest.mark.parametrize("kwargs, match", [
    (dict(n=0), "n must be"),
    (dict(seed=-1), "seed"),
    (dict(beta=1.5), "beta"),
    (dict(h0=0.0), "h0"),
    (dict(max_iter=0), "max_iter"),
    (dict(batch_size=0), "batch_size"),
    (dict(sigma_stop=-1.0), "sigma_stop"),
    (dict(c=torch.zeros(4, 4)), r"\[tau, H, W\]"),
    (dict(denoiser=lambda y, c: y[:, :, :2]), "must return"),
    (dict(denoiser=3), "callable"),
])
def test_bad_arguments_are_one_line_errors(kwargs, match):
    args = dict(denoiser=mixture(), c=torch.zeros(0, *MIX["shape"]), n=2, seed=0)
    args.update(kwargs)
    with pytest.raises(InterpError, match=match):
        sample(args.pop("denoiser"), args.pop("c"), args.pop("n"), **args)


# --------------------------------------------------------------------------- recursion


class Shift:
    """Predicts the next frame as the last one shifted right by a pixel; tau = 2."""

    tau = 2

    def __call__(self, y, c):
        target = torch.roll(c[:, -1:], 1, dims=-1)
        # the MMSE estimate of a point-mass prior is the point itself, whatever y is
        return target + 0 * y


def test_generate_recursive_feeds_frames_back():
    frames = torch.zeros(3, 8, 8)
    frames[:, 2, 2] = 1.0
    for mode in ("sample", "onestep"):
        out = generate_recursive(Shift(), frames, 4, mode=mode, seed=0)
        assert out.shape == (1, 7, 8, 8)
        torch.testing.assert_close(out[0, :3], frames)
        for j in range(4):  # each generated frame shifts the previous one
            torch.testing.assert_close(out[0, 3 + j], torch.roll(frames[-1], j + 1, dims=-1), atol=1e-5, rtol=0)
    out, infos = generate_recursive(Shift(), torch.stack([frames, frames]), 2, "sample", 0, n=3,
                                    return_info=True)
    assert out.shape == (2, 3, 5, 8, 8) and len(infos) == 2 and infos[0].status.shape == (2, 3)


def test_generate_recursive_is_reproducible_and_stops_failed_sequences():
    den = mixture()
    frames = torch.zeros(2, *MIX["shape"])
    a = generate_recursive(den, frames, 3, "sample", seed=7, n=2, tau=1)
    b = generate_recursive(den, frames, 3, "sample", seed=7, n=2, tau=1, batch_size=1)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert torch.isfinite(a).all()
    assert not torch.equal(a[0, 2], a[0, 3])  # fresh samples at each step
    # a failing chain: its sequence is NaN from then on, later steps are "skipped"
    frames = torch.tensor([0.0, -1.0]).view(2, 1, 1, 1).repeat(1, 2, 4, 4)  # both frames: the tag
    with pytest.warns(RuntimeWarning):
        out, infos = generate_recursive(Tagged(rates=(1e-3,)), frames, 2, "sample", 0, tau=2, max_iter=20,
                                        return_info=True)
    assert infos[0].status.tolist() == [["converged"], ["max_iter"]]
    assert infos[1].status[1, 0] == "skipped"
    assert torch.isnan(out[1, 0, 2:]).all() and torch.isfinite(out[0, 0]).all()


def test_generate_recursive_errors():
    with pytest.raises(InterpError, match="tau=2"):
        generate_recursive(Shift(), torch.zeros(1, 8, 8), 2)
    with pytest.raises(InterpError, match="mode"):
        generate_recursive(Shift(), torch.zeros(2, 8, 8), 2, mode="mmse")
    with pytest.raises(InterpError, match="unknown sampler option"):
        generate_recursive(Shift(), torch.zeros(2, 8, 8), 2, sigma=3)
    with pytest.raises(InterpError, match="return_info"):
        generate_recursive(Shift(), torch.zeros(2, 8, 8), 2, mode="onestep", return_info=True)


# --------------------------------------------------------------------------- CLI


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny random tau=2 checkpoint and a 3-sequence leaves dataset of 4 frames."""
    from interp.data.leaves import LeavesConfig, generate
    from interp.nets.checkpoint import save
    from interp.nets.unet import UNet

    root = tmp_path_factory.mktemp("sampler_cli")
    torch.manual_seed(0)
    save(root / "net.safetensors", UNet(tau=2, width=4), {})
    torch.manual_seed(0)
    save(root / "net3.safetensors", UNet(tau=3, width=4), {})
    save(root / "pred.safetensors", UNet(tau=2, width=4, predict_only=True), {})
    generate(3, 0, config=LeavesConfig(frames=4)).save(root / "data.npz")
    generate(1, 0, config=LeavesConfig(frames=2)).save(root / "short.npz")
    return root


def test_cli_writes_samples_and_recursive_strips(tiny):
    out = tiny / "out"
    proc = run_cli("interp.sample", "--ckpt", tiny / "net.safetensors", "--input", f"{tiny / 'data.npz'}:1",
                   "--n", 3, "--seed", 0, "--out", out, "--recursive", 2, "--frame", 2, "--max-iter", 300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    x = np.load(out / "samples.npy")
    assert x.shape == (3, 1, 32, 32) and x.dtype == np.float32
    cond = np.load(out / "conditioning.npy")
    from interp.data.leaves import LeavesConfig, generate

    clip = generate(2, 0, config=LeavesConfig(frames=4)).frames[1]
    np.testing.assert_array_equal(cond, clip[0:2])  # --frame 2: frames 0 and 1 condition
    assert np.load(out / "onestep.npy").shape == (1, 1, 32, 32)
    rec = np.load(out / "recursive_samples.npy")
    assert rec.shape == (3, 4, 32, 32)
    np.testing.assert_array_equal(rec[:, :2], np.broadcast_to(clip[0:2], (3, 2, 32, 32)))
    assert np.load(out / "recursive_onestep.npy").shape == (1, 4, 32, 32)
    chains = pd.read_csv(out / "chains.csv")
    assert len(chains) == 3 and set(chains["status"]) <= set(sampler.STATUSES)
    assert (chains.loc[chains["status"] == "converged", "evaluations"]
            == chains.loc[chains["status"] == "converged", "iterations"] + 1).all()
    assert len(pd.read_csv(out / "recursive_chains.csv")) == 3 * 2
    for png in ("samples.png", "recursive.png"):
        assert (out / png).read_bytes().startswith(b"\x89PNG")
    assert "wrote" in proc.stdout
    # same seed, same samples
    again = tiny / "again"
    assert run(sample_cli.main, sample_cli.PROG, ["--ckpt", str(tiny / "net.safetensors"), "--input",
                                            f"{tiny / 'data.npz'}:1", "--n", "3", "--frame", "2",
                                            "--max-iter", "300", "--out", str(again)]) == 0
    np.testing.assert_array_equal(np.load(again / "samples.npy"), x)


@pytest.mark.parametrize("args, needle", [
    (["--input", "{root}/missing.npz:0"], "does not exist"),
    (["--input", "{root}/data.npz"], "FILE.npz:INDEX"),
    (["--input", "{root}/data.npz:x"], "not an integer"),
    (["--input", "{root}/data.npz:3"], "out of range"),
    (["--input", "{root}/data.npz:-1"], "out of range"),
    (["--ckpt", "{root}/nope.safetensors"], "does not exist"),
    (["--ckpt", "{root}/net3.safetensors", "--input", "{root}/short.npz:0"], "tau"),
    (["--ckpt", "{root}/pred.safetensors"], "prediction-only"),
    (["--frame", "1"], "--frame"),
    (["--frame", "5"], "beyond"),
    (["--n", "0"], "positive"),
    (["--recursive", "-2"], "positive"),
    (["--beta", "2"], "[0, 1]"),
    (["--h0", "0"], "h0"),
])
def test_cli_bad_input_is_one_line_error(tiny, capsys, args, needle):
    base = {"--ckpt": f"{tiny}/net.safetensors", "--input": f"{tiny}/data.npz:0", "--out": f"{tiny}/bad"}
    argv = []
    given = dict(zip(args[::2], args[1::2]))
    for k, v in {**base, **given}.items():
        argv += [k, v.format(root=tiny)]
    assert_main_one_line(capsys, sample_cli.main, sample_cli.PROG, argv, needle)


def test_cli_usage_error_exit_code(tiny):
    proc = run_cli("interp.sample", "--ckpt", tiny / "net.safetensors", "--input", f"{tiny / 'data.npz'}:9",
                   "--out", tiny / "bad2")
    assert_one_line_error(proc, "out of range")


def test_interp_sample_stays_callable_after_running_the_command(monkeypatch, capsys):
    """``interp.sample`` is the sampler function, always; ``python -m interp.sample`` runs the
    command as ``__main__`` and leaves the package attribute alone."""
    import runpy

    import interp

    den = lambda y, c: 0.5 * y + 0.25  # noqa: E731 - contracts towards 0.5
    c = torch.zeros(1, 8, 8)
    a = interp.sample(den, c, 2, seed=0)
    monkeypatch.setattr("sys.argv", ["interp.sample", "--help"])
    with pytest.raises(SystemExit) as exit:
        runpy.run_module("interp.sample", run_name="__main__", alter_sys=True)
    assert exit.value.code == 0 and "usage" in capsys.readouterr().out
    assert callable(interp.sample) and interp.sample.__module__ == "interp.analysis.sampler"
    b = interp.sample(den, c, 2, seed=0)
    assert torch.equal(a, b)
