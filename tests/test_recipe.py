"""The training recipe: Algorithm 1's loss and its weightings, weight averaging, precision choice."""

from __future__ import annotations

import math

import pytest
import torch

from interp import InterpError
from interp.nets import checkpoint
from interp.nets.unet import BiasFreeBatchNorm, UNet
from interp.training import cards
from interp.training import loop as train
from interp.training.averaging import WeightAverage, ema_beta, recompute_statistics
from interp.training.loss import AdaptiveWeighting, Weighting, denoising_loss


def write_card(folder, name="c", samples=128, extra="", norm="none", recipe="smoke"):
    path = folder / f"{name}.toml"
    path.write_text(f"""[model]
tau = 2
width = 4
norm = "{norm}"

[data]
source = "leaves"
n = 60
seed = 0

[train]
recipe = "{recipe}"
samples = {samples}
batch_size = 16
eval_every = 0.5
eval_windows = 16
{extra}""")
    return path


# ------------------------------------------------------------------------------ the loss
@pytest.mark.parametrize("weighting, expected", [
    (Weighting("paper"), lambda s: s ** -2),
    (Weighting("cap", cap=1.0), lambda s: min(s ** -2, 1.0)),
    (Weighting("edm", sigma_data=0.5), lambda s: s ** -2 + 4.0),
])
def test_denoising_loss_is_algorithm_1_with_the_weighting(weighting, expected):
    torch.manual_seed(0)
    net = UNet(tau=2, width=4).requires_grad_(False)
    x, c = torch.rand(5, 1, 8, 8), torch.rand(5, 2, 8, 8)
    sigma, z = torch.tensor([0.004, 0.05, 0.5, 2.0, 9.0]), torch.randn(5, 1, 8, 8)
    by_hand = sum(expected(float(s)) * float((net(x[i:i + 1] + s * z[i:i + 1], c[i:i + 1]) - x[i:i + 1])
                                               .pow(2).mean()) for i, s in enumerate(sigma)) / 5
    assert float(denoising_loss(net, x, c, sigma, z, weighting)) == pytest.approx(by_hand, rel=1e-5)


def test_weightings_keep_their_ends():
    s = torch.tensor([1e-3, 1e-2, 1.0, 10.0])
    paper, cap, edm = Weighting("paper")(s), Weighting("cap", cap=1.0)(s), Weighting("edm", sigma_data=0.5)(s)
    assert torch.allclose(edm[:2], paper[:2], rtol=1e-3)  # the paper's weight on nearly clean inputs
    assert torch.allclose(edm[-1], torch.tensor(4.01))  # a constant, 1 / sigma_data^2, at high noise
    assert cap[0] == 1.0 and cap[-1] == paper[-1]
    assert str(Weighting("edm", sigma_data=0.5)) == "1/sigma^2 + 1/0.5^2"


@pytest.mark.parametrize("bad", [dict(name="huber"), dict(name="cap"), dict(name="edm"),
                                 dict(name="paper", cap=1.0), dict(name="cap", cap=-1.0)])
def test_weighting_refuses_what_it_cannot_compute(bad):
    with pytest.raises(ValueError):
        Weighting(**bad)


@pytest.mark.parametrize("extra, name, cap, sigma_data", [
    ("", "paper", None, None),  # the smoke recipe: the paper's loss
    ("weight_cap = 1.0\n", "cap", 1.0, None),  # older cards: a cap alone means the cap weighting
    ("sigma_data = 0.1\n", "edm", None, 0.1),
    ('weighting = "edm"\n', "edm", None, 0.5),  # EDM's sigma_data by default
])
def test_card_names_its_weighting(tmp_path, extra, name, cap, sigma_data):
    card = cards.read_card(write_card(tmp_path, extra=extra))
    assert Weighting.from_recipe(card.train) == Weighting(name, cap=cap, sigma_data=sigma_data)


