"""The cascade's first stage and `scan --fast`."""
from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from ielmscan.model.bundle import load_bundle, save_bundle
from ielmscan.learn.cascade import fit_cascade
from ielmscan.cli import app
from ielmscan.learn.dataset import load_labelled
from ielmscan.inference.devices import Precision
from ielmscan.errors import InputError
from ielmscan.io.genome import Genome
from ielmscan.io.intervals import Interval
from ielmscan.inference.scorer import ScorerSettings
from ielmscan.inference.scan import ScanParams, Scanner, run_scan
from ielmscan.io.synthetic import write_synthetic_genome
from ielmscan.learn.calibrate import calibrate
from ielmscan.io.fasta import write_fasta

from tests.bundles import gc_bundle, labelled_fastas


@pytest.fixture(scope="module")
def gc_with_cascade(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cascade")
    gc_bundle(folder / "gc", threshold=0.5)
    bundle = load_bundle(folder / "gc")
    pos, neg = labelled_fastas(folder, n=80)
    bundle.cascade = fit_cascade(bundle, load_labelled(pos, neg).seqs)
    save_bundle(bundle, folder / "gc", force=True)  # the same bundle, now with its first stage
    return load_bundle(folder / "gc")


def test_calibration_keeps_the_asked_recall_and_survives_saving(gc_with_cascade):
    cal = gc_with_cascade.cascade.calibration
    assert cal["training_recall"] >= 0.99
    assert 0 < cal["training_pass_fraction"] < 1
    assert gc_with_cascade.cascade.weights.shape == (5, 4**5)


def test_fast_scan_sends_fewer_windows_and_keeps_the_regions(gc_with_cascade, tmp_path):
    rng = np.random.default_rng(2)
    at_rich = lambda n: "".join(rng.choice(list("ACGT"), n, p=[0.35, 0.15, 0.15, 0.35]))  # noqa: E731
    gc_rich = lambda n: "".join(rng.choice(list("ACGT"), n, p=[0.15, 0.35, 0.35, 0.15]))  # noqa: E731
    seq = at_rich(3000) + gc_rich(600) + at_rich(3000) + gc_rich(400) + at_rich(2000)
    fasta = write_fasta(tmp_path / "g.fa", [("c", seq)])
    fp32 = ScorerSettings(device="cpu", precision=Precision.fp32)
    results = {}
    for fast in (False, True):
        scanner = Scanner(gc_with_cascade, ScanParams(fast=fast, scorer=fp32))
        with Genome.open(fasta) as genome:
            results[fast] = scanner.score_interval(genome, Interval("c", 0, len(seq)))
    full, fast = results[False], results[True]
    assert fast.windows_to_ensemble < 0.6 * full.windows_to_ensemble
    assert fast.windows_rejected == full.windows_to_ensemble - fast.windows_to_ensemble
    # Both GC islands are found, exactly where the full scan finds them: every window sharing a bin with
    # a window that passes the first stage is scored, so a bin is either the full scan's or a gap.
    assert len(full.regions) == len(fast.regions) == 2
    assert [(r.start, r.end) for r in fast.regions] == [(r.start, r.end) for r in full.regions]
    exact = np.isfinite(fast.bins)
    assert 0 < exact.sum() < len(exact)
    np.testing.assert_allclose(fast.bins[exact], full.bins[exact], atol=1e-6)
    # Windows the ensemble scored in fast mode have exactly the full-scan score; the rest are unscored.
    scored = ~np.isnan(fast.scores)
    assert scored.sum() == fast.windows_to_ensemble
    np.testing.assert_allclose(fast.scores[scored], full.scores[scored], atol=1e-6)
    # The share of the sequence examined does not shrink: rejected windows count as examined.
    assert fast.bases_scored == full.bases_scored


def test_fast_bins_are_exact_across_chunk_borders(gc_with_cascade, tmp_path):
    # Small chunks: a window passing the first stage near a chunk's end brings in windows of the next chunk.
    rng = np.random.default_rng(5)
    seq = "".join(rng.choice(list("ACGT"), 6000, p=[0.3, 0.2, 0.2, 0.3]))
    seq = seq[:1930] + "GC" * 150 + seq[2230:]
    fasta = write_fasta(tmp_path / "g.fa", [("c", seq)])
    fp32 = ScorerSettings(device="cpu", precision=Precision.fp32)
    results = {}
    for fast in (False, True):
        with Scanner(gc_with_cascade, ScanParams(fast=fast, chunk_size=500, scorer=fp32)) as scanner, \
                Genome.open(fasta) as genome:
            results[fast] = scanner.score_interval(genome, Interval("c", 0, len(seq)))
    full, fast = results[False], results[True]
    exact = np.isfinite(fast.bins)
    np.testing.assert_allclose(fast.bins[exact], full.bins[exact], atol=1e-6)
    assert [(r.start, r.end) for r in fast.regions] == [(r.start, r.end) for r in full.regions]


def test_fast_needs_a_cascade(tmp_path):
    gc_bundle(tmp_path / "gc")
    with pytest.raises(InputError, match="cascade"):
        Scanner(load_bundle(tmp_path / "gc"), ScanParams(fast=True))


def test_model_cascade_command_adds_the_stage(tmp_path):
    gc_bundle(tmp_path / "gc")
    pos, neg = labelled_fastas(tmp_path, n=40)
    result = CliRunner().invoke(app, ["model", "cascade", str(tmp_path / "gc"), "--pos", str(pos), "--neg", str(neg),
                                      "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "pass" in result.stderr
    info = CliRunner().invoke(app, ["model", "info", str(tmp_path / "gc")])
    assert "cascade" in info.stdout


def test_fast_keeps_every_region_of_a_full_scan_at_the_calibrated_threshold(tmp_path):
    """A calibrated model calls few windows, so the first stage can turn most away and still keep every call."""
    gc_bundle(tmp_path / "gc")
    bundle = load_bundle(tmp_path / "gc")
    background = write_synthetic_genome(tmp_path / "bg.fa", {"b1": 400_000}, seed=11)
    bundle.calibration, seqs = calibrate(bundle, background, windows=1500, seed=1)
    bundle.cascade = fit_cascade(bundle, seqs, seed=1)
    assert bundle.cascade.calibration["called_by"] == "background p-value <= 0.01"
    genome = write_synthetic_genome(tmp_path / "g.fa", {"chr1": 150_000, "chr2": 80_000}, seed=12)
    params = dict(scorer=ScorerSettings(device="cpu", precision=Precision.fp32))
    full = run_scan(genome, bundle, ScanParams(**params), str(tmp_path / "full"))
    fast = run_scan(genome, bundle, ScanParams(fast=True, **params), str(tmp_path / "fast"))
    assert fast["windows_scanned"] < 0.5 * full["windows_scanned"]  # most windows never reach the transformers
    assert full["regions"] > 0

    def regions(prefix: str) -> list[tuple[str, int, int]]:
        return [(f[0], int(f[1]), int(f[2])) for f in
                (line.split("\t") for line in (tmp_path / f"{prefix}.bed").read_text().splitlines())]

    kept = regions("fast")
    for chrom, start, end in regions("full"):
        assert any(c == chrom and s < end and e > start for c, s, e in kept), (chrom, start, end)
