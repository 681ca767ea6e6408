"""Occlusion probes, choice classification, sweeps and the psychometric fits (issue 5)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import assert_one_line_error, run_cli

from interp import InterpError, figures, plotting
from interp.analysis import psychometrics as psy
from interp.data.leaves import render
from interp.figures import adapters
from interp.nets import checkpoint
from interp.nets.unet import UNet


def _coverage(probe: psy.Probe, disk: int) -> np.ndarray:
    """Coverage of one disk in every frame, [T, H, W] (the renderer's antialiasing ramp)."""
    c = probe.centers()[disk]
    r = (probe.radius_left, probe.radius_right)[disk]
    g = np.arange(probe.size)
    rr, cc = np.meshgrid(g, g, indexing="ij")
    d = np.hypot(rr[None] - c[:, 0, None, None], cc[None] - c[:, 1, None, None])
    return np.clip(r + 0.5 - d, 0, 1)


# --------------------------------------------------------------------------- probes


@pytest.mark.parametrize("probe", psy.probe_grid(configs=3, seed=5), ids=lambda p: f"dr{p.dr:+g}_a{p.direction:g}")
def test_probe_disks_meet_only_in_the_predicted_frame(probe):
    both = _coverage(probe, 0) * _coverage(probe, 1)
    assert both[: probe.tau].max() == 0.0, "the disks touch in a conditioning frame"
    full = (_coverage(probe, 0)[-1] == 1) & (_coverage(probe, 1)[-1] == 1)
    assert full.sum() >= 4, "the disks must overlap in the predicted frame"
    # the overlap lens is centred on the probe's centre
    rr, cc = np.nonzero(both[-1] > 0)
    w = both[-1][rr, cc]
    assert np.allclose([np.average(rr, weights=w), np.average(cc, weights=w)], probe.center, atol=0.6)


def test_probe_motion_follows_the_leaves_rule_and_the_sign_convention():
    p = psy.Probe(radius_left=4.5, radius_right=7.5)
    assert p.dr == 3.0
    vl, vr = p.speeds
    assert vr / vl == pytest.approx(7.5 / 4.5)  # speed is proportional to radius (1 / depth)
    assert vl == pytest.approx(2.5 * 4.5 / 9)
    c = p.centers()
    steps = np.diff(c, axis=1)  # [2, tau, 2]
    assert np.allclose(steps[0], [0, vl]) and np.allclose(steps[1], [0, -vr])  # constant velocity, towards each other
    frames = p.frames()
    assert frames.shape == (3, 32, 32) and frames.dtype == np.float32
    # by default the larger disk is in front: its gray fills the overlap
    m = psy.regions(p)["overlap"]
    assert np.allclose(frames[-1][m], p.luminance_right)
    assert np.allclose(p.frames("left")[-1][m], p.luminance_left)
    assert np.array_equal(p.frames("left")[:2], p.frames("right")[:2])
    tilted = psy.Probe(direction=90.0)  # approach along the rows
    assert np.allclose(np.diff(tilted.centers()[0], axis=0)[:, 1], 0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(luminance_left=0.5, background=0.55), "differ by less than"),
    (dict(speed_factor=0.5), "overlap by only"),
    (dict(radius_left=1.0), "radius_left"),
    (dict(luminance_right=1.5), "luminance_right"),
    (dict(center=(1.0, 1.0)), "frame"),
    (dict(gap=-1.0), "gap"),
    (dict(tau=0), "tau"),
])
def test_probe_rejects_unreadable_configurations(kwargs, match):
    with pytest.raises(ValueError, match=match):
        psy.Probe(**kwargs)


def test_probe_grid_layout():
    probes = psy.probe_grid([-2, 0, 2], configs=3, seed=1, mean_radius=5.5)
    assert len(probes) == 9
    assert [p.dr for p in probes[:3]] == [-2.0, 0.0, 2.0]
    assert probes[0] == psy.Probe(radius_left=6.5, radius_right=4.5)  # scene 0 is the canonical probe
    assert psy.probe_grid([0.0])[0] == psy.Probe()
    assert probes[3].direction == probes[5].direction != probes[6].direction  # scenes differ, radii vary within
    assert psy.probe_grid([-2, 0, 2], configs=3, seed=1, mean_radius=5.5) == probes  # seeded


# --------------------------------------------------------------------------- classification


