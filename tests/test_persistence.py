"""Disk persistence under recursive generation (Fig. 5): the locator, the starts, the measure."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from interp import InterpError
from interp.analysis import persistence as per
from interp.data.leaves import generate, render

N_STARTS = 8  # tiny: every call below generates at most 8 x 9 frames


@pytest.fixture(scope="module")
def starts():
    return per.select_starts(N_STARTS)


@pytest.fixture(scope="module")
def data():
    """The first 500 sequences of the shipped data set, readable ones only (contrast >= 0.2),
    as flat frames with their scene parameters."""
    ds = generate(500, 0)
    m = ds.meta
    lum, bg = m["luminance"].astype(float), m["background"].astype(float)
    contrast = np.min(np.abs(np.stack([lum[:, 0] - lum[:, 1], lum[:, 0] - bg, lum[:, 1] - bg])), axis=0)
    sel = np.flatnonzero(contrast >= 0.2)
    T = ds.frames.shape[1]
    return {
        "frames": ds.frames[sel].reshape(-1, 32, 32),
        "lum": np.repeat(lum[sel][:, None], T, 1).reshape(-1, 2),
        "bg": np.repeat(bg[sel], T),
        "radius": m["radius"][sel].transpose(0, 2, 1).reshape(-1, 2),
        "center": m["center"][sel].transpose(0, 2, 1, 3).reshape(-1, 2, 2),
    }


def _clear(d):
    """Frames where both disks are whole in the frame and apart (no pixel touched by both)."""
    c, r = d["center"], d["radius"]
    inside = ((c - r[..., None] - 0.5 >= -0.5) & (c + r[..., None] + 0.5 <= 31.5)).all(axis=(1, 2))
    apart = np.linalg.norm(c[:, 0] - c[:, 1], axis=-1) >= r.sum(1) + 2
    return inside & apart


# --------------------------------------------------------------------------- the locator


def test_locator_finds_clear_disks_on_true_frames(data):
    ok = _clear(data)
    assert ok.sum() >= 30
    res = per.locate_disks(data["frames"][ok], data["lum"][ok], data["bg"][ok], data["radius"][ok])
    assert res["found_both"].mean() >= 0.95
    assert np.abs(res["radius_error"]).max() <= 0.25
    assert np.abs(res["center"] - data["center"][ok]).max() <= 0.25
    # with the search tied to the true centres, the same
    near = per.locate_disks(data["frames"][ok], data["lum"][ok], data["bg"][ok], data["radius"][ok],
                            data["center"][ok], search=2.0)
    assert near["found_both"].mean() >= 0.95


def test_locator_misses_a_disk_that_is_gone_or_resized(data):
    ok = np.flatnonzero(_clear(data))[:6]
    frames = data["frames"][ok].astype(np.float64)
    lum, bg, rad, cen = data["lum"][ok], data["bg"][ok], data["radius"][ok], data["center"][ok]
    base = per.locate_disks(frames, lum, bg, rad)
    assert base["found_both"].all()
    # disk 1 erased: painted with the background
    erased = render(cen[:, :1, None], rad[:, :1, None], lum[:, :1], bg, np.zeros((len(ok), 1, 1), int), 32)[:, 0]
    res = per.locate_disks(erased, lum, bg, rad)
    assert not res["found_both"].any() and not res["found"][:, 1].any() and res["found"][:, 0].all()
    # disk 1 drawn 2 px larger, or 2 px smaller: found, but not at its radius
    for dr in (2.0, -2.0):
        radius = rad[:, :, None].copy()
        radius[:, 1] += dr
        drawn = render(cen[:, :, None], radius, lum, bg, np.array([[[0], [1]]] * len(ok)), 32)[:, 0]
        res = per.locate_disks(drawn, lum, bg, rad)
        assert not res["found"][:, 1].any(), dr
        assert res["found"][:, 0].all()
        assert np.abs(res["radius_error"][:, 1] - dr).max() <= 0.5
    # NaN frames (a failed sampling chain) find nothing
    res = per.locate_disks(np.full((2, 32, 32), np.nan), lum[:2], bg[:2], rad[:2])
    assert not res["found"].any() and not res["finite"].any()


def test_locator_accepts_soft_edges_but_not_blur(data):
    ok = np.flatnonzero(_clear(data))[:10]
    frames = data["frames"][ok].astype(np.float64)
    args = (data["lum"][ok], data["bg"][ok], data["radius"][ok])
    soft = np.stack([gaussian_filter(f, 0.5, mode="nearest") for f in frames])
    assert per.locate_disks(soft, *args)["found"].mean() >= 0.9
    blurred = np.stack([gaussian_filter(f, 2.0, mode="nearest") for f in frames])
    assert per.locate_disks(blurred, *args)["found"].mean() <= 0.1


def test_locator_checks_its_input():
    with pytest.raises(InterpError, match="radius"):
        per.locate_disks(np.zeros((2, 32, 32)), [0.2, 0.8], 0.5, [[3.0, -1.0], [3.0, 3.0]])
    with pytest.raises(InterpError, match="center"):
        per.locate_disks(np.zeros((2, 32, 32)), [0.2, 0.8], 0.5, [3.0, 3.0], search=2.0)
    with pytest.raises(InterpError, match="luminance"):
        per.locate_disks(np.zeros((2, 32, 32)), [0.2, 0.8, 0.1], 0.5, [3.0, 3.0])


# --------------------------------------------------------------------------- the starts


def test_starts_are_the_first_readable_test_sequences(starts):
    idx = starts.meta["index"]
    assert len(idx) == N_STARTS and (np.diff(idx) > 0).all() and starts.meta["test"].all()
    # the frames are those generate() draws for the same sequences
    for i in (0, N_STARTS - 1):
        assert np.array_equal(generate(1, 0, start=int(idx[i])).frames[0], starts.frames[i])
    # no readable test sequence before the last one was skipped unless a disk was missing at the start
    ds = generate(int(idx[-1]) + 1, 0)
    m = ds.meta
    lum, bg = m["luminance"].astype(float), m["background"].astype(float)
    contrast = np.min(np.abs(np.stack([lum[:, 0] - lum[:, 1], lum[:, 0] - bg, lum[:, 1] - bg])), axis=0)
    cand = np.flatnonzero(m["test"] & (contrast >= 0.2))
    skipped = np.setdiff1d(cand, idx)
    if len(skipped):
        f = ds.frames[skipped, :2].reshape(-1, 32, 32)
        res = per.locate_disks(f, np.repeat(lum[skipped], 2, 0), np.repeat(bg[skipped], 2),
                               m["radius"][skipped][:, :, :2].transpose(0, 2, 1).reshape(-1, 2))
        assert not res["found_both"].reshape(-1, 2).all(axis=1).any()


def test_too_few_starts_is_an_error():
    with pytest.raises(InterpError, match="n_starts"):
        per.select_starts(5, data_n=20)


# --------------------------------------------------------------------------- the measure


class Oracle:
    """Returns the true next frame of the sequence whose frames match the conditioning."""

    tau = 2

    def __init__(self, frames):
        self.frames = torch.from_numpy(frames)  # [S, T, H, W]
        T = frames.shape[1]
        self.windows = torch.stack([self.frames[:, t:t + self.tau] for t in range(T - self.tau)], 1)  # [S, W, tau, H, W]
        self.next = self.frames[:, self.tau:]  # [S, W, H, W]

    def __call__(self, y, c):
        w = self.windows.flatten(0, 1)
        d = ((c[:, None] - w[None]) ** 2).flatten(2).sum(-1)  # [b, S * W]
        return self.next.flatten(0, 1)[d.argmin(1)][:, None].to(y.dtype)


class Frozen:
    """Repeats the last conditioning frame."""

    tau = 2

    def __call__(self, y, c):
        return c[:, -1:].clone()


class Blurring(Frozen):
    """Repeats the last conditioning frame, blurred a little more each time (as recursive
    one-step estimates do)."""

    def __call__(self, y, c):
        out = c[:, -1:].double().numpy()
        out = np.stack([[gaussian_filter(f[0], 0.7, mode="nearest")] for f in out])
        return torch.from_numpy(out).to(y.dtype)


def test_oracle_scores_one(starts):
    table = per.disk_persistence(Oracle(starts.frames), n_starts=N_STARTS, mode="onestep")
    assert len(table) == N_STARTS * 9 * 2
    gen = table[table["source"] == "generated"].reset_index(drop=True)
    tru = table[table["source"] == "true"].reset_index(drop=True)
    assert (gen["found_both"] == tru["found_both"]).all()
    ratio = per.persistence_ratio(table)
    assert list(ratio["step"]) == list(range(1, 10)) and list(ratio["frame"]) == list(range(3, 12))
    assert (ratio["ratio"] == 1.0).all() and (ratio["n"] == N_STARTS).all()
    assert ratio["true"].min() < 1.0  # the true disks do hide each other or leave the frame


def test_oracle_sampled(starts):
    table = per.disk_persistence(Oracle(starts.frames[:3]), n_starts=3, k=2, mode="sample", max_iter=300)
    gen = table[table["source"] == "generated"]
    assert (gen["status"] == "converged").all()
    assert (gen["found_both"].values == table[table["source"] == "true"]["found_both"].values).all()


def test_frozen_keeps_the_disks_but_not_their_places(starts):
    table = per.disk_persistence(Frozen(), n_starts=N_STARTS, mode="onestep")
    ratio = per.persistence_ratio(table)
    # the disks of the last real frame (both found, by the choice of starts) stay as they were
    assert (ratio["generated"] == 1.0).all() and (ratio["ratio"] >= 1.0).all()
    # looked for near their true places, they are lost as the true disks move on
    near = per.persistence_ratio(per.disk_persistence(Frozen(), n_starts=N_STARTS, mode="onestep", search=2.0))
    assert near["ratio"].iloc[0] >= 0.7
    assert near["ratio"].iloc[-3:].max() < 0.5


def test_blurring_loses_the_disks(starts):
    ratio = per.persistence_ratio(per.disk_persistence(Blurring(), n_starts=N_STARTS, mode="onestep"))
    assert ratio["ratio"].iloc[0] >= 0.7
    assert ratio["ratio"].iloc[-1] == 0.0


def test_measure_checks_its_input():
    with pytest.raises(InterpError, match="tau \\+ k"):
        per.disk_persistence(Frozen(), n_starts=1, k=10)
    with pytest.raises(InterpError, match="mode"):
        per.disk_persistence(Frozen(), n_starts=1, mode="mean")
    with pytest.raises(InterpError, match="tau"):
        per.disk_persistence(lambda y, c: y, n_starts=1)
    with pytest.raises(InterpError, match="disk_persistence"):
        per.persistence_ratio(__import__("pandas").DataFrame({"step": [1]}))
