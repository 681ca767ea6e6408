"""The analysis behind every figure of the manifest is a public function of a denoiser and tensors.

Each is called here on toy bias-free denoisers built in the test (a tiny untrained U-net, and
hand-written callables ``net(y, c)`` that are homogeneous of degree 1 in (y, c)), with small
tensors; each test checks the shapes and columns, finite values and one property that a wrong
computation would break. The last tests call every public analysis with one clip unbatched, in
a batch of one and in the middle of a batch of three, and get the same numbers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import interp
from interp import InterpError
from interp.analysis import denoising as ad
from interp.analysis import onedim, psychometrics
from interp.analysis.sampler import recursive_rollouts
from interp.figures.registry import ANALYSES
from interp.nets.unet import UNet

H = W = 16
TAU = 2


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return UNet(tau=TAU, width=4).eval()


@pytest.fixture(scope="module")
def clips():
    """Three different clips: x [3, 1, H, W] (next frames), c [3, tau, H, W] (past frames)."""
    g = torch.Generator().manual_seed(3)
    return torch.rand((3, 1, H, W), generator=g), torch.rand((3, TAU, H, W), generator=g)


def identity(y, c):
    """The identity denoiser: returns its observation (homogeneous of degree 1)."""
    return y.clone()


def last_frame(y, c):
    """A perfect 'nothing moves' predictor: the last past frame, whatever y (homogeneous)."""
    return c[:, -1:].clone()


def test_every_manifest_analysis_names_a_public_function():
    """The figure registry's adapters are backed by functions exported from interp.analysis."""
    backing = {
        "denoising_curves": ["denoising_curve", "curve_summary", "curve_stats"],
        "adaptive_filter_example": ["filter_example", "pick_moving"],
        "evidence_weighting": ["probe_sequences", "evidence_partition", "crossing_psnr"],
        "natural_samples": ["next_frame_samples", "pick_motion"],
        "occlusion_example": ["probe_trial"],
        "occlusion_sweep": ["psychometric_sweep"],
        "recursive_generation": ["recursive_rollouts"],
        "onedim_score": ["score_table"],
        "onedim_sampling": ["sampling_table"],
        "entropy_and_uncertainty": ["conditional_entropy", "uncertainty_map"],  # interp.analysis.entropy
    }
    no_model = {"leaves_examples", "framework_diagram"}  # data and a drawing: no denoiser involved
    assert set(ANALYSES) - no_model <= set(backing)
    for names in backing.values():
        for name in names:
            assert callable(getattr(interp.analysis, name)) and name in interp.analysis.__all__


# --------------------------------------------------------------------------- Fig. 6


def test_denoising_curve_of_the_identity_is_the_identity(clips):
    x, c = clips
    t = ad.denoising_curve(identity, x, c, [0.0, 20.0, 40.0], seed=1)
    assert list(t.columns) == ["clip", "psnr_in", "psnr_noisy", "psnr_out", "mse_out"]
    assert len(t) == 3 * 3 and np.isfinite(t[["psnr_noisy", "psnr_out", "mse_out"]].to_numpy()).all()
    np.testing.assert_allclose(t["psnr_out"], t["psnr_noisy"], rtol=0, atol=1e-9)  # y comes back unchanged
    np.testing.assert_allclose(t["psnr_noisy"], t["psnr_in"], atol=1.5)  # 256 pixels: within 4 s.d. of nominal


def test_denoising_curve_of_a_network_and_its_summary(net, clips):
    x, c = clips
    levels = [-10.0, 10.0, 30.0]
    t = ad.denoising_curve(net, x, c, levels, seed=0)
    assert np.isfinite(t["psnr_out"]).all()
    # recomputed directly for clip 2 at 10 dB, from the noise the function documents
    g = torch.Generator().manual_seed(interp.analysis.clip_seed(0, x[2]))
    z = [torch.randn((1, 1, H, W), generator=g) for _ in levels]
    with torch.no_grad():
        est = net(x[2:3] + 10 ** (-10 / 20) * z[1], c[2:3])
    want = 10 * np.log10(1 / float((est.double() - x[2:3].double()).pow(2).mean()))
    assert t[(t["clip"] == 2) & (t["psnr_in"] == 10.0)]["psnr_out"].item() == pytest.approx(want, rel=1e-6)
    s = ad.curve_summary(t)
    assert list(s["psnr_in"]) == levels and (s["n"] == 3).all()
    for p, g in t.groupby("psnr_in"):
        row = s[s["psnr_in"] == p].iloc[0]
        assert row["psnr_out"] == pytest.approx(g["psnr_out"].mean())
        assert row["sem"] == pytest.approx(g["psnr_out"].std(ddof=1) / np.sqrt(3))


