"""Training (Algorithm 1): schedule, noise levels, model cards, a tiny run, exact resume."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import assert_one_line_error, run_cli

import interp
from interp import InterpError
from interp.nets.checkpoint import read
from interp.training import cards, windows
from interp.training import loop as train

CARD = """
[model]
tau = 2
width = 8

[data]
source = "leaves"
n = 300
seed = 0

[train]
recipe = "smoke"
samples = {samples}
batch_size = 32
"""


def write_card(tmp_path, name="tiny", samples=2048, extra=""):
    p = tmp_path / f"{name}.toml"
    p.write_text(CARD.format(samples=samples) + extra)
    return p


def test_lr_schedule_keeps_the_paper_shape():
    base = 1e-3
    # paper: 1000 epochs, halved at 500 and every 100 after
    assert windows.lr_at(0.0, base) == base
    assert windows.lr_at(0.499, base) == base
    assert windows.lr_at(0.5, base) == base / 2
    assert windows.lr_at(0.65, base) == base / 4
    assert windows.lr_at(0.95, base) == base / 32
    assert windows.lr_at(0.9999, base) == base / 32


def test_noise_levels_log_uniform():
    s = windows.sample_noise_levels(200_000, torch.Generator().manual_seed(0))
    assert s.min() >= math.sqrt(1e-5) and s.max() <= 10.0
    logv = torch.log10(s**2).numpy()
    hist, _ = np.histogram(logv, bins=7, range=(-5, 2))
    assert hist.min() / hist.max() > 0.95


def test_card_errors_name_the_file(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("[model\ntau = 2\n")
    with pytest.raises(InterpError, match="bad.toml.*line"):
        cards.read_card(p)
    p.write_text("[model]\ntau = 9.5\n[data]\nsource='leaves'\n")
    with pytest.raises(InterpError, match="tau"):
        cards.read_card(p)
    p.write_text("[model]\ntau = 1\nfoo = 1\n[data]\nsource='leaves'\n")
    with pytest.raises(InterpError, match="unknown key"):
        cards.read_card(p)
    p.write_text("[model]\ntau = 1\n[data]\nsource='youtube'\n")
    with pytest.raises(InterpError, match="source"):
        cards.read_card(p)
    with pytest.raises(InterpError, match="does not exist"):
        cards.read_card(tmp_path / "missing.toml")


def test_cli_bad_card_one_line(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("[model]\ntau = 'two'\n[data]\nsource='leaves'\n")
    assert_one_line_error(run_cli("interp.train", p), "bad.toml", "tau")
    assert_one_line_error(run_cli("interp.train", tmp_path / "none.toml"), "does not exist")
    assert_one_line_error(run_cli("interp.train", p, "--bogus"), "unrecognized")


def test_tiny_training_loss_falls_and_net_stays_homogeneous(tmp_path):
    card = write_card(tmp_path, samples=6400)
    cfg = train.train(card, progress=False, log=lambda *a: None)
    assert cfg["step"] == 200
    log = np.genfromtxt(tmp_path / "tiny.log.csv", delimiter=",", names=True)
    assert log["loss"][-1] < 0.5 * log["loss"][0]
    net = interp.load(tmp_path / "tiny.safetensors")
    y, c = torch.rand(4, 1, 32, 32), torch.rand(4, 2, 32, 32)
    with torch.no_grad():
        for a in (0.2, 3.0, 9.0):
            torch.testing.assert_close(net(a * y, a * c), a * net(y, c), rtol=1e-4, atol=1e-5 * a)
    text = card.read_text()
    assert "[results]" in text and "samples = 6400" in text
    assert cards.read_card(card).model["tau"] == 2  # the card stays a valid card


def test_resume_ends_with_the_same_weights(tmp_path):
    full_dir, cut_dir = tmp_path / "full", tmp_path / "cut"
    full_dir.mkdir()
    cut_dir.mkdir()
    full = write_card(full_dir)
    cut = write_card(cut_dir)
    train.train(full, progress=False, log=lambda *a: None)
    out = train.train(cut, max_minutes=1e-5, progress=False, log=lambda *a: None)
    assert 0 < out["step"] < 64
    train.train(cut, resume=True, max_minutes=1e-5, progress=False, log=lambda *a: None)
    train.train(cut, resume=True, progress=False, log=lambda *a: None)
    a, b = read(full_dir / "tiny.safetensors"), read(cut_dir / "tiny.safetensors")
    assert a.model.keys() == b.model.keys()
    for k in a.model:
        assert torch.equal(a.model[k], b.model[k]), k


def test_resuming_a_longer_run_says_the_schedule_restarts(tmp_path):
    """Raising `samples` and resuming sends the rate back up; the run says so in one line."""
    card = write_card(tmp_path, samples=256)  # 8 steps: ends at lr / 32
    train.train(card, progress=False, log=lambda *a: None, keep_state=True)
    write_card(tmp_path, samples=1024)  # 32 steps: step 8 is at 25%, full rate
    lines = []
    train.train(card, resume=True, progress=False, log=lambda *a: lines.append(" ".join(map(str, a))))
    notes = [line for line in lines if "schedule" in line]
    base = float(cards.read_card(card).train["lr"])
    assert len(notes) == 1, lines
    assert "asks for 32 steps" in notes[0] and "towards 8" in notes[0] and "warm restart" in notes[0]
    assert f"from {base / 32:g} to {base:g}" in notes[0]
    # same length, or a shorter one that does not raise the rate: no warm-restart warning
    assert train._length_change_note(8, 8, 4, base) is None
    shorter = train._length_change_note(32, 16, 8, base)
    assert shorter is not None and "warm restart" not in shorter


def test_resuming_with_a_changed_recipe_records_a_stage(tmp_path):
    """A resumed run whose card changed its recipe says so and keeps the history in the checkpoint."""
    card = write_card(tmp_path, samples=256)  # 8 steps
    train.train(card, progress=False, log=lambda *a: None, keep_state=True)
    first = read(tmp_path / "tiny.safetensors").config
    assert first["stages"] == [{"from_step": 0, "recipe": first["recipe"]}]
    step = first["train_state"]["step"]
    assert step == 8
    write_card(tmp_path, samples=512)  # a longer run, with the weight capped from step 8 on
    card.write_text(card.read_text().replace("[train]", "[train]\nweight_cap = 1.0"))
    lines = []
    cfg = train.train(card, resume=True, progress=False, log=lambda *a: lines.append(" ".join(map(str, a))))
    notes = [line for line in lines if "recipe changes" in line]
    assert len(notes) == 1 and f"at step {step}" in notes[0], lines
    assert "samples 256 -> 512" in notes[0] and "weight_cap None -> 1.0" in notes[0], lines
    assert [s["from_step"] for s in cfg["stages"]] == [0, step]
    assert cfg["stages"][0]["recipe"].get("weight_cap") is None and cfg["stages"][1]["recipe"]["weight_cap"] == 1.0
    saved = read(tmp_path / "tiny.safetensors").config["stages"]
    assert saved == cfg["stages"]
    # bookkeeping keys are not a new stage; an unchanged recipe keeps the history as it is
    assert train._recipe_stages(cfg, {**cfg["recipe"], "threads": 1, "eval_every": 0.5}, 99) == cfg["stages"]
    # a checkpoint from before stages were recorded counts as one stage with its recipe
    old = {"recipe": {"lr": 1e-3}}
    assert train._recipe_stages(old, {"lr": 1e-3}, 5) == [{"from_step": 0, "recipe": {"lr": 1e-3}}]
    assert train._recipe_stages(old, {"lr": 5e-4}, 5)[1] == {"from_step": 5, "recipe": {"lr": 5e-4}}


def test_existing_checkpoint_needs_resume(tmp_path):
    card = write_card(tmp_path, samples=64)
    train.train(card, progress=False, log=lambda *a: None)
    with pytest.raises(InterpError, match="--resume"):
        train.train(card, progress=False, log=lambda *a: None)


def test_prediction_only_training(tmp_path):
    card = write_card(tmp_path, samples=256, extra="")
    text = card.read_text().replace("width = 8", "width = 8\npredict_only = true")
    card.write_text(text)
    cfg = train.train(card, progress=False, log=lambda *a: None)
    assert "test_predict" in cfg["results"]
    net = interp.load(tmp_path / "tiny.safetensors")
    assert net(torch.rand(1, 2, 32, 32)).shape == (1, 1, 32, 32)


def test_sigterm_checkpoints_and_resume_matches(tmp_path):
    """A run stopped by SIGTERM writes its checkpoint; resuming ends with the same weights."""
    import signal
    import subprocess
    import sys
    import time

    full_dir, cut_dir = tmp_path / "full", tmp_path / "cut"
    full_dir.mkdir()
    cut_dir.mkdir()
    full, cut = write_card(full_dir, samples=12800), write_card(cut_dir, samples=12800)
    train.train(full, progress=False, log=lambda *a: None)
    proc = subprocess.Popen([sys.executable, "-m", "interp.train", str(cut), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = cut_dir / "tiny.log.csv"
    deadline = time.monotonic() + 120
    while not log.exists() and time.monotonic() < deadline:  # wait until training has started
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    if "stopped by signal SIGTERM" not in out:
        pytest.skip("the run finished before the signal arrived")
    assert read(cut_dir / "tiny.safetensors").config["step"] < 400
    train.train(cut, resume=True, progress=False, log=lambda *a: None)
    a, b = read(full_dir / "tiny.safetensors"), read(cut_dir / "tiny.safetensors")
    for k in a.model:
        assert torch.equal(a.model[k], b.model[k]), k


def test_init_starts_from_another_checkpoint(tmp_path):
    base = write_card(tmp_path, name="base", samples=256)
    train.train(base, progress=False, log=lambda *a: None)
    # with lr = 0 the fine-tuned weights stay those of init: they were loaded, not re-drawn
    tuned = write_card(tmp_path, name="tuned", samples=64, extra='init = "base.safetensors"\nlr = 0.0\nseed = 5\n')
    cfg = train.train(tuned, progress=False, log=lambda *a: None)
    a, b = read(tmp_path / "base.safetensors"), read(tmp_path / "tuned.safetensors")
    for k in a.model:
        assert torch.equal(a.model[k], b.model[k]), k
    assert cfg["init"]["path"] == "base.safetensors" and cfg["init"]["card"] == "base"
    assert len(cfg["init"]["sha256"]) == 16 and cfg["init"]["samples"] == 256
    assert b.config["init"] == cfg["init"]


def test_init_errors(tmp_path):
    selfish = write_card(tmp_path, name="selfish", samples=64, extra='init = "selfish.safetensors"\n')
    other = tmp_path / "wide.safetensors"
    interp.nets.checkpoint.save(other, interp.UNet(tau=2, width=4), {})
    with pytest.raises(InterpError, match="own checkpoint"):
        train.train(selfish, progress=False, log=lambda *a: None)
    wrong = write_card(tmp_path, name="wrong", samples=64, extra='init = "wide.safetensors"\n')
    with pytest.raises(InterpError, match="different network"):
        train.train(wrong, progress=False, log=lambda *a: None)
    bad = write_card(tmp_path, name="bad", samples=64, extra="init = 3\n")
    with pytest.raises(InterpError, match="init"):
        cards.read_card(bad)
    missing = write_card(tmp_path, name="missing", samples=64, extra='init = "nowhere.safetensors"\n')
    with pytest.raises(InterpError, match="does not exist"):
        train.train(missing, progress=False, log=lambda *a: None)


def test_focus_draws_first_contact_windows(tmp_path):
    card = cards.read_card(write_card(tmp_path, samples=64, extra="focus = 0.5\n"))
    events = windows.contact_windows(card, 3)
    assert events.ndim == 2 and events.shape[1] == 2 and len(events) > 10
    # every event window ends in the frame where the two meeting disks first overlap
    from interp.data.leaves import generate

    ds = generate(300, 0).train
    c, r = ds.meta["center"][:, :2], ds.meta["radius"][:, :2]
    for i, t0 in events.tolist():
        d = np.hypot(*(c[i, 0] - c[i, 1]).T)
        t = t0 + 2
        assert d[t - 1] >= r[i, 0, t - 1] + r[i, 1, t - 1] and d[t] < r[i, 0, t] + r[i, 1, t]
    clips = torch.from_numpy(ds.frames)
    g = torch.Generator().manual_seed(0)
    plain = windows.draw_windows(clips, 4000, 3, torch.Generator().manual_seed(0))
    focused = windows.draw_windows(clips, 4000, 3, g, (0.5, events))
    # about half of the focused windows are event windows (identified by their frames)
    keys = {(i, t0) for i, t0 in events.tolist()}
    frames = {k: clips[k[0], k[1]:k[1] + 3] for k in keys}
    hits = sum(any(torch.equal(w, f) for f in frames.values()) for w in focused[:400])
    base = sum(any(torch.equal(w, f) for f in frames.values()) for w in plain[:400])
    assert 150 < hits < 260 and base < 60
    with pytest.raises(InterpError, match="focus"):
        cards.read_card(write_card(tmp_path, name="bad", samples=64, extra="focus = 1.5\n"))


def test_focus_depth_keeps_only_deep_first_contacts(tmp_path):
    card = cards.read_card(write_card(tmp_path, samples=64, extra="focus = 0.5\nfocus_depth = 1.5\n"))
    everything = windows.contact_windows(card, 3)
    deep = windows.contact_windows(card, 3, 1.5)
    assert 0 < len(deep) < len(everything)
    assert {tuple(e) for e in deep.tolist()} <= {tuple(e) for e in everything.tolist()}
    from interp.data.leaves import generate

    ds = generate(300, 0).train
    c, r = ds.meta["center"][:, :2], ds.meta["radius"][:, :2]
    depth = {}
    for i, t0 in everything.tolist():
        t = t0 + 2
        depth[i, t0] = r[i, 0, t] + r[i, 1, t] - float(np.hypot(*(c[i, 0, t] - c[i, 1, t])))
    kept = {tuple(e) for e in deep.tolist()}
    assert all((d >= 1.5) == (k in kept) for k, d in depth.items())
    for extra, what in (("focus = 0.5\nfocus_depth = -1\n", "non-negative"),
                        ("focus = 0.5\nfocus_depth = 'deep'\n", "non-negative"),
                        ("focus_depth = 1.5\n", "set focus too")):
        with pytest.raises(InterpError, match=what):
            cards.read_card(write_card(tmp_path, name="bad", samples=64, extra=extra))


def test_dihedral_maps_each_window_by_one_symmetry_of_the_square():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(400, 3, 5, 5)
    out = windows.dihedral(w, g)
    maps = [lambda x: x, lambda x: x.flip(-1), lambda x: x.flip(-2), lambda x: x.flip(-1, -2),
            lambda x: x.transpose(-1, -2), lambda x: x.flip(-1).transpose(-1, -2),
            lambda x: x.flip(-2).transpose(-1, -2), lambda x: x.flip(-1, -2).transpose(-1, -2)]
    used = []
    for a, b in zip(w, out):  # the same map for every frame of a window: motion turns with it
        k = [i for i, f in enumerate(maps) if torch.equal(f(a), b)]
        assert len(k) == 1
        used.append(k[0])
    counts = np.bincount(used, minlength=8)
    assert counts.min() > 25  # all 8, about 50 each
    assert torch.equal(out, windows.dihedral(w, torch.Generator().manual_seed(0)))  # seeded
    # non-square frames: only the 4 maps that keep the shape
    rect = windows.dihedral(torch.randn(200, 3, 4, 6), torch.Generator().manual_seed(1))
    assert rect.shape == (200, 3, 4, 6)


def test_flips_is_a_card_switch_that_trains(tmp_path):
    with pytest.raises(InterpError, match="flips must be true or false"):
        cards.read_card(write_card(tmp_path, name="bad", samples=64, extra="flips = 1\n"))
    assert_switch_trains(tmp_path, "flips")


def assert_switch_trains(tmp_path, key):
    """A card with ``key = true`` trains, records the key, and reaches different weights than
    the same card without it (the switch reaches the training loop)."""
    on = write_card(tmp_path, name=f"with-{key}", samples=128, extra=f"{key} = true\n")
    plain = write_card(tmp_path, name="plain", samples=128)
    train.train(on, progress=False, log=lambda *a: None)
    train.train(plain, progress=False, log=lambda *a: None)
    a, b = read(on.with_suffix(".safetensors")), read(plain.with_suffix(".safetensors"))
    assert a.config["stages"][0]["recipe"][key] is True
    assert any(not torch.equal(a.model[k], b.model[k]) for k in a.model)


def test_negative_maps_each_window_to_itself_or_its_negative():
    w = torch.rand(400, 3, 5, 5)
    out = windows.negative(w, torch.Generator().manual_seed(0))
    same = (out == w).flatten(1).all(1)
    neg = (out == 1.0 - w).flatten(1).all(1)
    assert bool((same ^ neg).all())  # one or the other, for all frames of a window alike
    assert 150 < int(neg.sum()) < 250  # even odds
    assert torch.equal(out, windows.negative(w, torch.Generator().manual_seed(0)))  # seeded
    # moving leaves are a coverage-weighted mix of uniform grays: the negative of a rendered
    # scene is the same scene rendered with every gray g drawn as 1 - g
    from interp.data.leaves import LeavesConfig, render, sample_scenes
    sc = sample_scenes(LeavesConfig(), 0, 0, 4)
    a = render(sc["center"], sc["radius"], sc["luminance"], sc["background"], sc["layer"])
    b = render(sc["center"], sc["radius"], 1.0 - sc["luminance"], 1.0 - sc["background"], sc["layer"])
    assert torch.allclose(1.0 - torch.as_tensor(a), torch.as_tensor(b), atol=1e-6)


def test_negate_is_a_card_switch_that_trains_and_refuses_the_brightness_rule(tmp_path):
    with pytest.raises(InterpError, match="negate must be true or false"):
        cards.read_card(write_card(tmp_path, name="bad", samples=64, extra="negate = 'yes'\n"))
    bright = write_card(tmp_path, name="bright", samples=64, extra="negate = true\n")
    text = bright.read_text().replace("n = 300\n", 'n = 300\nvariant = "brightness"\n')
    assert 'variant = "brightness"' in text
    bright.write_text(text)
    with pytest.raises(InterpError, match="brightness"):
        cards.read_card(bright)
    assert_switch_trains(tmp_path, "negate")


def test_weight_cap_bounds_the_low_noise_weight(tmp_path):
    for bad in ("0", "-1", "true", "'x'"):
        with pytest.raises(InterpError, match="weight_cap"):
            cards.read_card(write_card(tmp_path, name="bad", samples=64, extra=f"weight_cap = {bad}\n"))
    # with a cap of 1 every weight min(1 / sigma^2, 1) is 1 except at sigma > 1: the run differs
    # from the paper's weighting from the first step on, and still trains
    capped = write_card(tmp_path, name="capped", samples=256, extra="weight_cap = 1.0\n")
    plain = write_card(tmp_path, name="plain", samples=256)
    train.train(capped, progress=False, log=lambda *a: None)
    train.train(plain, progress=False, log=lambda *a: None)
    a, b = read(tmp_path / "capped.safetensors"), read(tmp_path / "plain.safetensors")
    assert any(not torch.equal(a.model[k], b.model[k]) for k in a.model)
    assert a.config["recipe"]["weight_cap"] == 1.0


def test_resume_accepts_leaves_regenerated_with_other_rounding(tmp_path, monkeypatch):
    """Frames generated from the same seed on another CPU can differ in their last bits: the
    exact fingerprint changes, the generator and the checksum do not; anything else refuses."""
    card = write_card(tmp_path, samples=64)
    train.train(card, progress=False, log=lambda *a: None, keep_state=True)
    saved = read(tmp_path / "tiny.safetensors").config["data"]
    assert isinstance(saved["checksum"], float)
    real = windows.load_clips

    def rounded_elsewhere(c, log=None, nudge=0.0):  # nudge: relative change of the checksum
        tr, te, desc = real(c, log)
        return tr, te, {**desc, "fingerprint": f"{nudge:024.0e}"[:24],  # not the saved one
                        "checksum": desc["checksum"] * (1 + nudge) + nudge}

    monkeypatch.setattr(train, "load_clips", rounded_elsewhere)
    write_card(tmp_path, samples=128)
    lines = []
    out = train.train(card, resume=True, progress=False, log=lambda *a: lines.append(" ".join(map(str, a))))
    assert out["step"] == 4 and any("last bits" in line for line in lines), lines
    # a checksum that moved by more than rounding could: other data
    monkeypatch.setattr(train, "load_clips", lambda c, log=None: rounded_elsewhere(c, log, nudge=1e-3))
    write_card(tmp_path, samples=192)
    with pytest.raises(InterpError, match="different data"):
        train.train(card, resume=True, progress=False, log=lambda *a: None)
    # another seed: other data, whatever the rounding
    monkeypatch.setattr(train, "load_clips", real)
    card.write_text(card.read_text().replace("seed = 0", "seed = 1"))
    with pytest.raises(InterpError, match="different data"):
        train.train(card, resume=True, progress=False, log=lambda *a: None)
    assert train._same_generated_data({"source": "npz"}, {"source": "npz"}) is False


def test_bf16_on_a_cpu_without_bf16_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(train, "cpu_has_bf16", lambda: False)
    card = write_card(tmp_path, samples=32, extra="precision = \"bf16\"\n")
    lines = []
    train.train(card, progress=False, log=lambda *a: lines.append(" ".join(map(str, a))))
    notes = [line for line in lines if "bf16 instructions" in line]
    assert len(notes) == 1 and 'precision = "fp32"' in notes[0], lines
    monkeypatch.setattr(train, "cpu_has_bf16", lambda: True)
    card2 = write_card(tmp_path, name="fast", samples=32, extra="precision = \"bf16\"\n")
    lines.clear()
    train.train(card2, progress=False, log=lambda *a: lines.append(" ".join(map(str, a))))
    assert not [line for line in lines if "bf16 instructions" in line]
