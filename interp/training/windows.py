"""What one training step draws: the card's clips, windows of tau + 1 frames with their augmentations
(negation, dihedral), the noise levels of Algorithm 1, and the learning-rate schedule."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import torch

from interp._util.errors import InterpError
from interp.data.dataset import load
from interp.data.leaves import LeavesConfig, generate, sample_scenes, split_is_test
from interp.data.sources import cached
from interp.training.cards import Card

SIGMA2_MIN, SIGMA2_MAX = 1e-5, 1e2  # appendix E: noise variance log-uniform on this range


def lr_at(fraction: float, base: float) -> float:
    """Learning rate at a fraction of the run: halved at 50%, then every further 10%.

    The paper halves at epoch 500 of 1000 and every 100 epochs after (appendix E).
    """
    if fraction < 0.5:
        return base
    return base * 0.5 ** (1 + min(4, int(math.floor((fraction - 0.5) / 0.1 + 1e-9))))


def sample_noise_levels(n: int, generator: torch.Generator) -> torch.Tensor:
    """sigma with log(sigma^2) uniform on [log 1e-5, log 1e2] (Algorithm 1, line 5)."""
    lo, hi = math.log(SIGMA2_MIN), math.log(SIGMA2_MAX)
    log_var = lo + (hi - lo) * torch.rand(n, generator=generator)
    return torch.exp(0.5 * log_var)


# ----------------------------------------------------------------------------------- data
def card_relative(card: Card, path) -> Path:
    """A path from a card: absolute as given, else relative to the card's folder."""
    p = Path(path)
    return p if p.is_absolute() else card.path.parent / p


def card_sources(card: Card) -> list[dict]:
    """The card's ``[[data.sources]]`` with their paths resolved against the card's folder."""
    return [{**s, "path": card_relative(card, s["path"])} for s in card.data["sources"]]


def load_clips(card: Card, log=None) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """(train clips, test clips, data description with a fingerprint) for a card.

    A card whose ``[data]`` names several ``sources`` has them built into one clip set once,
    cached at its ``path`` and rebuilt when a source changes (:func:`interp.data.sources.cached`).
    """
    data = card.data
    if data["source"] == "leaves":
        ds = generate(int(data.get("n", 100_000)), int(data.get("seed", 0)), data.get("variant", "default"))
    else:
        p = card_relative(card, data["path"])
        if data["source"] == "npz":
            ds = load(p)
        else:
            ds = cached(card_sources(card), p, seed=int(data.get("seed", 0)), log=log)
    where = f"{card.path}: dataset {p}" if data["source"] != "leaves" else f"{card.path}: the dataset"
    if "test" not in ds.meta:
        raise InterpError(f"{where} has no train/test split (no 'meta.test' array)")
    train, test = ds.train.frames, ds.test.frames
    need = card.model["tau"] + 1
    if ds.frames.shape[1] < need:
        raise InterpError(f"{where}: sequences have {ds.frames.shape[1]} frames, tau={need - 1} needs {need}")
    if len(train) == 0 or len(test) == 0:
        raise InterpError(f"{where}: its train or test split is empty")
    h = hashlib.blake2b(digest_size=12)
    h.update(np.ascontiguousarray(ds.frames).view(np.uint8))
    desc = {**{k: v for k, v in data.items()}, "source_detail": ds.source, "fingerprint": h.hexdigest(),
            "checksum": frames_checksum(ds.frames),
            "n_train": int(len(train)), "n_test": int(len(test)), "shape": list(ds.frames.shape[1:])}
    return torch.from_numpy(np.ascontiguousarray(train)), torch.from_numpy(np.ascontiguousarray(test)), desc


def draw_windows(clips: torch.Tensor, n: int, span: int, generator: torch.Generator,
                 focus: tuple[float, torch.Tensor] | None = None) -> torch.Tensor:
    """``n`` random windows of ``span`` consecutive frames: [n, span, H, W].

    Windows are uniform over (sequence, start). With ``focus = (fraction, events)``, each
    window is replaced, with probability ``fraction``, by one drawn uniformly from
    ``events`` (rows of ``(sequence, start)``, see :func:`contact_windows`). Without
    ``focus`` the random draws are exactly those of earlier versions (resumable runs).
    """
    N, T = clips.shape[:2]
    seq = torch.randint(N, (n,), generator=generator)
    t0 = torch.randint(T - span + 1, (n,), generator=generator)
    if focus is not None and focus[0] > 0:
        fraction, events = focus
        swap = torch.rand(n, generator=generator) < fraction
        pick = events[torch.randint(len(events), (n,), generator=generator)]
        seq = torch.where(swap, pick[:, 0], seq)
        t0 = torch.where(swap, pick[:, 1], t0)
    return clips[seq[:, None], t0[:, None] + torch.arange(span)]