def test_classify_reads_the_front_disk_and_rejects_the_rest():
    for p in psy.probe_grid(configs=4, seed=2):
        left, right = p.frames("left")[-1], p.frames("right")[-1]
        out = psy.classify(np.stack([left, right]), p)
        assert list(out["choice"]) == ["left", "right"] and out["valid"].all()
        assert np.allclose(out["weight_right"], [0, 1], atol=1e-6)
        assert np.array_equal(out["right_front"], [0.0, 1.0])

    p = psy.Probe(radius_left=5, radius_right=7)
    left, right = p.frames("left")[-1], p.frames("right")[-1]
    blend = 0.5 * (left + right)
    no_left = right.copy()
    no_left[psy.regions(p, 0.0)["left"]] = p.background  # the left disk is dropped
    no_right = left.copy()
    no_right[psy.regions(p, 0.0)["right"]] = p.luminance_left  # the right disk repainted
    failed = np.full_like(left, np.nan)
    # the disks stop short: the left disk is drawn 2 px back from where it should be, so the
    # overlap shows only the right disk, but the left disk never reaches it
    centers = p.centers()[:, -1:].copy()[None]  # [1, 2 disks, 1 frame, 2]
    centers[0, 0, 0] -= 3.0 * p.unit  # the left disk lags 3 px behind: a gap instead of an overlap
    lagging = render(centers, np.array([[[5.0], [7.0]]]), np.array([[p.luminance_left, p.luminance_right]]),
                     np.array([p.background]), np.array([[[0], [1]]]))[0, 0]
    out = psy.classify(np.stack([blend, no_left, no_right, failed, right + 0.02, lagging]), p)
    assert list(out["reason"]) == ["mixed", "lost_left", "lost_right", "failed", "", "apart"]
    assert list(out["valid"]) == [False, False, False, False, True, False]
    assert np.isnan(out["right_front"][:4]).all()
    assert out["weight_right"][0] == pytest.approx(0.5, abs=1e-6)
    assert np.isnan(out["weight_right"][3])
    with pytest.raises(ValueError, match="frames"):
        psy.classify(np.zeros((2, 16, 16)), p)


def _displaced(p: psy.Probe, shift_left, shift_right, front: str) -> np.ndarray:
    """The probe's next frame with each disk moved by (along the approach, across it) pixels."""
    u = p.unit
    across = np.array([-u[1], u[0]])
    centers = p.centers()[:, -1:].copy()[None]  # [1, 2, 1, 2]
    centers[0, 0, 0] += shift_left[0] * u + shift_left[1] * across
    centers[0, 1, 0] += shift_right[0] * u + shift_right[1] * across
    layer = np.array([[[0], [1]]]) if front == "right" else np.array([[[1], [0]]])
    return render(centers, np.array([[[p.radius_left], [p.radius_right]]]),
                  np.array([[p.luminance_left, p.luminance_right]]), np.array([p.background]), layer)[0, 0]


# disk displacements (along the approach, across it) of the size by which the training data's
# next frames scatter (0.6 px s.d.); the overlap shrinks by at most 0.6 px
SHIFTS = [((0.0, 0.0), (0.0, 0.0)), ((0.8, 0.0), (-0.6, 0.0)), ((-0.3, -0.7), (0.3, 0.6)),
          ((0.5, -0.5), (-0.9, 0.4)), ((1.1, 0.6), (0.9, -0.8)), ((-0.4, 0.9), (-0.2, -1.0))]


@pytest.mark.parametrize("p", psy.probe_grid([-3.0, 0.0, 2.0], configs=2, seed=4), ids=lambda p: f"dr{p.dr:+g}")
def test_classify_finds_disks_off_their_constant_velocity_places(p):
    frames, truth, applied = [], [], []
    for sl, sr in SHIFTS:
        for front in ("left", "right"):
            frames.append(_displaced(p, sl, sr, front))
            truth.append(front)
            applied.append([sl, sr])
    out = psy.classify(np.stack(frames), p)
    assert out["valid"].all(), list(out["reason"])
    assert list(out["choice"]) == truth
    u = p.unit
    moved = np.array(applied)  # [N, 2 disks, (along, across)]
    expect = p.centers()[None, :, -1] + moved[..., :1] * u + moved[..., 1:] * np.array([-u[1], u[0]])
    assert np.abs(out["centers"] - expect).max() <= 0.1
    assert np.all((out["weight_right"] < 0.05) | (out["weight_right"] > 0.95))


