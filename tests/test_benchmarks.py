"""`python -m benchmarks --smoke` runs every benchmark and writes complete, finite results;
the harness's timing and memory helpers work as documented (the CUDA path with a fake)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import assert_one_line_error

REPO = Path(__file__).resolve().parents[1]
NAMES = ("leaves_rate", "train_step", "train_data_overhead", "bf16_quality", "norm_choice", "recipe", "augment",
         "weighting", "sampler", "jacobian", "make_figures", "leaves_targets", "natural_set", "entropy_cost")
RECIPE_ARMS = ("cap1", "paper", "edm0.1", "edm0.03", "edm0.03-skip")
# every row the smoke run must write, per benchmark (more may follow them)
EXPECTED_ROWS = {
    "leaves_rate": ["loop_numpy", "generate", "loop_render_n1", "generate_single", "projected_1e5"],
    "train_step": ["eager_fp32", "eager_bf16", "eager_fp32_channels_last", "eager_bf16_channels_last",
                   "compile_bf16_channels_last", "flops/forward", "flops/train_step", "peak/matmul_fp32",
                   "peak/conv3x3_fp32", "peak/matmul_bf16", "peak/conv3x3_bf16", "share_of_peak/eager_fp32",
                   "share_of_peak/eager_bf16_channels_last"],
    "train_data_overhead": ["fixed_batch", "with_data", "data_only"],
    "bf16_quality": ["speed/eager_fp32", "speed/eager_bf16_channels_last", "delta_psnr_out@40dB"],
    "norm_choice": ["psnr_out@0dB", "psnr_out@40dB", "onestep"],
    "recipe": [f"{data}/{arm}{ema}/{key}" for data in ("leaves", "natural") for arm in RECIPE_ARMS
               for ema in ("", "+ema") for key in ("psnr_out@-10dB", "psnr_out@50dB", "identity_margin", "gap@-10dB")],
    "augment": [f"{arm}/{key}" for arm in ("none", "hflip", "reverse", "hflip+reverse")
                for key in ("psnr_out@-10dB", "psnr_out@0dB", "psnr_out@40dB", "identity_margin", "overfit@0dB")],
    "weighting": [f"translating/{arm}/{key}" for arm in ("edm0.1", "cap1", "adaptive")
                  for key in ("ratio@0.0001", "ratio@100", "geomean", "worst")]
    + [f"natural/{arm}/{key}" for arm in ("edm0.1", "cap1", "adaptive")
       for key in ("psnr_out@-10dB", "psnr_out@50dB", "identity_margin", "gap@-10dB", "gap@0dB")],
    "sampler": ["batched_n64", "evaluations/batched_n64", "overhead/batched_n64", "sequential_n1",
                "evaluations/sequential_n1", "overhead/sequential_n1"],
    "jacobian": ["filter_1px", "forward_1", "cli_wall", "split_jvp_8", "materialise_grad_loop_8"],
    "make_figures": ["startup", "figures"],
    "natural_set": [f"untrained/tau{k}/{key}" for k in range(4) for key in ("psnr_out@-10dB", "psnr_out@50dB",
                                                                           "margin@30dB", "margin@50dB")]
    + ["untrained/predict/psnr_out", "untrained/tau0/slope_0-30dB", "untrained/tau2/minus_predict@-10dB",
       "untrained/order@0dB", "untrained/tau2_minus_tau0@0dB", "untrained/fig7_disk/recent_offset",
       "untrained/fig7_texture/follows", "untrained/fig8/ordered", "untrained/fig12/share_truth"],
    # an untrained net has no valid probe sample, so only these are measurable at smoke size
    "leaves_targets": ["deterministic/untrained-width8/invalid", "deterministic/untrained-width8/persistence_sample",
                       "deterministic/untrained-width8/persistence_onestep", "deterministic/untrained-width8/persistence_cost",
                       "stochastic/untrained-width8/invalid"],
    "entropy_cost": ["default/per_1000_clips", "default_forward/per_1000_clips", "evaluations/default",
                     "figure/per_1000_clips", "figure_forward/per_1000_clips", "evaluations/figure"],
}


def _bench(*args, timeout=300) -> subprocess.CompletedProcess:
    # -W error: the benchmarks run warning-free, like the test suite (filterwarnings = error)
    return subprocess.run([sys.executable, "-W", "error", "-m", "benchmarks", *map(str, args)],
                          cwd=REPO, env=dict(os.environ), capture_output=True, text=True, timeout=timeout)


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


SMOKE_TIMEOUT = 1800  # seconds: the smoke run of every benchmark, on a machine other work keeps busy


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    # a safety net, not a speed target: every benchmark at smoke size, on a machine that may be busy
    proc = _bench("--smoke", "--threads", "1", "--device", "cpu", "--out", out, timeout=SMOKE_TIMEOUT - 60)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out


@pytest.fixture
def harness(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    import benchmarks._harness as h

    return h


@pytest.mark.timeout(SMOKE_TIMEOUT)  # the module's smoke run happens in the first one's setup
def test_smoke_results_are_complete_and_finite(smoke):
    data = json.loads((smoke / "results.json").read_text())
    assert data["format"] == "interp.benchmarks/1"
    assert not (smoke / "results-cuda.json").exists()
    for key in ("cpu_model", "torch", "torch_threads"):
        assert data["machine"][key], key
    assert data["machine"]["OMP_WAIT_POLICY"] == "PASSIVE"
    assert data["machine"]["device"] == "cpu"
    assert list(data["benchmarks"]) == list(NAMES)
    md = (smoke / "results.md").read_text()
    for name in NAMES:
        entry = data["benchmarks"][name]
        assert "error" not in entry, entry.get("error")
        assert entry["mode"] == "smoke" and entry["date"] and entry["machine"]["torch"]
        # each benchmark ran in its own process, with the thread count asked for
        assert entry["machine"]["torch_threads"] == 1 and entry["machine"]["OMP_WAIT_POLICY"] == "PASSIVE"
        assert entry["process_peak_rss_mb"] > 0 and entry["wall_s"] >= 0 and entry["process_wall_s"] > 0
        names = [r["name"] for r in entry["rows"]]
        assert set(EXPECTED_ROWS[name]) <= set(names), (name, names)
        assert len(set(names)) == len(names), names
        ratios = 0
        for r in entry["rows"]:
            where = (name, r["name"])
            assert f"| {name} | {r['name']} | {r['metric']} |" in md, where  # every row is in the table
            for key in ("name", "metric", "unit"):
                assert r[key], (where, key)
            assert _finite(r["peak_rss_mb"]) and r["peak_rss_mb"] > 0, (where, r["peak_rss_mb"])
            assert r["rss_rise_mb"] is None or r["rss_rise_mb"] >= 0, where
            assert r["peak_gpu_mb"] is None, where
            if r.get("error"):  # only a compilation may fail, and it says why on one line
                assert "compile" in r["name"] and "\n" not in r["error"], (where, r["error"])
                assert f"FAILED: {r['error'][:40]}" in md
                continue
            for key in ("value", "median", "min", "max", "q1", "q3", "spread"):
                assert _finite(r[key]), (where, key, r[key])
            assert r["min"] <= r["q1"] <= r["median"] <= r["q3"] <= r["max"], where
            assert r["spread"] >= 0 and r["spread"] == pytest.approx(r["max"] - r["min"]), where
            assert r["repeats"] >= 1, where
            if r["baseline"] is not None:
                assert _finite(r["ratio"]) and r["ratio"] > 0, (where, r["ratio"])
                ratios += 1
        assert ratios, f"{name} reports no ratio"


@pytest.mark.timeout(SMOKE_TIMEOUT)  # the module's smoke run happens in the first one's setup
def test_baselines_have_ratio_one_and_targets_are_reported(smoke):
    data = json.loads((smoke / "results.json").read_text())
    rows = {(b, r["name"]): r for b, e in data["benchmarks"].items() for r in e["rows"]}
    for key in [("leaves_rate", "loop_numpy"), ("train_step", "eager_fp32"), ("train_data_overhead", "fixed_batch"),
                ("sampler", "sequential_n1"), ("jacobian", "forward_1"), ("make_figures", "startup")]:
        assert rows[key]["ratio"] == pytest.approx(1.0), key
    assert rows[("leaves_rate", "projected_1e5")]["target"] == 30
    assert isinstance(rows[("train_data_overhead", "with_data")]["meets_target"], bool)
    assert isinstance(rows[("bf16_quality", "delta_psnr_out@40dB")]["meets_target"], bool)
    overhead = rows[("sampler", "overhead/batched_n64")]
    assert overhead["target"] == 0.05 and isinstance(overhead["meets_target"], bool)
    assert 0 <= overhead["value"] < 1
    assert rows[("sampler", "evaluations/batched_n64")]["value"] >= 1
    assert rows[("jacobian", "cli_wall")]["target"] == 3


@pytest.mark.timeout(SMOKE_TIMEOUT)  # the module's smoke run happens in the first one's setup
def test_recipe_compares_every_arm_with_the_current_recipe(smoke):
    entry = json.loads((smoke / "results.json").read_text())["benchmarks"]["recipe"]
    rows = {r["name"]: r for r in entry["rows"]}
    for data in ("leaves", "natural"):
        for key in ("psnr_out@-20dB", "psnr_out@0dB", "psnr_out@40dB"):
            base = rows[f"{data}/cap1/{key}"]
            assert base["baseline"] == "cap1" and base["ratio"] == pytest.approx(1.0)
            assert base["extra"]["diff"] == 0.0
            for arm in RECIPE_ARMS:
                r = rows[f"{data}/{arm}+ema/{key}"]
                assert r["extra"]["diff"] == pytest.approx(r["value"] - base["value"])
                assert r["ratio"] == pytest.approx(10 ** (-r["extra"]["diff"] / 10))
    scores = entry["scores"]
    assert set(scores) == {"leaves", "natural"} and "invalid" in scores["leaves"]["edm0.03-skip+ema"]
    # the averaged weights are another network than the trained ones, from the same run
    assert scores["leaves"]["edm0.1"]["psnr_out@0dB"] != scores["leaves"]["edm0.1+ema"]["psnr_out@0dB"]


@pytest.mark.timeout(SMOKE_TIMEOUT)  # the module's smoke run happens in the first one's setup
def test_augment_compares_each_augmentation_with_none(smoke):
    entry = json.loads((smoke / "results.json").read_text())["benchmarks"]["augment"]
    rows = {r["name"]: r for r in entry["rows"]}
    for key in ("psnr_out@0dB", "psnr_out@40dB", "overfit@0dB"):
        base = rows[f"none/{key}"]
        assert base["baseline"] == "none" and base["ratio"] == pytest.approx(1.0) and base["extra"]["diff"] == 0.0
        for arm in ("hflip", "reverse", "hflip+reverse"):
            r = rows[f"{arm}/{key}"]
            assert r["extra"]["diff"] == pytest.approx(r["value"] - base["value"])
    s = entry["scores"]
    # each arm is its own run: the augmentations change what the network saw
    assert len({s[a]["psnr_out@0dB"] for a in s}) == 4
    assert s["none"]["overfit@0dB"] == pytest.approx(s["none"]["train@0dB"] - s["none"]["psnr_out@0dB"])


def test_augment_subset_keeps_whole_videos_and_every_test_clip(harness):
    import numpy as np

    from benchmarks.augment import training_subset
    from interp.data.dataset import Dataset

    video = np.repeat(np.array([f"v{i}" for i in range(10)]), 5)  # 10 videos of 5 clips
    test = np.isin(video, ["v3", "v7"])
    ds = Dataset(np.zeros((50, 3, 4, 4), np.float32), {"video": video, "test": test})
    sub, kept = training_subset(ds, 12, seed=1)
    assert len(kept) == 3 and not set(kept) & {"v3", "v7"}  # whole videos until >= 12 clips
    assert int(sub.meta["test"].sum()) == 10 and len(sub) == 25
    assert set(sub.meta["video"][~sub.meta["test"]]) == set(kept)
    again, _ = training_subset(ds, 12, seed=1)
    assert list(again.meta["video"]) == list(sub.meta["video"])  # seeded


@pytest.mark.timeout(SMOKE_TIMEOUT)  # the module's smoke run happens in the first one's setup
def test_training_flops_and_share_of_peak(smoke):
    data = json.loads((smoke / "results.json").read_text())
    rows = {r["name"]: r for r in data["benchmarks"]["train_step"]["rows"]}
    fwd, train = rows["flops/forward"]["value"], rows["flops/train_step"]["value"]
    assert fwd > 0 and 2 < train / fwd < 3.5  # the backward pass costs about twice the forward
    for label in ("eager_fp32", "eager_bf16", "eager_fp32_channels_last", "eager_bf16_channels_last"):
        share = rows[f"share_of_peak/{label}"]
        assert share["baseline"] == ("peak_bf16" if "bf16" in label else "peak_fp32")
        assert 0 < share["value"] < 2, (label, share["value"])  # a share, up to timing noise
    compiled = rows["compile_bf16_channels_last"]
    assert compiled.get("error") or compiled["ratio"] > 0


@pytest.mark.timeout(SMOKE_TIMEOUT)  # the module's smoke run happens in the first one's setup
def test_make_figures_times_the_figures_command(smoke):
    data = json.loads((smoke / "results.json").read_text())
    entry = data["benchmarks"]["make_figures"]
    rows = {r["name"]: r for r in entry["rows"]}
    assert rows["figures"]["value"] > rows["startup"]["value"] > 0
    assert rows["figures"]["extra"]["failed_figures"] == []  # fig09 needs no model
    if "figures_cached" in rows:
        assert rows["figures_cached"]["baseline"] == "figures"


@pytest.mark.timeout(SMOKE_TIMEOUT)  # the module's smoke run happens in the first one's setup
def test_only_replaces_one_entry_and_keeps_the_others(smoke, tmp_path):
    out = tmp_path / "res"
    out.mkdir()
    (out / "results.json").write_text((smoke / "results.json").read_text())
    before = json.loads((out / "results.json").read_text())["benchmarks"]
    proc = _bench("--smoke", "--only", "leaves_rate", "--threads", "1", "--device", "cpu", "--out", out)
    assert proc.returncode == 0, proc.stderr[-4000:]
    after = json.loads((out / "results.json").read_text())["benchmarks"]
    assert list(after) == list(before) and set(NAMES) <= set(after)
    assert after["train_step"] == before["train_step"]
    assert after["leaves_rate"]["date"] >= before["leaves_rate"]["date"]


@pytest.mark.parametrize("args, needle", [
    (["--only", "nope"], "invalid choice"),
    (["--threads", "0"], "positive integer"),
    (["--device", "tpu"], "invalid choice"),
    (["--smoke", "--bogus"], "unrecognized arguments"),
])
def test_usage_errors_are_one_line(tmp_path, args, needle):
    proc = _bench(*args, "--out", tmp_path, timeout=60)
    assert_one_line_error(proc, "python -m benchmarks", needle)
    assert not (tmp_path / "results.json").exists()


def test_cuda_without_a_gpu_is_a_usage_error(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    proc = _bench("--device", "cuda", "--out", tmp_path, timeout=60)
    assert_one_line_error(proc, "no CUDA device")
    assert not (tmp_path / "results-cuda.json").exists()


# ------------------------------------------------------------------- the harness's helpers
class FakeCuda:
    """Stands in for torch.cuda: records the calls; each event pair is 250 ms apart."""

    def __init__(self):
        self.calls, self.clock_ms = [], 0.0
        fake = self

        class Event:
            def __init__(self, enable_timing=False):
                assert enable_timing
                self.t = None

            def record(self):
                fake.calls.append("record")
                self.t = fake.clock_ms
                fake.clock_ms += 250.0

            def synchronize(self):
                fake.calls.append("event.synchronize")

            def elapsed_time(self, other):
                return other.t - self.t

        self.Event = Event

    def synchronize(self):
        self.calls.append("synchronize")

    def reset_peak_memory_stats(self):
        self.calls.append("reset_peak")

    def max_memory_allocated(self):
        self.calls.append("max_memory")
        return 3 * 2**20


def test_clock_times_a_gpu_call_with_cuda_events(harness):
    cuda = FakeCuda()
    clock = harness.Clock(cuda)
    seconds, mem, out = clock.measure(lambda: cuda.calls.append("fn") or 42)
    assert out == 42 and seconds == pytest.approx(0.25)
    # queued work is waited for before the start event; the call runs between the events;
    # the end event is waited for before the time is read; the peak was reset before the call
    assert cuda.calls == ["synchronize", "reset_peak", "record", "fn", "record", "event.synchronize", "max_memory"]
    assert mem.gpu_mb == pytest.approx(3.0) and mem.rss_mb > 0 and (mem.rise_mb is None or mem.rise_mb >= 0)
    assert clock.gpu_peak_mb == pytest.approx(3.0)
    timings = harness.interleaved([harness.Candidate("a", lambda: None, 2.0)], repeats=3, warmup=1,
                                  ctx=harness.Context(smoke=True, threads=1, device="cuda", clock=clock))
    assert timings.seconds["a"] == pytest.approx([0.25] * 3)
    assert list(timings.rates("a")) == pytest.approx([8.0] * 3)
    assert timings.memory["a"].gpu_mb == pytest.approx(3.0)


def test_clock_on_the_cpu_uses_the_wall_clock_and_rss(harness):
    import numpy as np

    seconds, mem, out = harness.Clock().measure(lambda: np.ones(40 * 2**20 // 8).sum())
    assert out == 40 * 2**20 // 8 and seconds > 0
    assert mem.gpu_mb is None and mem.rss_mb >= 40
    # in a long test process the array may land in memory the allocator already holds (not a
    # rise), or under an earlier peak that cannot be reset (unknown): the rise itself is
    # checked in a fresh process below
    assert mem.rise_mb is None or mem.rise_mb >= 0
    assert harness.process_peak_mb() >= mem.rss_mb


# a fresh process whose peak so far is small: the 200 MB array raises it, so the rise is
# measured with or without clear_refs. Linux hands a new program the peak of the process that
# started it (ru_maxrss survives execve), so the script measures in a child it forks itself.
_RISE_CHILD = """
import os, sys, numpy as np
sys.path.insert(0, sys.argv[1])
import benchmarks._harness as h
if sys.argv[2] == "noreset":
    h._reset_peak = lambda: False
