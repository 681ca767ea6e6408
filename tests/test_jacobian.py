"""Local linear analysis (interp.jacobian): filters, Jacobians, eq. 5 and eq. 7, and the CLI.

Most checks use tiny untrained bias-free U-nets (width 4, 16x16 frames) in float64, where
the Jacobian can be brute-forced; the motion check uses the shipped model, with a hand-built
motion-compensating denoiser (and a static one) as controls of the measurement itself.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import REPO, assert_main_one_line, assert_one_line_error, run_cli

from interp import InterpError
from interp.analysis import jacobian as jac
from interp.analysis.jacobian import (
    adaptive_filter,
    adaptive_filters,
    clip_seed,
    crossing_psnr,
    evidence_partition,
    filter_centroids,
    full_jacobian,
    jacobian_spectrum,
    split_evidence,
)
from interp.cli import jacobian as jacobian_cli
from interp.cli.common import run
from interp.nets.unet import UNet

H = W = 16
SHIPPED = REPO / "models" / "leaves-tau2.safetensors"


def tiny(tau: int = 2, seed: int = 0, dtype=torch.float64) -> UNet:
    torch.manual_seed(seed)
    return UNet(tau=tau, width=4).to(dtype).eval()


def inputs(tau: int = 2, seed: int = 1, dtype=torch.float64, batch: int | None = None):
    g = torch.Generator().manual_seed(seed)
    lead = () if batch is None else (batch,)
    c = torch.rand((*lead, tau, H, W), generator=g, dtype=dtype)
    y = torch.rand((*lead, 1, H, W), generator=g, dtype=dtype) + 0.2 * torch.randn(
        (*lead, 1, H, W), generator=g, dtype=dtype)
    return y, c


def brute_jacobian(net, y, c) -> torch.Tensor:
    """[H*W, (tau+1)*H*W] by torch.autograd.functional.jacobian of the whole map."""
    tau = c.shape[0]

    def f(x):
        return net(x[tau:][None], x[:tau][None])[0, 0]

    J = torch.autograd.functional.jacobian(f, torch.cat([c, y]))  # [H, W, tau+1, H, W]
    return J.reshape(H * W, -1)


# --------------------------------------------------------------------------- filters


def test_shapes_and_dtypes():
    net32 = tiny(dtype=torch.float32)
    y, c = inputs(dtype=torch.float32)
    f = adaptive_filter(net32, y, c, (3, 4))
    assert f.shape == (3, H, W) and f.dtype == torch.float32 and not f.requires_grad
    assert torch.equal(adaptive_filter(net32, y[0], c, (3, 4)), f)  # [H, W] observation accepted
    assert adaptive_filter(net32, y.double(), c.double(), (3, 4)).dtype == torch.float32  # the network's dtype
    assert next(net32.parameters()).dtype == torch.float32  # the network itself is untouched
    fs = adaptive_filters(net32, y.numpy(), c.numpy(), [(0, 0), (15, 15)])
    assert fs.shape == (2, 3, H, W)
    assert adaptive_filters(net32, y, c, []).shape == (0, 3, H, W)
    J = full_jacobian(net32, y, c)
    assert J.shape == (H * W, 3 * H * W)
    yb, cb = inputs(dtype=torch.float32, batch=3)
    xy, xc = split_evidence(net32, yb, cb)
    assert xy.shape == xc.shape == (3, 1, H, W) and xy.dtype == torch.float32
    xy1, xc1 = split_evidence(net32, yb[0], cb[0])
    assert xy1.shape == (1, H, W)
    assert filter_centroids(fs).shape == (2, 3, 2)


def test_filter_centroids_core_ignores_diffuse_tails():
    f = np.full((1, 9, 9), 0.01)  # a weak tail over the whole frame ...
    f[0, 2, 6] = 1.0  # ... and a sharp core
    plain = filter_centroids(f)[0]
    assert plain[0] > 2.5 and plain[1] < 5.5  # the tail's mass pulls the plain centroid to the middle
    assert np.allclose(filter_centroids(f, core=0.5)[0], [2.0, 6.0])
    assert np.allclose(filter_centroids(-f, core=0.5)[0], [2.0, 6.0])  # |filter| by default
    assert np.isnan(filter_centroids(np.zeros((1, 4, 4)), core=0.5)).all()
    for bad in (-0.1, 1.0, "half"):
        with pytest.raises(InterpError, match="core"):
            filter_centroids(f, core=bad)


def test_adaptive_filter_matches_brute_force_jacobian():
    net = tiny()
    y, c = inputs()
    J = brute_jacobian(net, y, c)
    for r, q in [(0, 0), (7, 9), (15, 3), (8, 15)]:
        f = adaptive_filter(net, y, c, (r, q))
        torch.testing.assert_close(f.reshape(-1), J[r * W + q], rtol=1e-10, atol=1e-12)


def test_chunked_vmap_filters_equal_per_pixel_calls():
    net = tiny()
    y, c = inputs()
    pixels = [(0, 0), (1, 5), (7, 7), (15, 15), (3, 12), (10, 2), (7, 7)]
    fs = adaptive_filters(net, y, c, pixels, chunk=3)
    for p, f in zip(pixels, fs):
        torch.testing.assert_close(f, adaptive_filter(net, y, c, p), rtol=1e-10, atol=1e-12)
    # the same with an integer array of pixels and another chunking
    torch.testing.assert_close(adaptive_filters(net, y, c, np.array(pixels), chunk=64), fs)


def test_autograd_engine_of_the_cli_gives_the_same_filter():
    net = tiny(dtype=torch.float32)
    y, c = inputs(dtype=torch.float32)
    a, va = jac.filter_and_output(net, y, c, (5, 6), engine="func")
    b, vb = jac.filter_and_output(net, y, c, (5, 6), engine="autograd")
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(va, vb)


def test_full_jacobian_rows_are_the_filters():
    net = tiny()
    y, c = inputs()
    J = full_jacobian(net, y, c, chunk=50)
    torch.testing.assert_close(J, brute_jacobian(net, y, c), rtol=1e-10, atol=1e-12)
    for r, q in [(2, 3), (15, 0)]:
        torch.testing.assert_close(J[r * W + q], adaptive_filter(net, y, c, (r, q)).reshape(-1))


@pytest.mark.parametrize("tau", [0, 1, 2, 3])
def test_homogeneity_filters_reproduce_the_output(tau):
    net = tiny(tau, seed=tau)
    y, c = inputs(tau, seed=10 + tau)
    with torch.no_grad():
        x_hat = net(y[None], c[None])[0, 0]
        # degree-1 homogeneity itself: f(a y, a c) = a f(y, c) for a > 0
        torch.testing.assert_close(net(2.5 * y[None], 2.5 * c[None])[0, 0], 2.5 * x_hat)
    x = torch.cat([c, y])
    J = full_jacobian(net, y, c)
    torch.testing.assert_close(J @ x.reshape(-1), x_hat.reshape(-1), rtol=1e-10, atol=1e-12)
    for p in [(0, 0), (8, 8), (15, 11)]:
        f = adaptive_filter(net, y, c, p)
        assert float((f * x).sum()) == pytest.approx(float(x_hat[p]), rel=1e-10, abs=1e-12)


def test_homogeneity_in_float32():
    net = tiny(2, dtype=torch.float32)
    y, c = inputs(2, dtype=torch.float32)
    f, value = jac.filter_and_output(net, y, c, (9, 4))
    assert float((f * torch.cat([c, y])).sum()) == pytest.approx(float(value), rel=1e-4, abs=1e-5)


def test_spectrum_effective_dimensionality():
    net = tiny()
    y, c = inputs()
    J = full_jacobian(net, y, c)
    s = jacobian_spectrum(J)
    assert s.singular_values.shape == (H * W,) and s.observation_singular_values.shape == (H * W,)
    assert torch.all(s.singular_values[:-1] >= s.singular_values[1:])
    assert s.effective_dim == pytest.approx(float(J.pow(2).sum()), rel=1e-10)
    Jy = J[:, -H * W:]
    assert s.observation_effective_dim == pytest.approx(float(Jy.pow(2).sum()), rel=1e-10)
    assert s.observation_trace == pytest.approx(float(torch.trace(Jy)), rel=1e-10)
    # an orthogonal projection onto d dimensions has effective dimensionality d
    q, _ = torch.linalg.qr(torch.randn(H * W, 5, dtype=torch.float64))
    P = torch.cat([torch.zeros(H * W, H * W, dtype=torch.float64), q @ q.T], dim=1)
    proj = jacobian_spectrum(P)
    assert proj.effective_dim == pytest.approx(5.0) and proj.observation_trace == pytest.approx(5.0)
    with pytest.raises(InterpError, match="Jacobian"):
        jacobian_spectrum(torch.zeros(4, 6))


# --------------------------------------------------------------------------- eq. 5 and eq. 7


def test_split_evidence_adds_up_and_matches_the_jacobian():
    net = tiny()
    yb, cb = inputs(batch=3, seed=5)
    xy, xc = split_evidence(net, yb, cb, batch_size=2)
    with torch.no_grad():
        x_hat = net(yb, cb)
    torch.testing.assert_close(xy + xc, x_hat, rtol=1e-10, atol=1e-12)
    for b in range(3):
        J = full_jacobian(net, yb[b], cb[b])
        n = H * W
        torch.testing.assert_close(xy[b].reshape(-1), J[:, -n:] @ yb[b].reshape(-1), rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(xc[b].reshape(-1), J[:, :-n] @ cb[b].reshape(-1), rtol=1e-10, atol=1e-12)


def test_split_evidence_ignores_autocast_and_restores_training_mode():
    net = tiny(dtype=torch.float32).train()
    yb, cb = inputs(batch=2, dtype=torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        xy, xc = split_evidence(net, yb, cb)
    assert net.training
    with torch.no_grad():
        x_hat = net.eval()(yb, cb)
    assert xy.dtype == xc.dtype == torch.float32
    torch.testing.assert_close(xy + xc, x_hat, rtol=1e-4, atol=1e-5)


def test_split_evidence_tau0():
    net = tiny(0)
    yb, _ = inputs(0, batch=2)
    xy, xc = split_evidence(net, yb, None)
    with torch.no_grad():
        torch.testing.assert_close(xy, net(yb), rtol=1e-10, atol=1e-12)
    assert torch.count_nonzero(xc) == 0


def test_evidence_partition_eq7_identity():
    net = tiny()
    g = torch.Generator().manual_seed(3)
    x = torch.rand((2, 1, H, W), generator=g, dtype=torch.float64)
    c = torch.rand((2, 2, H, W), generator=g, dtype=torch.float64)
    psnrs = [-10.0, 10.0, 30.0]
    t = evidence_partition(net, x, c, psnrs, seed=4, n_noise=2)
    assert len(t) == 2 * 3 and list(t["sequence"]) == [0, 0, 0, 1, 1, 1]
    assert list(t["psnr"]) == psnrs * 2
    np.testing.assert_allclose(t["sigma"], 10.0 ** (-t["psnr"] / 20.0))
    # eq. 7, term by term
    np.testing.assert_allclose(t["mse_total"], t["mse_c"] + t["mse_y"] + t["interaction"], rtol=1e-10)
    np.testing.assert_allclose(t["interaction"], t["cross"] - t["norm_x"], rtol=1e-12)
    for col in ("total", "c", "y"):
        np.testing.assert_allclose(t[f"psnr_{col}"], 10 * np.log10(1 / t[f"mse_{col}"]))
    assert (t["euler_rms"] < 1e-12).all()
    # independent recomputation of one row: first level, both draws, sequence 1; each clip's noise
    # comes from its own generator, seeded by the seed and the clip (its first block: the first level)
    gens = [torch.Generator().manual_seed(clip_seed(4, x[b])) for b in range(2)]
    z = torch.stack([torch.randn((2, 1, H, W), generator=g) for g in gens], dim=1).double()  # [draw, clip, 1, H, W]
    y = x[None] + 10.0 ** (10.0 / 20.0) * z  # -10 dB: sigma = 10^(0.5)
    terms = {"mse_total": [], "mse_c": [], "mse_y": [], "cross": []}
    for k in range(2):
        xy, xc = split_evidence(net, y[k], c)
        xh = xy + xc
        d = H * W
        terms["mse_total"].append(float((x[1] - xh[1]).pow(2).sum()) / d)
        terms["mse_c"].append(float((x[1] - xc[1]).pow(2).sum()) / d)
        terms["mse_y"].append(float((x[1] - xy[1]).pow(2).sum()) / d)
        terms["cross"].append(2 * float((xy[1] * xc[1]).sum()) / d)
    row = t[(t["sequence"] == 1) & (t["psnr"] == -10.0)].iloc[0]
    for k, v in terms.items():
        assert row[k] == pytest.approx(np.mean(v), rel=1e-9), k
    # same seed, same table
    pd.testing.assert_frame_equal(t, evidence_partition(net, x, c, psnrs, seed=4, n_noise=2))


def test_evidence_partition_default_sweep_and_errors():
    net = tiny(dtype=torch.float32)
    x = torch.rand((1, 1, H, W))
    c = torch.rand((1, 2, H, W))
    t = evidence_partition(net, x, c)
    assert list(t["psnr"]) == list(np.arange(-20.0, 71.0, 5.0))
    assert isinstance(crossing_psnr(t), float)
    with pytest.raises(InterpError, match="n_noise"):
        evidence_partition(net, x, c, [0.0], n_noise=0)
    with pytest.raises(InterpError, match="psnrs"):
        evidence_partition(net, x, c, [float("nan")])
    with pytest.raises(InterpError, match="tau"):
        evidence_partition(net, x, torch.rand((1, 3, H, W)))


def test_crossing_psnr_on_synthetic_curves():
    p = np.arange(-20.0, 71.0, 5.0)
    one = pd.DataFrame({"psnr": p, "psnr_c": 30.0 - 0.1 * p, "psnr_y": p})  # cross at 300/11
    assert crossing_psnr(one) == pytest.approx(300.0 / 11.0)
    # from mse columns alone, and in any row order
    mse = pd.DataFrame({"psnr": p, "mse_c": 10 ** (-(30.0 - 0.1 * p) / 10), "mse_y": 10 ** (-p / 10)})
    assert crossing_psnr(mse.iloc[::-1]) == pytest.approx(300.0 / 11.0)
    # a crossing exactly on a sampled level
    assert crossing_psnr(pd.DataFrame({"psnr": p, "psnr_c": 25.0 + 0 * p, "psnr_y": p})) == pytest.approx(25.0)
    never = pd.DataFrame({"psnr": p, "psnr_c": 80.0 + 0 * p, "psnr_y": p})  # the past wins throughout
    assert math.isnan(crossing_psnr(never))
    always = pd.DataFrame({"psnr": p, "psnr_c": -50.0 + 0 * p, "psnr_y": p})  # the observation always wins
    assert math.isnan(crossing_psnr(always))
    many = pd.concat([one.assign(sequence=0), never.assign(sequence=1),
                      pd.DataFrame({"psnr": p, "psnr_c": 5.0 + 0 * p, "psnr_y": p, "sequence": 2})])
    s = crossing_psnr(many)
    assert isinstance(s, pd.Series) and list(s.index) == [0, 1, 2]
    assert s[0] == pytest.approx(300.0 / 11.0) and math.isnan(s[1]) and s[2] == pytest.approx(5.0)
    with pytest.raises(InterpError, match="psnr_c"):
        crossing_psnr(pd.DataFrame({"psnr": p}))


# --------------------------------------------------------------------------- motion (Fig. 7)

VELOCITIES = [(0, 2), (2, 0), (0, -2), (-2, 2)]  # px/frame (row, col)
RADIUS = 6.0


def moving_disk(v, end=(16.0, 16.0)) -> np.ndarray:
    """Frames t-2, t-1, t [3, 32, 32] of one disk moving at constant velocity v."""
    from interp.data.leaves import render

    v = np.asarray(v, dtype=np.float32)
    centers = np.stack([np.asarray(end, np.float32) - (2 - k) * v for k in range(3)])
    return render(centers[None, None], np.full((1, 1, 3), RADIUS, np.float32), np.array([[0.8]], np.float32),
                  np.array([0.3], np.float32), np.zeros((1, 1, 3), np.int8), size=32)[0]


def motion_errors(make_net, psnr: float = 16.0) -> np.ndarray:
    """Where each conditioning filter's core sits, for a disk moving at constant velocity v.

    The output pixels sit just inside the leading edge of the disk in the predicted frame
    (at 0 and +-45 degrees from the direction of motion), where the pattern's position is
    identifiable: there, copying the last frame in place gives the background, and only
    the displaced location holds the disk. A filter's position is its half-maximum core
    (``filter_centroids(..., core=0.5)``). Returns [cases, 4]: the distance (px) of the most
    recent frame's core from pixel - v, of the older frame's from pixel - 2 v, and each
    core's displacement from the pixel along -v (px; positive: opposite to the motion).
    """
    gen = torch.Generator().manual_seed(0)
    sigma = 10.0 ** (-psnr / 20.0)
    rows = []
    for v in VELOCITIES:
        frames = moving_disk(v)
        vv = np.asarray(v, dtype=np.float64)
        u = vv / np.linalg.norm(vv)
        pixels = []
        for angle in (0.0, np.pi / 4, -np.pi / 4):
            rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
            pixels.append(tuple(int(k) for k in np.round(np.array([16.0, 16.0]) + (RADIUS - 1.5) * rot @ u)))
        x = torch.from_numpy(frames[2])[None]
        y = x + sigma * torch.randn(x.shape, generator=gen)
        filters = adaptive_filters(make_net(v), y, torch.from_numpy(frames[:2]), pixels)
        centers = filter_centroids(filters, core=0.5)  # [P, 3, 2]
        for p, cen in zip(pixels, centers):
            p = np.asarray(p, dtype=np.float64)
            rows.append([np.linalg.norm(cen[1] - (p - vv)), np.linalg.norm(cen[0] - (p - 2 * vv)),
                         -(cen[1] - p) @ u, -(cen[0] - p) @ u])
    return np.asarray(rows)


def follows_motion(m: np.ndarray, tol: float = 1.0) -> bool:
    """The check of Fig. 7 ("the effective filter ... focuses on the part of the previous
    image displaced" opposite to the motion): the most recent frame's filter core within
    ``tol`` px of pixel - v (median over cases, no case off by more than 2 tol), and the
    older frame's core displaced opposite to the motion too (median displacement along -v
    positive). The older frame is not required to sit at pixel - 2 v: a trained network
    uses it with a signed, derivative-like filter (it measures the velocity) rather than as
    a second copy of the pattern."""
    return bool(np.median(m[:, 0]) <= tol and m[:, 0].max() <= 2 * tol and np.median(m[:, 3]) > 0)


def describe_motion(m: np.ndarray) -> str:
    med = np.median(m, axis=0)
    return (f"most recent frame: median {med[0]:.2f} px from pixel - v (worst {m[:, 0].max():.2f}), displaced "
            f"{med[2]:.2f} px along -v; older frame: displaced {med[3]:.2f} px along -v (median)")


class ShiftDenoiser(torch.nn.Module):
    """A hand-built bias-free (linear) denoiser: blurred copies of the past, displaced by the
    known velocity (``shift=True``) or in place, plus a little of the observation."""

    tau, predict_only = 2, False

    def __init__(self, v, shift: bool = True):
        super().__init__()
        self.v = tuple(int(k) for k in v) if shift else (0, 0)

    def forward(self, y, c):
        def blur(a):
            return torch.nn.functional.avg_pool2d(a, 3, stride=1, padding=1, count_include_pad=False)

        vr, vc = self.v
        last = torch.roll(c[:, 1:2], shifts=(vr, vc), dims=(-2, -1))  # out[p] = c_{t-1}[p - v]
        older = torch.roll(c[:, 0:1], shifts=(2 * vr, 2 * vc), dims=(-2, -1))  # c_{t-2}[p - 2v]
        return 0.5 * blur(last) + 0.3 * blur(older) + 0.2 * blur(y)


def test_motion_check_detects_displaced_filters_and_rejects_static_ones():
    moving = motion_errors(lambda v: ShiftDenoiser(v))
    assert follows_motion(moving) and moving[:, :2].max() < 1e-6
    speed = np.repeat([np.hypot(*v) for v in VELOCITIES], 3)  # three pixels per velocity
    assert np.allclose(moving[:, 2], speed) and np.allclose(moving[:, 3], 2 * speed)  # |v| and 2|v|
    static = motion_errors(lambda v: ShiftDenoiser(v, shift=False))
    assert not follows_motion(static)  # in-place filters are off by |v|, and not displaced
    assert np.allclose(static[:, 0], speed) and np.allclose(static[:, 2:], 0.0)
    backwards = motion_errors(lambda v: ShiftDenoiser(tuple(-k for k in v)))
    assert not follows_motion(backwards)  # displaced along the motion instead of against it


@pytest.fixture(scope="module")
def shipped():
    return _load_model(SHIPPED.stem)


def test_shipped_model_filters_are_exactly_linear(shipped):
    frames = moving_disk((0, 2))
    x = torch.from_numpy(frames[2])[None]
    y = x + 10 ** (-16 / 20) * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    c = torch.from_numpy(frames[:2])
    f, value = jac.filter_and_output(shipped, y, c, (16, 20))
    assert float((f.double() * torch.cat([c, y]).double()).sum()) == pytest.approx(float(value), abs=1e-5)


def _load_model(name: str):
    path = REPO / "models" / f"{name}.safetensors"
    if not path.is_file():
        pytest.skip(f"{path} is not present")
    from interp.nets import checkpoint

    return checkpoint.load(path)


@pytest.mark.xfail(strict=False, reason=(
    "measured (16 dB, 2 px/frame disk): leaves-tau2-occlusion at 8M samples (weight cap 1 and "
    "focus 0.7 from step 33380) displaces its most recent frame's filter 1.85 px along -v, but "
    "its core sits 1.16 px from pixel - v (median; worst 1.68), over the 1 px tolerance; the "
    "step-20508 checkpoint (weight cap 100) passed with 0.86 px. Older frame: +0.14 px along -v"))
def test_occlusion_model_filters_follow_the_motion():
    """leaves-tau2-occlusion, the moving-leaves model trained with the capped weight and the
    first-contact focus, has learned to extrapolate motion (one-step 27.9 dB against 21.8 dB
    for copying the last frame): its filter on the most recent frame sits at pixel - v."""
    net = _load_model("leaves-tau2-occlusion")
    m = motion_errors(lambda v: net)
    assert follows_motion(m), describe_motion(m)


@pytest.mark.xfail(strict=False, reason=(
    "measured (16 dB, 2 px/frame disk): leaves-tau2, trained under the paper's uncapped weight, "
    "keeps its most recent frame's filter near the output pixel (median 2.4 px from pixel - v, "
    "displaced -0.1 px along -v); its one-step prediction is worse than copying the last frame"))
def test_first_leaves_model_filters_follow_the_motion(shipped):
    m = motion_errors(lambda v: shipped)
    assert follows_motion(m), describe_motion(m)


@pytest.mark.xfail(strict=False, reason=(
    "measured (16 dB, 2 px/frame disk): davis32-tau2 (1.5M samples in one run, DAVIS32 built from "
    "ten davis-mini videos) displaces its most recent frame's filter 1.3 px along -v, not the whole "
    "2 px (median 1.27 px from pixel - v, worst 2.83), and its older frame's -0.3 px"))
def test_natural_model_filters_follow_the_motion():
    net = _load_model("davis32-tau2")
    m = motion_errors(lambda v: net)
    assert follows_motion(m), describe_motion(m)


# --------------------------------------------------------------------------- input checks


def test_bad_arguments():
    net = tiny()
    y, c = inputs()
    with pytest.raises(InterpError, match="outside"):
        adaptive_filter(net, y, c, (16, 0))
    with pytest.raises(InterpError, match="outside"):
        adaptive_filter(net, y, c, (-1, 0))
    with pytest.raises(InterpError, match="pair"):
        adaptive_filter(net, y, c, 5)
    with pytest.raises(InterpError, match="tau"):
        adaptive_filter(net, y, c[:1], (0, 0))
    with pytest.raises(InterpError, match="prediction-only"):
        adaptive_filter(UNet(tau=2, width=4, predict_only=True), y, c, (0, 0))
    with pytest.raises(InterpError, match="chunk"):
        adaptive_filters(net, y, c, [(0, 0)], chunk=0)
    with pytest.raises(InterpError, match="y must be"):
        adaptive_filter(net, torch.zeros(2, H, W), c, (0, 0))


# --------------------------------------------------------------------------- CLI


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from interp.data.dataset import Dataset
    from interp.data.leaves import LeavesConfig, generate
    from interp.nets.checkpoint import save

    root = tmp_path_factory.mktemp("jacobian_cli")
    torch.manual_seed(0)
    save(root / "net.safetensors", UNet(tau=2, width=4), {})
    save(root / "pred.safetensors", UNet(tau=2, width=4, predict_only=True), {})
    (root / "garbage.safetensors").write_bytes(b"not a checkpoint at all")
    generate(3, 0, config=LeavesConfig(frames=4)).save(root / "data.npz")
    generate(1, 0, config=LeavesConfig(frames=2)).save(root / "short.npz")
    bad = generate(1, 0, config=LeavesConfig(frames=4)).frames.copy()
    bad[0, 1, 3, 3] = np.nan
    Dataset(frames=bad).save(root / "nan.npz")
    return root


def test_cli_happy_path(files):
    out = files / "out"
    proc = run_cli("interp.jacobian", "--ckpt", files / "net.safetensors", "--input", f"{files / 'data.npz'}:1",
                   "--pixel", "5,7", "--frame", 3, "--psnr", 12, "--seed", 3, "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    filters = np.load(out / "filters.npy")
    assert filters.shape == (3, 32, 32) and filters.dtype == np.float32 and np.isfinite(filters).all()
    assert (out / "filters.png").read_bytes().startswith(b"\x89PNG")
    lines = proc.stdout.splitlines()
    sums = [ln for ln in lines if ln.startswith("filter sum, ")]  # e.g. "filter sum, t-1 (frame 1) (conditioning): ..."
    assert len(sums) == 3 and "observation" in sums[-1] and "conditioning" in sums[0]
    for ln, f in zip(sums, filters):
        assert float(ln.rsplit(":", 1)[1]) == pytest.approx(float(f.sum()), abs=1e-5)
    assert any(ln.startswith("output x_hat[5, 7] =") for ln in lines)
    assert any("estimate PSNR" in ln for ln in lines)
    # the same filter in-process, from the same inputs
    from interp.data.leaves import LeavesConfig, generate
    from interp.nets import checkpoint

    clip = generate(2, 0, config=LeavesConfig(frames=4)).frames[1]
    x = torch.from_numpy(clip[3])[None]
    y = x + 10 ** (-12 / 20) * torch.randn((1, 32, 32), generator=torch.Generator().manual_seed(3))
    f = adaptive_filter(checkpoint.load(files / "net.safetensors"), y, torch.from_numpy(clip[1:3]), (5, 7))
    np.testing.assert_allclose(filters, f.numpy(), rtol=1e-4, atol=1e-6)


def test_cli_default_example_in_process(files, capsys):
    out = files / "default"
    assert run(jacobian_cli.main, jacobian_cli.PROG, ["--ckpt", str(files / "net.safetensors"), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "moving-leaves test sequence 0" in text and "x_hat[16, 16]" in text
    assert np.load(out / "filters.npy").shape == (3, 32, 32)


@pytest.mark.parametrize("args, needle", [
    (["--ckpt", "{root}/nope.safetensors"], "does not exist"),
    (["--ckpt", "{root}/garbage.safetensors"], "not a checkpoint"),
    (["--ckpt", "{root}/pred.safetensors"], "prediction-only"),
    (["--pixel", "32,0"], "outside"),
    (["--pixel", "0,40"], "outside"),
    (["--pixel", "middle"], "--pixel"),
    (["--pixel", "3"], "--pixel"),
    (["--pixel", "1,2,3"], "--pixel"),
    (["--pixel", "-1,2"], "--pixel"),
    (["--input", "{root}/data.npz:3"], "out of range"),
    (["--input", "{root}/data.npz"], "FILE.npz:INDEX"),
    (["--input", "{root}/short.npz:0"], "tau mismatch"),
    (["--input", "{root}/nan.npz:0"], "non-finite"),
    (["--frame", "1"], "--frame"),
    (["--frame", "4"], "beyond"),
    (["--psnr", "nan"], "finite"),
    (["--seed", "-1"], "non-negative"),
])
def test_cli_bad_input_is_one_line_error(files, capsys, args, needle):
    base = {"--ckpt": f"{files}/net.safetensors", "--input": f"{files}/data.npz:0", "--out": f"{files}/bad"}
    argv = []
    for k, v in {**base, **dict(zip(args[::2], args[1::2]))}.items():
        argv += [k, v.format(root=files)]
    assert_main_one_line(capsys, jacobian_cli.main, jacobian_cli.PROG, argv, needle)


def test_cli_error_in_a_subprocess(files):
    proc = run_cli("interp.jacobian", "--ckpt", files / "pred.safetensors", "--out", files / "bad2")
    assert_one_line_error(proc, "prediction-only")
    proc = run_cli("interp.jacobian", "--ckpt", files / "net.safetensors", "--pixel", "1;2")
    assert_one_line_error(proc, "--pixel")
