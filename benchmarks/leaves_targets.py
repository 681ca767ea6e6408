"""leaves_targets: the moving-leaves models against the occlusion targets, with the toolkit's probes.

For each deterministic-rule model (the shipped best of the fine-tuned lineage, and the model
trained from scratch by ``models/in-progress/leaves-tau2.toml`` at whatever point its
checkpoint holds): the canonical probe sweep (13 radius differences x 64 samples, seed 0:
invalid share, larger disk in front at ``|dr| >= 2`` px), equal radii over 8 scenes drawn
from seed 0 (64 samples each: pooled and per-scene right-in-front frequency, the CLI's
``--differences 0 --configs 8``) and the persistence contrast of recursive generation (64 test
starts, 9 frames: share of generated frames with both disks found over the same share on the
true frames, sampled and one-step). For each stochastic-rule model: the calibration error of
the canonical sweep against the rule's probability. Every row names its target.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

from ._harness import Context, row

DESCRIPTION = (
    "Moving-leaves models against the occlusion targets: invalid probe samples (13 differences x 64, "
    "canonical scene; target < 0.10), larger disk in front at |dr| >= 2 px (>= 0.95), equal radii over 8 "
    "seeded scenes (pooled right-in-front frequency in [0.4, 0.6], every scene in [0.2, 0.8]), the "
    "persistence ratio of recursive generation at frame 9 (64 starts; sampled >= 0.8, one-step beside it), "
    "and the stochastic-rule model's calibration error (<= 0.07). Models: the shipped leaves-tau2-negate "
    "and leaves-stochastic-tau2, and the from-scratch runs of models/in-progress at their current "
    "checkpoint (averaged weights). Smoke: a tiny untrained net, 2 probes x 4 samples, 2 starts."
)
REPO = Path(__file__).resolve().parents[1]
DETERMINISTIC = {"leaves-tau2-negate": REPO / "models" / "leaves-tau2-negate.safetensors",
                 "in-progress/leaves-tau2": REPO / "models" / "in-progress" / "leaves-tau2.safetensors"}
STOCHASTIC = {"leaves-stochastic-tau2": REPO / "models" / "leaves-stochastic-tau2.safetensors",
              "in-progress/leaves-stochastic-tau2": REPO / "models" / "in-progress" / "leaves-stochastic-tau2.safetensors"}


def _nets(paths: dict[str, Path], smoke: bool):
    """(label, net, samples seen) for each checkpoint that exists (a tiny untrained net in smoke mode)."""
    import torch

    from interp.nets import checkpoint
    from interp.nets.unet import UNet

    if smoke:
        torch.manual_seed(0)
        yield "untrained-width8", UNet(tau=2, width=8).eval().requires_grad_(False), 0
        return
    for label, path in paths.items():
        if path.exists():
            ck = checkpoint.read(path)
            yield label, ck.build(), int(ck.config.get("samples") or 0)


def _deterministic(net, smoke: bool) -> dict:
    from interp.analysis.persistence import disk_persistence, persistence_ratio
    from interp.analysis.psychometrics import DEFAULT_DIFFERENCES, decision_targets, probe_grid, run_sweep

    n = 4 if smoke else 64
    opts = {"max_iter": 30} if smoke else {}
    canonical = run_sweep(net, probe_grid((-2.0, 2.0) if smoke else DEFAULT_DIFFERENCES, tau=2), n, seed=0, **opts)
    t = decision_targets(canonical.samples)
    configs = 2 if smoke else 8
    probes = probe_grid([0.0], configs=configs, seed=0, tau=2)
    equal = run_sweep(net, probes, n, seed=0, scenes=list(range(configs)), **opts).samples
    valid = equal[equal["valid"].astype(bool)]
    per_scene = valid.groupby("scene")["right_front"].apply(lambda v: float((v > 0.5).mean()))
    k = 2 if smoke else 9
    starts = 2 if smoke else 64
    ratios, seconds = {}, {}
    for mode in ("sample", "onestep"):
        t0 = time.perf_counter()
        table = disk_persistence(net, n_starts=starts, k=k, seed=0, mode=mode, **({"data_n": 500} if smoke else {}),
                                 **opts)
        seconds[mode] = time.perf_counter() - t0
        r = persistence_ratio(table)
        ratios[mode] = float(r.loc[r["step"] == k, "ratio"].iloc[0])
    return {"invalid": t["invalid_rate"], "larger_front": t["larger_front"]["freq"],
            "equal_pooled": float((valid["right_front"] > 0.5).mean()) if len(valid) else float("nan"),
            "equal_scene_min": float(per_scene.min()) if len(per_scene) else float("nan"),
            "equal_scene_max": float(per_scene.max()) if len(per_scene) else float("nan"),
            "equal_valid": int(len(valid)), "equal_scenes_with_valid": int(len(per_scene)),
            "persistence_sample": ratios["sample"], "persistence_onestep": ratios["onestep"],
            "persistence_seconds_sample": seconds["sample"], "persistence_seconds_onestep": seconds["onestep"]}


def _stochastic(net, smoke: bool) -> dict:
    from interp.analysis.psychometrics import DEFAULT_DIFFERENCES, calibration, decision_targets, probe_grid, run_sweep

    n = 4 if smoke else 64
    opts = {"max_iter": 30} if smoke else {}
    sweep = run_sweep(net, probe_grid((-2.0, 2.0) if smoke else DEFAULT_DIFFERENCES, tau=2), n, seed=0, **opts)
    cal = calibration(sweep.samples, "stochastic", n_boot=200 if smoke else 1000, seed=0)
    return {"calibration": cal["error"], "calibration_lo": cal["error_ci"][0], "calibration_hi": cal["error_ci"][1],
            "invalid": decision_targets(sweep.samples)["invalid_rate"]}


def starts_note(smoke: bool) -> str:
    return "2 starts x 2 frames" if smoke else "64 starts x 9 frames"


# key -> (metric, unit, target, test of the target)
_DET_TARGETS = {
    "invalid": ("invalid probe samples (13 differences x 64)", "fraction", 0.10, lambda v: v < 0.10),
    "larger_front": ("larger disk in front, |dr| >= 2 px", "fraction", 0.95, lambda v: v >= 0.95),
    "equal_pooled": ("right disk in front, equal radii, 8 scenes pooled", "fraction", 0.5,
                     lambda v: 0.4 <= v <= 0.6),
    "equal_scene_min": ("lowest scene's right-in-front frequency, equal radii", "fraction", 0.2, lambda v: v >= 0.2),
    "equal_scene_max": ("highest scene's right-in-front frequency, equal radii", "fraction", 0.8, lambda v: v <= 0.8),
    "persistence_sample": ("persistence ratio at frame 9, sampled", "ratio", 0.8, lambda v: v >= 0.8),
    "persistence_onestep": ("persistence ratio at frame 9, one-step recursion", "ratio", None, None),
}
_STO_TARGETS = {
    "calibration": ("calibration error against the stochastic rule", "abs. frequency", 0.07, lambda v: v <= 0.07),
    "invalid": ("invalid probe samples (13 differences x 64)", "fraction", None, None),
}


def run(ctx: Context) -> dict:
    import math

    cpu = ctx.on_cpu()
    rows, notes, scores = [], [], {}
    for kind, paths, measure, targets in (("deterministic", DETERMINISTIC, _deterministic, _DET_TARGETS),
                                          ("stochastic", STOCHASTIC, _stochastic, _STO_TARGETS)):
        for label, net, seen in _nets(paths, ctx.smoke):
            ctx.log(f"leaves_targets: {label} ({kind} rule, {seen} samples seen)")
            with warnings.catch_warnings(record=True) as caught:
                # a chain that does not converge gives a NaN sample, which the probes count as
                # invalid; the warning is kept as a note rather than raised (-W error)
                warnings.simplefilter("always", RuntimeWarning)
                _, mem, s = cpu.measure(lambda: measure(net, ctx.smoke))  # noqa: B023 - called at once
            unconverged = [str(w.message) for w in caught if "did not converge" in str(w.message)]
            if unconverged:
                notes.append(f"{kind}/{label}: " + "; ".join(unconverged))
            for w in caught:  # anything else is raised as usual
                if "did not converge" not in str(w.message):
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            scores[f"{kind}/{label}"] = {**s, "samples_seen": seen}
            for key, (metric, unit, target, ok) in targets.items():
                v = s[key]
                if not math.isfinite(v):  # e.g. no valid sample at all
                    notes.append(f"{kind}/{label}/{key}: not measurable ({v}), no row")
                    continue
                meets = bool(ok(v)) if ok is not None else None
                rows.append(row(f"{kind}/{label}/{key}", metric, unit, v, mem=mem, target=target, meets_target=meets,
                                note=f"{label} after {seen / 1e6:.2f}M samples" if seen else label))
            if "persistence_seconds_sample" in s:  # what Algorithm 2 costs over one-step recursion
                rows.append(row(f"{kind}/{label}/persistence_cost", "recursive generation wall time, sampled",
                                "s", s["persistence_seconds_sample"], baseline="one-step recursion",
                                baseline_values=s["persistence_seconds_onestep"], mem=mem,
                                note=f"{starts_note(ctx.smoke)}; ratio: sampled over one-step"))
            notes.append(f"{kind}/{label} ({seen / 1e6:.2f}M samples): "
                         + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in s.items()))
    return {"rows": rows, "notes": notes, "scores": scores}
