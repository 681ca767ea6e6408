"""Conditional entropy from the denoising curve (interp.entropy), validated where the answer is known.

* the integral alone (:func:`entropy_from_mse`) on exact MMSE curves: a Gaussian source, a curve
  that is exactly the tails' model (so a short grid must still give the exact answer), and a
  two-Gaussian mixture whose MMSE is integrated numerically;
* the whole estimator (:func:`conditional_entropy`: noise, Monte Carlo, control variate,
  bootstrap) with exact MMSE denoisers: (1) a Gaussian source of known covariance, within 1%;
  (2) pixels drawn from a 1-D two-Gaussian mixture, entropy by quadrature, within 2%; (3) a
  video whose frames are a shifted copy of the previous one plus Gaussian innovations of known
  covariance, within 1% for tau = 0, 1, 2, and the bits the first past frame saves, paired;
* a worse denoiser reads higher (the estimate is an upper bound), bad input is one line,
  the uncertainty map and the CLI.

* (slow) a small network trained by ``python -m interp.train`` on a translating Gaussian video
  whose next-frame conditional entropy is known exactly: its estimate lies above the truth; the
  target of 0.1 bit per pixel is not met at the size the test affords (a strict expected
  failure that names the measured numbers).

Measured error of each check is in the docstrings (seeds fixed).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import assert_main_one_line, assert_one_line_error, run_cli
from scipy import integrate, stats

from interp import InterpError
from interp.analysis.entropy import conditional_entropy, entropy_from_mse, noise_levels, saving, uncertainty_map
from interp.cli import entropy as entropy_cli
from interp.data.translating import TranslatingVideo
from interp.plotting import entropy as plotting_entropy

LN2 = math.log(2.0)
LOG2E = 1.0 / LN2


# --------------------------------------------------------------------------- known sources


class GaussianSource:
    """X ~ N(0.5, U diag(lam) U^T) on H x W pixels, with its exact MMSE denoiser (noise level known)."""

    def __init__(self, H: int = 8, W: int = 8, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.H, self.W = H, W
        d = H * W
        self.lam = np.exp(np.linspace(math.log(1e-3), math.log(5e-2), d))  # eigenvalues spread 50x
        self.U, _ = np.linalg.qr(rng.standard_normal((d, d)))
        self._U, self._lam = torch.from_numpy(self.U), torch.from_numpy(self.lam)

    @property
    def entropy(self) -> float:  # nats per pixel
        return 0.5 * float(np.mean(np.log(2 * math.pi * math.e * self.lam)))

    def mmse(self, sigma2) -> np.ndarray:  # per pixel
        return np.array([np.mean(self.lam * s / (self.lam + s)) for s in np.atleast_1d(sigma2)])

    def clips(self, n: int, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        x = 0.5 + (rng.standard_normal((n, self.H * self.W)) * np.sqrt(self.lam)) @ self.U.T
        return x.reshape(n, 1, self.H, self.W).astype(np.float32)

    def __call__(self, y, c, sigma):
        r = (y.double().flatten(1) - 0.5) @ self._U
        r = r * (self._lam / (self._lam + sigma**2))
        return (0.5 + r @ self._U.T).view_as(y).float()


class MixtureSource:
    """Pixels i.i.d. from 0.3 N(0.3, 0.02^2) + 0.7 N(0.7, 0.06^2), with the exact per-pixel MMSE denoiser."""

    w = np.array([0.3, 0.7])
    mu = np.array([0.3, 0.7])
    sd = np.array([0.02, 0.06])

    def pdf(self, x: float) -> float:
        return float((self.w * stats.norm.pdf(x, self.mu, self.sd)).sum())

    @property
    def entropy(self) -> float:
        """-int p log p, adaptive quadrature (estimated absolute error ~3e-13)."""
        f = lambda x: -self.pdf(x) * math.log(self.pdf(x)) if self.pdf(x) > 0 else 0.0
        h, _ = integrate.quad(f, -0.5, 1.5, points=[0.3, 0.7], epsabs=1e-13, epsrel=1e-12, limit=500)
        return h

    def mmse(self, s: float) -> float:
        """E[x^2] - E[E[x|y]^2], the outer expectation by quadrature over y."""
        var = self.sd**2 + s

        def post(y):
            p = self.w * stats.norm.pdf(y, self.mu, np.sqrt(var))
            return p.sum(), (p * (self.mu + self.sd**2 / var * (y - self.mu))).sum()

        def g(y):
            py, num = post(y)
            return num * num / py if py > 0 else 0.0

        span = 8 * math.sqrt(s + 0.0036)
        val, _ = integrate.quad(g, -0.5 - span, 1.5 + span, points=[0.3, 0.7], limit=1000, epsabs=1e-14, epsrel=1e-11)
        return float((self.w * (self.mu**2 + self.sd**2)).sum() - val)

    def clips(self, n: int, H: int, W: int, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        k = rng.random((n, 1, H, W)) < self.w[1]
        x = np.where(k, self.mu[1] + self.sd[1] * rng.standard_normal(k.shape),
                     self.mu[0] + self.sd[0] * rng.standard_normal(k.shape))
        return x.astype(np.float32)

    def __call__(self, y, c, sigma):
        w, mu, v = (torch.from_numpy(a) for a in (self.w, self.mu, self.sd**2))
        y = y.double()[..., None]
        var = v + sigma**2
        logp = torch.log(w) - 0.5 * torch.log(var) - 0.5 * (y - mu) ** 2 / var
        return (torch.softmax(logp, -1) * (mu + v / var * (y - mu))).sum(-1).float()


class ShiftVideo:
    """x_{t+1} = 0.5 + a (shift(x_t) - 0.5) + e_t on a 16 x 16 torus, e_t ~ N(0, Q), Q circulant.

    Stationary (x_0 ~ N(0.5, Q / (1 - a^2))), Markov of order 1, so h(x_{t+1} | past) =
    1/2 sum_k log(2 pi e lam_k) (lam the eigenvalues of Q) for tau >= 1, and for tau = 0 the
    same with lam / (1 - a^2): the first past frame saves -1/2 log2(1 - a^2) bits per pixel.
    ``oracle(tau)`` is the exact conditional MMSE denoiser (a Wiener filter in Fourier space).
    """

    H = W = 16
    a = 0.9
    shift = (1, 2)

    def __init__(self):
        ky = np.fft.fftfreq(self.H) * self.H
        kx = np.fft.fftfreq(self.W) * self.W
        self.lam = 2e-4 + 0.01 / (1 + (ky[:, None] ** 2 + kx[None, :] ** 2) / 4)

    def entropy(self, tau: int) -> float:
        lam = self.lam if tau else self.lam / (1 - self.a**2)
        return 0.5 * float(np.mean(np.log(2 * math.pi * math.e * lam)))

    def _field(self, rng, n, spec):
        w = rng.standard_normal((n, self.H, self.W))
        return np.fft.ifft2(np.sqrt(spec) * np.fft.fft2(w)).real

    def clips(self, n: int, T: int, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        x = [0.5 + self._field(rng, n, self.lam / (1 - self.a**2))]
        for _ in range(T - 1):
            x.append(0.5 + self.a * (np.roll(x[-1], self.shift, axis=(1, 2)) - 0.5) + self._field(rng, n, self.lam))
        return np.stack(x, 1).astype(np.float32)

    def oracle(self, tau: int):
        lam = torch.from_numpy(self.lam if tau else self.lam / (1 - self.a**2))

        def denoise(y, c, sigma):
            y = y.double()[:, 0]
            if tau:
                m = 0.5 + self.a * (torch.roll(c[:, -1].double(), self.shift, dims=(1, 2)) - 0.5)
            else:
                m = torch.full_like(y, 0.5)
            return (m + torch.fft.ifft2(lam / (lam + sigma**2) * torch.fft.fft2(y - m)).real)[:, None].float()

        return denoise


# --------------------------------------------------------------------------- the integral alone


def test_integral_of_exact_gaussian_curve_is_exact():
    """Exact MMSE curve of a 64-pixel Gaussian (eigenvalues 1e-3 .. 5e-2): 57 levels give 9e-6
    relative error, 29 levels 3e-5; the parts add up to h."""
    src = GaussianSource()
    s2 = noise_levels()
    parts = entropy_from_mse(s2, src.mmse(s2))
    assert abs(parts["h"] - src.entropy) < 2e-5 * abs(src.entropy)
    total = parts["reference"] + parts["grid"] + parts["tail_low"] + parts["tail_high"]
    assert total == pytest.approx(parts["h"], abs=1e-12)
    assert parts["tail_low"] < 0 < parts["tail_high"] < 1e-3
    s2 = noise_levels(29)
    assert abs(entropy_from_mse(s2, src.mmse(s2))["h"] - src.entropy) < 1e-4 * abs(src.entropy)


@pytest.mark.parametrize("lam", [1e-4, 1e-2, 0.2])
def test_tails_are_exact_for_their_own_model(lam):
    """A one-variance Gaussian curve is exactly what the tails assume: a grid covering only
    [lam / 10, 10 lam] still gives 1/2 log(2 pi e lam), with large tails."""
    s2 = noise_levels(33, lam / 10, lam * 10)
    parts = entropy_from_mse(s2, lam * s2 / (lam + s2))
    assert parts["h"] == pytest.approx(0.5 * math.log(2 * math.pi * math.e * lam), abs=2e-6)
    assert parts["variance"] == pytest.approx(lam, rel=1e-12)
    assert parts["tail_high"] > 0.04 and parts["tail_low"] < -0.04  # sizeable: the model carries them


def test_integral_of_exact_mixture_curve():
    """The exact MMSE curve of the two-Gaussian mixture (quadrature at each level): 5e-5 relative
    error, though the narrow component (sd 0.02) makes the low-noise tail -0.005 nats."""
    src = MixtureSource()
    s2 = noise_levels()
    parts = entropy_from_mse(s2, [src.mmse(s) for s in s2])
    assert abs(parts["h"] - src.entropy) < 3e-4 * abs(src.entropy)
    assert -0.01 < parts["tail_low"] < -0.001


def test_integral_vectorises_and_checks():
    s2 = noise_levels(9)
    m = np.stack([s2 * 0.01 / (0.01 + s2), s2 * 0.02 / (0.02 + s2)])
    parts = entropy_from_mse(s2, m)
    assert parts["h"].shape == (2,) and parts["h"][0] < parts["h"][1]
    for bad_s2, bad_m, needle in [
        ([1.0], [0.5], "at least 2"),
        ([1.0, 0.5], [0.1, 0.1], "increasing"),
        (s2, m[:, :-1], "one value per noise level"),
        (s2, -m, "positive"),
        (s2, np.full(9, 200.0), "largest noise level"),
    ]:
        with pytest.raises(InterpError, match=needle):
            entropy_from_mse(bad_s2, bad_m)


# --------------------------------------------------------------------------- the estimator


def test_gaussian_source_within_one_percent():
    """(1) 64-pixel Gaussian, exact MMSE denoiser, 2000 clips, 57 levels: measured error 0.007%
    (bootstrap SE 0.2%; 0.1-0.5% on other clip seeds, 1000 clips), target 1%."""
    src = GaussianSource()
    est = conditional_entropy(src, src.clips(2000, seed=1), seed=0, tau=0, sigma_aware=True, n_boot=300)
    s = est.summary.iloc[0]
    assert abs(s["h_nats_per_pixel"] - src.entropy) < 0.01 * abs(src.entropy)
    truth_bits = src.entropy / LN2
    assert s["h_bits_ci_low"] < truth_bits < s["h_bits_ci_high"]
    assert s["h_bits_per_pixel"] == pytest.approx(
        s["reference_bits"] + s["grid_bits"] + s["tail_low_bits"] + s["tail_high_bits"], abs=1e-12)
    assert s["quantised_bits_per_pixel"] == pytest.approx(s["h_bits_per_pixel"] + math.log2(255), abs=1e-12)
    assert s["conditional_variance"] == pytest.approx(src.lam.mean(), rel=0.05)
    assert s["h_bits_per_pixel"] < s["gaussian_bits_per_pixel"]  # max entropy at fixed variance
    curve = est.curve
    assert list(curve["level"]) == list(range(57)) and curve["sigma2"].iloc[0] == pytest.approx(1e-5)
    assert curve["sigma2"].iloc[-1] == pytest.approx(1e2)
    assert np.allclose(curve["mse"], src.mmse(curve["sigma2"]), rtol=0.03)
    # the control variate: at small noise its error is well below the plain mean's (measured 4x)
    low = curve["sigma2"] <= 1e-4
    truth = src.mmse(curve["sigma2"][low])
    rms = lambda col: np.sqrt(np.mean(((curve[col][low] - truth) / truth) ** 2))
    assert rms("mse") < 0.5 * rms("mse_raw")


def test_mixture_within_two_percent():
    """(2) pixels i.i.d. from a two-Gaussian mixture (8 x 8, 600 clips), exact MMSE denoiser:
    measured error 0.002% (bootstrap SE 0.4%), target 2%."""
    src = MixtureSource()
    est = conditional_entropy(src, src.clips(600, 8, 8, seed=1), seed=0, tau=0, sigma_aware=True, n_boot=200)
    h = est.summary["h_nats_per_pixel"].iloc[0]
    assert abs(h - src.entropy) < 0.02 * abs(src.entropy)


def test_shifted_video_within_one_percent_and_saving():
    """(3) a shifted Gaussian video (16 x 16, 800 clips of 3 frames, the last one the target), exact
    conditional MMSE denoisers for tau = 0, 1, 2: measured errors 0.002% (tau = 0) and 0.03%
    (tau = 1, 2), target 1%. The first past frame saves 1.198 bits per pixel (measured 1.199,
    paired 95% interval [1.193, 1.205]), the second none (Markov)."""
    video = ShiftVideo()
    clips = video.clips(800, 3, seed=0)
    targets = np.full(len(clips), 2)
    est = {tau: conditional_entropy(video.oracle(tau), clips, seed=0, tau=tau, targets=targets, sigma_aware=True,
                                    n_boot=300) for tau in (0, 1, 2)}
    for tau, e in est.items():
        truth = video.entropy(tau)
        assert abs(e.summary["h_nats_per_pixel"].iloc[0] - truth) < 0.01 * abs(truth), tau
    saved = saving(est[1], est[0])
    truth = -0.5 * math.log2(1 - video.a**2)
    assert saved["saved_bits"] == pytest.approx(truth, abs=0.02)
    assert saved["saved_ci_low"] < truth < saved["saved_ci_high"]
    assert saving(est[2], est[1])["saved_bits"] == pytest.approx(0.0, abs=1e-12)
    other = conditional_entropy(video.oracle(1), clips, seed=1, tau=1, targets=targets, sigma_aware=True, n_boot=10)
    with pytest.raises(InterpError, match="not paired"):
        saving(other, est[0])


def test_worse_denoiser_reads_higher_and_caps_hold():
    """The estimate rises with the MSE curve (an upper bound): a Gaussian denoiser with the wrong
    covariance reads higher; one worse than the identity (or the mean frame) is capped there."""
    src = GaussianSource()
    clips = src.clips(300, seed=2)
    good = conditional_entropy(src, clips, seed=3, tau=0, sigma_aware=True, n_boot=0)
    lam = torch.from_numpy(np.full(64, src.lam.mean()))

    def isotropic(y, c, sigma):  # right variance, wrong shape: not the MMSE
        return (0.5 + lam[0] / (lam[0] + sigma**2) * (y.double() - 0.5)).float()

    worse = conditional_entropy(isotropic, clips, seed=3, tau=0, sigma_aware=True, n_boot=0)
    assert worse.bits > good.bits + 0.05

    def awful(y, c):
        return y + 0.3 * torch.ones_like(y)

    capped = conditional_entropy(awful, clips, seed=3, tau=0, n_boot=0)
    assert set(capped.curve["capped"]) == {"identity", "mean"}
    assert capped.bits > worse.bits and np.isfinite(capped.bits)
    assert capped.summary["tail_low_bits"].iloc[0] == 0.0
    assert np.isnan(good.summary["h_bits_ci_low"].iloc[0])  # no bootstrap asked


def test_seeds_batches_and_tau_from_network():
    src = GaussianSource(4, 4)
    clips = np.repeat(src.clips(40, seed=0), 3, axis=1)  # T = 3
    kw = dict(seed=5, tau=0, sigma_aware=True, levels=9, n_boot=50)
    a = conditional_entropy(src, clips, batch_size=7, **kw)
    b = conditional_entropy(src, torch.from_numpy(clips), batch_size=64, **kw)
    pd.testing.assert_frame_equal(a.curve, b.curve)
    assert np.array_equal(a.draws, b.draws) and a.pairing == b.pairing
    c = conditional_entropy(src, clips, **{**kw, "seed": 6})
    assert c.bits != a.bits
    from interp.nets.unet import UNet

    net = UNet(tau=2, width=4)
    torch.manual_seed(0)
    r = conditional_entropy(net, clips, seed=0, levels=5, n_boot=0, repeats=2)
    assert r.summary["tau"].iloc[0] == 2 and r.summary["repeats"].iloc[0] == 2
    assert net.training  # mode restored


def test_bad_input_is_one_line():
    src = GaussianSource(4, 4)
    clips = src.clips(10, seed=0)
    f = lambda y, c: y
    cases = [
        (dict(denoiser=3), "callable"),
        (dict(clips=clips[0]), "[N, T, H, W]"),
        (dict(clips=clips[:1]), "at least 2 clips"),
        (dict(clips=(clips * 255).astype(np.uint8)), "floating-point"),
        (dict(clips=np.where(clips > 0.5, np.nan, clips)), "non-finite"),
        (dict(tau=None), "tau is not given"),
        (dict(tau=1), "too short"),
        (dict(targets=np.full(10, 1)), "targets must lie"),
        (dict(targets=[0] * 3), "targets must be 10"),
        (dict(denoiser=lambda y, c: y[:, :, :2]), "must return"),
        (dict(denoiser=lambda y, c: y * float("nan")), "non-finite"),
        (dict(levels=1), "levels"),
        (dict(sigma2_min=1.0, sigma2_max=0.1), "below"),
        (dict(seed=-1), "seed"),
        (dict(ci=1.5), "ci"),
        (dict(n_boot=True), "n_boot"),
    ]
    for change, needle in cases:
        kw = dict(denoiser=f, clips=clips, seed=0, tau=0, n_boot=5, levels=5)
        kw.update(change)
        with pytest.raises(InterpError) as err:
            conditional_entropy(kw.pop("denoiser"), kw.pop("clips"), **kw)
        assert needle.lower() in str(err.value).lower() and "\n" not in str(err.value), (change, err.value)
    from interp.nets.unet import UNet

    with pytest.raises(InterpError, match="prediction-only"):
        conditional_entropy(UNet(tau=1, width=4, predict_only=True), clips, seed=0)


# --------------------------------------------------------------------------- uncertainty map


def test_calibration_rescales_the_residual_and_stays_an_upper_bound():
    """``calibrate=True``: a denoiser whose residual is half the MMSE one's reads well above the
    truth uncalibrated and within 1% of it calibrated (fitted gain 2); the exact denoiser keeps
    gain 1 and its estimate; a denoiser of the wrong shape stays above the truth (a gain cannot
    turn it into the MMSE); too few clips is one line."""
    src = GaussianSource()
    clips = src.clips(1000, seed=4)
    truth = src.entropy * LOG2E

    def half(y, c, sigma):
        return y + 0.5 * (src(y, c, sigma) - y)

    raw = conditional_entropy(half, clips, seed=5, tau=0, sigma_aware=True, n_boot=0)
    cal = conditional_entropy(half, clips, seed=5, tau=0, sigma_aware=True, n_boot=200, calibrate=True)
    assert raw.bits > truth + 0.1
    assert abs(cal.bits - truth) < 0.01 * abs(truth)
    assert cal.summary["h_bits_ci_low"].iloc[0] < truth < cal.summary["h_bits_ci_high"].iloc[0]
    assert bool(cal.summary["calibrated"].iloc[0]) and not bool(raw.summary["calibrated"].iloc[0])
    assert np.allclose(cal.curve["gain"], 2.0, rtol=0.06) and (raw.curve["gain"] == 1.0).all()
    exact = conditional_entropy(src, clips, seed=5, tau=0, sigma_aware=True, n_boot=0, calibrate=True)
    assert np.allclose(exact.curve["gain"], 1.0, rtol=0.06)
    assert abs(exact.bits - truth) < 0.01 * abs(truth)
    lam = float(src.lam.mean())

    def isotropic(y, c, sigma):
        return (0.5 + lam / (lam + sigma**2) * (y.double() - 0.5)).float()

    iso = conditional_entropy(isotropic, clips, seed=5, tau=0, sigma_aware=True, n_boot=0, calibrate=True)
    assert iso.bits > truth + 0.05
    with pytest.raises(InterpError, match="at least 4 clips"):
        conditional_entropy(src, clips[:3], seed=0, tau=0, sigma_aware=True, calibrate=True)


class BlindGaussian:
    """Blind denoiser for x | c ~ N(c_last, v I): the noise variance is read off ||y - c_last||^2."""

    def __init__(self, v: float):
        self.v = v

    def __call__(self, y, c):
        m = c[:, -1:]
        s2 = ((y - m) ** 2).flatten(1).mean(1).view(-1, 1, 1, 1) - self.v
        s2 = s2.clamp_min(1e-8)
        return m + self.v / (self.v + s2) * (y - m)


def test_uncertainty_map_spread_of_samples():
    """Samples of N(c_last, 0.1^2 I) through the sampler: the std map averages 0.1 (within 10%),
    the one-step estimate is close to the conditional mean c_last."""
    c = torch.full((2, 1, 16, 16), 0.5)
    c[1] = 0.3
    um = uncertainty_map(BlindGaussian(0.01), c, 24, seed=0)
    assert um.std.shape == (2, 16, 16) and um.samples.shape == (2, 24, 16, 16)
    assert list(um.converged) == [24, 24]
    assert um.std.mean() == pytest.approx(0.1, rel=0.1)
    assert np.abs(um.mean - c[:, 0].numpy()).mean() < 0.05
    assert np.abs(um.onestep - c[:, 0].numpy()).max() < 0.05
    t = um.table()
    assert len(t) == 2 * 256 and set(t.columns) == {"conditioning", "row", "col", "std", "mean", "onestep", "n"}
    one = uncertainty_map(BlindGaussian(0.01), c[0], 4, seed=1, beta=0.5)
    assert one.std.shape == (16, 16) and one.onestep.shape == (16, 16) and len(one.table()) == 256
    with pytest.raises(InterpError, match="unknown sampler option"):
        uncertainty_map(BlindGaussian(0.01), c[0], 4, seed=1, temperature=2)
    with pytest.raises(InterpError, match="n must be"):
        uncertainty_map(BlindGaussian(0.01), c[0], 1, seed=1)


# --------------------------------------------------------------------------- CLI


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    from interp.data.dataset import Dataset, save
    from interp.nets import checkpoint
    from interp.nets.unet import UNet

    root = tmp_path_factory.mktemp("entropy")
    rng = np.random.default_rng(0)
    frames = rng.random((10, 4, 8, 8)).astype(np.float32)
    save(Dataset(frames, {"test": np.arange(10) % 2 == 0}, {"kind": "test"}), root / "d.npz")
    save(Dataset(frames), root / "nosplit.npz")
    save(Dataset(frames[:, :2], {"test": np.ones(10, bool)}), root / "short.npz")
    torch.manual_seed(0)
    checkpoint.save(root / "t0.safetensors", UNet(tau=0, width=4), {})
    checkpoint.save(root / "t2.safetensors", UNet(tau=2, width=4), {})
    checkpoint.save(root / "pred.safetensors", UNet(tau=2, width=4, predict_only=True), {})
    return root


def test_cli_writes_tables_and_plot(cli_files, capsys):
    root = cli_files
    out = root / "out"
    rc = entropy_cli.main(["--ckpt", str(root / "t2.safetensors"), str(root / "t0.safetensors"), "--data",
                       str(root / "d.npz"), "--out", str(out), "--levels", "9", "--boot", "20", "--quiet"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "t2 (tau=2)" in text and "vs t0" in text
    curve = pd.read_csv(out / "curve.csv")
    summary = pd.read_csv(out / "summary.csv")
    assert len(curve) == 18 and set(curve["model"]) == {"t0", "t2"} and not curve.isna().any().any()
    assert list(summary["model"]) == ["t0", "t2"] and list(summary["tau"]) == [0, 2]
    assert summary["saved_vs"].fillna("").tolist() == ["", "t0"]
    for col in ("quantised_bits_per_pixel", "quantised_ci_low", "quantised_ci_high", "tail_low_bits",
                "tail_high_bits", "h_bits_per_pixel", "clips"):
        assert col in summary.columns
    assert (summary["clips"] == 5).all()  # the test split
    assert (out / "entropy.png").stat().st_size > 1000
    assert not summary["calibrated"].any() and (curve["gain"] == 1).all()
    rc = entropy_cli.main(["--ckpt", str(root / "t0.safetensors"), "--data", str(root / "d.npz"), "--out",
                           str(root / "out-cal"), "--levels", "9", "--boot", "0", "--calibrate", "--quiet"])
    assert rc == 0
    cal = pd.read_csv(root / "out-cal" / "summary.csv")
    assert cal["calibrated"].all() and not (pd.read_csv(root / "out-cal" / "curve.csv")["gain"] == 1).all()


def test_cli_bad_input_one_line(cli_files, capsys):
    root = cli_files
    base = ["--data", root / "d.npz", "--out", root / "o2", "--levels", "5", "--boot", "0", "--quiet"]
    cases = [
        (["--ckpt", root / "missing.safetensors", *base], "does not exist"),
        (["--ckpt", root / "pred.safetensors", *base], "prediction-only"),
        (["--ckpt", root / "t0.safetensors", "--data", root / "nosplit.npz", "--out", root / "o3"], "--split all"),
        (["--ckpt", root / "t2.safetensors", "--data", root / "short.npz", "--out", root / "o3"], "at least 3"),
        (["--ckpt", root / "t0.safetensors", *base, "--clips", "1"], "at least 2"),
        (["--ckpt", root / "t0.safetensors", *base[:-5], "--levels", "1"], "at least 2"),
        (["--ckpt", root / "t0.safetensors", *base, "--sigma2-min", "10", "--sigma2-max", "1"], "below"),
        (["--ckpt", root / "t0.safetensors", *base, "--sigma2-max", "-1"], "positive number"),
        (["--ckpt", root / "t0.safetensors", *base, "--ci", "2"], "(0, 1)"),
        (["--ckpt", root / "t0.safetensors", *base, "--device", "warp"], "not a torch device"),
        (["--ckpt", root / "t0.safetensors", root / "t0.safetensors", *base], "share a name"),
        (["--data", root / "d.npz", "--out", root / "o2"], "--ckpt"),
    ]
    for argv, needle in cases:
        assert_main_one_line(capsys, entropy_cli.main, entropy_cli.PROG, argv, needle)


def test_cli_module_entry_point(cli_files):
    proc = run_cli("interp.entropy", "--ckpt", cli_files / "pred.safetensors", "--data", cli_files / "d.npz",
                   "--out", cli_files / "o4")
    assert_one_line_error(proc, "prediction-only")


def test_plot_from_tables():
    src = GaussianSource(4, 4)
    clips = src.clips(20, seed=0)
    est = [conditional_entropy(src, clips, seed=0, tau=0, sigma_aware=True, levels=9, n_boot=20),
           conditional_entropy(src, clips, seed=0, tau=0, sigma_aware=True, levels=9, n_boot=0)]
    curve = pd.concat([e.curve.assign(model=f"m{i}", tau=i) for i, e in enumerate(est)])
    summary = pd.concat([e.summary.assign(model=f"m{i}", tau=i) for i, e in enumerate(est)])
    fig = plotting_entropy.plot_entropy(curve, summary)
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 3


# --------------------------------------------------------------------------- a trained network (slow)


def test_translating_video_truth_and_clips():
    """The closed form against the clips: interior pixels differ from the shifted past frame by
    the innovations alone (variance q), and the entropy sits between the interior's 1/2 log2(2 pi e q)
    and that plus what the entering edge adds."""
    video = TranslatingVideo()
    clips = video.clips(400, seed=0)
    x0, x1 = clips[:, 0].astype(np.float64), clips[:, 1].astype(np.float64)
    assert np.mean((x1[:, 1:, 2:] - x0[:, :-1, :-2]) ** 2) == pytest.approx(video.q, rel=0.05)
    interior = 0.5 * math.log2(2 * math.pi * math.e * video.q)
    assert interior < video.entropy_bits() < interior + 0.5
    assert clips.min() >= 0 and clips.max() <= 1
    s2 = noise_levels()  # the exact MMSE curve integrates to the closed form
    assert entropy_from_mse(s2, video.mmse(s2))["h"] * LOG2E == pytest.approx(video.entropy_bits(), abs=1e-3)


def test_translating_video_blind_floor_leaves_room_for_the_target():
    """How close any blind network can come: the best denoiser not told sigma (its gain on the
    interior residual estimated from the residual's energy under the training prior) sits between
    the exact MMSE and the identity, equals the MMSE at high noise, and its I-MMSE integral lies
    0.078 bits/px above the truth (2000 draws; 8000 give 0.078 too). So the trained check's 0.1-bit
    target is reachable in principle, with 0.02 bits left for the network's own error; nearly all
    of the floor comes from sigma^2 < 1e-3, where sigma is a few percent of the innovation's
    variance and 210 residual pixels cannot tell the two apart."""
    video = TranslatingVideo()
    s2 = noise_levels()
    blind, exact = video.blind_mmse(s2), video.mmse(s2)
    assert np.all(blind >= exact * (1 - 1e-9)) and np.all(blind <= s2 * (1 + 1e-9))
    assert blind[-1] == pytest.approx(exact[-1], rel=1e-3)
    floor = entropy_from_mse(s2, blind)["h"] * LOG2E - video.entropy_bits()
    assert 0.05 < floor < 0.1
    low = s2 < 1e-3
    assert entropy_from_mse(s2[~low], blind[~low])["h"] * LOG2E < entropy_from_mse(s2[~low], exact[~low])["h"] * LOG2E + 0.02


TRAINED_CARD = """\
[model]
tau = 1
width = 8
skip = true

[data]
source = "npz"
path = "video.npz"

[train]
recipe = "cpu"
weighting = "adaptive"
precision = "fp32"
channels_last = false
samples = 1_000_000
batch_size = 64
eval_every = 0.25
eval_windows = 256
threads = 1
seed = 0
"""


@pytest.fixture(scope="module")
def trained_estimate(tmp_path_factory):
    """A tau = 1 U-net of width 8 trained by `python -m interp.train` (TRAINED_CARD: cpu recipe, fp32,
    1M samples) on 20000 clips of the translating video, and its estimate on 1000 held-out clips
    (57 levels, 500 resamples): ``(summary row, truth in bits, report)``. The report says where
    the excess over the truth comes from: the network's MSE curve against the exact MMSE curve,
    integrated over three ranges of noise levels, and the two tails."""
    from conftest import run_cli

    from interp.data.dataset import Dataset, save
    from interp.nets import checkpoint

    root = tmp_path_factory.mktemp("trained")
    video = TranslatingVideo()
    n_train, n_test = 20_000, 1000
    frames = np.concatenate([video.clips(n_train, seed=1), video.clips(n_test, seed=2)])
    save(Dataset(frames, {"test": np.arange(len(frames)) >= n_train}, {"kind": "translating video"}),
         root / "video.npz")
    card = root / "net.toml"
    card.write_text(TRAINED_CARD)
    proc = run_cli("interp.train", card, "--quiet", timeout=3600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    net = checkpoint.load(root / "net.safetensors")
    est = conditional_entropy(net, frames[n_train:], seed=0, n_boot=500)
    truth = video.entropy_bits()
    s = est.summary.iloc[0]
    curve = est.curve
    excess = 0.5 * LOG2E * (curve["mse_bound"] - video.mmse(curve["sigma2"])) / curve["sigma2"]
    u = np.log(curve["sigma2"].to_numpy())
    parts = {lab: float(np.trapezoid(np.where(m, excess, 0.0), u)) for lab, m in (
        ("sigma^2 < 1e-3", u < math.log(1e-3)), ("1e-3 .. 1e-1", (u >= math.log(1e-3)) & (u <= math.log(1e-1))),
        ("> 1e-1", u > math.log(1e-1)))}
    report = (f"truth {truth:.3f}, estimate {s['h_bits_per_pixel']:.3f} [{s['h_bits_ci_low']:.3f}, "
              f"{s['h_bits_ci_high']:.3f}] bits/px; excess over the exact MMSE curve by noise range "
              + ", ".join(f"{k}: {v:+.3f}" for k, v in parts.items())
              + f"; tails {s['tail_low_bits']:+.3f} low, {s['tail_high_bits']:+.4f} high")
    print(report)
    return s, truth, report


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_trained_network_estimate_is_above_the_truth(trained_estimate):
    """(3, trained) the trained network's estimate lies above the exact conditional entropy (its
    95% interval too): the estimate is an upper bound. Measured on the shared 2-core CPU (16.5 min
    beside a 2-thread benchmark; nearly all of it training): -1.956 [-1.962, -1.949] against the
    truth -2.497 bits/px (with the EDM weighting and no skip it was -1.144)."""
    s, truth, report = trained_estimate
    assert s["h_bits_ci_low"] > truth, report


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "not met at this size: width 8 with the input-output skip and the adaptive weighting, 1M samples, land "
    "0.54 bits/px above the truth (-1.956 against -2.497; 1.35 with the EDM weighting and no skip); the excess "
    "is the network's, not the estimator's (0.27 bits from sigma^2 < 1e-3, 0.27 from 1e-3 .. 1e-1, 0.004 "
    "above, tails 1e-4): at the clean end the residual's own error does not vanish with the noise; the best "
    "blind denoiser of this video is 0.078 above the truth (blind_floor test), and width 16 reached 0.48; "
    "calibrate=True (a cross-fitted gain per level) gives 0.529"))
def test_trained_network_estimate_within_a_tenth_of_a_bit(trained_estimate):
    """(3, trained) the issue's target: within 0.1 bit per pixel of the truth. A strict expected
    failure naming the measured numbers until a trained network meets it (then it fails as an
    unexpected pass, and the marker goes)."""
    s, truth, report = trained_estimate
    assert s["h_bits_per_pixel"] - truth < 0.1, report


def test_figure_plot_from_its_table():
    """The manifest figure's drawing (plot_entropy with one table): the two entropy panels and one
    strip of frames per uncertainty map, ending with the standard-deviation map and its colour bar."""
    rows = [dict(kind="entropy", family="natural", model=f"n{t}", tau=t, estimate="denoiser", bits=-1.0 - 0.1 * t,
                 ci_low=-1.05 - 0.1 * t, ci_high=-0.95 - 0.1 * t, bits_8bit=7.0 - 0.1 * t, clips=10, data="d")
            for t in range(3)]
    rows.append(dict(kind="entropy", family="natural", model="p", tau=2, estimate="prediction bound", bits=-1.1,
                     ci_low=-1.2, ci_high=-1.0, bits_8bit=6.9, clips=10, data="d"))
    rows += [dict(kind="entropy", family="leaves", model=m, tau=2, estimate="denoiser", bits=-4.0, ci_low=-4.1,
                  ci_high=-3.9, clips=5, data="l", variant=v) for m, v in (("a", "default"), ("b", "stochastic"))]
    rows.append(dict(kind="entropy", family="leaves", model="occlusion rule", tau=2, estimate="rule", bits=6e-4,
                     ci_low=np.nan, ci_high=np.nan, clips=5, data="l"))
    rr, cc = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    maps = [pd.DataFrame(dict(kind="map", probe=probe, model="m", panel=panel, slot=slot, label=f"{panel}{slot}",
                              row=rr.ravel(), col=cc.ravel(), value=np.linspace(0, 1, 64), data="d"))
            for probe in ("occlusion probe", "natural clip")
            for panel, slot in (("conditioning", 0), ("conditioning", 1), ("onestep", 0), ("sample", 0), ("std", 0))]
    table = pd.concat([pd.DataFrame(rows), *maps], ignore_index=True)
    fig = plotting_entropy.plot_entropy(table)
    images = [ax for ax in fig.axes if ax.images]
    assert len(images) == 10 and images[-1].images[0].get_cmap().name == "magma"
    titled = [ax.get_title() for ax in fig.axes]
    assert any("natural video" in t for t in titled) and any("moving leaves" in t for t in titled)
    assert len(fig.axes) > 12  # two panels, a secondary axis, ten frames, two colour bars