def test_denoising_curve_keeps_the_levels_in_the_order_given(clips):
    x, c = clips
    t = ad.denoising_curve(identity, x, c, [30.0, -5.0, 10.0], seed=0)
    assert list(t["psnr_in"]) == [30.0, -5.0, 10.0] * 3 and list(t["clip"]) == [0] * 3 + [1] * 3 + [2] * 3
    assert list(ad.curve_summary(t)["psnr_in"]) == [30.0, -5.0, 10.0]
    # the same seed gives the same table
    again = ad.denoising_curve(identity, x, c, [30.0, -5.0, 10.0], seed=0)
    pd.testing.assert_frame_equal(t, again)


def test_denoising_curve_of_a_prediction_only_network_ignores_the_noise(clips):
    x, c = clips
    torch.manual_seed(1)
    pred = UNet(tau=TAU, width=4, predict_only=True).eval()
    t = ad.denoising_curve(pred, x, c, [-10.0, 40.0], seed=0)
    a, b = (t[t["psnr_in"] == p].sort_values("clip")["psnr_out"].to_numpy() for p in (-10.0, 40.0))
    np.testing.assert_array_equal(a, b)


def test_a_denoiser_below_the_identity_is_reported_by_curve_stats():
    """A single-image denoiser's curve (slope 1/2) falls below the identity at high input PSNR."""
    p = np.arange(-10.0, 55.0, 5.0)
    rows = [{"tau": 0, "predict_only": False, "psnr_in": v, "psnr_out": 0.5 * v + 12.0} for v in p]
    s = ad.curve_stats(pd.DataFrame(rows))
    assert s["slope_tau0"] == pytest.approx(0.5)
    assert s["identity_crossing_tau0"] == pytest.approx(24.0)  # 0.5 p + 12 = p


def test_denoising_curve_bad_input(clips):
    x, c = clips
    with pytest.raises(InterpError, match="c must be"):
        ad.denoising_curve(identity, x, c[:2], [0.0])
    with pytest.raises(InterpError, match="psnrs"):
        ad.denoising_curve(identity, x, c, [])
    with pytest.raises(InterpError, match="noise"):
        ad.denoising_curve(identity, x, c, [0.0], noise={5.0: torch.zeros_like(x)})


# --------------------------------------------------------------------------- Fig. 7


def _translating(T: int = 3, v: int = -2, seed: int = 0) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    big = gaussian_filter(np.random.default_rng(seed).random((H, W + 20)), 1.2)
    big = (big - big.min()) / (big.max() - big.min())
    return np.stack([big[:, 10 - v * t:10 - v * t + W] for t in range(T)]).astype(np.float32)


