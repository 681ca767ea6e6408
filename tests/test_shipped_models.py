"""The shipped moving-leaves models: present, small, homogeneous, and meeting issue 3's targets."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest
import torch
from conftest import REPO

import interp
from interp.data.leaves import generate
from interp.training.cards import normalized_recipe, read_card
from interp.training.evaluation import evaluate

MODELS = ["leaves-tau2", "leaves-tau2-long", "leaves-tau2-occlusion", "leaves-tau2-contact", "leaves-tau2-flips",
          "leaves-tau2-negate", "leaves-stochastic-tau2"]


@pytest.fixture(scope="module", params=MODELS)
def name(request):
    return request.param


@pytest.fixture(scope="module")
def net(name):
    weights = REPO / "models" / f"{name}.safetensors"
    assert weights.exists(), f"the shipped model {weights} is missing"
    return interp.load(weights)


@pytest.fixture(scope="module")
def test_clips(name):
    card = read_card(REPO / "models" / f"{name}.toml")
    # the first 20000 sequences of the card's dataset hold 2000 of its test sequences
    ds = generate(20_000, seed=card.data["seed"], variant=card.data.get("variant", "default"))
    return torch.from_numpy(ds.test.frames)


def test_size_and_config(name, net):
    assert (REPO / "models" / f"{name}.safetensors").stat().st_size <= 10 * 1024 * 1024
    cfg = net.checkpoint_config
    assert net.tau == 2 and cfg["net"]["tau"] == 2
    assert cfg["train_state"]["done"], "the shipped model's training has not finished"
    assert cfg["data"]["source"] == "leaves"


def test_homogeneous(net):
    g = torch.Generator().manual_seed(0)
    y = torch.rand(4, 1, 32, 32, generator=g) + 0.5 * torch.randn(4, 1, 32, 32, generator=g)
    c = torch.rand(4, 2, 32, 32, generator=g)
    with torch.no_grad():
        base = net(y, c)
        for a in (0.1, 0.7, 4.0, 10.0):
            torch.testing.assert_close(net(a * y, a * c), a * base, rtol=1e-4, atol=1e-5 * a)


def test_targets_on_test_sequences(net, test_clips):
    m = evaluate(net, test_clips, n=None, seed=99)
    assert m["psnr_out@0dB"] >= 10.0, m  # at least 10 dB above the 0 dB input
    assert m["onestep"] >= 15.0, m  # a recognisable next frame from pure noise


def test_card_records_the_run(name, net):
    raw = tomllib.loads((REPO / "models" / f"{name}.toml").read_text())
    res = raw["results"]
    cfg = net.checkpoint_config
    assert res["steps"] == cfg["step"] and res["samples"] == cfg["samples"]
    for k, v in cfg["results"].items():
        assert np.isclose(res[k], v), k


def test_card_describes_the_last_stage_of_its_run(name, net):
    """The card's [train] table is the recipe its checkpoint trained with last."""
    card = read_card(REPO / "models" / f"{name}.toml")
    cfg = net.checkpoint_config
    last = cfg["stages"][-1]["recipe"] if cfg.get("stages") else cfg["recipe"]
    same = {k: v for k, v in normalized_recipe(last).items() if k != "threads"}
    assert same == {k: v for k, v in normalized_recipe(card.train).items() if k != "threads"}


@pytest.mark.parametrize("name, parent", [("leaves-tau2-long", "leaves-tau2"),
                                          ("leaves-tau2-occlusion", "leaves-tau2-long"),
                                          ("leaves-tau2-contact", "leaves-tau2-occlusion"),
                                          ("leaves-tau2-flips", "leaves-tau2-contact"),
                                          ("leaves-tau2-negate", "leaves-tau2-flips"),
                                          ("leaves-stochastic-tau2", "leaves-tau2-occlusion")])
def test_fine_tuned_model_records_its_starting_weights(name, parent):
    from interp.nets.checkpoint import file_hash

    cfg = interp.load(REPO / "models" / f"{name}.safetensors").checkpoint_config
    assert cfg["init"]["card"] == parent
    assert cfg["init"]["sha256"] == file_hash(REPO / "models" / f"{parent}.safetensors")


def test_occlusion_model_records_its_change_of_recipe():
    """leaves-tau2-occlusion changed its loss weight cap and focus at step 33380 (see its card)."""
    stages = interp.load(REPO / "models" / "leaves-tau2-occlusion.safetensors").checkpoint_config["stages"]
    assert [s["from_step"] for s in stages] == [0, 33380]
    assert (stages[0]["recipe"]["weight_cap"], stages[0]["recipe"]["focus"]) == (100.0, 0.3)
    assert (stages[1]["recipe"]["weight_cap"], stages[1]["recipe"]["focus"]) == (1.0, 0.7)


def test_contact_model_drew_its_focus_from_deep_first_contacts():
    """leaves-tau2-contact practised on first contacts at least 1.5 px deep (see its card)."""
    cfg = interp.load(REPO / "models" / "leaves-tau2-contact.safetensors").checkpoint_config
    assert [s["recipe"].get("focus_depth") for s in cfg["stages"]] == [1.5]
    assert cfg["data"]["focus_windows"] == 6957  # of the split's 22956 first contacts


def test_flips_model_trained_on_symmetric_windows_of_deeper_contacts():
    """leaves-tau2-flips: every window under a random symmetry, contacts >= 2 px deep (its card)."""
    cfg = interp.load(REPO / "models" / "leaves-tau2-flips.safetensors").checkpoint_config
    assert [(s["recipe"].get("flips"), s["recipe"].get("focus_depth")) for s in cfg["stages"]] == [(True, 2.0)]
    assert cfg["data"]["focus_windows"] == 3984


def test_negate_model_also_trained_on_photographic_negatives():
    """leaves-tau2-negate: the flips recipe, each window also negated with even odds (its card)."""
    cfg = interp.load(REPO / "models" / "leaves-tau2-negate.safetensors").checkpoint_config
    recipe = [(s["recipe"].get("flips"), s["recipe"].get("negate"), s["recipe"].get("focus_depth"))
              for s in cfg["stages"]]
    assert recipe == [(True, True, 2.0)]
    assert cfg["data"]["focus_windows"] == 3984
