"""`ielmscan evaluate` as a user meets it: the two modes, their option checks, and one-line errors."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ielmscan.cli import app
from ielmscan.inference.scan import ScanParams, run_scan
from ielmscan.io.fasta import write_fasta

from tests.bundles import gc_bundle, labelled_fastas

runner = CliRunner()


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    """A GC-bundle scan of chr1: GC-rich, AT-rich, GC-rich, AT-rich 100-bp stretches; truth on the first."""
    folder = tmp_path_factory.mktemp("cli_evaluate")
    seq = "GC" * 50 + "AT" * 50 + "GGCA" * 25 + "TTAG" * 25
    fasta = write_fasta(folder / "g.fa", [("chr1", seq), ("chr2", "ACGT" * 10)])
    run_scan(fasta, gc_bundle(folder / "gc"), ScanParams(window=20, stride=20), str(folder / "scan"),
             chroms=["chr1"])
    (folder / "truth.bed").write_text("chr1\t0\t100\n")
    (folder / "control.bed").write_text("chr1\t300\t400\n")
    pos, neg = labelled_fastas(folder, n=6)
    return folder, pos, neg


def one_line_error(result, code: int) -> str:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ielmscan: error: "), result.stderr
    return lines[0]


def test_scan_mode_prints_the_table_and_writes_report_and_plots(scanned):
    folder, _, _ = scanned
    out = folder / "eval"
    result = runner.invoke(app, ["evaluate", "--scan", str(folder / "scan"), "--truth", str(folder / "truth.bed"),
                                 "--control", str(folder / "control.bed"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "20 scored bins" in result.stdout and "AUROC(GC)" in result.stdout and "control" in result.stdout
    report = json.loads((out / "genome_metrics.json").read_text())
    assert report["truth"]["positive_bins"] == 5 and report["truth"]["regions"]["recall"] == 1.0
    assert report["truth"]["model"]["auroc"] == report["truth"]["gc"]["auroc"]
    assert "truth_excluding_control_bins" in report
    for name in ("truth_roc.png", "truth_pr.png", "control_roc.png", "control_pr.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "wrote" in result.stderr
    assert not list(folder.glob(".eval.tmp-*"))


@pytest.mark.parametrize(("args", "message"), [
    ([], "give --pos FASTA --neg FASTA"),
    (["--scan", "{scan}"], "--scan needs at least one --truth"),
    (["--scan", "{scan}", "--truth", "{truth}", "--pos", "{pos}", "--neg", "{neg}"], "not both"),
    (["--pos", "{pos}"], "--neg is missing"),
    (["--neg", "{neg}"], "--pos is missing"),
    (["--pos", "{pos}", "--neg", "{neg}", "--truth", "{truth}"], "--truth only apply with --scan"),
    (["--pos", "{pos}", "--neg", "{neg}", "--genome", "{truth}"], "--genome only apply with --scan"),
    (["--scan", "{scan}", "--truth", "{truth}", "--model", "{gc}"], "--model only apply with --pos/--neg"),
    (["--scan", "{scan}", "--truth", "{truth}", "--no-baselines"], "--no-baselines only apply"),
    (["--scan", "{scan}", "--scan", "{scan}", "--truth", "{truth}", "--genome", "{truth}"],
     "1 --genome for 2 --scan: give one --genome per --scan"),
])
def test_option_combinations_are_checked_first(scanned, args, message):
    folder, pos, neg = scanned
    names = {"scan": folder / "scan", "truth": folder / "truth.bed", "pos": pos, "neg": neg, "gc": folder / "gc"}
    argv = ["evaluate", *(a.format(**names) for a in args)]
    if not args:
        argv += ["-o", str(folder / "unused")]  # something given, but no mode
    assert message in one_line_error(runner.invoke(app, argv), 2)


def test_bad_files_are_one_line_errors(scanned, tmp_path):
    folder, _, _ = scanned
    scan, truth = str(folder / "scan"), str(folder / "truth.bed")
    missing = runner.invoke(app, ["evaluate", "--scan", str(tmp_path / "none"), "--truth", truth])
    assert "none.json not found" in one_line_error(missing, 1)
    (tmp_path / "far.bed").write_text("chr1\t5000\t6000\n")
    beyond = runner.invoke(app, ["evaluate", "--scan", scan, "--truth", str(tmp_path / "far.bed")])
    assert "far.bed:1: end 6000 is beyond the end of chr1" in one_line_error(beyond, 1)
    (tmp_path / "unscanned.bed").write_text("chr2\t0\t10\n")
    nothing = runner.invoke(app, ["evaluate", "--scan", scan, "--truth", truth, "--control",
                                  str(tmp_path / "unscanned.bed")])
    assert "unscanned.bed: none of its 1 intervals overlaps a scored bin" in one_line_error(nothing, 1)
    no_genome = runner.invoke(app, ["evaluate", "--scan", scan, "--truth", truth, "--genome",
                                    str(tmp_path / "gone.fa")])
    assert "genome" in one_line_error(no_genome, 1) and "gone.fa not found" in no_genome.stderr
    no_folder = runner.invoke(app, ["evaluate", "--scan", scan, "--truth", truth, "-o",
                                    str(tmp_path / "a" / "b")])
    assert "does not exist" in one_line_error(no_folder, 1)


def test_several_scans_are_pooled_with_a_line_per_scan(scanned, tmp_path):
    """A second piece, chr9, with its own FASTA, scan and truth; one truth BED on both pieces' chromosomes."""
    folder, _, _ = scanned
    fasta = write_fasta(tmp_path / "g9.fa", [("chr9", "AT" * 50 + "GC" * 50)])
    run_scan(fasta, gc_bundle(tmp_path / "gc"), ScanParams(window=20, stride=20), str(tmp_path / "nine"))
    (tmp_path / "both.bed").write_text("chr1\t0\t100\nchr9\t100\t200\n")
    out = tmp_path / "eval"
    result = runner.invoke(app, ["evaluate", "--scan", str(folder / "scan"), "--scan", str(tmp_path / "nine"),
                                 "--truth", str(tmp_path / "both.bed"), "--control", str(folder / "control.bed"),
                                 "--genome", str(folder / "g.fa"), "--genome", str(fasta), "-o", str(out)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("2 scans pooled: 30 scored bins")
    assert [line.split()[:2] for line in lines if line.startswith((str(folder / "scan"), str(tmp_path / "nine")))] \
        == [[str(folder / "scan"), "20"], [str(tmp_path / "nine"), "10"]]
    report = json.loads((out / "genome_metrics.json").read_text())
    assert report["truth"]["positive_bins"] == 10 and report["truth"]["regions"]["recall"] == 1.0
    assert [part["truth"]["positive_bins"] for part in report["per_scan"]] == [5, 5]
    assert report["truth"]["ignored_intervals"] == {str(tmp_path / "both.bed"): {str(folder / "scan"): 1,
                                                                                 str(tmp_path / "nine"): 1}}
    assert report["control"]["ignored_intervals"] == {str(folder / "control.bed"): {str(folder / "scan"): 0,
                                                                                    str(tmp_path / "nine"): 1}}
    (tmp_path / "typo.bed").write_text("chrX\t0\t10\n")
    typo = runner.invoke(app, ["evaluate", "--scan", str(folder / "scan"), "--scan", str(tmp_path / "nine"),
                               "--truth", str(tmp_path / "typo.bed")])
    assert "typo.bed:1: sequence 'chrX' is in none of the scans' genomes" in one_line_error(typo, 1)


def test_labelled_mode_reports_the_gc_controlled_auroc(scanned, tmp_path):
    folder, pos, neg = scanned
    result = runner.invoke(app, ["evaluate", "--pos", str(pos), "--neg", str(neg), "--model", str(folder / "gc"),
                                 "--no-baselines", "--device", "cpu", "-o", str(tmp_path / "eval")])
    assert result.exit_code == 0, result.output
    assert "GC-AUROC" in result.stdout
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert "gc_controlled_auroc" in metrics["models"]["ensemble"]["at_0.5"]
    assert sorted(p.name for p in (tmp_path / "eval").iterdir()) == ["metrics.json", "pr.png", "roc.png"]