def negative(windows: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each window [n, T, H, W] as it is or as its photographic negative (``1 - x``), even odds.

    The choice is drawn per window from ``generator`` and applies to all its frames. The card's
    ``negate = true``: right for gray levels in [0, 1] whose distribution is symmetric about
    1/2. In moving leaves the background and every disk's gray are uniform on [0, 1] and a
    pixel is a coverage-weighted mix of them, so the negative of a sequence is another
    sequence of the same data with every gray ``g`` drawn as ``1 - g``: the map keeps the data's
    distribution and makes any preference for the darker (or the lighter) disk cost loss. Not
    for the 'brightness' variant, whose rule it would reverse, nor natural video.
    """
    flip = torch.rand(windows.shape[0], generator=generator) < 0.5
    return torch.where(flip.view(-1, *([1] * (windows.dim() - 1))), 1.0 - windows, windows)


def dihedral(windows: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each window [n, T, H, W] under one of the square's 8 symmetries, drawn per window.

    The symmetry (identity, mirror in either axis, rotation by a multiple of 90 degrees, or
    transposition) is drawn uniformly from ``generator`` and applied to every frame of the
    window alike, so motion is mirrored or rotated with the images. Non-square frames get
    one of the 4 symmetries that keep their shape. The card's ``flips = true``: right for
    data whose statistics do not change under these maps (moving leaves: positions, radii
    and directions are isotropic), where it removes any preference the network could learn
    for one side or direction of motion.
    """
    n, square = windows.shape[0], windows.shape[-1] == windows.shape[-2]
    code = torch.randint(8 if square else 4, (n,), generator=generator)
    out = windows.clone()
    for k in code.unique().tolist():
        rows = code == k
        w = windows[rows]
        if k & 1:
            w = w.flip(-1)
        if k & 2:
            w = w.flip(-2)
        if k & 4:
            w = w.transpose(-1, -2)
        out[rows] = w
    return out


def mirror_and_reverse(windows: torch.Tensor, generator: torch.Generator, hflip: bool, reverse: bool) -> torch.Tensor:
    """Each window [n, T, H, W] mirrored left-right (``hflip``) and played backwards in time
    (``reverse``), each with even odds, drawn per window (the mirror draw first).

    The card's ``hflip = true`` and ``reverse = true``, for natural video: a mirrored scene is
    as likely as the scene, and so, for most footage, is the same motion run backwards (camera
    pans, objects crossing); a vertical flip or a negative is not (skies are above, shadows dark).
    """
    n = windows.shape[0]
    out = windows
    if hflip:
        m = (torch.rand(n, generator=generator) < 0.5).view(-1, 1, 1, 1)
        out = torch.where(m, out.flip(-1), out)
    if reverse:
        r = (torch.rand(n, generator=generator) < 0.5).view(-1, 1, 1, 1)
        out = torch.where(r, out.flip(1), out)
    return out


def contact_windows(card: Card, span: int, min_depth: float = 0.0) -> torch.Tensor:
    """Training windows whose last frame is a first contact between the two meeting disks.

    For a moving-leaves card: rows ``(i, t0)`` with ``i`` a sequence's position in the
    training split and frames ``t0 .. t0 + span - 1`` such that the two disks that meet do
    not overlap in frame ``t0 + span - 2`` and do in frame ``t0 + span - 1`` (the sum of
    their radii exceeds the distance between their centres), by at least ``min_depth``
    pixels in that frame (the card's ``focus_depth``: deep first contacts, whose overlap lens
    is wide enough to show which disk is in front). These are the windows where
    the network must decide, without evidence in the conditioning frames, which disk comes
    in front (section 3.1); in the default data they are about 3% of all windows.
    Computed from the scene parameters alone (no rendering).
    """
    data = card.data
    n, seed = int(data.get("n", 100_000)), int(data.get("seed", 0))
    cfg = LeavesConfig(variant=data.get("variant", "default"))
    rows, row0 = [], 0
    for lo in range(0, n, 4096):
        m = min(4096, n - lo)
        sc = sample_scenes(cfg, seed, lo, m)
        train = ~split_is_test(seed, np.arange(lo, lo + m))
        c, r = sc["center"][train, :2], sc["radius"][train, :2]  # [m', 2, T, 2], [m', 2, T]
        depth = r[:, 0] + r[:, 1] - np.hypot(*np.moveaxis(c[:, 0] - c[:, 1], -1, 0))  # [m', T]
        hit = (depth[:, 1:] > 0) & (depth[:, 1:] >= min_depth) & (depth[:, :-1] <= 0)  # contact at frame t (index t - 1)
        i, t = np.nonzero(hit)
        t = t + 1
        ok = t >= span - 1
        rows.append(np.stack([i[ok] + row0, t[ok] - (span - 1)], axis=1))
        row0 += int(train.sum())
    events = np.concatenate(rows) if rows else np.zeros((0, 2), dtype=np.int64)
    if len(events) == 0:
        raise InterpError(f"{card.path}: [train] focus found no first-contact windows in the training data")
    return torch.from_numpy(events.astype(np.int64))


def frames_checksum(frames: np.ndarray) -> float:
    """A checksum of the frames that floating-point rounding moves only in its last digits.

    The mean of the frames weighted by a fixed pattern over (frame, row, col) and by the
    sequence's position, so reordered, shifted or changed sequences change it.
    """
    n = len(frames)
    if n == 0:
        return 0.0
    inner = np.cos(np.arange(int(np.prod(frames.shape[1:])), dtype=np.float64) * 0.618034)
    per_seq = np.empty(n)
    for lo in range(0, n, 2048):  # float64 in chunks: bounded memory
        part = np.asarray(frames[lo:lo + 2048], dtype=np.float64).reshape(-1, inner.size)
        per_seq[lo:lo + 2048] = part @ inner
    outer = 1.0 + np.sin(np.arange(n, dtype=np.float64) * 0.414214)
    return float(per_seq @ outer / n)
