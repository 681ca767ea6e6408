"""natural_set: a DAVIS32 model set against the natural-video targets, on the fixed held-out clips.

A model set is a folder of cards and checkpoints named ``davis32-tau0`` .. ``davis32-tau3`` and
``davis32-predict``: by default the shipped ``models/`` (the previous set, trained on davis-mini
only); ``INTERP_NATURAL_SET_MODELS=models/in-progress python -m benchmarks --only natural_set``
scores another folder (a finished retraining) beside the shipped set, on the same clips and noise.

The clips: the held-out side of the multi-source clip set of
``models/in-progress/davis32-tau2.toml``'s ``[data]`` (davis-mini + footage, built once and cached
by :func:`interp.data.sources.cached`; 2331 clips of 12 videos), the fixed test clips of every
natural-video number. Skipped, with a note, when ``../shared`` (the sources) is absent.

What is measured (the issue's targets, each row naming its own):

* Fig. 6: output PSNR of frame 10 of every held-out clip at input -10 .. 50 dB
  (:func:`interp.figures.video.denoising_curves`: noise seeded and shared by the models, PSNR per
  clip then averaged); the identity margin out - in at 30 .. 50 dB for tau = 0..3 (>= -0.1 dB);
  tau = 0's slope over 0 .. 30 dB (in [0.4, 0.65]) and where it meets the identity (<= 45 dB);
  tau = 2 and 3 minus the prediction-only network at -10 dB (>= -1 dB); tau1 < tau2 <= tau3 at
  -10 and 0 dB; tau2 - tau0 at 0 dB (>= 4 dB).
* Fig. 7: where the tau = 2 model's adaptive filters (:func:`interp.analysis.jacobian.adaptive_filters`,
  half-maximum cores by :func:`~interp.analysis.jacobian.filter_centroids`) sit for a pattern
  moving at 2 px/frame (:func:`motion_offsets`), on two probes: the moving disk of the existing
  check (tests/test_jacobian.py) and held-out natural frames translated rigidly.
* Fig. 8: the crossings of the evidence split for the three probes
  (:func:`interp.figures.video.evidence_weighting`), ordered texture < moving object < static.
* Fig. 12: the share of spectral power above half the Nyquist frequency
  (:func:`interp.analysis.spectra.high_frequency_share`) in samples of Algorithm 2 over the same
  share in the true next frames, 64 held-out clips x 4 samples (in [0.75, 1.25]).
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import numpy as np

from ._harness import Context, Memory, row

DESCRIPTION = (
    "A DAVIS32 model set (davis32-tau0..3, davis32-predict; default the shipped models/, "
    "INTERP_NATURAL_SET_MODELS=FOLDER scores another folder beside it) against the natural-video targets "
    "on the fixed held-out clips (the test side of models/in-progress/davis32-tau2.toml's [data], "
    "davis-mini + footage, 2331 clips): output PSNR of frame 10 at input -10..50 dB (noise seeded, shared "
    "by the models; PSNR per clip, averaged), identity margin at 30..50 dB (>= -0.1 dB), tau = 0's slope "
    "over 0..30 dB ([0.4, 0.65]) and identity crossing (<= 45 dB), tau2/tau3 minus prediction-only at "
    "-10 dB (>= -1 dB), tau1 < tau2 <= tau3 at -10 and 0 dB, tau2 - tau0 at 0 dB (>= 4 dB); Fig. 7: the "
    "tau = 2 filters' half-maximum cores for a 2 px/frame motion at 16 dB (most recent frame within 1 px of "
    "pixel - v, median; older frame displaced further along -v), on the moving disk of the existing check "
    "and on held-out frames translated rigidly; Fig. 8: the three probes' crossings ordered texture < "
    "moving object < static; Fig. 12: high-frequency power share (above half the Nyquist frequency) of "
    "samples (Algorithm 2, paper's parameters, seed 0) over that of the true next frames, 64 clips x 4 "
    "samples ([0.75, 1.25]). Skipped when ../shared is absent. Smoke: untrained width-4 nets, 24 built-in "
    "natural clips, short sampler."
)
REPO = Path(__file__).resolve().parents[1]
# the card whose [data] names the clip set: the retraining's, or the shipped card once it replaces it
DATA_CARDS = (REPO / "models" / "in-progress" / "davis32-tau2.toml", REPO / "models" / "davis32-tau2.toml")
SHIPPED = REPO / "models"
MODELS_ENV = "INTERP_NATURAL_SET_MODELS"
TAUS = (0, 1, 2, 3)
NAMES = {**{f"tau{k}": f"davis32-tau{k}" for k in TAUS}, "predict": "davis32-predict"}
CURVE_PSNRS = tuple(float(p) for p in range(-10, 55, 5))
IDENTITY_PSNRS = (30.0, 35.0, 40.0, 45.0, 50.0)
TARGET_FRAME = 10
SEED = 0
MOTION_SPEED = 2  # px/frame
MOTION_PSNR = 16.0  # the observation's PSNR in Fig. 7
SHARP_CLIPS, SHARP_SAMPLES = 64, 4

# targets: (kind, bound); "min": value >= bound, "max": value <= bound, "range": lo <= value <= hi
TARGETS = {"margin": ("min", -0.1), "slope": ("range", (0.4, 0.65)), "crossing": ("max", 45.0),
           "minus_predict": ("min", -1.0), "tau2_minus_tau0": ("min", 4.0), "ordered": ("min", 1.0),
           "recent_offset": ("max", 1.0), "follows": ("min", 1.0), "sharpness": ("range", (0.75, 1.25))}


def meets(key: str, value: float) -> bool | None:
    """Whether ``value`` meets target ``key`` of :data:`TARGETS` (None when it is not a number)."""
    if value is None or not math.isfinite(value):
        return None
    kind, bound = TARGETS[key]
    if kind == "min":
        return bool(value >= bound)
    if kind == "max":
        return bool(value <= bound)
    return bool(bound[0] <= value <= bound[1])


def _target_field(key: str):
    kind, bound = TARGETS[key]
    return f"[{bound[0]:g}, {bound[1]:g}]" if kind == "range" else bound


# --------------------------------------------------------------------------- data


def data_card():
    """The first card of :data:`DATA_CARDS` whose ``[data]`` is a multi-source clip set."""
    from interp._util.errors import InterpError
    from interp.training.cards import read_card

    for path in DATA_CARDS:
        if path.is_file():
            card = read_card(path)
            if card.data["source"] == "sources":
                return card
    raise InterpError(f"no card names the held-out clip set ([data] source = \"sources\" in "
                      f"{' or '.join(str(p.relative_to(REPO)) for p in DATA_CARDS)})")


def shared_missing() -> list[Path]:
    """The sources of the held-out clip set that are absent (``../shared/data/...``)."""
    from interp.training.windows import card_sources

    return [s["path"] for s in card_sources(data_card()) if not Path(s["path"]).exists()]


def held_out_clips(log=None):
    """The fixed held-out clips: the test side (a :class:`interp.data.dataset.Dataset`) of the clip
    set that ``models/in-progress/davis32-tau2.toml``'s ``[data]`` names (:func:`data_card`), built once and cached
    (:func:`interp.data.sources.cached`); the full set's fingerprint is in ``source``."""
    from interp.data.sources import cached
    from interp.training.windows import card_relative, card_sources

    card = data_card()
    ds = cached(card_sources(card), card_relative(card, card.data["path"]), seed=int(card.data.get("seed", 0)), log=log)
    test = ds.test
    test.source = dict(ds.source)
    return test