@pytest.mark.parametrize("extra, match", [
    ('weighting = "huber"\n', "weighting must be one of"),
    ('weighting = "cap"\n', "needs weight_cap"),
    ('weighting = "paper"\nweight_cap = 1.0\n', "weight_cap goes with"),
    ('weighting = "cap"\nweight_cap = 1.0\nsigma_data = 0.5\n', "sigma_data goes with"),
    ("sigma_data = 0\n", "sigma_data must be"),
    ("ema_halflife = -1\n", "ema_halflife must be"),
    ('precision = "fp16"\n', "precision must be"),
])
def test_card_refuses_a_bad_recipe_in_one_line(tmp_path, extra, match):
    with pytest.raises(InterpError, match=match):
        cards.read_card(write_card(tmp_path, extra=extra))


def test_the_cpu_and_paper_recipes_share_the_chosen_loss():
    for name in ("cpu", "paper"):
        r = cards.RECIPES[name]
        assert (r["weighting"], r["precision"]) == (cards.RECIPES["cpu"]["weighting"], "auto")
        assert r["ema_halflife"] == cards.RECIPES["cpu"]["ema_halflife"] > 0  # the averaged weights ship
        assert r["weighting"] == "adaptive" and "sigma_data" not in r  # benchmarks/weighting.py's choice


def test_training_loop_and_benchmarks_call_the_one_loss(tmp_path, monkeypatch):
    calls = []

    def counted(*args, **kwargs):
        calls.append(args[-1])
        return denoising_loss(*args, **kwargs)

    monkeypatch.setattr(train, "denoising_loss", counted)
    train.train(write_card(tmp_path, samples=32, extra="weight_cap = 2.0\n"), progress=False, log=lambda *a: None)
    assert calls == [Weighting("cap", cap=2.0)] * 2

    from benchmarks import _training

    monkeypatch.setattr(_training, "denoising_loss", counted)
    tr = _training.Trainer(UNet(tau=2, width=4), _training.StepOptions())
    tr.step(*_training.draw_batch(torch.rand(10, 4, 8, 8), 4, 2, torch.Generator().manual_seed(0)))
    assert len(calls) == 3


# ------------------------------------------------------------------------- weight averaging
def test_ema_half_life_is_counted_in_samples():
    beta = ema_beta(128, 1000.0)
    assert beta ** (1000 / 128) == pytest.approx(0.5)
    assert ema_beta(128, 1e9, rampup=0.05, seen=128_000) == pytest.approx(0.5 ** (128 / 6400))


def test_average_moves_towards_the_weights_and_stays_bias_free():
    torch.manual_seed(0)
    net = UNet(tau=2, width=4)
    avg = WeightAverage(net)
    before = [p.clone() for p in avg.average.parameters()]
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    avg.update(net, 0.75)
    for b, a, p in zip(before, avg.average.parameters(), net.parameters()):
        assert torch.allclose(a, 0.75 * b + 0.25 * p)
    assert not any("bias" in k for k in avg.average.state_dict())
    y, c = torch.rand(2, 1, 8, 8), torch.rand(2, 2, 8, 8)
    assert torch.allclose(avg.average(3 * y, 3 * c), 3 * avg.average(y, c), atol=1e-5)


def test_recompute_statistics_averages_the_batches():
    torch.manual_seed(0)
    net = UNet(tau=2, width=4, norm="batch")
    batches = [(torch.rand(4, 1, 8, 8) * k, torch.rand(4, 2, 8, 8) * k) for k in (1.0, 2.0, 3.0)]
    first = next(m for m in net.modules() if isinstance(m, BiasFreeBatchNorm))
    seen = []
    first.register_forward_hook(lambda m, inp, out: seen.append(inp[0].pow(2).mean(dim=(0, 2, 3), keepdim=True)))
    assert recompute_statistics(net, batches)
    assert not net.training and first.momentum == 0.1
    assert torch.allclose(first.running_var, torch.stack(seen).mean(0), rtol=1e-5)
    assert not recompute_statistics(UNet(tau=2, width=4), batches)  # nothing to measure


