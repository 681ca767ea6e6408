"""`python -m benchmarks --smoke` runs every benchmark and writes complete, finite results."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NAMES = ("leaves_rate", "train_step", "train_data_overhead", "bf16_quality", "sampler", "jacobian")


def _bench(*args, timeout=120) -> subprocess.CompletedProcess:
    # -W error: the benchmarks run warning-free, like the test suite (filterwarnings = error)
    return subprocess.run([sys.executable, "-W", "error", "-m", "benchmarks", *map(str, args)],
                          cwd=REPO, env=dict(os.environ), capture_output=True, text=True, timeout=timeout)


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    proc = _bench("--smoke", "--out", out)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out


def test_smoke_results_are_complete_and_finite(smoke):
    data = json.loads((smoke / "results.json").read_text())
    assert data["format"] == "interp.benchmarks/1"
    for key in ("cpu_model", "torch", "torch_threads"):
        assert data["machine"][key], key
    assert data["machine"]["OMP_WAIT_POLICY"] == "PASSIVE"
    assert data["machine"]["torch_threads"] == 2
    assert set(NAMES) <= set(data["benchmarks"])
    for name in NAMES:
        entry = data["benchmarks"][name]
        assert "error" not in entry, entry.get("error")
        assert entry["mode"] == "smoke" and entry["date"] and entry["machine"]["torch"]
        assert entry["rows"], name
        ratios = 0
        for r in entry["rows"]:
            for key in ("name", "metric", "unit"):
                assert r[key], (name, key)
            for key in ("value", "median", "min", "max", "q1", "q3"):
                assert _finite(r[key]), (name, r["name"], key, r[key])
            assert r["min"] <= r["median"] <= r["max"]
            if r["baseline"] is not None:
                assert _finite(r["ratio"]), (name, r["name"], r["ratio"])
                ratios += 1
            if r["peak_rss_mb"] is not None:
                assert _finite(r["peak_rss_mb"]) and r["peak_rss_mb"] >= 0
        assert ratios, f"{name} reports no ratio"
    md = (smoke / "results.md").read_text()
    for name in NAMES:
        assert f"| {name} |" in md


def test_baselines_have_ratio_one_and_targets_are_reported(smoke):
    data = json.loads((smoke / "results.json").read_text())
    rows = {(b, r["name"]): r for b, e in data["benchmarks"].items() for r in e["rows"]}
    for key in [("leaves_rate", "loop_numpy"), ("train_step", "eager_fp32"),
                ("train_data_overhead", "fixed_batch")]:
        assert rows[key]["ratio"] == pytest.approx(1.0)
    assert rows[("leaves_rate", "projected_1e5")]["target"] == 30
    assert isinstance(rows[("train_data_overhead", "with_data")]["meets_target"], bool)
    assert isinstance(rows[("bf16_quality", "delta_psnr_out@40dB")]["meets_target"], bool)
    assert rows[("sampler", "sequential_n1")]["ratio"] == pytest.approx(1.0)
    overhead = rows[("sampler", "overhead/batched_n64")]
    assert overhead["target"] == 0.05 and isinstance(overhead["meets_target"], bool)
    assert 0 <= overhead["value"] < 1
    assert rows[("sampler", "evaluations/batched_n64")]["value"] >= 1


def test_only_replaces_one_entry_and_keeps_the_others(smoke, tmp_path):
    out = tmp_path / "res"
    out.mkdir()
    (out / "results.json").write_text((smoke / "results.json").read_text())
    before = json.loads((out / "results.json").read_text())["benchmarks"]
    proc = _bench("--smoke", "--only", "leaves_rate", "--out", out)
    assert proc.returncode == 0, proc.stderr[-4000:]
    after = json.loads((out / "results.json").read_text())["benchmarks"]
    assert list(after) == list(before) and set(NAMES) <= set(after)
    assert after["train_step"] == before["train_step"]
    assert after["leaves_rate"]["date"] >= before["leaves_rate"]["date"]


def test_unknown_benchmark_is_a_usage_error(tmp_path):
    proc = _bench("--only", "nope", "--out", tmp_path, timeout=60)
    assert proc.returncode == 2
    assert "invalid choice" in proc.stderr
    assert not (tmp_path / "results.json").exists()