def _smoke_set(folder: Path):
    """An untrained width-4 model set (cards and checkpoints) and 24 built-in natural clips."""
    import torch

    from interp.data.dataset import Dataset
    from interp.data.natural import natural_test_set
    from interp.nets import checkpoint
    from interp.nets.unet import UNet

    for key, name in NAMES.items():
        tau, pred = (2, True) if key == "predict" else (int(key[3:]), False)
        torch.manual_seed(TAUS.index(tau) + 10 * pred)
        (folder / f"{name}.toml").write_text(
            f'[model]\ntau = {tau}\nwidth = 4\npredict_only = {str(pred).lower()}\n\n'
            '[data]\nsource = "leaves"\nn = 10\nseed = 0\n\n[train]\nsamples = 10\n')
        checkpoint.save(folder / f"{name}.safetensors", UNet(tau=tau, width=4, predict_only=pred), {"card": name})
    ds = natural_test_set(n=24, seed=0)
    return Dataset(frames=ds.frames, meta={"video": np.repeat(np.arange(4), 6).astype(str)}, source={"name": "smoke"})


# --------------------------------------------------------------------------- Fig. 6


def curve_scores(models_folder: Path, data: Path) -> dict:
    """The Fig. 6 numbers of one model set: ``curve`` {(model key, input PSNR): output PSNR},
    ``predict`` (the prediction-only network's output PSNR) and the judged numbers."""
    from interp.figures.video import denoising_curves

    names = [NAMES[f"tau{k}"] for k in TAUS]
    with _models_dir(models_folder):
        table = denoising_curves(names, psnrs=CURVE_PSNRS, target=TARGET_FRAME, seed=SEED, data=str(data))
        # a prediction-only network never sees the observation: one level is its whole curve
        pred = denoising_curves([NAMES["predict"]], psnrs=[CURVE_PSNRS[0]], target=TARGET_FRAME, seed=SEED,
                                data=str(data))
    c = table[table["kind"] == "curve"]
    stats = dict(zip(table.loc[table["kind"] == "stat", "name"], table.loc[table["kind"] == "stat", "value"]))
    curve = {(f"tau{int(r.tau)}", float(r.psnr_in)): float(r.psnr_out) for r in c.itertuples()}
    predict = float(pred.loc[pred["kind"] == "curve", "psnr_out"].iloc[0])
    at = curve.__getitem__
    out = {"curve": curve, "predict": predict, "n_clips": int(c["n"].iloc[0]),
           "slope": float(stats.get("slope_tau0", math.nan)),
           "crossing": float(stats.get("identity_crossing_tau0", math.nan)),
           "tau2_minus_tau0": at(("tau2", 0.0)) - at(("tau0", 0.0))}
    for k in TAUS:
        for p in IDENTITY_PSNRS:
            out[f"margin/tau{k}@{p:g}"] = at((f"tau{k}", p)) - p
    for k in (2, 3):
        out[f"minus_predict/tau{k}"] = at((f"tau{k}", -10.0)) - predict
    for p in (-10.0, 0.0):
        v1, v2, v3 = (at((f"tau{k}", p)) for k in (1, 2, 3))
        out[f"ordered@{p:g}"] = float(v1 < v2 <= v3)
    return out


