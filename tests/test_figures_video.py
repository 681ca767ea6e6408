"""The natural-video analyses and plots (Figs. 6, 7, 8, 12) on tiny untrained networks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from interp import InterpError, figures, plotting
from interp.analysis import denoising as ad
from interp.analysis.jacobian import evidence_partition
from interp.data.dataset import Dataset, save
from interp.figures import video as fv
from interp.nets import checkpoint
from interp.nets.unet import UNet


def _moving_clips(n: int = 6, T: int = 11, size: int = 32, seed: int = 0) -> np.ndarray:
    """Smooth random patterns: sequence 0 moves left 2 px/frame, 1 right, the others still."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    out = np.empty((n, T, size, size), np.float32)
    for i in range(n):
        big = gaussian_filter(rng.random((size, size + 5 * T)), 1.5)
        big = (big - big.min()) / (big.max() - big.min())
        v = -2 if i == 0 else (2 if i == 1 else 0)
        x0 = 5 * T // 2
        for t in range(T):
            out[i, t] = big[:, x0 - v * t: x0 - v * t + size]
    return out


@pytest.fixture
def setup(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    folder.mkdir()
    torch.manual_seed(0)
    for tau in range(4):
        checkpoint.save(folder / f"t{tau}.safetensors", UNet(tau=tau, width=4), {})
        (folder / f"t{tau}.toml").write_text(f"[model]\ntau = {tau}\nwidth = 4\n\n[data]\nsource = \"leaves\"\n")
    checkpoint.save(folder / "pred.safetensors", UNet(tau=2, width=4, predict_only=True), {})
    (folder / "pred.toml").write_text("[model]\ntau = 2\nwidth = 4\npredict_only = true\n\n"
                                      "[data]\nsource = \"leaves\"\n")
    monkeypatch.setenv(figures.MODELS_DIR_ENV, str(folder))
    frames = _moving_clips()
    data = tmp_path / "clips.npz"
    save(Dataset(frames, {"test": np.ones(len(frames), bool)}, {"name": "synthetic"}), data)
    return data, frames


def test_estimate_shift_recovers_a_translation():
    rng = np.random.default_rng(1)
    a = rng.random((32, 40))
    b = np.roll(np.roll(a, 2, axis=0), -3, axis=1)
    dy, dx, err = ad.estimate_shift(a, b)
    assert (dy, dx) == (2, -3) and err < 1e-12


def test_pick_moving_finds_the_leftward_pattern():
    frames = _moving_clips()
    assert ad.pick_moving(frames, 10, 2, "left") == 0
    assert ad.pick_moving(frames, 10, 2, "right") == 1


def test_curve_stats_slope_gain_and_identity_crossing():
    p = np.arange(-20.0, 55.0, 5.0)
    rows = [{"tau": 0, "predict_only": False, "psnr_in": x, "psnr_out": 0.5 * x + 10} for x in p]
    rows += [{"tau": 2, "predict_only": False, "psnr_in": x, "psnr_out": 0.5 * x + 15} for x in p]
    rows += [{"tau": 2, "predict_only": True, "psnr_in": x, "psnr_out": 21.0} for x in p]
    s = ad.curve_stats(pd.DataFrame(rows))
    assert s["slope_tau0"] == pytest.approx(0.5)
    assert s["identity_crossing_tau0"] == pytest.approx(20.0)
    assert s["gain_tau2_at_0dB"] == pytest.approx(5.0)
    assert s["gain_predict_at_0dB"] == pytest.approx(11.0)
    assert s["predict_level"] == pytest.approx(21.0)


def test_denoising_curves_table_matches_a_direct_computation(setup):
    data, frames = setup
    levels = [-10.0, 0.0, 20.0]
    t = fv.denoising_curves(["t0", "t2", "pred"], psnrs=levels, data=str(data), seed=3)
    curves = t[t["kind"] == "curve"]
    assert len(curves) == 3 * len(levels)
    assert set(curves["n"]) == {len(frames)}
    pred = curves[curves["predict_only"].astype(bool)]
    assert pred["psnr_out"].nunique() == 1  # it never sees the observation
    # recompute tau = 2 at 0 dB: same noise stream (levels in order, one draw each)
    net = checkpoint.load(figures.models_dir() / "t2.safetensors").eval()
    gen = torch.Generator().manual_seed(3)
    x = torch.from_numpy(frames[:, 10:11])
    noise = [torch.randn(x.shape, generator=gen) for _ in levels]
    with torch.no_grad():
        est = net(x + noise[1], torch.from_numpy(frames[:, 8:10]))
    mse = (est.double() - x.double()).pow(2).flatten(1).mean(1).numpy()
    got = curves[(curves["model"] == "t2") & (curves["psnr_in"] == 0.0)]["psnr_out"].item()
    assert got == pytest.approx(float(np.mean(10 * np.log10(1 / mse))), rel=1e-6)
    stats = dict(zip(t[t["kind"] == "stat"]["name"], t[t["kind"] == "stat"]["value"]))
    assert {"gain_tau2_at_0dB", "predict_level", "psnr_tau0_at_0dB"} <= set(stats)
    assert set(t["data"]) == {str(data)}
    fig = plotting.plot_denoising_curves(t)
    assert len(fig.axes) == 1 + t[t["kind"] == "frame"]["slot"].nunique()


def test_denoising_curves_bad_input(setup):
    data, _ = setup
    with pytest.raises(InterpError, match="target frame"):
        fv.denoising_curves(["t3"], psnrs=[0.0], target=2, data=str(data))
    with pytest.raises(InterpError, match="example"):
        fv.denoising_curves(["t0"], psnrs=[0.0], example=99, data=str(data))


def test_adaptive_filter_example_is_exact_and_finds_the_motion(setup):
    data, _ = setup
    t = fv.adaptive_filter_example(["t2"], psnr=16.0, data=str(data))
    stats = dict(zip(t[t["kind"] == "stat"]["name"], t[t["kind"] == "stat"]["value"]))
    assert int(t["sequence"].iloc[0]) == 0  # the leftward pattern
    assert stats["shift_dx"] == -2 and stats["shift_dy"] == 0
    ins, fil = t[t["kind"] == "input"], t[t["kind"] == "filter"]
    total = sum(float((ins[ins["slot"] == s]["value"].to_numpy() * fil[fil["slot"] == s]["value"].to_numpy()).sum())
                for s in range(3))
    assert total == pytest.approx(stats["output"], abs=1e-4)  # homogeneity: J x = x_hat
    fig = plotting.plot_adaptive_filters(t)
    assert len(fig.axes) == 2 * 3 + 1


def test_adaptive_filter_example_refuses_prediction_only(setup):
    data, _ = setup
    with pytest.raises(InterpError, match="prediction-only"):
        fv.adaptive_filter_example(["pred"], data=str(data))


def test_probe_sequences_have_the_intended_predictability():
    probes = ad.probe_sequences(_moving_clips(), 3, seed=0)
    assert list(probes) == ["non-rigid texture", "moving object", "static smooth regions"]
    for seq, _ in probes.values():
        assert seq.shape == (3, 32, 32) and seq.dtype == np.float32 and 0 <= seq.min() and seq.max() <= 1
    static = probes["static smooth regions"][0]
    assert np.array_equal(static[0], static[-1])
    assert len(np.unique(np.round(static[0], 1))) >= 3
    moving = probes["moving object"][0]
    changed = np.abs(moving[1] - moving[0]) > 1e-6
    assert 0 < changed.mean() < 0.5  # the object moves, the background stays
    texture = probes["non-rigid texture"][0]
    assert np.abs(texture[1] - texture[0]).mean() > 0.01
    assert np.array_equal(texture, ad.probe_sequences(_moving_clips(), 3, seed=0)["non-rigid texture"][0])


def test_evidence_weighting_partition_and_crossings(setup):
    data, _ = setup
    t = fv.evidence_weighting(["t2"], psnrs=[-10.0, 20.0, 60.0], n_noise=2, data=str(data))
    curves = t[t["kind"] == "curve"]
    assert len(curves) == 3 * 3
    assert np.allclose(curves["mse_total"], curves["mse_c"] + curves["mse_y"] + curves["interaction"], rtol=1e-5)
    assert (curves["euler_rms"] < 1e-4).all()
    stats = t[t["kind"] == "stat"]
    assert list(stats["probe"]) == ["non-rigid texture", "moving object", "static smooth regions"]
    fig = plotting.plot_evidence_weighting(t)
    assert len(fig.axes) == 3 * (3 + 1)


def test_evidence_partition_one_sequence_several_noise_draws():
    torch.manual_seed(0)
    net = UNet(tau=2, width=4).eval()
    x, c = torch.rand(1, 1, 16, 16), torch.rand(1, 2, 16, 16)
    t = evidence_partition(net, x, c, [0.0, 30.0], n_noise=3)
    assert len(t) == 2 and (t["n_noise"] == 3).all()


def test_natural_samples_layout(setup):
    data, _ = setup
    t = fv.natural_samples(["t2"], n_samples=3, max_iter=5, data=str(data))
    panels = t.drop_duplicates(["track", "slot"])
    assert list(panels[panels["track"] == 0]["role"]) == ["conditioning", "conditioning", "onestep", "truth"]
    assert (panels["role"] == "sample").sum() == 3
    assert np.isnan(panels[panels["role"] == "truth"]["psnr"]).all()
    fig = plotting.plot_frame_grid(t)
    assert len(fig.axes) == 2 * 4


def test_manifest_lists_the_natural_video_figures():
    specs = {s.id: s for s in figures.load_manifest()}
    for fid, analysis in [("fig06", "denoising_curves"), ("fig07", "adaptive_filter_example"),
                          ("fig08", "evidence_weighting"), ("fig12", "natural_samples")]:
        assert specs[fid].analysis == analysis and analysis in figures.ANALYSES
        assert callable(figures.plot_function(specs[fid]))


def test_importing_figures_alone_registers_the_natural_video_figures():
    import subprocess
    import sys

    code = ("import interp.figures as f, interp.plotting as p; "
            "assert {'denoising_curves', 'adaptive_filter_example', 'evidence_weighting', 'natural_samples'} "
            "<= set(f.ANALYSES); assert all(f.PLOTS.get(i) for i in ('fig06', 'fig07', 'fig08', 'fig12'))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_figure_tables_take_any_network_and_clips():
    """The layouts the notebooks use: Figs. 6, 7 and 8 from a network and arrays, no model card."""
    torch.manual_seed(0)
    net = UNet(tau=2, width=4).eval()
    frames = _moving_clips(n=3)
    t6 = fv.denoising_figure_table({"mine": net}, frames, [-5.0, 10.0], 10)  # no tau = 0 net, no 0 dB level
    assert set(t6["kind"]) == {"curve", "frame"} and "name" in t6.columns
    assert len(plotting.plot_denoising_curves(t6).axes) == 1 + t6[t6["kind"] == "frame"]["slot"].nunique()
    t7 = fv.filter_figure_table(net, frames[0, 10:11], frames[0, 8:10], 16.0, 0, (5, 7))
    ins, fil = t7[t7["kind"] == "input"], t7[t7["kind"] == "filter"]
    stats = dict(zip(t7[t7["kind"] == "stat"]["name"], t7[t7["kind"] == "stat"]["value"]))
    total = sum(float((ins[ins["slot"] == s]["value"].to_numpy() * fil[fil["slot"] == s]["value"].to_numpy()).sum())
                for s in range(3))
    assert total == pytest.approx(stats["output"], abs=1e-4)
    probes = {"still": (np.repeat(frames[2, :1], 3, axis=0), "a still frame"), "moving": (frames[0, 8:11], "moving")}
    t8 = fv.evidence_figure_table(net, probes, [0.0, 30.0], seed=0, n_noise=1)
    assert list(t8[t8["kind"] == "stat"]["probe"]) == ["still", "moving"]
    assert len(plotting.plot_evidence_weighting(t8).axes) == 2 * (3 + 1)
