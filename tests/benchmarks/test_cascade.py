"""benchmarks/sections/cascade.py: where the real genome is looked for, the fallback, and region recall."""
from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch

from ielmscan.io.fasta import write_fasta
from ielmscan.io.synthetic import synthetic_sequence
from ielmscan.model.bundle import load_bundle
from ielmscan.model.cascade import Cascade

from benchmarks.genomes import SHARED_DATA_ENV
from benchmarks.harness import REPO_ROOT
from benchmarks.sections import cascade
from tests.bundles import random_bundle


def shared_folder(root, with_genome: bool):
    """A shared data folder, holding the cascade genome or not."""
    if with_genome:
        (root / cascade.CASCADE_GENOME).parent.mkdir(parents=True)
        write_fasta(root / cascade.CASCADE_GENOME, [("chr16", synthetic_sequence(3_000, np.random.default_rng(0)))])
    else:
        root.mkdir()
    return root


def test_genome_lookup_option_then_environment_then_beside_the_repository(tmp_path):
    shared = shared_folder(tmp_path / "shared", with_genome=True)
    chosen = tmp_path / "mine.fa"
    env = {SHARED_DATA_ENV: str(shared)}
    # --cascade-genome wins over the environment variable...
    assert cascade.cascade_genome(chosen, env) == chosen
    # ...which wins over ../shared/data beside the repository root...
    assert cascade.cascade_genome(None, env) == shared / cascade.CASCADE_GENOME
    assert cascade.cascade_genome(None, env).is_file()
    # ...the default when the variable is unset or empty.
    beside = REPO_ROOT.parent / "shared" / "data" / cascade.CASCADE_GENOME
    assert cascade.cascade_genome(None, {}) == beside
    assert cascade.cascade_genome(None, {SHARED_DATA_ENV: ""}) == beside


def test_region_recall():
    full = [("chr1", 0, 100), ("chr1", 500, 600), ("chr2", 0, 100)]
    assert cascade.region_recall(full, [("chr1", 50, 60), ("chr2", 99, 200)]) == pytest.approx(2 / 3)
    assert cascade.region_recall(full, [("chr1", 100, 500)]) == 0  # touching is not overlapping
    assert np.isnan(cascade.region_recall([], full))


@pytest.fixture(scope="module")
def cascade_bundle(tmp_path_factory):
    """A tiny bundle whose first stage lets every window through (zero weights, threshold 0)."""
    directory = tmp_path_factory.mktemp("bundle") / "rand"
    random_bundle(directory, ks=(3,), hidden=16)
    bundle = load_bundle(directory)
    bundle.cascade = Cascade([1, 2], np.zeros((2, 16), dtype=np.float32), 0.0, 0.0)
    return bundle


def run_section(bundle, tmp_path, cascade_genome):
    args = argparse.Namespace(cascade_genome=cascade_genome, genome_mb=0.004, batch_size=16, e2e_repeats=1)
    work = tmp_path / "work"
    work.mkdir()
    rows, details = [], {}
    cascade.bench_cascade(args, bundle, torch.device("cpu"), work, rows, details)
    return rows, details


@pytest.mark.parametrize("source", ["option", "environment"])
def test_section_scans_the_real_genome_it_finds_without_writing_beside_it(cascade_bundle, tmp_path, monkeypatch,
                                                                          source):
    shared = shared_folder(tmp_path / "shared", with_genome=True)
    monkeypatch.setenv(SHARED_DATA_ENV, str(shared if source == "environment" else tmp_path / "nowhere"))
    option = shared / cascade.CASCADE_GENOME if source == "option" else None
    rows, details = run_section(cascade_bundle, tmp_path, option)
    name = cascade.CASCADE_GENOME.name
    assert details["genome"] == name
    assert [row.metric for row in rows] == [f"--fast speed-up, {name}", f"recall of full-scan regions, {name}"]
    assert details["share_to_ensemble"] == pytest.approx(1.0)  # this first stage passes every window
    assert sorted(p.name for p in (shared / "genomes").iterdir()) == [name]  # no .fai in the shared folder


def test_section_falls_back_to_a_synthetic_genome(cascade_bundle, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(SHARED_DATA_ENV, str(shared_folder(tmp_path / "empty", with_genome=False)))
    rows, details = run_section(cascade_bundle, tmp_path, None)
    label = "synthetic 0.004 Mb (real genome not found)"
    assert details["genome"] == label
    assert [row.metric for row in rows] == [f"--fast speed-up, {label}", f"recall of full-scan regions, {label}"]
    assert all(row.value > 0 for row in rows[:1])
    assert "not found" in capsys.readouterr().out


def test_section_skips_a_model_without_first_stage(tmp_path):
    random_bundle(tmp_path / "plain", ks=(3,), hidden=16)
    rows, details = [], {}
    cascade.bench_cascade(argparse.Namespace(), load_bundle(tmp_path / "plain"), torch.device("cpu"), tmp_path,
                          rows, details)
    assert rows == [] and details == {"skipped": "model has no cascade"}
