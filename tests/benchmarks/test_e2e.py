"""benchmarks/sections/e2e.py: the fresh-process timings of both end-to-end pipelines, on the CPU."""
from __future__ import annotations

import argparse

import pytest
import torch

from ielmscan.inference.scan import ScanParams
from ielmscan.io.synthetic import write_synthetic_genome
from ielmscan.model.bundle import load_bundle

from benchmarks.harness import BenchmarkFailure
from benchmarks.reference import reference_scores, scored_windows
from benchmarks.sections.e2e import fresh_processes
from tests.bundles import random_bundle


def test_fresh_processes_time_both_pipelines_on_the_same_windows(tmp_path):
    random_bundle(tmp_path / "rand", ks=(3,), hidden=16)
    bundle = load_bundle(tmp_path / "rand")
    fasta = write_synthetic_genome(tmp_path / "g.fa", {"chr1": 3_000}, seed=2)
    args = argparse.Namespace(e2e_repeats=1, batch_size=16, genome_mb=0.003)
    p = ScanParams().for_bundle(bundle)
    scores = reference_scores(fasta, bundle, p.window, p.stride, p.max_n_frac, 16, torch.device("cpu"))
    windows = scored_windows(scores)
    rows, details = [], {}
    fresh_processes(args, bundle, torch.device("cpu"), fasta, windows, rows, details)
    (row,) = rows
    assert row.value > 0 and row.reference_value > 0 and row.target == ">= 3x"
    assert row.passed == (row.value / row.reference_value >= 3)
    assert all(len(v) == 1 for v in details["fresh_processes"]["process_wall_s"].values())
    # A pipeline that scored other windows than the reference stops the benchmark instead of timing it.
    with pytest.raises(BenchmarkFailure, match="scored"):
        fresh_processes(args, bundle, torch.device("cpu"), fasta, windows + 1, [], {})
