"""Checkpoints: one safetensors file with the weights and a JSON config, never pickled.

Layout of the file:

* tensors ``model.<name>``: the network's state dict (weights and normalization statistics);
* optionally ``optim.<i>.<key>``, ``rng.<name>`` and ``train.<name>``: the training state that
  ``--resume`` needs (Adam moments, random generator states, and, for a run that averages its
  weights, the raw weights being trained: ``model.*`` then holds the average, the weights for use);
* header metadata ``format`` (``interp.checkpoint/1``) and ``config``, a JSON object with
  ``net`` (enough to rebuild the network), ``recipe``, ``data`` (source and fingerprint),
  ``step``, ``samples``, ``results``, ``versions`` and the training bookkeeping.

:func:`load` returns the network in eval mode; :func:`read` returns everything.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from interp._util.errors import InterpError
from interp._util.hashing import file_sha256
from interp._util.io import atomic_write
from interp._util.resources import shipped
from interp.nets.unet import NORMS, UNet

__all__ = ["save", "load", "read", "Checkpoint", "FORMAT", "file_hash"]

FORMAT = "interp.checkpoint/1"
_KNOWN_FORMATS = (FORMAT,)


class Checkpoint:
    """The contents of a checkpoint file: config, model state, and optional training state."""

    def __init__(self, config: dict, model: dict, optim: dict, rng: dict, path: Path | None = None,
                 train: dict | None = None):
        self.config, self.model, self.optim, self.rng, self.path = config, model, optim, rng, path
        self.train = train or {}  # raw training weights of a run that averages them (else empty)

    def build(self) -> torch.nn.Module:
        """The network, weights loaded, in eval mode, on the CPU."""
        net_cfg = self.config.get("net")
        where = f"{self.path}: " if self.path else ""
        if not isinstance(net_cfg, dict) or net_cfg.get("arch") != "unet":
            raise InterpError(f"{where}config does not describe a known network (net.arch)")

        tau, width, norm = net_cfg.get("tau"), net_cfg.get("width"), net_cfg.get("norm")
        predict_only = net_cfg.get("predict_only", False)
        skip = net_cfg.get("skip", False)  # absent in checkpoints older than the option
        # check before building: a tampered config must not make us allocate a huge network
        if not _int_in(tau, 0, 10) or not _int_in(width, 1, 512) or norm not in NORMS \
                or not isinstance(predict_only, bool) or not isinstance(skip, bool) or (skip and predict_only):
            raise InterpError(f"{where}config cannot rebuild the network: net = "
                              f"{json.dumps(net_cfg, sort_keys=True, default=str)[:200]} (tau 0..10, width "
                              f"1..512, norm one of {', '.join(NORMS)}, predict_only and skip booleans, not both)")
        # the shapes the config implies, from a network on the "meta" device (no memory): a header
        # claiming width 512 over a few small tensors is refused without allocating the 470 MB it implies
        with torch.device("meta"):
            expected = UNet(tau=tau, width=width, norm=norm, predict_only=predict_only, skip=skip).state_dict()
        missing = sorted(set(expected) - set(self.model))
        extra = sorted(set(self.model) - set(expected))
        if missing or extra:
            raise InterpError(
                f"{where}config does not match the weights (missing {len(missing)} tensors, "
                f"e.g. {missing[:1]}; unexpected {len(extra)}, e.g. {extra[:1]})"
            )
        for k, v in expected.items():
            if tuple(v.shape) != tuple(self.model[k].shape):
                raise InterpError(
                    f"{where}config does not match the weights: {k} has shape "
                    f"{tuple(self.model[k].shape)}, the config implies {tuple(v.shape)}"
                )
            if not self.model[k].is_floating_point():
                raise InterpError(f"{where}weights are corrupt: {k} has dtype {self.model[k].dtype}, not a float")
            if not torch.isfinite(self.model[k]).all():
                raise InterpError(f"{where}weights are corrupt: {k} holds NaN or infinite values")
        net = UNet(tau=tau, width=width, norm=norm, predict_only=predict_only, skip=skip)  # the weights fit: build it
        net.load_state_dict(self.model)
        return net.eval()


def _int_in(v, lo: int, hi: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def file_hash(path, n: int = 16) -> str:
    """Short SHA-256 of a file's bytes (its first ``n`` hex digits; :func:`interp._util.hashing.file_sha256`)."""
    return file_sha256(path)[:n]


def save(path, net: torch.nn.Module, config: dict, optimizer: torch.optim.Optimizer | None = None,
         rng: dict[str, torch.Tensor] | None = None, training_weights: dict | None = None) -> Path:
    """Write a checkpoint atomically (temporary file, then rename).

    ``net`` holds the weights for use; ``optimizer``, ``rng`` and ``training_weights`` (the raw
    state dict of a run whose ``net`` is a weight average) are the state a resumed run needs.
    """
    from safetensors.torch import save as st_save

    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    for k, v in (training_weights or {}).items():
        tensors[f"train.{k}"] = v.detach().cpu().contiguous()
    cfg = dict(config)
    cfg["net"] = net.config()
    if optimizer is not None:
        sd = optimizer.state_dict()
        for i, st in sd["state"].items():
            for k, v in st.items():
                tensors[f"optim.{i}.{k}"] = torch.as_tensor(v).detach().cpu().contiguous()
        cfg["optim_groups"] = sd["param_groups"]
    for k, v in (rng or {}).items():
        tensors[f"rng.{k}"] = v.detach().cpu().contiguous()
    blob = st_save(tensors, metadata={"format": FORMAT, "config": json.dumps(cfg, sort_keys=True)})
    path = Path(path)
    with atomic_write(path) as f:
        f.write(blob)
    return path