def test_an_averaging_run_ships_the_average(tmp_path):
    card = write_card(tmp_path, samples=64, norm="batch", extra="ema_halflife = 200\n")
    cfg = train.train(card, progress=False, log=lambda *a: None)
    ck = checkpoint.read(card.with_suffix(".safetensors"))
    assert cfg["weights"] == "average" and ck.config["weighting"] == "1/sigma^2"
    assert not ck.optim and not ck.train and not ck.rng  # finished: the weights for use only
    net = checkpoint.load(card.with_suffix(".safetensors"))
    y, c = torch.rand(3, 1, 8, 8), torch.rand(3, 2, 8, 8)
    assert torch.allclose(net(2 * y, 2 * c), 2 * net(y, c), atol=1e-5)  # eval mode: homogeneous

    kept = write_card(tmp_path, name="kept", samples=64, norm="batch", extra="ema_halflife = 200\n")
    train.train(kept, progress=False, log=lambda *a: None, keep_state=True)
    full = checkpoint.read(kept.with_suffix(".safetensors"))
    assert full.optim and full.train.keys() == full.model.keys()
    for k, v in ck.model.items():  # same run: the same average, whether the state is kept or not
        assert torch.equal(v, full.model[k]), k
    trained = [k for k in full.model if k.endswith("running_var")]
    assert trained and any(not torch.equal(full.model[k], full.train[k]) for k in trained)  # measured anew


def test_a_finished_weights_only_run_cannot_be_extended(tmp_path):
    card = write_card(tmp_path, samples=32)
    train.train(card, progress=False, log=lambda *a: None)
    card.write_text(card.read_text().replace("samples = 32", "samples = 64"))
    with pytest.raises(InterpError, match="weights only .* init"):
        train.train(card, resume=True, progress=False, log=lambda *a: None)


# ---------------------------------------------------------------------------- precision
def test_auto_precision_measures_and_a_resumed_run_keeps_its_choice(tmp_path, monkeypatch):
    monkeypatch.setattr(train, "cpu_has_bf16", lambda: False)
    assert train.choose_precision(UNet(tau=2, width=4), torch.device("cpu"), 16, False) == ("fp32", {})
    monkeypatch.setattr(train, "cpu_has_bf16", lambda: True)
    choice, rates = train.choose_precision(UNet(tau=2, width=4), torch.device("cpu"), 8, False, (8, 8), rounds=1)
    assert choice == max(rates, key=rates.get) and set(rates) == {"fp32", "bf16"}

    picks = iter(["bf16", "fp32"])
    monkeypatch.setattr(train, "choose_precision", lambda *a, **k: (next(picks), {"fp32": 1.0, "bf16": 2.0}))
    card = write_card(tmp_path, samples=64, extra='precision = "auto"\n')
    lines = []
    train.train(card, max_minutes=1e-6, progress=False, log=lines.append)
    assert any("precision auto -> bf16" in ln for ln in lines), lines
    cfg = train.train(card, resume=True, progress=False, log=lines.append)
    assert cfg["train_state"]["precision"] == "bf16"
    assert next(picks) == "fp32"  # not measured again on resume
    assert math.isfinite(cfg["results"]["test_onestep"])


# ------------------------------------------------------------------------ adaptive weighting
def test_adaptive_weighting_divides_by_each_bands_running_mean():
    w = AdaptiveWeighting(bands=7, decay=0.5)  # one band per decade of sigma^2 on [1e-5, 1e2]
    sigma = torch.tensor([1e-3, 1e-3, 1.0, 50.0])  # sigma^2 1e-6 (below the range), 1e-6, 1, 2500 (above)
    assert w.band(sigma).tolist() == [0, 0, 5, 6]
    assert w.band(torch.tensor([10 ** -2.25, 10 ** 0.75])).tolist() == [0, 6]  # inside: floor of the decade
    with pytest.raises(InterpError, match="no running mean yet"):
        w(sigma)
    w.observe(sigma, torch.tensor([1.0, 3.0, 5.0, 7.0]))  # the first observation sets the mean
    assert w.state() == [2.0, 0, 0, 0, 0, 5.0, 7.0]
    w.observe(torch.tensor([1e-3, 1.0]), torch.tensor([4.0, 1.0]))  # then m <- 0.5 m + 0.5 mean
    assert w.state() == [3.0, 0, 0, 0, 0, 3.0, 7.0]
    assert torch.allclose(w(torch.tensor([1e-3, 1.0, 50.0])), torch.tensor([1 / 3, 1 / 3, 1 / 7]))
    again = AdaptiveWeighting(bands=7, decay=0.5)
    again.load_state(w.state())
    assert again == w and again != AdaptiveWeighting(bands=7, decay=0.5)
    assert str(w).startswith("1/m(sigma)")
    for bad in ([1.0] * 6, [1.0] * 6 + [float("nan")], [1.0] * 6 + [-1.0], "x", [True] * 7):
        with pytest.raises(InterpError, match="7 finite numbers"):
            again.load_state(bad)
    with pytest.raises(InterpError):
        Weighting("adaptive")  # it has a state: the frozen Weighting cannot hold it