pid = os.fork()
if pid == 0:
    _, mem, _ = h.Clock().measure(lambda: np.ones(200 * 2**20 // 8).sum())
    print(mem.rss_mb, mem.rise_mb, flush=True)
    os._exit(0)
os.waitpid(pid, 0)
"""


@pytest.mark.parametrize("mode", ["reset", "noreset"])
def test_clock_measures_the_rise_of_a_call_that_raises_the_peak(mode):
    out = subprocess.run([sys.executable, "-c", _RISE_CHILD, str(REPO), mode], capture_output=True,
                         text=True, check=True).stdout.split()
    rss, rise = float(out[0]), float(out[1])
    assert rss >= 200 and 180 <= rise <= rss


def test_clock_without_reset_reports_an_unknown_rise_under_an_earlier_peak(harness, monkeypatch):
    import numpy as np

    monkeypatch.setattr(harness, "_reset_peak", lambda: False)
    big = np.ones(300 * 2**20 // 8)  # raise this process's peak well above the measured call's
    big.sum()
    del big
    _, mem, _ = harness.Clock().measure(lambda: np.ones(2**20 // 8).sum())
    assert mem.rise_mb is None and mem.rss_mb >= 300


def test_run_child_reports_its_own_peak_memory_and_kills_on_timeout(harness):
    child = harness.run_child([sys.executable, "-c", "b = bytearray(80 * 2**20); print('ok')"])
    assert child.returncode == 0 and child.stdout.strip() == "ok" and child.seconds > 0
    assert child.peak_rss_mb >= 80
    assert harness.run_child([sys.executable, "-c", "raise SystemExit(3)"]).returncode == 3
    with pytest.raises(TimeoutError):
        harness.run_child([sys.executable, "-c", "import time; time.sleep(60)"], timeout=0.5)


def test_failed_rows_and_memory_render(harness):
    mem = harness.Memory(100.0, 5.0) | harness.Memory(80.0, None, 7.0)
    assert (mem.rss_mb, mem.rise_mb, mem.gpu_mb) == (100.0, 5.0, 7.0)
    ok = harness.row("a", "m", "s", [1.0, 3.0, 2.0], baseline="a", baseline_values=[1.0, 3.0, 2.0], mem=mem)
    assert ok["median"] == 2.0 and ok["spread"] == 2.0 and ok["ratio"] == 1.0 and ok["peak_gpu_mb"] == 7.0
    bad = harness.error_row("compile_x", "m", "s", RuntimeError("no\ncompiler"), mem=mem)
    assert bad["error"] == "RuntimeError: no compiler" and bad["value"] is None
    machine = {"device": "cuda", "cpu_model": "cpu", "gpu": {"name": "Fake GPU", "capability": "9.0",
                                                              "memory_gb": 1.0, "cuda": "12"}}
    md = harness.render_markdown({"machine": machine, "updated": "now", "benchmarks": {
        "b": {"rows": [ok, bad]}}, "notes": {"ratio": "r", "memory": "m", "spread": "s"}})
    assert "Fake GPU" in md and "| b | compile_x | m | FAILED: RuntimeError: no compiler |" in md
    assert "| b | a | m | 2 | 1 .. 3 | s | 3 | a | 1 (1 .. 1) |  |  | 100 (+5) | 7 |" in md
    assert harness.results_stem("cpu") == "results" and harness.results_stem("cuda") == "results-cuda"


def test_timed_denoiser_waits_for_the_device_around_the_network(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    from benchmarks.sampler import TimedDenoiser

    syncs = []
    timed = TimedDenoiser(lambda y, c: syncs.append("net") or y, sync=lambda: syncs.append("sync"))
    assert timed(1, 2) == 1 and syncs == ["sync", "net", "sync"] and timed.calls == 1 and timed.seconds >= 0


@pytest.fixture(scope="module")
def natural_smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench-natural")
    proc = _bench("--smoke", "--only", "natural_set", "--threads", "1", "--device", "cpu", "--out", out)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads((out / "results.json").read_text())["benchmarks"]["natural_set"]


def test_natural_set_reports_every_target_beside_its_number(natural_smoke):
    entry = natural_smoke
    assert "error" not in entry and entry["mode"] == "smoke"
    rows = {r["name"]: r for r in entry["rows"]}
    assert set(EXPECTED_ROWS["natural_set"]) <= set(rows), sorted(rows)
    scores = entry["scores"]["untrained"]
    for k in range(4):
        for p in (30, 35, 40, 45, 50):
            r = rows[f"untrained/tau{k}/margin@{p}dB"]
            out = rows[f"untrained/tau{k}/psnr_out@{p}dB"]["value"]
            assert r["value"] == pytest.approx(out - p) and r["target"] == -0.1
            assert r["meets_target"] is (r["value"] >= -0.1)
            assert r["baseline"] == "identity" and r["ratio"] == pytest.approx(10 ** (-r["value"] / 10))
    at = {name: r["value"] for name, r in rows.items()}
    assert at["untrained/tau2_minus_tau0@0dB"] == pytest.approx(at["untrained/tau2/psnr_out@0dB"]
                                                                - at["untrained/tau0/psnr_out@0dB"])
    assert at["untrained/tau2/minus_predict@-10dB"] == pytest.approx(at["untrained/tau2/psnr_out@-10dB"]
                                                                    - at["untrained/predict/psnr_out"])
    v = [at[f"untrained/tau{k}/psnr_out@0dB"] for k in (1, 2, 3)]
    assert at["untrained/order@0dB"] == float(v[0] < v[1] <= v[2])
    slope = rows["untrained/tau0/slope_0-30dB"]
    assert slope["target"] == "[0.4, 0.65]" and slope["meets_target"] is (0.4 <= slope["value"] <= 0.65)
    assert scores["fig7"]["disk"]["cases"] == 12  # 4 directions x 3 pixels
    assert 0 < scores["fig12"]["share_truth"] < 1 and scores["fig12"]["clips"] == 4
    assert len(scores["fig8"]["crossings"]) == 3
