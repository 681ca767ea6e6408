"""Moving leaves (appendix D): each property of the generator, checked on generated data."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_one_line_error, run_cli
from scipy import stats

from interp import InterpError
from interp.data import leaves
from interp.data.dataset import Dataset, load
from interp.data.leaves import LeavesConfig, generate

N = 3000


@pytest.fixture(scope="module")
def ds():
    return generate(N, seed=7)


def disk_masks(center, radius, size=32, sub=8):
    """Exact-ish coverage of each disk by supersampling (independent of the renderer)."""
    off = (np.arange(sub) + 0.5) / sub - 0.5
    g = (np.arange(size)[:, None] + off[None, :]).reshape(-1)  # size*sub sample coordinates
    dy = g[None, :] - center[..., 0:1]
    dx = g[None, :] - center[..., 1:2]
    inside = (dy[..., :, None] ** 2 + dx[..., None, :] ** 2) <= radius[..., None, None] ** 2
    return inside  # [..., size*sub, size*sub] boolean samples


def test_shape_dtype_range(ds):
    assert ds.frames.shape == (N, 11, 32, 32)
    assert ds.frames.dtype == np.float32
    assert ds.frames.min() >= 0.0 and ds.frames.max() <= 1.0
    assert np.isfinite(ds.frames).all()


def test_two_disks_on_uniform_background(ds):
    m = ds.meta
    assert m["luminance"].shape == (N, 2)
    yy, xx = np.mgrid[:32, :32]
    for i in range(50):
        for t in (0, 5, 10):
            f = ds.frames[i, t]
            c, r = m["center"][i, :, t], m["radius"][i, :, t]
            d = np.sqrt((yy[None] - c[:, 0, None, None]) ** 2 + (xx[None] - c[:, 1, None, None]) ** 2)
            far = (d > r[:, None, None] + 0.5).all(axis=0)
            np.testing.assert_allclose(f[far], m["background"][i], atol=1e-6)
            front = int(np.argmax(m["layer"][i, :, t]))
            core = d[front] < r[front] - 0.5
            np.testing.assert_allclose(f[core], m["luminance"][i, front], atol=1e-6)


def test_luminances_uniform(ds):
    m = ds.meta
    for sample in (m["background"], m["luminance"][:, 0], m["luminance"][:, 1]):
        assert stats.kstest(sample, "uniform").pvalue > 1e-3


def test_same_physical_size_radius_inverse_depth(ds):
    m = ds.meta
    cfg = LeavesConfig()
    np.testing.assert_allclose(m["radius"] * m["depth"], cfg.focal, rtol=1e-5)
    assert stats.kstest((m["depth"][:, :, 0].ravel() - 1.0) / 2.0, "uniform").pvalue > 1e-3


def test_sizes_constant_over_sequence(ds):
    r = ds.meta["radius"]
    assert np.all(r == r[:, :, :1])


def test_larger_disk_occludes_smaller(ds):
    m = ds.meta
    larger = np.argmax(m["radius"][:, :, 0], axis=1)
    front = np.argmax(m["layer"], axis=1)  # [N, T]
    assert np.all(front == larger[:, None])
    # and on the pixels: where both disks fully cover a pixel, it has the larger's luminance
    yy, xx = np.mgrid[:32, :32]
    checked = 0
    for i in range(200):
        t = int(m["meeting_frame"][i])
        c, r = m["center"][i, :, t], m["radius"][i, :, t]
        d = np.sqrt((yy[None] - c[:, 0, None, None]) ** 2 + (xx[None] - c[:, 1, None, None]) ** 2)
        both = (d < r[:, None, None] - 0.5).all(axis=0)
        if both.any():
            np.testing.assert_allclose(ds.frames[i, t][both], m["luminance"][i, larger[i]], atol=1e-6)
            checked += 1
    assert checked > 150


def test_every_sequence_hides_half_of_the_smaller_disk(ds):
    m = ds.meta
    idx = np.arange(400)
    t = m["meeting_frame"][idx].astype(int)
    c = m["center"][idx, :, t]  # [n, 2, 2]
    r = m["radius"][idx, :, t]
    masks = disk_masks(c, r)  # [n, 2, S, S]
    small = np.argmin(r, axis=1)
    ms = masks[np.arange(len(idx)), small]
    mb = masks[np.arange(len(idx)), 1 - small]
    hidden = (ms & mb).sum(axis=(1, 2)) / np.maximum(ms.sum(axis=(1, 2)), 1)
    assert hidden.min() >= 0.5 - 0.02, hidden.min()


def test_overlap_area_matches_monte_carlo():
    rng = np.random.default_rng(0)
    pts = rng.uniform(-12, 12, size=(200_000, 2))
    for d, r1, r2 in [(0.0, 3, 5), (4.0, 3, 5), (7.5, 3, 5), (9.0, 3, 5)]:
        inside = (np.hypot(*pts.T) <= r1) & (np.hypot(pts[:, 0] - d, pts[:, 1]) <= r2)
        mc = inside.mean() * 24 * 24
        assert abs(leaves.overlap_area(d, r1, r2) - mc) < 0.6


def test_speed_scales_inverse_depth_and_far_disks_move_smoothly(ds):
    m = ds.meta
    v = np.diff(m["center"], axis=2)  # [N, K, T-1, 2]
    speed = np.linalg.norm(v, axis=-1).mean(-1).ravel()
    depth = m["depth"][:, :, 0].ravel()
    bins = np.digitize(depth, [1.5, 2.0, 2.5])
    speed_x_depth = np.array([(speed * depth)[bins == b].mean() for b in range(4)])
    mean_speed = np.array([speed[bins == b].mean() for b in range(4)])
    assert np.all(np.diff(mean_speed) < 0)  # farther: slower
    assert speed_x_depth.std() / speed_x_depth.mean() < 0.05  # speed ~ 1 / depth
    # smoothness: successive velocities are more correlated for far disks (longer GP bandwidth)
    cos = (v[:, :, 1:] * v[:, :, :-1]).sum(-1) / (
        np.linalg.norm(v[:, :, 1:], axis=-1) * np.linalg.norm(v[:, :, :-1], axis=-1) + 1e-12)
    smooth = cos.mean(-1).ravel()
    s = np.array([smooth[bins == b].mean() for b in range(4)])
    assert np.all(np.diff(s) > 0), s


def test_antialiased_edges_give_subpixel_radius(ds):
    m = ds.meta
    errs, partial = [], 0
    yy, xx = np.mgrid[:32, :32]
    for i, t in ((i, t) for i in range(N) for t in (0, 10)):
        if len(errs) >= 60:
            break
        front = int(np.argmax(m["layer"][i, :, t]))
        back = 1 - front
        c, r = m["center"][i, :, t], m["radius"][i, :, t]
        lum, bg = m["luminance"][i, front], m["background"][i]
        inside_canvas = np.all(c[front] - r[front] > 0.5) and np.all(c[front] + r[front] < 30.5)
        dist_back = np.hypot(c[front, 0] - c[back, 0], c[front, 1] - c[back, 1])
        if not inside_canvas or abs(lum - bg) < 0.2 or dist_back < r[front] + r[back] + 2:
            continue
        f = ds.frames[i, t]
        near = np.hypot(yy - c[front, 0], xx - c[front, 1]) < r[front] + 1.5
        cover = (f[near] - bg) / (lum - bg)
        partial += int(((cover > 0.05) & (cover < 0.95)).sum() > 0)
        errs.append(abs(np.sqrt(cover.sum() / np.pi) - r[front]))
    assert len(errs) >= 60
    assert partial == len(errs)  # edges have intermediate values
    assert max(errs) < 0.1  # radius read from the pixels to a tenth of a pixel


def test_sequence_i_depends_only_on_seed():
    a = generate(40, seed=3)
    b = generate(7, seed=3, start=20, chunk=3)
    np.testing.assert_array_equal(a.frames[20:27], b.frames)
    for k in a.meta:
        np.testing.assert_array_equal(a.meta[k][20:27], b.meta[k])
    c = generate(40, seed=3)
    np.testing.assert_array_equal(a.frames, c.frames)
    assert not np.array_equal(generate(5, seed=4).frames, a.frames[:5])


def test_split_nine_to_one_reproducible():
    a = generate(1000, seed=5)
    assert a.meta["test"].sum() == 100
    assert (a.meta["test"].reshape(-1, 10).sum(1) == 1).all()
    b = generate(30, seed=5, start=500)
    np.testing.assert_array_equal(b.meta["test"], a.meta["test"][500:530])
    assert len(a.train) == 900 and len(a.test) == 100


def test_variant_depth_motion():
    d = generate(500, seed=1, variant="depth-motion")
    r = d.meta["radius"]
    assert (np.abs(r[:, :, -1] - r[:, :, 0]) > 0.5).mean() > 0.5  # sizes change
    np.testing.assert_allclose(r * d.meta["depth"], LeavesConfig().focal, rtol=1e-5)
    front = np.argmax(d.meta["layer"], axis=1)
    assert np.all(front == np.argmax(r, axis=1))  # nearer (larger now) in front, frame by frame


def test_variant_brightness():
    d = generate(500, seed=1, variant="brightness")
    front = np.argmax(d.meta["layer"], axis=1)
    assert np.all(front == np.argmax(d.meta["luminance"], axis=1)[:, None])
    larger = np.argmax(d.meta["radius"][:, :, 0], axis=1)
    assert 0.3 < (front[:, 0] == larger).mean() < 0.7  # size says nothing now


def test_variant_stochastic_matches_known_probability():
    n = 6000
    d = generate(n, seed=2, variant="stochastic")
    r = d.meta["radius"][:, :, 0]
    dr = np.abs(r[:, 0] - r[:, 1])
    p = leaves.p_larger_in_front(dr)
    np.testing.assert_allclose(d.meta["p_larger_front"], p, rtol=1e-5)
    front = np.argmax(d.meta["layer"], axis=1)
    assert np.all(front == front[:, :1])  # one order for the whole sequence
    larger_front = front[:, 0] == np.argmax(r, axis=1)
    for lo, hi in [(0, 0.5), (0.5, 1.5), (1.5, 3), (3, 6)]:
        sel = (dr >= lo) & (dr < hi)
        expected = p[sel].mean()
        se = np.sqrt(expected * (1 - expected) / sel.sum())
        assert abs(larger_front[sel].mean() - expected) < 4 * se + 1e-3, (lo, hi)
    assert leaves.p_larger_in_front(0.0) == pytest.approx(0.5)
    assert leaves.p_larger_in_front(2.0) == pytest.approx(1 / (1 + np.exp(-2.0)))


def test_variant_many_disks():
    d = generate(200, seed=1, config=LeavesConfig(variant="many", n_disks=4))
    assert d.meta["luminance"].shape == (200, 4)
    layer = d.meta["layer"]
    assert np.all(np.sort(layer, axis=1) == np.arange(4)[None, :, None])
    order = np.argsort(layer, axis=1)
    r_sorted = np.take_along_axis(d.meta["radius"], order, axis=1)
    assert np.all(np.diff(r_sorted, axis=1) >= 0)  # back to front = small to large


def test_bad_config_rejected():
    with pytest.raises(ValueError, match="unknown moving-leaves variant"):
        LeavesConfig(variant="nope")
    with pytest.raises(ValueError, match="positive"):
        generate(0)
    with pytest.raises(ValueError, match="seed"):
        generate(3, seed=-1)


def test_cli_writes_dataset_with_metadata(tmp_path):
    out = tmp_path / "leaves.npz"
    proc = run_cli("interp.data", "leaves", "--n", 50, "--seed", 9, "--out", out, "--quiet")
    assert proc.returncode == 0, proc.stderr
    d = load(out)
    ref = generate(50, seed=9)
    np.testing.assert_array_equal(d.frames, ref.frames)
    assert set(d.meta) == set(ref.meta)
    for k in ref.meta:
        np.testing.assert_array_equal(d.meta[k], ref.meta[k])
    assert d.source["seed"] == 9 and d.source["kind"] == "leaves"
    assert not list(tmp_path.glob(".*tmp"))  # no temporary left behind


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--n", "0"], "positive integer"),
        (["--n", "-5"], "positive integer"),
        (["--n", "ten"], "positive integer"),
        (["--variant", "fuzzy"], "invalid choice"),
        (["--seed", "-1"], "non-negative"),
    ],
)
def test_cli_bad_input_one_line(tmp_path, args, needle):
    proc = run_cli("interp.data", "leaves", *args, "--out", tmp_path / "x.npz")
    assert_one_line_error(proc, needle)


def test_cli_unwritable_output(tmp_path):
    proc = run_cli("interp.data", "leaves", "--n", "5", "--out", tmp_path / "missing" / "x.npz")
    assert_one_line_error(proc, "does not exist")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        import os

        if os.access(ro, os.W_OK):  # root ignores permissions
            pytest.skip("running as a user who can write anywhere")
        proc = run_cli("interp.data", "leaves", "--n", "5", "--out", ro / "x.npz")
        assert_one_line_error(proc, "not writable")
    finally:
        ro.chmod(0o700)


def test_cli_unwritable_system_path():
    proc = run_cli("interp.data", "leaves", "--n", "5", "--out", "/proc/interp-test.npz")
    assert_one_line_error(proc, "not writable")


def test_cli_output_is_directory(tmp_path):
    proc = run_cli("interp.data", "leaves", "--n", "5", "--out", tmp_path)
    assert_one_line_error(proc, "is a directory")


def test_dataset_repr_is_one_short_line_and_lists_test_clips(ds):
    text = repr(ds)
    assert "\n" not in text and len(text) < 300 and text.startswith(f"Dataset({len(ds)} sequences of 11 frames, 32x32")
    assert f"{int(ds.meta['test'].sum())} test" in text and "'leaves'" in text
    idx = ds.test_clips()
    assert np.array_equal(idx, np.flatnonzero(ds.meta["test"])) and np.array_equal(ds[idx].frames, ds.test.frames)
    bare = Dataset(np.zeros((2, 3, 4, 4), np.float32))
    assert "no split" in repr(bare)
    with pytest.raises(InterpError, match="no train/test split"):
        bare.test_clips()