def test_adaptive_loss_starts_at_one_and_weights_every_band_alike():
    torch.manual_seed(0)
    net = lambda y, c: y  # noqa: E731 - the identity: its squared error is sigma^2 |z|^2 / d
    x, c, z = torch.rand(4, 1, 8, 8), torch.rand(4, 2, 8, 8), torch.randn(4, 1, 8, 8)
    sigma = torch.tensor([0.004, 0.1, 0.101, 9.0])  # the middle two share a band
    w = AdaptiveWeighting()
    assert float(denoising_loss(net, x, c, sigma, z, w)) == pytest.approx(1.0)  # each band: its mean over its mean
    err = sigma ** 2 * z.pow(2).flatten(1).mean(1)
    assert err[-1] / err[0] > 1e6  # unweighted, the noisy end would be all of the loss
    m = torch.tensor(w.state())[w.band(sigma)].float()
    assert torch.allclose(m, torch.stack([err[0], err[1:3].mean(), err[1:3].mean(), err[3]]), rtol=1e-5)
    assert float(denoising_loss(net, x, c, sigma, z, w)) == pytest.approx(1.0)  # the same batch again: still 1


def test_adaptive_weighting_resumes_exactly(tmp_path):
    extra = 'weighting = "adaptive"\nema_halflife = 200\n'
    whole = write_card(tmp_path, name="whole", samples=96, extra=extra)
    train.train(whole, progress=False, log=lambda *a: None, keep_state=True)
    cut = write_card(tmp_path, name="cut", samples=96, extra=extra)
    train.train(cut, max_minutes=1e-6, progress=False, log=lambda *a: None)
    mid = checkpoint.read(cut.with_suffix(".safetensors"))
    means = mid.config["train_state"]["weighting_state"]
    assert len(means) == 28 and any(v > 0 for v in means)  # the running means are saved with the run
    assert mid.config["weighting"].startswith("1/m(sigma)")
    cfg = train.train(cut, resume=True, progress=False, log=lambda *a: None, keep_state=True)
    assert cfg["train_state"]["done"]
    a, b = checkpoint.read(whole.with_suffix(".safetensors")), checkpoint.read(cut.with_suffix(".safetensors"))
    assert a.config["train_state"]["weighting_state"] == b.config["train_state"]["weighting_state"]
    for k in a.model:
        assert torch.equal(a.model[k], b.model[k]), k


def test_a_corrupt_adaptive_state_is_refused_in_one_line(tmp_path):
    import json

    from safetensors.torch import load_file, save_file

    card = write_card(tmp_path, samples=96, extra='weighting = "adaptive"\n')
    train.train(card, max_minutes=1e-6, progress=False, log=lambda *a: None)
    path = card.with_suffix(".safetensors")
    from safetensors import safe_open
    with safe_open(path, "pt") as f:
        meta = f.metadata()
    cfg = json.loads(meta["config"])
    cfg["train_state"]["weighting_state"] = [1.0, "x"]
    save_file(load_file(path), path, metadata={**meta, "config": json.dumps(cfg)})
    with pytest.raises(InterpError, match="weighting_state"):
        train.train(card, resume=True, progress=False, log=lambda *a: None)
