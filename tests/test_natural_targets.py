"""The natural-video targets of issue 25, as model tests on the shipped DAVIS32 set (models/davis32-*).

Every number is measured on the fixed held-out clips: the test side of the multi-source clip set
that models/in-progress/davis32-tau2.toml's [data] names (davis-mini + footage, 2331 clips),
built once and cached by interp.data.sources; skipped when ../shared (its sources) is absent.
The measurements are benchmarks/natural_set.py's own functions, so a test and its benchmark row
compute the same thing; to stay fast, the denoising curves here use a seeded subset of 64
held-out clips (the benchmark uses all of them), the other checks the full held-out set.

The shipped set was trained on davis-mini alone; the targets it misses are strict expected
failures naming the measured number. When the retrained set (models/in-progress) replaces it
and passes, they turn into failures: remove the mark then.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import REPO

import benchmarks.natural_set as ns

N_CURVE_CLIPS = 64
SHIPPED = REPO / "models"
RETRAINED = "the retrained set is in models/in-progress"


def _xfail(measured: str):
    return pytest.mark.xfail(strict=True, reason=f"{measured}; {RETRAINED}")


@pytest.fixture(scope="module")
def clips():
    from interp import InterpError

    try:
        missing = ns.shared_missing()
    except InterpError as err:  # no card names the clip set
        pytest.skip(str(err))
    if missing:
        pytest.skip(f"the held-out clips' sources are absent: {', '.join(map(str, missing))}")
    for name in ns.NAMES.values():
        if not (SHIPPED / f"{name}.safetensors").is_file():
            pytest.skip(f"the shipped model {name} is absent")
    return ns.held_out_clips()


def _write(clips, index, path):
    from interp.data.dataset import Dataset, save

    return save(Dataset(frames=clips.frames[index], meta={"video": clips.meta["video"][index]},
                        source={"name": "held-out"}), path)


@pytest.fixture(scope="module")
def held_out_file(clips, tmp_path_factory):
    """All the held-out clips in one file, as the figure analyses read them."""
    return _write(clips, np.arange(len(clips)), tmp_path_factory.mktemp("natural") / "held-out.npz")


@pytest.fixture(scope="module")
def curves(clips, tmp_path_factory):
    pick = np.sort(np.random.default_rng(0).choice(len(clips), N_CURVE_CLIPS, replace=False))
    path = _write(clips, pick, tmp_path_factory.mktemp("natural") / "subset.npz")
    return ns.curve_scores(SHIPPED, path)


@pytest.fixture(scope="module")
def tau2():
    from interp.nets import checkpoint

    return checkpoint.load(SHIPPED / "davis32-tau2.safetensors").eval().float()


# --------------------------------------------------------------------------- Fig. 6


@pytest.mark.parametrize("tau", [
    pytest.param(0, marks=_xfail(
        "tau = 0 falls below the identity from 35 dB: -0.20 dB at 35, -10.8 dB at 50 dB (all clips: -0.51, -11.3)")),
    pytest.param(1, marks=_xfail(
        "tau = 1 falls below the identity from 40 dB: -1.50 dB at 40, -8.3 dB at 50 dB (all clips: -1.67, -8.7)")),
    pytest.param(2, marks=_xfail(
        "tau = 2 falls below the identity from 40 dB: -2.14 dB at 40, -9.9 dB at 50 dB (all clips: -2.45, -10.3)")),
    pytest.param(3, marks=_xfail(
        "tau = 3 falls below the identity from 40 dB: -2.21 dB at 40, -10.0 dB at 50 dB (all clips: -2.29, -10.2)")),
])
def test_no_model_falls_below_the_identity_from_30_to_50_db(curves, tau):
    margins = {p: curves[f"margin/tau{tau}@{p:g}"] for p in ns.IDENTITY_PSNRS}
    assert min(margins.values()) >= -0.1, margins


def test_single_frame_slope_is_about_one_half(curves):
    assert 0.4 <= curves["slope"] <= 0.65, curves["slope"]


def test_single_frame_model_meets_the_identity_at_or_below_45_db(curves):
    assert curves["crossing"] <= 45.0, curves["crossing"]  # NaN (no crossing in -10..50 dB) fails too


@pytest.mark.parametrize("tau", [
    pytest.param(2, marks=_xfail("tau = 2 is 5.1 dB below prediction-only at -10 dB (24.3 vs 29.4 dB; all clips: 4.6 dB)")),
    pytest.param(3, marks=_xfail("tau = 3 is 4.8 dB below prediction-only at -10 dB (24.7 vs 29.4 dB; all clips: 4.2 dB)")),
])
def test_conditioned_models_match_prediction_only_at_minus_10_db(curves, tau):
    gap = curves[f"minus_predict/tau{tau}"]
    assert gap >= -1.0, (gap, curves["predict"])


@pytest.mark.parametrize("psnr", [-10.0, 0.0])
def test_memory_lengths_ordered_at_low_input_psnr(curves, psnr):
    v1, v2, v3 = (curves["curve"][(f"tau{k}", psnr)] for k in (1, 2, 3))
    assert v1 < v2 <= v3, (v1, v2, v3)


def test_two_frames_of_memory_gain_4_db_at_0_db(curves):
    assert curves["tau2_minus_tau0"] >= 4.0, curves["tau2_minus_tau0"]


# --------------------------------------------------------------------------- Fig. 7, 8, 12


@pytest.fixture(scope="module")
def motion(clips, tau2):
    return ns.motion_scores(tau2, clips, smoke=False)


@pytest.mark.parametrize("probe", [
    pytest.param("disk", marks=_xfail("moving disk: most recent frame's core 1.20 px from pixel - v (median), displaced "
                                      "0.88 px along -v; older frame -0.46 px")),
    pytest.param("texture", marks=_xfail("translated held-out frames: most recent frame's core 1.61 px from pixel - v "
                                         "(median), displaced 0.41 px along -v; older frame 0.42 px")),
])
def test_natural_model_filters_follow_a_2px_motion(motion, probe):
    """Fig. 7: for a pattern moving 2 px/frame (a disk, as tests/test_jacobian.py's check, and
    held-out frames translated rigidly), the most recent frame's filter core within 1 px of
    pixel - v (median) and the older frame's displaced further along -v."""
    m = motion[probe]
    assert m["recent_offset"] <= 1.0 and m["older_along"] > m["recent_along"], m


def test_evidence_crossings_ordered_texture_moving_static(held_out_file):
    e = ns.evidence_scores(SHIPPED, held_out_file, smoke=False)
    assert e["ordered"] == 1.0, e["crossings"]


@pytest.mark.slow
def test_samples_are_as_sharp_as_real_frames(clips, tau2):
    s = ns.sharpness_scores(tau2, clips, smoke=False)
    assert 0.75 <= s["ratio"] <= 1.25, s
