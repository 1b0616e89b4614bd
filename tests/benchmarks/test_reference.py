"""benchmarks/reference.py: the iEnhancer-ELM-style reference pipeline and its child process."""
from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import torch

from ielmscan.inference.devices import Precision
from ielmscan.inference.scan import Scanner, ScanParams
from ielmscan.inference.scorer import ScorerSettings
from ielmscan.io.genome import Genome
from ielmscan.io.intervals import Interval
from ielmscan.io.synthetic import write_synthetic_genome
from ielmscan.model.bundle import load_bundle

from benchmarks import reference
from benchmarks.sections.e2e import SCORE_TOLERANCE
from tests.bundles import random_bundle


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A tiny two-member bundle and a two-chromosome genome with N gaps."""
    folder = tmp_path_factory.mktemp("reference")
    random_bundle(folder / "rand", ks=(3, 4), hidden=16)
    fasta = write_synthetic_genome(folder / "g.fa", {"chr1": 2_500, "chr2": 1_200}, seed=5)
    return load_bundle(folder / "rand"), fasta


def test_reference_scores_match_the_scanner(small):
    bundle, fasta = small
    params = ScanParams(scorer=ScorerSettings(device="cpu", precision=Precision.fp32, batch_size=16))
    ref = reference.reference_scores(fasta, bundle, bundle.window, 50, 0.1, 16, torch.device("cpu"))
    assert list(ref) == ["chr1", "chr2"]
    with Scanner(bundle, params) as scanner, Genome.open(fasta) as genome:
        for chrom, length in (("chr1", 2_500), ("chr2", 1_200)):
            mine = scanner.score_interval(genome, Interval(chrom, 0, length)).scores
            np.testing.assert_array_equal(np.isnan(mine), np.isnan(ref[chrom]))
            assert np.nanmax(np.abs(mine - ref[chrom])) <= SCORE_TOLERANCE
    assert reference.scored_windows(ref) == sum(int(np.count_nonzero(~np.isnan(s))) for s in ref.values())
    limited = reference.reference_scores(fasta, bundle, bundle.window, 50, 0.1, 16, torch.device("cpu"), limit=5)
    assert {chrom: len(s) for chrom, s in limited.items()} == {"chr1": 5, "chr2": 5}


def test_reference_child_runs_from_any_working_directory(small, tmp_path):
    bundle, fasta = small
    p = ScanParams().for_bundle(bundle)
    command = reference.child_command(fasta, bundle.path, torch.device("cpu"), p.window, p.stride, p.max_n_frac, 16)
    proc = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    scores = reference.reference_scores(fasta, bundle, p.window, p.stride, p.max_n_frac, 16, torch.device("cpu"))
    assert result["windows"] == reference.scored_windows(scores) and result["seconds"] > 0


def test_reference_main_wants_all_seven_arguments(capsys):
    assert reference.main(["g.fa", "model"]) == 2
    assert "python -m benchmarks.reference" in capsys.readouterr().err
