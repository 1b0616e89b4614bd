"""benchmarks/sections/memory.py: the measured child process."""
from __future__ import annotations

import pytest

from benchmarks.harness import BenchmarkFailure
from benchmarks.sections.memory import run_child
from tests.bundles import random_bundle


def test_child_reports_its_peak_and_stops_the_benchmark_when_the_scan_fails(tmp_path):
    random_bundle(tmp_path / "rand", ks=(3,), hidden=16)
    baseline = run_child(["baseline", str(tmp_path / "rand")])
    assert baseline["exit"] == 0 and baseline["peak_kb"] > 0 and baseline["wall_s"] > 0
    with pytest.raises(BenchmarkFailure, match="memory: ielmscan scan"):
        run_child(["scan", str(tmp_path / "missing.fa"), "--model", str(tmp_path / "rand"), "-o",
                   str(tmp_path / "out"), "--quiet"])
