"""The 1-D bimodal example of appendix B (Figs. 9 and 10), checked against independent computations."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from conftest import REPO
from scipy import integrate, optimize, stats

from interp import figures, plotting
from interp.analysis import onedim


def bayes_posterior_mean(y, sigma):
    """E[x | y, sigma] from the two Gaussian likelihoods, by Bayes' rule (no tanh)."""
    loglik = np.stack([stats.norm.logpdf(y, loc=m, scale=sigma) for m in (-0.5, 0.5)])
    lik = np.exp(loglik - loglik.max(0))  # equal priors cancel; scaled against underflow
    return (lik * np.array([-0.5, 0.5])[:, None]).sum(0) / lik.sum(0)


@pytest.mark.parametrize("sigma", [0.05, 0.3, 1.2])
def test_density_is_the_blurred_point_masses(sigma):
    y = np.linspace(-8, 8, 20001)
    p = onedim.density(y, sigma)
    expected = 0.5 * stats.norm.pdf(y, -0.5, sigma) + 0.5 * stats.norm.pdf(y, 0.5, sigma)
    np.testing.assert_allclose(p, expected, rtol=1e-10, atol=1e-300)
    assert integrate.trapezoid(p, y) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("sigma", [0.05, 0.15, 0.6, 2.0])
def test_scaled_score_is_posterior_mean_minus_y(sigma):
    y = np.linspace(-2.5, 2.5, 501)
    h = 1e-5 * sigma
    fd = sigma**2 * (onedim.log_density(y + h, sigma) - onedim.log_density(y - h, sigma)) / (2 * h)
    np.testing.assert_allclose(onedim.scaled_score(y, sigma), fd, atol=1e-6 * max(1, 1 / sigma))
    np.testing.assert_allclose(onedim.posterior_mean(y, sigma), bayes_posterior_mean(y, sigma), atol=1e-12)
    np.testing.assert_allclose(onedim.scaled_score(y, sigma), bayes_posterior_mean(y, sigma) - y, atol=1e-12)


def test_score_regimes():
    y = np.array([-2.0, -0.3, 0.3, 2.0])
    # little noise: the step points to the nearer point mass
    np.testing.assert_allclose(y + onedim.scaled_score(y, 0.05), [-0.5, -0.5, 0.5, 0.5], atol=1e-6)
    # much noise: towards the origin, nearly all the way
    assert (np.abs(y + onedim.scaled_score(y, 5.0)) < 0.01 * np.abs(y) + 1e-3).all()


def test_map_noise_level():
    # y = 0: p(sigma | 0) ~ sigma^-2 exp(-1 / (8 sigma^2)) peaks at sigma^2 = 1/8
    assert onedim.map_sigma(0.0) == pytest.approx(np.sqrt(1 / 8), rel=1e-4)
    # on a mass, the most probable noise level is the lowest allowed: no noise
    assert onedim.map_sigma(0.5) == pytest.approx(onedim.SIGMA_RANGE[0])
    np.testing.assert_allclose(onedim.blind_denoiser(np.array([-0.5, 0.5])), [-0.5, 0.5])

    # against a continuous optimiser of log p(y | sigma) - log sigma over log sigma
    def neg_log_post(u, y):
        return -(onedim.log_density(y, np.exp(u)) - u)

    for y in (-2.0, -1.1, 0.13, 0.8, 2.4):
        res = optimize.minimize_scalar(neg_log_post, bounds=np.log(onedim.SIGMA_RANGE), args=(y,),
                                       method="bounded", options={"xatol": 1e-10})
        assert onedim.map_sigma(y) == pytest.approx(np.exp(res.x), rel=1e-4), y


def test_residual_is_odd_and_continuous():
    y = np.linspace(-3, 3, 6001)
    f = onedim.residual(y)
    np.testing.assert_allclose(f, -f[::-1], atol=1e-9)
    assert np.abs(np.diff(f)).max() < 5 * (y[1] - y[0])  # no jumps from the MAP plug-in


def test_fixed_points_two_stable_one_unstable():
    fp = onedim.fixed_points()
    np.testing.assert_allclose(fp["y"], [-0.5, 0.0, 0.5], atol=1e-6)
    assert fp["stable"].tolist() == [True, False, True]
    # on a mass f(y) = 1/2 - |y|-ish, f' = -1: the map y + f/2 has slope 1/2
    np.testing.assert_allclose(fp["slope"].iloc[[0, 2]], [0.5, 0.5], atol=1e-3)
    # at 0: f'(0) = 1 / (4 sigma_hat^2) - 1 = 1 with sigma_hat^2 = 1/8, slope 1.5
    assert fp["slope"].iloc[1] == pytest.approx(1.5, abs=1e-3)


