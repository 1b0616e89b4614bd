"""benchmarks/sections/scale.py: the genome-scale section, on the CPU."""
from __future__ import annotations

import argparse

import pytest
import torch

from ielmscan.model.bundle import load_bundle

from benchmarks.harness import cpu_model
from benchmarks.sections import scale
from tests.bundles import random_bundle


def test_nvidia_smi_id_follows_cuda_visible_devices():
    assert scale.nvidia_smi_id(torch.device("cuda:1"), "3,5") == "5"
    assert scale.nvidia_smi_id(torch.device("cuda:0"), "GPU-1a2b, GPU-3c4d") == "GPU-1a2b"
    assert scale.nvidia_smi_id(torch.device("cuda:2"), None) == "2"
    assert scale.nvidia_smi_id(torch.device("cuda"), "") == "0"


def test_human_genome_extrapolation():
    # 3.1 Gb at stride 50 is 62 M windows: 15 minutes needs 68,889 windows/s.
    assert scale.genome_minutes(62_000_000 / 900, 50) == pytest.approx(15.0)
    assert scale.genome_minutes(1_000, 50) == pytest.approx(62_000 / 60)


def test_no_utilisation_samples_off_the_gpu():
    with scale.GpuUtilisation(torch.device("cpu"), period=0.01) as utilisation:
        pass
    assert utilisation.samples == [] and utilisation.mean is None


def test_machine_name_off_the_gpu_is_the_cpu_model():
    assert scale.machine_name(torch.device("cpu")) == cpu_model()


def test_scale_section_reports_rate_extrapolation_and_input_side(tmp_path):
    random_bundle(tmp_path / "rand", ks=(3, 4), hidden=16)
    bundle = load_bundle(tmp_path / "rand")
    rows, details = [], {}
    args = argparse.Namespace(scale_mb=0.02, batch_size=16)
    scale.bench_scale(args, bundle, torch.device("cpu"), tmp_path, rows, details)
    by_metric = {row.metric: row for row in rows}
    rate = by_metric["scan of 0.02 Mb on " + cpu_model()].value
    assert rate == details["manifest"]["windows_per_second"] > 0
    extrapolated = by_metric["3.1 Gb genome at stride 50, extrapolated"]
    assert extrapolated.value == pytest.approx(scale.genome_minutes(rate, 50))
    assert extrapolated.passed is None  # the 15-minute target is for a GPU
    feed = by_metric["reading + encoding alone, one thread"]
    assert feed.value > 0 and feed.reference_value == pytest.approx(62_000_000 / 900)
    waiting = by_metric["model waiting for reading and encoding"]
    assert 0 <= waiting.value <= 100
    assert not list(tmp_path.glob("scale.fa"))  # the generated genome is removed