# --------------------------------------------------------------------------- Fig. 7


def moving_disk_probe(v, radius: float = 6.0, size: int = 32):
    """``(frames [3, size, size], pixels)``: frames t-2, t-1, t of a bright disk (radius 6 px)
    moving at velocity ``v`` (px/frame, (row, col)) to end at the centre, drawn by
    :func:`interp.data.leaves.render`, as in the existing check of tests/test_jacobian.py; and the
    output pixels just inside its leading edge (at 0 and +-45 degrees from the motion), where
    the pattern's position is identifiable."""
    from interp.data.leaves import render

    v = np.asarray(v, dtype=np.float64)
    end = np.array([size / 2, size / 2])
    centers = np.stack([end - (2 - k) * v for k in range(3)]).astype(np.float32)
    frames = render(centers[None, None], np.full((1, 1, 3), radius, np.float32), np.array([[0.8]], np.float32),
                    np.array([0.3], np.float32), np.zeros((1, 1, 3), np.int8), size=size)[0]
    u = v / np.linalg.norm(v)
    pixels = []
    for a in (0.0, np.pi / 4, -np.pi / 4):
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        pixels.append(tuple(int(k) for k in np.round(end + (radius - 1.5) * rot @ u)))
    return frames, pixels


def translated_probe(frame: np.ndarray, v):
    """``(frames [3, H, W], pixels)``: ``frame`` as frame t and the same pattern displaced so that
    it moves rigidly at velocity ``v`` (integer px/frame, (row, col); frame t - k is ``frame``
    moved by -k v, wrapping around), and five output pixels around the centre."""
    v = tuple(int(k) for k in v)
    frames = np.stack([np.roll(frame, (-k * v[0], -k * v[1]), axis=(0, 1)) for k in (2, 1, 0)]).astype(np.float32)
    h, w = frame.shape
    pixels = [(h // 2, w // 2), (h // 2 - 4, w // 2 - 4), (h // 2 - 4, w // 2 + 4), (h // 2 + 4, w // 2 - 4),
              (h // 2 + 4, w // 2 + 4)]
    return frames, pixels


def motion_offsets(net, frames: np.ndarray, pixels, v, psnr: float = MOTION_PSNR, seed: int = SEED) -> np.ndarray:
    """Where a tau = 2 denoiser's filters on the two conditioning frames sit for a pattern moving
    at ``v`` (px/frame): ``frames`` [3, H, W] are t-2, t-1 (conditioning) and t (observed at
    ``psnr`` dB, seeded noise). For each output pixel p, the half-maximum cores of its adaptive
    filters (``filter_centroids(..., core=0.5)``) give one row: the distance (px) of the most
    recent frame's core from p - v, of the older frame's from p - 2 v, and each core's
    displacement from p along -v (px; positive: opposite to the motion). Returns [pixels, 4]."""
    import torch

    from interp.analysis.jacobian import adaptive_filters, filter_centroids

    x = torch.from_numpy(np.ascontiguousarray(frames[2]))[None]
    gen = torch.Generator().manual_seed(int(seed))
    y = x + 10.0 ** (-psnr / 20.0) * torch.randn(x.shape, generator=gen)
    filters = adaptive_filters(net, y, torch.from_numpy(np.ascontiguousarray(frames[:2])), list(pixels))
    centers = filter_centroids(filters.detach(), core=0.5)  # [P, 3, 2]: t-2, t-1, observation
    vv = np.asarray(v, dtype=np.float64)
    u = vv / np.linalg.norm(vv)
    out = []
    for p, cen in zip(pixels, centers):
        p = np.asarray(p, dtype=np.float64)
        out.append([np.linalg.norm(cen[1] - (p - vv)), np.linalg.norm(cen[0] - (p - 2 * vv)),
                    -(cen[1] - p) @ u, -(cen[0] - p) @ u])
    return np.asarray(out)


def summarize_motion(m: np.ndarray) -> dict:
    """Medians of :func:`motion_offsets` rows, and the check: the most recent frame's core
    within 1 px of p - v (median) and the older frame's displaced further along -v than it."""
    med = np.nanmedian(m, axis=0)
    follows = bool(med[0] <= TARGETS["recent_offset"][1] and med[3] > med[2])
    return {"recent_offset": float(med[0]), "recent_worst": float(np.nanmax(m[:, 0])), "older_offset": float(med[1]),
            "recent_along": float(med[2]), "older_along": float(med[3]), "follows": float(follows), "cases": len(m)}


def motion_scores(net, clips, smoke: bool) -> dict:
    """Fig. 7's check on both probes: {probe: summary}. The translated natural frames are, for
    each held-out video, frame 10 of its clip with the most variance in the central half."""
    s = MOTION_SPEED
    velocities = [(0, s), (s, 0), (0, -s), (-s, 0)]
    disk = np.concatenate([motion_offsets(net, *moving_disk_probe(v), v) for v in velocities])
    frames = clips.frames[:, TARGET_FRAME]
    h, w = frames.shape[-2:]
    centre = frames[:, h // 4:3 * h // 4, w // 4:3 * w // 4].reshape(len(frames), -1).var(axis=1)
    videos = clips.meta["video"].astype(str)
    picks = [int(np.flatnonzero(videos == vid)[np.argmax(centre[videos == vid])]) for vid in sorted(set(videos))]
    if smoke:
        picks = picks[:1]
    texture = np.concatenate([motion_offsets(net, *translated_probe(frames[i], v), v) for i in picks for v in velocities])
    return {"disk": summarize_motion(disk), "texture": {**summarize_motion(texture), "frames": len(picks)}}


# --------------------------------------------------------------------------- Fig. 8 and 12


def evidence_scores(models_folder: Path, data: Path, smoke: bool) -> dict:
    """Fig. 8: each probe's crossing (input PSNR where the observation starts to outweigh the
    past; NaN when the curves do not cross) and whether texture < moving object < static."""
    from interp.figures.video import evidence_weighting

    with _models_dir(models_folder):
        t = evidence_weighting([NAMES["tau2"]], seed=SEED, n_noise=1 if smoke else 4, data=str(data))
    s = t[(t["kind"] == "stat") & (t["name"] == "crossing_psnr")].sort_values("probe_order")
    crossings = {str(p): float(v) for p, v in zip(s["probe"], s["value"])}
    v = list(crossings.values())
    return {"crossings": crossings, "ordered": float(len(v) == 3 and bool(np.isfinite(v).all()) and v[0] < v[1] < v[2])}


def sharpness_scores(net, clips, smoke: bool) -> dict:
    """Fig. 12: the high-frequency power share of samples (Algorithm 2, seed 0) of frame 10 of
    64 seeded held-out clips x 4, of their one-step estimates and of the true frames."""
    import torch

    from interp.analysis.sampler import one_step, sample
    from interp.analysis.spectra import high_frequency_share

    n_clips, n = (4, 2) if smoke else (SHARP_CLIPS, SHARP_SAMPLES)
    pick = np.sort(np.random.default_rng(SEED).choice(len(clips), size=min(n_clips, len(clips)), replace=False))
    tau = int(net.tau)
    c = torch.from_numpy(np.ascontiguousarray(clips.frames[pick, TARGET_FRAME - tau:TARGET_FRAME]))
    truth = clips.frames[pick, TARGET_FRAME]
    samples, info = sample(net, c, n, seed=SEED, return_info=True, warn=False, **({"max_iter": 30} if smoke else {}))
    samples = samples.numpy()[:, :, 0]  # [clips, n, H, W]
    ok = np.isfinite(samples).all(axis=(2, 3))
    truth_share = high_frequency_share(truth)
    sample_share = high_frequency_share(samples[ok]) if ok.any() else math.nan
    onestep = one_step(net, c, 1, SEED)[:, 0, 0].numpy()
    iters = np.asarray(info.iterations, dtype=float)
    return {"share_samples": sample_share, "share_truth": truth_share, "share_onestep": high_frequency_share(onestep),
            "ratio": sample_share / truth_share, "clips": len(pick), "samples": int(ok.sum()),
            "requested": int(ok.size), "iterations_mean": float(iters.mean()),
            "iterations_max": int(iters.max())}


# --------------------------------------------------------------------------- one set


class _models_dir:
    """Point the figures' model lookup (``$INTERP_MODELS_DIR``) at a folder for a block."""

    def __init__(self, folder: Path):
        self.folder = folder

    def __enter__(self):
        from interp.figures.manifest import MODELS_DIR_ENV

        self.key, self.old = MODELS_DIR_ENV, os.environ.get(MODELS_DIR_ENV)
        os.environ[self.key] = str(self.folder)

    def __exit__(self, *exc):
        if self.old is None:
            os.environ.pop(self.key, None)
        else:
            os.environ[self.key] = self.old


def set_info(folder: Path) -> dict:
    """Samples seen and whether training finished, per model of a set."""
    from interp.nets import checkpoint

    out = {}
    for key, name in NAMES.items():
        cfg = checkpoint.read(folder / f"{name}.safetensors").config
        out[key] = {"samples": int(cfg.get("samples") or 0), "done": bool((cfg.get("train_state") or {}).get("done"))}
    return out


def score_set(ctx: Context, folder: Path, clips, data: Path) -> tuple[dict, dict[str, Memory]]:
    """Every number of one model set, and the peak memory of each part."""
    from interp.figures.models import load_model

    cpu = ctx.on_cpu()
    mem: dict[str, Memory] = {}
    ctx.log(f"natural_set: {folder}: Fig. 6 curves on {len(clips)} clips")
    _, mem["curves"], scores = cpu.measure(lambda: curve_scores(folder, data))
    with _models_dir(folder):
        tau2 = load_model(NAMES["tau2"]).eval().float()
    ctx.log(f"natural_set: {folder}: Fig. 7 motion check")
    _, mem["fig7"], scores["fig7"] = cpu.measure(lambda: motion_scores(tau2, clips, ctx.smoke))
    ctx.log(f"natural_set: {folder}: Fig. 8 evidence split")
    _, mem["fig8"], scores["fig8"] = cpu.measure(lambda: evidence_scores(folder, data, ctx.smoke))
    ctx.log(f"natural_set: {folder}: Fig. 12 samples")
    _, mem["fig12"], scores["fig12"] = cpu.measure(lambda: sharpness_scores(tau2, clips, ctx.smoke))
    return scores, mem


def set_rows(label: str, s: dict, mem: dict[str, Memory], prev: dict | None) -> tuple[list, list]:
    """Rows (and notes for numbers that could not be measured) of one set's scores; ``prev``:
    the previous set's scores, reported beside each number."""
    rows, notes = [], []

    def add(name, metric, unit, value, get, key=None, **kw):
        if value is None or not math.isfinite(value):
            notes.append(f"{label}/{name}: not measurable ({value}), no row")
            return
        extra, note = {}, kw.pop("note", "")
        if prev is not None:
            p = get(prev)
            extra = {"previous": p, "diff": value - p}
            note = (note + "; " if note else "") + f"previous set: {p:.4g} (diff {value - p:+.4g})"
        rows.append(row(f"{label}/{name}", metric, unit, value, mem=mem[kw.pop("part")], note=note,
                        target=_target_field(key) if key else None, meets_target=meets(key, value) if key else None,
                        **kw, **extra))

    for (model, p), v in s["curve"].items():
        add(f"{model}/psnr_out@{p:g}dB", f"output PSNR at {p:g} dB input", "dB", v,
            lambda d, k=(model, p): d["curve"][k], part="curves")
    add("predict/psnr_out", "prediction-only output PSNR (no observation)", "dB", s["predict"],
        lambda d: d["predict"], part="curves")
    for k in TAUS:
        for p in IDENTITY_PSNRS:
            m = s[f"margin/tau{k}@{p:g}"]
            add(f"tau{k}/margin@{p:g}dB", f"identity margin out - in at {p:g} dB input", "dB", m,
                lambda d, key=f"margin/tau{k}@{p:g}": d[key], "margin", part="curves",
                baseline="identity", ratio=10.0 ** (-m / 10.0),
                note="ratio: output MSE / input MSE")
    add("tau0/slope_0-30dB", "tau = 0: slope of output vs input PSNR over 0..30 dB", "dB/dB", s["slope"],
        lambda d: d["slope"], "slope", part="curves")
    add("tau0/identity_crossing", "tau = 0: input PSNR where the curve meets the identity", "dB", s["crossing"],
        lambda d: d["crossing"], "crossing", part="curves")
    for k in (2, 3):
        add(f"tau{k}/minus_predict@-10dB", f"tau = {k} minus prediction-only at -10 dB input", "dB",
            s[f"minus_predict/tau{k}"], lambda d, key=f"minus_predict/tau{k}": d[key], "minus_predict", part="curves")
    for p in (-10.0, 0.0):
        v = [s["curve"][(f"tau{k}", p)] for k in (1, 2, 3)]
        add(f"order@{p:g}dB", f"tau1 < tau2 <= tau3 at {p:g} dB input (1 = yes)", "bool", s[f"ordered@{p:g}"],
            lambda d, key=f"ordered@{p:g}": d[key], "ordered", part="curves",
            note=f"tau1 {v[0]:.3f}, tau2 {v[1]:.3f}, tau3 {v[2]:.3f} dB")
    add("tau2_minus_tau0@0dB", "tau = 2 minus tau = 0 at 0 dB input", "dB", s["tau2_minus_tau0"],
        lambda d: d["tau2_minus_tau0"], "tau2_minus_tau0", part="curves")
    for probe, what in (("disk", "moving disk (the existing check)"), ("texture", "held-out frames translated")):
        f = s["fig7"][probe]
        where = f"{f['cases']} cases, 2 px/frame in 4 directions, {MOTION_PSNR:g} dB"
        add(f"fig7_{probe}/recent_offset", f"{what}: most recent frame's core from pixel - v (median)", "px",
            f["recent_offset"], lambda d, q=probe: d["fig7"][q]["recent_offset"], "recent_offset", part="fig7",
            note=f"{where}; worst {f['recent_worst']:.2f} px")
        add(f"fig7_{probe}/recent_along_-v", f"{what}: most recent frame's core displaced along -v (median)", "px",
            f["recent_along"], lambda d, q=probe: d["fig7"][q]["recent_along"], part="fig7",
            note=f"a perfect motion estimate: {MOTION_SPEED} px")
        add(f"fig7_{probe}/older_along_-v", f"{what}: older frame's core displaced along -v (median)", "px",
            f["older_along"], lambda d, q=probe: d["fig7"][q]["older_along"], part="fig7",
            note=f"target: further than the most recent frame's ({f['recent_along']:.2f} px); a copy of the pattern: "
                 f"{2 * MOTION_SPEED} px")
        add(f"fig7_{probe}/follows", f"{what}: Fig. 7 check passed (1 = yes)", "bool", f["follows"],
            lambda d, q=probe: d["fig7"][q]["follows"], "follows", part="fig7")
    for probe, v in s["fig8"]["crossings"].items():
        add(f"fig8/crossing/{probe}", f"Fig. 8 crossing, {probe}", "dB", v,
            lambda d, q=probe: d["fig8"]["crossings"][q], part="fig8")
    add("fig8/ordered", "Fig. 8 crossings ordered texture < moving object < static (1 = yes)", "bool",
        s["fig8"]["ordered"], lambda d: d["fig8"]["ordered"], "ordered", part="fig8",
        note=", ".join(f"{k} {v:.2f} dB" for k, v in s["fig8"]["crossings"].items()))
    f12 = s["fig12"]
    how = (f"{f12['samples']} of {f12['requested']} samples converged ({f12['clips']} clips), "
           f"{f12['iterations_mean']:.0f} iterations on average (at most {f12['iterations_max']})")
    for key, what in (("share_truth", "true next frames"), ("share_samples", "samples"),
                      ("share_onestep", "one-step estimates")):
        add(f"fig12/{key}", f"power share above half Nyquist, {what}", "fraction", f12[key],
            lambda d, q=key: d["fig12"][q], part="fig12", note=how if key == "share_samples" else "")
    if math.isfinite(f12["ratio"]):
        add("fig12/sharpness_ratio", "high-frequency share of samples / of true frames", "ratio", f12["ratio"],
            lambda d: d["fig12"]["ratio"], "sharpness", part="fig12", baseline="true next frames",
            ratio=f12["ratio"], note=how)
    return rows, notes


# --------------------------------------------------------------------------- run


def run(ctx: Context) -> dict:
    from interp._util.errors import InterpError
    from interp.data.dataset import Dataset, save

    rows, notes, scores = [], [], {}
    with tempfile.TemporaryDirectory(prefix="natural-set-") as tmp:
        tmp = Path(tmp)
        if ctx.smoke:
            folder = tmp / "models"
            folder.mkdir()
            clips = _smoke_set(folder)
            sets = {"untrained": folder}
        else:
            missing = shared_missing()
            if missing:
                msg = f"skipped: the held-out clips' sources are absent ({', '.join(map(str, missing))})"
                ctx.log(f"natural_set: {msg}")
                return {"rows": [], "notes": [msg]}
            clips = held_out_clips(log=ctx.log)
            sets = {"previous": SHIPPED}
            other = os.environ.get(MODELS_ENV)
            if other:
                path = Path(other) if Path(other).is_absolute() else REPO / other
                if not path.is_dir():
                    raise InterpError(f"{MODELS_ENV}={other}: no such folder")
                if path.resolve() != SHIPPED.resolve():
                    sets["candidate"] = path
            src = clips.source
            notes.append(f"held-out clips: {len(clips)} (frame {TARGET_FRAME} of each) of "
                         f"{', '.join(src.get('test_videos', []))}; clip set fingerprint {src.get('fingerprint')}")
        data = tmp / "held-out.npz"
        save(Dataset(frames=clips.frames, meta={"video": clips.meta["video"]}, source={"name": "held-out"}), data)
        prev = None
        for label, folder in sets.items():
            info = set_info(folder)
            notes.append(f"{label} set: {folder} (" + ", ".join(
                f"{NAMES[k]} {v['samples'] / 1e6:.2f}M samples{'' if v['done'] else ', training not finished'}"
                for k, v in info.items()) + ")")
            s, mem = score_set(ctx, folder, clips, data)
            s["models"] = info
            scores[label] = s
            r, n = set_rows(label, s, mem, prev)
            rows += r
            notes += n
            f12 = s["fig12"]
            notes.append(f"{label}: Fig. 12 sampler: Algorithm 2 with the paper's parameters (h0 0.01, beta 0.5, "
                         f"sigma 3 -> 0.01), {f12['iterations_mean']:.0f} iterations per sample on average")
            if prev is None:
                prev = s
    for s in scores.values():  # tuples are no JSON keys
        s["curve"] = {f"{m}@{p:g}dB": v for (m, p), v in s["curve"].items()}
    return {"rows": rows, "notes": notes, "scores": scores}
