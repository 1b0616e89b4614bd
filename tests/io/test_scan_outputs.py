"""Reading a scan's outputs back: manifest parameters, the track's entries, one-line errors."""
from __future__ import annotations

import pytest

from ielmscan.errors import InputError
from ielmscan.inference.devices import Precision
from ielmscan.inference.scan import ScanParams, run_scan
from ielmscan.inference.scorer import ScorerSettings
from ielmscan.io.genome import Genome
from ielmscan.io.intervals import read_bed
from ielmscan.io.scan_outputs import ScanOutputs, read_track
from ielmscan.io.synthetic import write_synthetic_genome
from ielmscan.model.bundle import load_bundle


@pytest.fixture
def scan(tmp_path, gc_bundle_dir):
    fasta = write_synthetic_genome(tmp_path / "g.fa", {"c1": 5_000, "c2": 3_000}, seed=1)
    params = ScanParams(stride=100, scorer=ScorerSettings(device="cpu", precision=Precision.fp32))
    run_scan(fasta, load_bundle(gc_bundle_dir), params, str(tmp_path / "out"))
    return fasta, tmp_path / "out"


def test_find_reads_the_manifest_and_read_track_the_bigwig(scan):
    fasta, prefix = scan
    outputs = ScanOutputs.find(prefix)
    assert (outputs.window, outputs.stride, outputs.genome) == (200, 100, fasta)
    with Genome.open(fasta) as genome:
        track = dict(read_track(outputs, genome))
    assert set(track) == {"c1", "c2"}
    entries = track["c1"]
    assert entries.shape[1] == 3 and (entries[:, 1] - entries[:, 0] == 100).all() and (entries[:, 2] > 0).all()


def test_missing_or_wrong_files_are_one_line_errors(scan, tmp_path):
    fasta, prefix = scan
    with pytest.raises(InputError, match="scan manifest .*nope.json not found"):
        ScanOutputs.find(tmp_path / "nope")
    (tmp_path / "out.bw").write_bytes(b"not a bigwig at all")
    outputs = ScanOutputs.find(prefix)
    with Genome.open(fasta) as genome, pytest.raises(InputError, match="is not a bigWig file"):
        read_track(outputs, genome)


def test_a_tabix_scan_is_found_by_its_bgzip_bed(tmp_path, gc_bundle_dir):
    fasta = write_synthetic_genome(tmp_path / "g.fa", {"c1": 5_000}, seed=1)
    params = ScanParams(stride=100, threshold=0.3, scorer=ScorerSettings(device="cpu", precision=Precision.fp32))
    run_scan(fasta, load_bundle(gc_bundle_dir), params, str(tmp_path / "out"), tabix=True)
    outputs = ScanOutputs.find(tmp_path / "out")
    assert outputs.calls == tmp_path / "out.bed.gz"
    with Genome.open(fasta) as genome:
        assert read_bed(genome, outputs.calls)  # the evaluation reads the compressed calls as they are