def test_filter_example_is_exact_and_measures_the_motion(net):
    seq = torch.from_numpy(_translating())
    ex = ad.filter_example(net, seq[-1:], seq[:-1], psnr=16.0, seed=0, pixel="center")
    assert ex.filters.shape == (TAU + 1, H, W) and ex.observation.shape == (1, H, W)
    row = ex.stats.iloc[0]
    assert (row["pixel_row"], row["pixel_col"]) == (H // 2, W // 2)
    assert (row["shift_dy"], row["shift_dx"]) == (0.0, -2.0)
    inputs = np.concatenate([seq[:-1].numpy(), ex.observation])
    assert float((ex.filters * inputs).sum()) == pytest.approx(row["output"], abs=1e-4)  # Euler: J x = x_hat
    for k in range(TAU + 1):
        assert row[f"filter_sum_{k}"] == pytest.approx(float(ex.filters[k].sum()), abs=1e-5)
    assert np.isfinite(ex.stats.drop(columns=["clip"]).to_numpy(float)).all()


def test_filter_example_refuses_a_prediction_only_network(clips):
    x, c = clips
    pred = UNet(tau=TAU, width=4, predict_only=True).eval()
    with pytest.raises(InterpError, match="prediction-only"):
        ad.filter_example(pred, x[0], c[0])


def test_pick_moving_and_pick_motion():
    still = np.repeat(_translating(4, 0, seed=1)[:1], 4, axis=0)
    frames = np.stack([still, _translating(4, -2), _translating(4, 2, seed=2)])
    assert ad.pick_moving(frames, 3, 2, "left") == 1
    assert ad.pick_moving(frames, 3, 2, "right") == 2
    assert ad.pick_motion(frames, 3, quantile=0.0) == 0  # the still clip has the least motion
    with pytest.raises(InterpError, match="direction"):
        ad.pick_moving(frames, 3, 2, "up")


# --------------------------------------------------------------------------- Fig. 8


def test_evidence_partition_on_the_probe_sequences(net):
    frames = np.stack([_translating(4, v, seed=s) for s, v in enumerate((-2, 0, 1, 2))])
    probes = ad.probe_sequences(frames, TAU + 1, seed=0)
    assert list(probes) == ["non-rigid texture", "moving object", "static smooth regions"]
    for seq, _ in probes.values():
        t = interp.evidence_partition(net, seq[-1:], seq[:-1], [-10.0, 30.0], seed=0)
        np.testing.assert_allclose(t["mse_total"], t["mse_c"] + t["mse_y"] + t["interaction"], rtol=1e-5)
        assert (t["euler_rms"] < 1e-4).all() and np.isfinite(t["psnr_total"]).all()
        assert isinstance(interp.analysis.crossing_psnr(t), float)


def test_evidence_partition_of_a_pure_predictor_puts_everything_on_the_past(clips):
    x, c = clips
    t = interp.evidence_partition(last_frame, x, c, [0.0, 40.0], seed=0)
    assert (t["mse_y"] == t["norm_x"]).all()  # x_hat_y = J_y y = 0
    np.testing.assert_allclose(t["mse_c"], t["mse_total"])


# --------------------------------------------------------------------------- Fig. 12


def test_next_frame_samples_of_a_still_world(clips):
    x, c = clips
    res = ad.next_frame_samples(last_frame, c[0], 3, seed=0, x=x[0], max_iter=200)
    assert res.onestep.shape == (H, W) and res.samples.shape == (3, H, W) and res.status.shape == (3,)
    np.testing.assert_allclose(res.onestep, c[0, -1].numpy(), atol=1e-6)  # the one-step estimate is the past frame
    assert list(res.status) == ["converged"] * 3
    np.testing.assert_allclose(res.samples, np.broadcast_to(c[0, -1].numpy(), (3, H, W)), atol=1e-6)
    assert list(res.table.columns) == ["clip", "kind", "index", "status", "psnr"]
    want = 10 * np.log10(1 / np.mean((c[0, -1].numpy().astype(np.float64) - x[0, 0].numpy()) ** 2))
    np.testing.assert_allclose(res.table["psnr"], want, rtol=1e-5)


def test_next_frame_samples_of_a_network(net, clips):
    _, c = clips
    res = ad.next_frame_samples(net, c[1], 2, seed=0, max_iter=3)
    assert res.samples.shape == (2, H, W) and np.isfinite(res.onestep).all()
    assert res.table["psnr"].isna().all()  # no true frame given


# --------------------------------------------------------------------------- Figs. 3, 4, 11


def _future_denoiser(probes, front):
    """A homogeneous denoiser that knows the probes: returns the next frame with ``front`` ('larger',
    'left' or 'right') disk in front, for the probe whose conditioning it is given."""
    conds = torch.from_numpy(np.stack([p.conditioning() for p in probes])).double()
    futures = []
    for p in probes:
        side = front if front != "larger" else ("right" if p.dr > 0 else "left")
        futures.append(torch.from_numpy(p.frames(side)[-1]).double())

    def net(y, c):
        out = []
        for cb in c.double():
            scale = cb.norm()
            k = int(torch.argmin(torch.stack([(cb / scale - q / q.norm()).norm() for q in conds])))
            out.append(futures[k] * scale / conds[k].norm())  # degree 1 in c
        return torch.stack(out)[:, None].to(y.dtype)

    return net


def test_probe_trial_reads_the_decision_of_every_sample():
    probe = psychometrics.Probe(radius_left=6.0, radius_right=8.0)
    trial = psychometrics.probe_trial(_future_denoiser([probe], "left"), probe, 3, seed=0, n_states=2, max_iter=200)
    assert trial.conditioning.shape == (TAU, 32, 32) and trial.samples.shape == (3, 32, 32)
    assert list(trial.choices.columns) == ["sample", "status", "choice", "right_front", "valid", "reason",
                                           "weight_right"]
    assert list(trial.choices["choice"]) == ["left"] * 3  # the denoiser always puts the left disk in front
    assert trial.states.shape[0] == len(trial.state_iterations) <= 2
    assert 0 < trial.iterations <= 200
    np.testing.assert_allclose(trial.onestep, probe.frames("left")[-1], atol=1e-5)


def test_probe_trial_on_a_network():
    torch.manual_seed(0)
    small = UNet(tau=TAU, width=4).eval()
    trial = psychometrics.probe_trial(small, psychometrics.Probe(), 2, seed=0, n_states=1, max_iter=3)
    assert trial.samples.shape == (2, 32, 32) and len(trial.choices) == 2
    with pytest.raises(InterpError, match="Probe"):
        psychometrics.probe_trial(small, "probe", 2)


def test_psychometric_sweep_of_a_denoiser_that_follows_the_rule():
    probes = psychometrics.probe_grid([-3.0, 3.0], mean_radius=7.0)
    res = psychometrics.psychometric_sweep(_future_denoiser(probes, "larger"), probes, 4, seed=0,
                                           truth="deterministic", n_boot=10, max_iter=200)
    cond = res.conditions.set_index("dr")
    assert cond.loc[3.0, "freq_right"] == 1.0 and cond.loc[-3.0, "freq_right"] == 0.0
    np.testing.assert_array_equal(cond["p_true"], cond["freq_right"])
    assert res.summary["invalid_rate"] == 0.0 and res.summary["calibration_error"] == pytest.approx(0.0)
    assert len(res.samples) == 8 and len(res.onestep) == 2
    assert list(res.curve.columns) == ["dr", "p_fit", "p_true"]
    assert res.curve["dr"].min() == -3.5 and res.curve["dr"].max() == 3.5


# --------------------------------------------------------------------------- Fig. 5


def test_recursive_rollouts_of_a_still_world(clips):
    _, c = clips
    r = recursive_rollouts(last_frame, c[:2], 3, seed=0, max_iter=200)
    assert r.sampled.shape == (2, TAU + 3, H, W) and r.onestep.shape == (2, TAU + 3, H, W)
    assert r.status.shape == (2, 3) and (r.status == "converged").all()
    for seq in (r.sampled, r.onestep):
        torch.testing.assert_close(seq[:, :TAU], c[:2])  # the real frames come first
        for t in range(TAU, TAU + 3):  # then the last real frame, over and over
            torch.testing.assert_close(seq[:, t], c[:2, -1], atol=1e-5, rtol=0)


def test_recursive_rollouts_on_a_network(net, clips):
    _, c = clips
    r = recursive_rollouts(net, c[0], 2, seed=0, max_iter=3)  # one start, unbatched
    assert r.sampled.shape == (1, TAU + 2, H, W) and r.status.shape == (1, 2)
    assert torch.isfinite(r.onestep).all()


# --------------------------------------------------------------------------- Figs. 9, 10


def test_onedim_tables():
    score = onedim.score_table([0.1, 1.0], n_points=101)
    assert np.isfinite(score.select_dtypes("number").to_numpy()).all()
    samp = onedim.sampling_table(n_steps=5, n_points=101)
    assert len(samp) > 0


# --------------------------------------------------------------------------- batches

def _same(a, b, rtol=1e-4, atol=1e-5):
    if isinstance(a, pd.DataFrame):
        num = [k for k in a.columns if k != "clip" and pd.api.types.is_numeric_dtype(a[k])]
        np.testing.assert_allclose(a[num].to_numpy(float), b[num].to_numpy(float), rtol=rtol, atol=atol)
        other = [k for k in a.columns if k != "clip" and k not in num]
        assert a[other].reset_index(drop=True).equals(b[other].reset_index(drop=True))
    else:
        np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=rtol, atol=atol)


