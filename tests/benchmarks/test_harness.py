"""The benchmark harness (benchmarks/run.py): its genome-scale section and fresh-process timings, on the CPU."""
from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from ielmscan.model.bundle import load_bundle
from ielmscan.inference.scan import ScanParams
from ielmscan.io.synthetic import write_synthetic_genome

from tests.bundles import random_bundle

HARNESS = Path(__file__).resolve().parents[2] / "benchmarks" / "run.py"


@pytest.fixture(scope="module")
def harness():
    spec = importlib.util.spec_from_file_location("ielmscan_benchmarks", HARNESS)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_nvidia_smi_id_follows_cuda_visible_devices(harness):
    assert harness.nvidia_smi_id(torch.device("cuda:1"), "3,5") == "5"
    assert harness.nvidia_smi_id(torch.device("cuda:0"), "GPU-1a2b, GPU-3c4d") == "GPU-1a2b"
    assert harness.nvidia_smi_id(torch.device("cuda:2"), None) == "2"
    assert harness.nvidia_smi_id(torch.device("cuda"), "") == "0"


def test_human_genome_extrapolation(harness):
    # 3.1 Gb at stride 50 is 62 M windows: 15 minutes needs 68,889 windows/s.
    assert harness.genome_minutes(62_000_000 / 900, 50) == pytest.approx(15.0)
    assert harness.genome_minutes(1_000, 50) == pytest.approx(62_000 / 60)


def test_no_utilisation_samples_off_the_gpu(harness):
    with harness.GpuUtilisation(torch.device("cpu"), period=0.01) as utilisation:
        pass
    assert utilisation.samples == [] and utilisation.mean is None


def test_scale_section_reports_rate_extrapolation_and_input_side(harness, tmp_path):
    random_bundle(tmp_path / "rand", ks=(3, 4), hidden=16)
    bundle = load_bundle(tmp_path / "rand")
    rows, details = [], {}
    args = argparse.Namespace(scale_mb=0.02, batch_size=16)
    harness.bench_scale(args, bundle, torch.device("cpu"), tmp_path, rows, details)
    by_metric = {row.metric: row for row in rows}
    rate = by_metric["scan of 0.02 Mb on " + harness.cpu_model()].value
    assert rate == details["manifest"]["windows_per_second"] > 0
    extrapolated = by_metric["3.1 Gb genome at stride 50, extrapolated"]
    assert extrapolated.value == pytest.approx(harness.genome_minutes(rate, 50))
    assert extrapolated.passed is None  # the 15-minute target is for a GPU
    feed = by_metric["reading + encoding alone, one thread"]
    assert feed.value > 0 and feed.reference_value == pytest.approx(62_000_000 / 900)
    waiting = by_metric["model waiting for reading and encoding"]
    assert 0 <= waiting.value <= 100
    assert not list(tmp_path.glob("scale.fa"))  # the generated genome is removed


def test_fresh_processes_time_both_pipelines_on_the_same_windows(harness, tmp_path):
    random_bundle(tmp_path / "rand", ks=(3,), hidden=16)
    bundle = load_bundle(tmp_path / "rand")
    fasta = write_synthetic_genome(tmp_path / "g.fa", {"chr1": 3_000}, seed=2)
    args = argparse.Namespace(e2e_repeats=1, batch_size=16, genome_mb=0.003)
    p = ScanParams().for_bundle(bundle)
    scores = harness.reference_scores(fasta, bundle, p.window, p.stride, p.max_n_frac, 16, torch.device("cpu"))
    windows = harness.scored_windows(scores)
    rows, details = [], {}
    harness.fresh_processes(args, bundle, torch.device("cpu"), fasta, windows, rows, details)
    (row,) = rows
    assert row.value > 0 and row.reference_value > 0 and row.target == ">= 3x"
    assert row.passed == (row.value / row.reference_value >= 3)
    assert all(len(v) == 1 for v in details["fresh_processes"]["process_wall_s"].values())
    # A pipeline that scored other windows than the reference stops the benchmark instead of timing it.
    with pytest.raises(harness.BenchmarkFailure, match="scored"):
        harness.fresh_processes(args, bundle, torch.device("cpu"), fasta, windows + 1, [], {})
