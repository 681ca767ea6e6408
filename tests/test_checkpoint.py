"""Checkpoints: safetensors + JSON config, one-line errors for bad files, never unpickled."""

from __future__ import annotations

import json
import pickle

import pytest
import torch

import interp
from interp import InterpError
from interp._util import io as util_io
from interp.nets import checkpoint
from interp.nets.unet import UNet


def _save(path, **kw):
    torch.manual_seed(0)
    net = UNet(tau=2, width=8, **kw).eval()
    checkpoint.save(path, net, {"step": 5, "data": {"source": "test"}})
    return net


def test_round_trip(tmp_path):
    p = tmp_path / "m.safetensors"
    net = _save(p)
    loaded = interp.load(p)
    assert not loaded.training and loaded.tau == 2
    assert loaded.checkpoint_config["step"] == 5
    assert loaded.checkpoint_config["net"] == net.config()
    y, c = torch.rand(2, 1, 32, 32), torch.rand(2, 2, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(y, c), net(y, c), rtol=0, atol=0)


def test_round_trip_skip_and_older_configs_without_the_key(tmp_path):
    p = tmp_path / "s.safetensors"
    net = _save(p, skip=True)
    y, c = torch.rand(2, 1, 32, 32), torch.rand(2, 2, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(interp.load(p)(y, c), net(y, c), rtol=0, atol=0)
    old = checkpoint.read(p)  # a checkpoint written before the option: no "skip" key, no skip
    del old.config["net"]["skip"]
    assert old.build().skip is False
    old.config["net"]["skip"] = "yes"
    with pytest.raises(InterpError, match="skip"):
        old.build()


def test_round_trip_batchnorm_statistics(tmp_path):
    torch.manual_seed(0)
    net = UNet(tau=1, width=8, norm="batch")
    net(torch.rand(4, 1, 32, 32) * 2, torch.rand(4, 1, 32, 32))
    net.eval()
    p = tmp_path / "bn.safetensors"
    checkpoint.save(p, net, {})
    y, c = torch.rand(2, 1, 32, 32), torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(interp.load(p)(y, c), net(y, c), rtol=0, atol=0)


def test_missing_file(tmp_path):
    with pytest.raises(InterpError, match="does not exist"):
        interp.load(tmp_path / "nope.safetensors")


@pytest.mark.parametrize("content", [b"", b"hello", b"\x00" * 100, json.dumps({"a": 1}).encode()])
def test_not_a_checkpoint(tmp_path, content):
    p = tmp_path / "x.safetensors"
    p.write_bytes(content)
    with pytest.raises(InterpError, match="not a checkpoint|not an interp checkpoint|truncated"):
        interp.load(p)


def test_plain_safetensors_is_not_an_interp_checkpoint(tmp_path):
    from safetensors.torch import save_file

    p = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(3)}, p)
    with pytest.raises(InterpError, match="not an interp checkpoint"):
        interp.load(p)


def test_truncated(tmp_path):
    p = tmp_path / "m.safetensors"
    _save(p)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(InterpError, match="truncated"):
        interp.load(p)


def _rewrite_config(p, edit):
    data = p.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    edit(header["__metadata__"])
    new = json.dumps(header).encode()
    new += b" " * ((8 - len(new) % 8) % 8)
    p.write_bytes(len(new).to_bytes(8, "little") + new + data[8 + n :])


def test_config_that_does_not_match_weights(tmp_path):
    p = tmp_path / "m.safetensors"
    _save(p)

    def widen(meta):
        cfg = json.loads(meta["config"])
        cfg["net"]["width"] = 16
        meta["config"] = json.dumps(cfg)

    _rewrite_config(p, widen)
    with pytest.raises(InterpError, match="does not match the weights"):
        interp.load(p)


def test_unknown_format_version(tmp_path):
    p = tmp_path / "m.safetensors"
    _save(p)
    _rewrite_config(p, lambda meta: meta.update(format="interp.checkpoint/99"))
    with pytest.raises(InterpError, match="unknown checkpoint format"):
        interp.load(p)


def test_corrupt_config_json(tmp_path):
    p = tmp_path / "m.safetensors"
    _save(p)
    _rewrite_config(p, lambda meta: meta.update(config="{not json"))
    with pytest.raises(InterpError, match="corrupt"):
        interp.load(p)


class _Boom:
    def __reduce__(self):
        import os

        return (os.system, ("touch PWNED",))


def test_pickle_is_refused_and_nothing_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = tmp_path / "evil.safetensors"
    p.write_bytes(pickle.dumps(_Boom()))
    with pytest.raises(InterpError):
        interp.load(p)
    p2 = tmp_path / "evil.pt"
    torch.save({"x": _Boom()}, p2)
    with pytest.raises(InterpError):
        interp.load(p2)
    assert not (tmp_path / "PWNED").exists()


def test_save_is_atomic(tmp_path, monkeypatch):
    p = tmp_path / "m.safetensors"
    _save(p)
    before = p.read_bytes()

    def fail(*a, **k):
        raise RuntimeError("disk full")


    monkeypatch.setattr(util_io.os, "fsync", fail)
    with pytest.raises(RuntimeError):
        _save(p)
    assert p.read_bytes() == before
    assert [q.name for q in tmp_path.iterdir()] == ["m.safetensors"]
