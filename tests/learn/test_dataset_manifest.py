"""`dataset.json`: the manifest of a built data set matches its files, inputs and parameters."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from ielmscan.io.fasta import read_fasta

from tests.learn.test_background import planted_genome
from tests.learn.test_dataset_build import build, narrowpeak, planted_peaks


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    return planted_genome(tmp_path_factory.mktemp("genome") / "planted.fa")


def test_the_manifest_matches_the_files(tmp_path, genome):
    path, seqs = genome
    peaks = narrowpeak(tmp_path / "p.narrowPeak", planted_peaks(seqs))
    out, manifest = build(tmp_path, peaks=peaks, genome=path, margin=500, val_fraction=0.25, test_fraction=0.25)
    assert manifest == json.loads((out / "dataset.json").read_text())
    files = sorted(p.name for p in out.glob("*.fa"))
    assert sorted(manifest["files"]) == files
    for name in files:
        split, cls, _ = name.split(".")
        assert manifest["counts"][split][cls] == manifest["files"][name]["records"] == len(read_fasta(out / name))
        assert manifest["files"][name]["sha256"] == hashlib.sha256((out / name).read_bytes()).hexdigest()
    assert {i["role"] for i in manifest["inputs"]} == {"genome", "peaks"}
    assert manifest["inputs"][0]["sha256"] == hashlib.sha256(Path(path).read_bytes()).hexdigest()
    assert manifest["parameters"]["margin"] == 500 and manifest["seed"] == 0
    assert manifest["background"]["shortfalls"] == [] and len(manifest["gc"]["bin_edges"]) == 51