def read(path) -> Checkpoint:
    """Read a checkpoint file; one-line :class:`InterpError` for anything wrong with it."""
    from safetensors import SafetensorError
    from safetensors.torch import load as st_load

    path = Path(path)
    if not path.exists():
        raise InterpError(f"checkpoint {path} does not exist")
    if not path.is_file():
        raise InterpError(f"checkpoint {path} is not a file")
    size = path.stat().st_size
    with open(path, "rb") as f:  # the header first: a large file that is no checkpoint is not read whole
        start = f.read(8)
        if len(start) < 8:
            raise InterpError(f"{path} is not a checkpoint (too short to be a safetensors file)")
        header_len = int.from_bytes(start, "little")
        if header_len <= 0 or header_len > size - 8 or header_len > 100_000_000:
            raise InterpError(f"{path} is not a checkpoint, or it is truncated (bad safetensors header)")
        head = f.read(header_len)
    try:
        header = json.loads(head)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise InterpError(f"{path} is not a checkpoint (its header is not safetensors JSON)") from None
    if not isinstance(header, dict):
        raise InterpError(f"{path} is not a checkpoint (its header is not safetensors JSON)")
    meta = header.get("__metadata__") or {}
    if not isinstance(meta, dict):
        raise InterpError(f"{path} is not a checkpoint (its safetensors metadata is not a table of strings)")
    fmt = meta.get("format")
    if fmt is None or "config" not in meta:
        raise InterpError(f"{path} is a safetensors file but not an interp checkpoint (no interp config)")
    if not isinstance(fmt, str) or fmt not in _KNOWN_FORMATS:
        raise InterpError(f"{path} has unknown checkpoint format {str(fmt)[:80]!r} (this interp reads {FORMAT})")
    ends = []
    for k, v in header.items():
        if k == "__metadata__":
            continue
        offsets = v.get("data_offsets") if isinstance(v, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2
                and all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)):
            raise InterpError(f"{path} is corrupt: tensor {str(k)[:80]!r} has no valid data_offsets")
        ends.append(offsets[1])
    if 8 + header_len + max(ends, default=0) != size:
        raise InterpError(f"{path} is truncated or padded ({size} bytes, its header describes "
                          f"{8 + header_len + max(ends, default=0)})")
    data = path.read_bytes()
    try:
        tensors = st_load(data)
        config = json.loads(meta["config"])
    except (SafetensorError, json.JSONDecodeError, ValueError, KeyError, TypeError, OverflowError,
            RecursionError, RuntimeError) as err:
        raise InterpError(f"{path} is corrupt: {' '.join(str(err).split())[:300]}") from None
    if not isinstance(config, dict):
        raise InterpError(f"{path} is corrupt: its config is not a JSON object")
    groups: dict[str, dict] = {"model": {}, "optim": {}, "rng": {}, "train": {}}
    for k, v in tensors.items():
        kind, _, name = k.partition(".")
        if kind in groups:
            groups[kind][name] = v
    return Checkpoint(config, groups["model"], groups["optim"], groups["rng"], path, train=groups["train"])


def resolve(path) -> Path:
    """A checkpoint's path: ``path`` itself, or for a bare model name (no folder, no suffix, not
    an existing file, e.g. ``"davis32-tau2"``) the shipped ``models/NAME.safetensors``."""
    if isinstance(path, str) and path and Path(path).name == path and not Path(path).suffix \
            and not Path(path).exists() and not path.startswith("."):
        folder = shipped("models")
        found = folder / f"{path}.safetensors"
        if not found.is_file():
            known = sorted(p.stem for p in folder.glob("*.safetensors"))
            raise InterpError(f"no checkpoint file {path!r} and no shipped model of that name "
                              f"(shipped: {', '.join(known) or 'none'})")
        return found
    return Path(path)


def load(path) -> torch.nn.Module:
    """Load a trained network from a checkpoint, or a shipped model by name, for analysis.

    ``path`` is a checkpoint file, or the name of a shipped model (``interp.load("davis32-tau2")``:
    ``models/davis32-tau2.safetensors``). The network is in eval mode with ``requires_grad``
    off on every parameter, so ``net(y, c).numpy()`` works; to train it further, turn
    gradients back on (``net.requires_grad_(True).train()``).

    A denoiser is called as ``net(y, c)`` with ``y`` [B, 1, H, W] and ``c`` [B, tau, H, W]
    (oldest frame first) and returns [B, 1, H, W]; a prediction-only network as ``net(c)``.
    ``net.tau`` is its number of conditioning frames; ``net.checkpoint_config`` the config.
    """
    ckpt = read(resolve(path))
    net = ckpt.build()
    net.checkpoint_config = ckpt.config
    net.requires_grad_(False)
    return net.eval()


def optimizer_state(ckpt: Checkpoint) -> dict:
    """Rebuild a torch optimizer state dict from a checkpoint's ``optim.*`` tensors."""
    state: dict[int, dict] = {}
    for k, v in ckpt.optim.items():
        i, _, key = k.partition(".")
        state.setdefault(int(i), {})[key] = v
    return {"state": state, "param_groups": ckpt.config.get("optim_groups", [])}