def _rows(table, b):
    return table[table["clip"] == b].reset_index(drop=True)


def _analyses(net):
    """name -> (call(x, c) for one clip or a batch, clip b of its result)."""
    return {
        "denoising_curve": (lambda x, c: ad.denoising_curve(net, x, c, [0.0, 25.0], seed=2), _rows),
        "evidence_partition": (lambda x, c: interp.evidence_partition(net, x, c, [0.0, 25.0], seed=2, n_noise=2)
                               .rename(columns={"sequence": "clip"}), _rows),
        "filter_example": (lambda x, c: ad.filter_example(net, x, c, 16.0, seed=1, pixel=(5, 7)),
                           lambda r, b: (r.filters[b], r.stats[r.stats["clip"] == b].reset_index(drop=True))),
        "next_frame_samples": (lambda x, c: ad.next_frame_samples(net, c, 2, seed=0, x=x, max_iter=4),
                               lambda r, b: (r.onestep[b], r.samples[b], _rows(r.table, b))),
        "recursive_rollouts (one-step)": (
            lambda x, c: recursive_rollouts(net, c, 2, seed=0, max_iter=2).onestep,
            lambda r, b: r[b]),
    }


def _unbatched(result, name):
    """An unbatched call's result in the layout of one clip of a batch."""
    if name == "recursive_rollouts (one-step)":
        return result[0]  # rollouts keep a batch axis of one
    if name in ("filter_example",):
        return result.filters, result.stats.reset_index(drop=True)
    if name == "next_frame_samples":
        return result.onestep, result.samples, result.table
    return result