def test_locate_takes_many_frames_in_bounded_chunks():
    p = psy.Probe(radius_left=6, radius_right=8)
    two = np.stack([_displaced(p, (0.4, -0.3), (-0.2, 0.5), "left"), _displaced(p, (0.0, 0.6), (0.3, 0.0), "right")])
    many = np.concatenate([two] * (psy._LOCATE_CHUNK // 2 + 3))  # more frames than one chunk
    np.testing.assert_array_equal(psy.locate(many, p), np.concatenate([psy.locate(two, p)] * (len(many) // 2)))


def test_ideal_sampler_of_the_training_data_is_almost_always_readable():
    """A perfect model's samples, drawn as the data continue probe-like windows, are read as
    valid choices that follow the rule; only rare shallow contacts are unreadable."""
    probes = psy.probe_grid([-3.0, -1.0, 0.0, 1.0, 3.0])
    scatter = psy.motion_scatter(probes[0], n_sequences=100_000)
    assert len(scatter) > 200
    assert np.all(np.abs(scatter.mean(axis=0)) < 0.3)  # next steps scatter around where the last one points
    assert np.all((scatter.std(axis=0) > 0.3) & (scatter.std(axis=0) < 1.2))
    invalid, n = 0, 48
    for k, p in enumerate(probes):
        frames = psy.ideal_futures(p, n, seed=k, scatter=scatter)
        out = psy.classify(frames, p)
        invalid += int((~out["valid"]).sum())
        assert set(out["reason"]) <= {"", "apart"}  # unreadable only where the contact is shallow
        expect = psy.truth_probability([p.dr])[0]
        if expect in (0.0, 1.0):
            assert np.all(out["right_front"][out["valid"]] == expect)
        else:
            assert 0.2 < np.nanmean(out["right_front"]) < 0.8
    assert invalid / (n * len(probes)) < 0.1
    # soft edges (a network's samples are rarely pixel-sharp) do not make a choice unreadable,
    # while an even blend of the two futures stays one
    from scipy.ndimage import gaussian_filter

    p = probes[-1]
    frames = psy.ideal_futures(p, 16, seed=9, scatter=scatter)
    soft = np.stack([gaussian_filter(f, 0.8, mode="nearest") for f in frames])
    out = psy.classify(soft, p)
    assert out["valid"][out["interpenetration"] > 2.2].all() and (out["choice"][out["valid"]] == "right").all()
    assert np.all(out["softness"] >= 0.5)
    blend = 0.5 * (p.frames("left")[-1] + p.frames("right")[-1])
    assert psy.classify(gaussian_filter(blend, 0.5, mode="nearest"), p)["reason"][0] == "mixed"
    with pytest.raises(ValueError, match="outside the data"):
        psy.motion_scatter(psy.Probe(speed_factor=3.0), n_sequences=20_000)


# --------------------------------------------------------------------------- statistics


def test_wilson_interval_known_values():
    lo, hi = psy.wilson_interval([0, 5, 10], [10, 10, 10])
    assert np.allclose(lo, [0.0, 0.2366, 0.7225], atol=1e-4)
    assert np.allclose(hi, [0.2775, 0.7634, 1.0], atol=1e-4)


def test_logistic_fit_recovers_slope_and_pse():
    rng = np.random.default_rng(0)
    dr = np.repeat(np.linspace(-4, 4, 9), 400)
    true_slope, true_pse = 1.3, 0.6
    y = (rng.random(dr.size) < 1 / (1 + np.exp(-true_slope * (dr - true_pse)))).astype(float)
    y[::50] = np.nan  # invalid samples are dropped
    fit = psy.fit_logistic(dr, y, n_boot=200, seed=1)
    for est, (lo, hi), true in [(fit.slope, fit.slope_ci, true_slope), (fit.pse, fit.pse_ci, true_pse)]:
        assert lo < est < hi
        half = (hi - lo) / 2  # a 95% interval; allow the truth a little beyond it (one seed)
        assert lo - half < true < hi + half
    assert abs(fit.slope - true_slope) < 0.15 and abs(fit.pse - true_pse) < 0.15
    assert fit.slope_ci[1] - fit.slope_ci[0] < 0.5
    assert fit.predict(fit.pse) == pytest.approx(0.5)
    # perfectly separated choices (a deterministic observer) still give a finite, steep fit
    tie = (dr == 0) & (np.arange(dr.size) % 2 == 0)  # equal radii: half and half
    sep = psy.fit_logistic(dr, ((dr > 0) | tie).astype(float), n_boot=0)
    assert np.isfinite(sep.slope) and sep.slope > 3 and abs(sep.pse) < 0.3
    with pytest.raises(ValueError, match="two or more"):
        psy.fit_logistic(np.zeros(10), np.ones(10))


def test_truth_probability_rules():
    dr = np.array([-2.0, 0.0, 2.0])
    assert np.array_equal(psy.truth_probability(dr, "deterministic"), [0.0, 0.5, 1.0])
    p = psy.truth_probability(dr, "stochastic")
    assert p[1] == 0.5 and p[0] == pytest.approx(1 - p[2]) and p[2] == pytest.approx(1 / (1 + np.exp(-2)))
    with pytest.raises(ValueError, match="rule"):
        psy.truth_probability(dr, "brightness")


def _fake_samples(freqs: dict[float, float], n: int = 64) -> pd.DataFrame:
    rows = []
    for dr, f in freqs.items():
        k = int(round(f * n))
        rows.append(pd.DataFrame({"dr": dr, "right_front": [1.0] * k + [0.0] * (n - k), "valid": True}))
    return pd.concat(rows, ignore_index=True)


def test_calibration_error_is_the_mean_absolute_gap():
    truth = psy.truth_probability([-2.0, 0.0, 2.0], "stochastic")
    s = _fake_samples({-2.0: truth[0] + 0.1, 0.0: 0.5, 2.0: truth[2] - 0.2})
    cal = psy.calibration(s, "stochastic", n_boot=200)
    gaps = cal["per_condition"]["abs_error"].to_numpy()
    assert cal["error"] == pytest.approx(gaps.mean()) and cal["max_error"] == pytest.approx(gaps.max())
    assert 0.05 < cal["error"] < 0.15
    assert cal["error_ci"][0] <= cal["error"] + 0.05 and cal["error_ci"][1] > cal["error"]
    freq = psy.choice_frequencies(s)
    assert list(freq["n_valid"]) == [64, 64, 64] and (freq["invalid_rate"] == 0).all()


# --------------------------------------------------------------------------- sweeps with an ideal observer


class TwoFutures:
    """The ideal blind denoiser for a probe whose next frame is one of two images.

    Each probe's next frame is ``A`` (left disk in front) or ``B`` (right disk in front),
    ``B`` with prior probability ``p``. The noise level is estimated from the distance to the
    nearer option, and the estimate is the posterior mean of the two: calibrated sampling
    should choose ``B`` about ``p`` of the time.
    """

    def __init__(self, probes, p_right):
        self.cond = torch.from_numpy(np.stack([q.conditioning() for q in probes])).double()
        self.a = torch.from_numpy(np.stack([q.frames("left")[-1] for q in probes])).double()
        self.b = torch.from_numpy(np.stack([q.frames("right")[-1] for q in probes])).double()
        self.logit = torch.logit(torch.as_tensor(p_right, dtype=torch.float64).clamp(1e-6, 1 - 1e-6))

    def __call__(self, y, c):
        idx = torch.cdist(c.double().flatten(1), self.cond.flatten(1)).argmin(1)
        a, b, y = self.a[idx], self.b[idx], y[:, 0].double()
        da, db = (y - a).pow(2).flatten(1).sum(1), (y - b).pow(2).flatten(1).sum(1)
        var = torch.minimum(da, db) / y[0].numel()
        w = torch.sigmoid(self.logit[idx] + (da - db) / (2 * var))
        return ((1 - w)[:, None, None] * a + w[:, None, None] * b)[:, None].float()


def test_sweep_with_an_ideal_observer_is_calibrated():
    probes = psy.probe_grid([-2.0, 0.0, 2.0])
    p_right = psy.truth_probability([q.dr for q in probes], "stochastic")
    sweep = psy.run_sweep(TwoFutures(probes, p_right), probes, n=64, seed=3, keep_frames=True)
    s = sweep.samples
    assert len(s) == 3 * 64 and set(s["probe"]) == {0, 1, 2}
    assert sweep.frames.shape == (3, 64, 32, 32)
    assert sweep.invalid_rate() == 0.0 and (s["status"] == "converged").all()
    cal = psy.calibration(s, "stochastic", n_boot=200)
    assert cal["error"] < 0.12, cal["per_condition"]
    # the one-step estimate of the ideal observer blends the two options in proportion
    w = sweep.onestep["weight_right"].to_numpy()
    assert np.all(np.abs(w - p_right) < 0.2) and sweep.onestep["blend"].iloc[1] > 0.6
    # while each sample is one option or the other
    assert np.all((s["weight_right"] < 0.05) | (s["weight_right"] > 0.95))
    # the same seed gives the same table
    again = psy.run_sweep(TwoFutures(probes, p_right), probes, n=64, seed=3)
    pd.testing.assert_frame_equal(again.samples, s)


def test_sweep_of_a_deterministic_observer_fits_a_steep_curve():
    probes = psy.probe_grid([-3.0, -1.0, 1.0, 3.0])
    det = psy.truth_probability([q.dr for q in probes], "deterministic")
    sweep = psy.run_sweep(TwoFutures(probes, det), probes, n=16, seed=0)
    freq = psy.choice_frequencies(sweep.samples)
    assert list(freq["freq_right"]) == [0.0, 0.0, 1.0, 1.0]
    fit = psy.fit_logistic(sweep.samples["dr"], sweep.samples["right_front"], n_boot=20)
    assert fit.slope > 2 and abs(fit.pse) < 0.5


# --------------------------------------------------------------------------- CLI and figures


@pytest.fixture
def tiny_ckpt(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "tiny.safetensors"
    checkpoint.save(path, UNet(tau=2, width=4), {})
    return path


def test_cli_writes_table_and_fit(tiny_ckpt, tmp_path):
    out = tmp_path / "psy"
    r = run_cli("interp.psychometrics", "--ckpt", tiny_ckpt, "--out", out, "--n", "2", "--differences", "-2", "0",
                "2", "--boot", "5", "--quiet", "--truth", "stochastic")
    assert r.returncode == 0, r.stderr
    samples = pd.read_csv(out / "samples.csv")
    assert len(samples) == 6 and {"dr", "seed", "choice", "valid", "reason", "radius_left"} <= set(samples.columns)
    summary = json.loads((out / "fit.json").read_text())
    assert {"logistic", "invalid_rate", "conditions", "calibration", "onestep_blend_mean"} <= set(summary)
    assert summary["n_samples"] == 6
    assert "calibration error" in r.stdout and "invalid" in r.stdout
    assert len(pd.read_csv(out / "onestep.csv")) == 3


@pytest.mark.parametrize("args, match", [
    (["--ckpt", "missing.safetensors"], "does not exist"),
    (["--mean-radius", "1"], "cannot build the probes"),
    (["--n", "0"], "positive integer"),
    (["--truth", "maybe"], "invalid choice"),
    (["--configs", "1000000000"], "at most"),
])
def test_cli_bad_input_is_one_line(tiny_ckpt, tmp_path, args, match):
    base = {"--ckpt": str(tiny_ckpt), "--out": str(tmp_path / "o")}
    for k, v in zip(args[::2], args[1::2]):
        base[k] = v
    r = run_cli("interp.psychometrics", *[x for kv in base.items() for x in kv], "--quiet")
    assert_one_line_error(r, match)


def test_cli_refuses_a_prediction_only_network(tmp_path):
    path = tmp_path / "pred.safetensors"
    checkpoint.save(path, UNet(tau=2, width=4, predict_only=True), {})
    r = run_cli("interp.psychometrics", "--ckpt", path, "--out", tmp_path / "o", "--quiet")
    assert_one_line_error(r, "prediction-only")


TINY_CARD = """\
[model]
tau = 2
width = 4
norm = "none"

[data]
source = "leaves"
n = 100
seed = 0
"""


@pytest.fixture
def models(tmp_path, monkeypatch, tiny_ckpt):
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "tiny.toml").write_text(TINY_CARD)
    (folder / "tiny.safetensors").write_bytes(tiny_ckpt.read_bytes())
    monkeypatch.setenv(figures.MODELS_DIR_ENV, str(folder))
    return folder


def test_occlusion_example_table_and_plot(models):
    t = adapters.occlusion_example(["tiny"], dr=3.0, n_samples=3, n_states=2, max_iter=8)
    panels = t.drop_duplicates(["track", "slot"])
    assert list(panels["panel"][panels["track"] == 0]) == ["conditioning", "conditioning", "noise", "onestep",
                                                          "option", "option"]
    assert (panels["panel"][panels["track"] == 2] == "sample").sum() == 3
    assert set(t["dr"]) == {3.0} and set(t["model"]) == {"tiny"}
    fig = plotting.plot_frame_grid(t)
    assert len(fig.axes) == 3 * 6


def test_occlusion_sweep_table_and_plot(models):
    t = adapters.occlusion_sweep(["tiny"], differences=[-2.0, 0.0, 2.0], n=2, n_boot=5, truth="stochastic",
                                highlight=[0.0], max_iter=8)
    kinds = t["kind"].value_counts().to_dict()
    assert kinds["sample"] == 6 and kinds["onestep"] == 3 and kinds["condition"] == 3 and kinds["fit"] == 1
    cond = t[t["kind"] == "condition"]
    assert list(cond["highlight"]) == [False, True, False]
    assert "calibration_error" in t.columns and "p_true" in t.columns
    fig = plotting.plot_psychometric(t)
    assert len(fig.axes) == 2
    with pytest.raises(InterpError, match="truth"):
        adapters.occlusion_sweep(["tiny"], truth="maybe")


def test_occlusion_figures_are_in_the_manifest():
    specs = {s.id: s for s in figures.load_manifest()}
    for fid, analysis in [("fig03", "occlusion_example"), ("fig04", "occlusion_sweep"),
                          ("fig11", "occlusion_example"), ("calibration", "occlusion_sweep")]:
        assert specs[fid].analysis == analysis and analysis in figures.ANALYSES
        figures.plot_function(specs[fid])
    assert specs["fig03"].params["dr"] == 0.0 and specs["fig11"].params["dr"] > 0
    assert set(specs["fig04"].params["highlight"]) == {specs["fig03"].params["dr"], specs["fig11"].params["dr"]}
    assert specs["calibration"].params["truth"] == "stochastic"
    assert list(specs["calibration"].models) == ["leaves-stochastic-tau2"]


# ------------------------------------------------------------------- contact test
class _Follower:
    """A denoiser that only removes noise it cannot remove: returns the observation."""

    tau = 2

    def __call__(self, y, c):
        return y


class _Oracle:
    """A denoiser that knows every sequence: returns the true next frame whatever it observes."""

    tau = 2

    def __init__(self, n, seed, variant="default"):
        from interp.data.leaves import generate

        self.frames = torch.from_numpy(generate(n, seed, variant).frames)  # [n, T, H, W]

    def __call__(self, y, c):
        out = []
        for ci in c:  # find the sequence and frame whose two previous frames are c
            d = (self.frames.unfold(1, 2, 1).permute(0, 1, 4, 2, 3) - ci).abs().amax(dim=(2, 3, 4))
            i, t = np.unravel_index(int(torch.argmin(d)), tuple(d.shape))
            assert float(d[i, t]) < 1e-5
            out.append(self.frames[i, t + 2])
        return torch.stack(out)[:, None]


def test_contact_test_separates_following_from_knowing_the_rule():
    kw = dict(n_sequences=4000, seed=0, sigmas=(1e-4, 1.0), min_dr=1.0, min_contrast=0.2)
    follow = psy.contact_test(_Follower(), **kw)
    assert len(follow) >= 8 and list(follow.columns) == ["sequence", "frame", "dr", "lens_pixels",
                                                        "larger_in_front", "sigma", "shown", "weight_larger"]
    assert follow["larger_in_front"].all()  # default rule: the larger disk is in front
    assert (follow["dr"] >= 1.0).all() and (follow["lens_pixels"] >= 4).all()
    clean = follow[follow["sigma"] == 1e-4].groupby("shown")["weight_larger"]
    np.testing.assert_allclose(clean.min()["rendered"], 1.0, atol=1e-3)  # follows what it sees
    np.testing.assert_allclose(clean.max()["reversed"], 0.0, atol=1e-3)
    knows = psy.contact_test(_Oracle(4000, 0), **kw)
    assert len(knows) == len(follow)
    np.testing.assert_allclose(knows["weight_larger"], 1.0, atol=1e-5)  # the rule, whatever is observed


def test_contact_test_stochastic_rule_and_errors():
    t = psy.contact_test(_Follower(), n_sequences=4000, seed=1, variant="stochastic", sigmas=(1e-4,),
                         min_dr=0.0, min_contrast=0.2)
    assert t["larger_in_front"].any() and not t["larger_in_front"].all()
    rendered = t[t["shown"] == "rendered"]
    np.testing.assert_allclose(rendered["weight_larger"], rendered["larger_in_front"].astype(float), atol=1e-3)
    none = psy.contact_test(_Follower(), n_sequences=50, seed=0, min_lens=10_000)
    assert len(none) == 0 and "weight_larger" in none.columns

    class Unconditional:
        tau = 0

    with pytest.raises(ValueError, match="tau >= 1"):
        psy.contact_test(Unconditional())
