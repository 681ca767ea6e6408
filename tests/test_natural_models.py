"""The shipped natural-video models (issue 7): present, small, homogeneous, trained on the data
their cards name, and meeting the targets on videos held out from training."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest
import torch
from conftest import REPO

import interp
from interp.figures import video as figures_video
from interp.training.cards import read_card

MODELS = ["davis32-tau0", "davis32-tau1", "davis32-tau2", "davis32-tau3", "davis32-predict"]
DAVIS_MINI = REPO.parent / "shared" / "data" / "davis-mini"


@pytest.fixture(scope="module", params=MODELS)
def name(request):
    return request.param


@pytest.fixture(scope="module")
def net(name):
    weights = REPO / "models" / f"{name}.safetensors"
    assert weights.exists(), f"the shipped model {weights} is missing"
    return interp.load(weights)


def test_size_config_and_card(name, net):
    assert (REPO / "models" / f"{name}.safetensors").stat().st_size <= 10 * 1024 * 1024
    card = read_card(REPO / "models" / f"{name}.toml")
    cfg = net.checkpoint_config
    assert cfg["train_state"]["done"], "the shipped model's training has not finished"
    assert net.tau == card.model["tau"] and bool(net.predict_only) == card.model["predict_only"]
    assert cfg["data"]["source"] == "npz" and cfg["data"]["source_detail"]["name"] == "davis32"
    raw = tomllib.loads((REPO / "models" / f"{name}.toml").read_text())
    res = raw["results"]
    assert res["steps"] == cfg["step"] and res["samples"] == cfg["samples"]
    for k, v in cfg["results"].items():
        assert np.isclose(res[k], v), k


def test_homogeneous(net):
    g = torch.Generator().manual_seed(0)
    c = torch.rand(3, net.tau, 32, 32, generator=g)
    y = torch.rand(3, 1, 32, 32, generator=g) + 0.3 * torch.randn(3, 1, 32, 32, generator=g)
    with torch.no_grad():
        f = (lambda a: net(a * c)) if net.predict_only else (lambda a: net(a * y, a * c))
        base = f(1.0)
        for a in (0.2, 3.0):
            torch.testing.assert_close(f(a), a * base, rtol=1e-4, atol=1e-5 * a)


@pytest.fixture(scope="module")
def held_out(tmp_path_factory):
    """DAVIS32 rebuilt from ../shared/data/davis-mini, checked to be the data the cards name."""
    if not DAVIS_MINI.is_dir():
        pytest.skip(f"{DAVIS_MINI} is absent")
    from interp.data.dataset import save
    from interp.data.davis import build_davis32

    ds = build_davis32(DAVIS_MINI, seed=0, test_fraction=0.2)
    path = save(ds, tmp_path_factory.mktemp("davis") / "davis32-mini.npz")
    import hashlib

    h = hashlib.blake2b(digest_size=12)
    h.update(np.ascontiguousarray(ds.frames).view(np.uint8))
    for m in MODELS:
        cfg = interp.load(REPO / "models" / f"{m}.safetensors").checkpoint_config
        assert cfg["data"]["fingerprint"] == h.hexdigest(), f"{m} was trained on other data"
        assert cfg["data"]["n_test"] == int(ds.meta["test"].sum())
    return path


@pytest.fixture(scope="module")
def curves(held_out, monkeypatch_module):
    monkeypatch_module.delenv("INTERP_MODELS_DIR", raising=False)
    t = figures_video.denoising_curves(MODELS, psnrs=[-10.0, 0.0, 10.0, 20.0, 30.0], data=str(held_out))
    c = t[t["kind"] == "curve"]
    stats = dict(zip(t[t["kind"] == "stat"]["name"], t[t["kind"] == "stat"]["value"]))
    return c, stats


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def _at(c, model, p):
    row = c[(c["model"] == model) & (c["psnr_in"] == p)]
    return float(row["psnr_out"].iloc[0]), float(row["sem"].iloc[0])


def test_tau0_slope_is_about_one_half(curves):
    _, stats = curves
    assert 0.4 <= stats["slope_tau0"] <= 0.65, stats


def test_two_frames_of_memory_gain_4db_at_0db(curves):
    _, stats = curves
    assert stats["gain_tau2_at_0dB"] >= 4.0, stats


def test_memory_lengths_ordered_at_low_input_psnr(curves):
    c, _ = curves
    for p in (-10.0, 0.0):
        (v1, s1), (v2, s2), (v3, s3) = (_at(c, f"davis32-tau{k}", p) for k in (1, 2, 3))
        assert v1 <= v2 + 2 * np.hypot(s1, s2), (p, v1, v2)
        assert v2 <= v3 + 2 * np.hypot(s2, s3), (p, v2, v3)