def test_trajectory_from_minus_two_converges_to_minus_half():
    ys = onedim.iterate(-2.0, 0.5, 40)
    assert ys[0] == -2.0 and abs(ys[-1] + 0.5) < 1e-8
    assert (np.diff(ys) > -1e-12).all()  # climbs monotonically to the mass
    up = onedim.iterate(0.1, 0.5, 40)  # the other side of the unstable point
    assert abs(up[-1] - 0.5) < 1e-8


def test_residual_sign_written_in_appendix_b_diverges():
    # appendix B writes f(y) = y - x_hat(y) once; with that sign the point masses repel
    def wrong(y):
        return y + 0.5 * (y - onedim.blind_denoiser(y))

    y = -2.0
    for _ in range(20):
        y = wrong(y)
    assert y < -100
    h = 1e-4
    slope = (wrong(-0.5 + h) - wrong(-0.5 - h)) / (2 * h)
    assert slope == pytest.approx(1.5, abs=1e-3)


def test_integrated_denoiser_eq18_agrees_qualitatively():
    fp = onedim.fixed_points(n_points=1201, method="integrated")
    assert len(fp) == 3 and fp["stable"].tolist() == [True, False, True]
    np.testing.assert_allclose(fp["y"], [-0.5, 0.0, 0.5], atol=0.01)
    y = np.linspace(-2, 2, 9)
    np.testing.assert_allclose(onedim.blind_denoiser(y, "integrated"), onedim.blind_denoiser(y), atol=0.3)
    with pytest.raises(ValueError, match="method"):
        onedim.blind_denoiser(y, "mmse")


# --------------------------------------------------------------------------- tables and figures


def test_score_table():
    t = onedim.score_table(sigmas=[0.1, 1.0], n_points=11)
    assert list(t.columns) == ["sigma", "y", "density", "scaled_score", "posterior_mean"]
    assert len(t) == 22 and sorted(t["sigma"].unique()) == [0.1, 1.0]
    np.testing.assert_allclose(t["scaled_score"], t["posterior_mean"] - t["y"])
    with pytest.raises(ValueError, match="positive"):
        onedim.score_table(sigmas=[0.0])


def test_sampling_table():
    t = onedim.sampling_table(n_points=201, n_steps=6)
    assert t["kind"].value_counts().to_dict() == {"curve": 201, "trajectory": 6, "fixed_point": 3}
    traj = t[t["kind"] == "trajectory"]
    assert traj["k"].tolist() == list(range(6)) and traj["y"].iloc[0] == -2.0
    np.testing.assert_allclose(traj["y"].iloc[1:].to_numpy(), traj["y_next"].iloc[:-1].to_numpy())
    curve = t[t["kind"] == "curve"]
    np.testing.assert_allclose(curve["map"], curve["y"] + 0.5 * curve["residual"])
    np.testing.assert_allclose(curve["residual"], curve["x_hat"] - curve["y"])


def test_manifest_entries_and_analyses():
    specs = {s.id: s for s in figures.load_manifest(REPO / "figures" / "manifest.toml")}
    assert specs["fig09"].analysis == "onedim_score" and specs["fig10"].analysis == "onedim_sampling"
    for fid in ("fig09", "fig10"):
        assert specs[fid].models == ()
        assert figures.plot_function(specs[fid]).__name__ == figures.PLOTS[fid]
    t9 = figures.compute_table(specs["fig09"])
    assert sorted(t9["sigma"].unique()) == sorted(specs["fig09"].params["sigmas"])
    t10 = figures.compute_table(specs["fig10"])
    assert (t10["kind"] == "fixed_point").sum() == 3


def _png(fig) -> np.ndarray:
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"))


def test_plots_redraw_from_csv(tmp_path):
    t9 = onedim.score_table(sigmas=[0.1, 0.5, 2.0], n_points=101)
    t10 = onedim.sampling_table(n_points=201, n_steps=5)
    for table, plot, n_axes in ((t9, plotting.plot_onedim_score, 6), (t10, plotting.plot_onedim_sampling, 2)):
        path = tmp_path / f"{plot.__name__}.csv"
        table.to_csv(path, index=False, float_format="%.4g")
        fig = plot(pd.read_csv(path))
        assert len(fig.get_axes()) == n_axes
        assert _png(fig).std() > 0
    fig = plotting.plot_onedim_sampling(t10)
    left, right = fig.get_axes()
    lines = left.get_lines()
    stable = [ln for ln in lines if ln.get_marker() == "o" and ln.get_markerfacecolor() != "white"]
    unstable = [ln for ln in lines if ln.get_marker() == "o" and ln.get_markerfacecolor() == "white"]
    np.testing.assert_allclose(np.sort(stable[0].get_xdata()), [-0.5, 0.5], atol=1e-6)
    np.testing.assert_allclose(unstable[0].get_xdata(), [0.0], atol=1e-6)
    with pytest.raises(ValueError, match="residual"):
        plotting.plot_onedim_sampling(t10.drop(columns="residual"))