@pytest.mark.parametrize("name", list(_analyses(None)))
def test_one_clip_gives_the_same_numbers_unbatched_and_in_batches_of_1_and_3(net, clips, name):
    x, c = clips
    call, clip_of = _analyses(net)[name]
    one = _unbatched(call(x[1], c[1]), name)  # x [1, H, W], c [tau, H, W]
    b1 = clip_of(call(x[1:2], c[1:2]), 0)
    b3_all = call(x, c)
    b3 = clip_of(b3_all, 1)  # the same clip in the middle of a batch of three
    for got in (b1, b3):
        for u, v in zip(one if isinstance(one, tuple) else (one,), got if isinstance(got, tuple) else (got,)):
            _same(u, v)
    first = clip_of(b3_all, 0)
    a = first[0] if isinstance(first, tuple) else first
    m = b3[0] if isinstance(b3, tuple) else b3
    if isinstance(a, pd.DataFrame):
        a, m = a.select_dtypes("number").to_numpy(float), m.select_dtypes("number").to_numpy(float)
    assert not np.allclose(np.asarray(a, dtype=float), np.asarray(m, dtype=float))  # other clips, other numbers


@pytest.mark.parametrize("name", ["sample", "one_step"])
def test_the_sampler_gives_one_clip_the_same_draws_unbatched_and_in_a_batch_of_one(net, clips, name):
    """(In a larger batch a clip's chains take other rows of the sampler's one noise stream, as
    interp.analysis.sampler documents; next_frame_samples calls it clip by clip for that reason.)"""
    _, c = clips
    call = {"sample": lambda cc: interp.sample(net, cc, 2, seed=4, max_iter=3, warn=False),
            "one_step": lambda cc: interp.one_step(net, cc, 2, seed=4)}[name]
    one, b1 = call(c[1]), call(c[1:2])
    assert tuple(b1.shape) == (1, *one.shape)
    torch.testing.assert_close(b1[0].nan_to_num(-1), one.nan_to_num(-1), rtol=0, atol=0)


@pytest.mark.parametrize("name", ["sample", "one_step"])
def test_one_seed_per_conditioning_gives_each_clip_its_samples_alone(net, clips, name):
    """With a seed per conditioning, clip i of a batch of three gets exactly the samples it
    gets alone with seed s_i; with one int seed the batch shares one stream (other rows)."""
    _, c = clips
    # an untrained net's chains stop at max_iter with NaN samples: compare their last states
    call = {"sample": lambda cc, s: interp.sample(net, cc, 2, seed=s, max_iter=3, warn=False,
                                                  return_info=True)[1].last_y,
            "one_step": lambda cc, s: interp.one_step(net, cc, 2, seed=s)}[name]
    seeds = [7, 3, 11]
    assert torch.isfinite(call(c, seeds)).all()
    batch = call(c, seeds)
    for i, s in enumerate(seeds):
        torch.testing.assert_close(batch[i].nan_to_num(-1), call(c[i], s).nan_to_num(-1), rtol=0, atol=0)
    torch.testing.assert_close(call(c[1:2], [3]).nan_to_num(-1), call(c[1:2], 3).nan_to_num(-1), rtol=0, atol=0)
    shared = call(c, 3)
    assert not torch.equal(shared[1].nan_to_num(-1), call(c[1], 3).nan_to_num(-1))  # one stream: other rows
    with pytest.raises(interp.InterpError, match="2 seeds for 3 conditionings"):
        call(c, [1, 2])
    with pytest.raises(interp.InterpError, match="seed"):
        call(c, [1, -2, 3])
