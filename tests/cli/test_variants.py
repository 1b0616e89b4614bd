"""`ielmscan variants` as a user meets it: help, an end-to-end run, reruns, warnings and bad input."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pysam
import pytest
from typer.testing import CliRunner

from ielmscan.cli import app
from ielmscan.cli.variants import summary_line

from tests.bundles import gc_bundle
from tests.cli.bad_input import Case, cases, check_refusal
from tests.inference.test_variants import BLOCK, ref_at, write_genome, write_vcf

runner = CliRunner()
ANCHOR = BLOCK[0] - 1
ROWS = [("chr1", ANCHOR + 1, "del", ref_at(ANCHOR, 49), ref_at(ANCHOR)), ("chr1", 2211, "rs1", "G", "A,C"),
        ("chrZ", 5, "other", "A", "G")]


@pytest.fixture(scope="module")
def gc_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "gc"
    gc_bundle(path)
    return path


@pytest.fixture
def folder(tmp_path: Path, gc_dir: Path) -> Path:
    """A user's folder: the planted genome `g.fa` (not yet indexed), variants `v.vcf` and the GC model `model`."""
    write_genome(tmp_path)
    write_vcf(tmp_path / "v.vcf", ROWS)
    (tmp_path / "model").symlink_to(gc_dir)
    return tmp_path


def test_help_lists_the_command_and_its_options():
    assert "variants" in runner.invoke(app, ["--help"], terminal_width=200).stdout
    result = runner.invoke(app, ["variants", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for option in ("--model", "--stride", "--max-n-frac", "--max-allele-length", "--output", "--force", "--precision"):
        assert option in result.stdout


def test_end_to_end_run_writes_tsv_vcf_index_and_manifest(folder, monkeypatch):
    monkeypatch.chdir(folder)
    result = runner.invoke(app, ["variants", "g.fa", "v.vcf", "--model", "model", "-o", "out"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in folder.glob("out*")) == ["out.json", "out.tsv", "out.vcf.gz", "out.vcf.gz.tbi"]
    manifest = json.loads((folder / "out.json").read_text())
    assert result.stderr.strip().splitlines()[-1] == summary_line(manifest)
    assert "3 record(s), 4 allele(s): 3 scored, 1 skipped (1 unknown_chrom)" in result.stderr
    rows = [line.split("\t") for line in (folder / "out.tsv").read_text().splitlines()[1:]]
    assert [(r[3], r[5], r[-1]) for r in rows] == [("del", ref_at(ANCHOR), "."), ("rs1", "A", "."),
                                                   ("rs1", "C", "."), ("other", "G", "unknown_chrom")]
    with pysam.VariantFile(str(folder / "out.vcf.gz")) as vcf:
        [deletion] = list(vcf.fetch("chr1", ANCHOR, ANCHOR + 1))
        assert deletion.info["IELM_DELTA_MAX"][0] < -0.2  # the planted block's high score is gone

    # The same command again replaces its own outputs without --force; a user's file of that name needs it.
    assert runner.invoke(app, ["variants", "g.fa", "v.vcf", "--model", "model", "-o", "out", "-q"]).exit_code == 0
    (folder / "mine.tsv").write_text("my notes\n")
    refused = runner.invoke(app, ["variants", "g.fa", "v.vcf", "--model", "model", "-o", "mine"])
    assert refused.exit_code == 1 and "--force" in refused.stderr
    assert (folder / "mine.tsv").read_text() == "my notes\n" and not list(folder.glob("mine.vcf*"))


def test_default_prefix_is_the_vcf_name(folder, monkeypatch):
    monkeypatch.chdir(folder)
    result = runner.invoke(app, ["variants", "g.fa", "v.vcf", "--model", "model", "-q"])
    assert result.exit_code == 0 and result.stderr == ""
    assert (folder / "v.ielmscan.vcf.gz").is_file() and (folder / "v.ielmscan.tsv").is_file()


def test_a_ref_mismatch_is_one_warning_line_and_the_run_goes_on(folder):
    write_vcf(folder / "w.vcf", [("chr1", 2211, "rs9", "T", "A"), ("chr1", 2213, ".", ref_at(2212), "A")])
    result = subprocess.run([sys.executable, "-m", "ielmscan.cli", "variants", "g.fa", "w.vcf", "--model", "model",
                             "-o", "out"], cwd=folder, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    warning, summary = result.stderr.strip().splitlines()
    assert warning == "ielmscan: warning: chr1 POS 2211 (rs9): REF T differs from the genome's G; not scored"
    assert "1 scored, 1 skipped (1 ref_mismatch)" in summary


def unsorted(folder: Path) -> None:
    write_vcf(folder / "u.vcf", list(reversed(ROWS[:2])))


def bgzipped(folder: Path) -> None:
    pysam.tabix_compress(str(folder / "v.vcf"), str(folder / "calls.vcf.gz"))


def other_names(folder: Path) -> None:
    write_vcf(folder / "n.vcf", [("1", 2211, ".", "G", "A"), ("2", 10, ".", "A", "G")])


@cases(
    Case("not a VCF", lambda d: (d / "x.vcf").write_text(">chr1\nACGT\n"),
         ["variants", "g.fa", "x.vcf", "--model", "model", "-o", "out"], ("x.vcf", "not a VCF"),
         may_create=("g.fa.fai",)),
    Case("unsorted VCF", unsorted, ["variants", "g.fa", "u.vcf", "--model", "model", "-o", "out"],
         ("u.vcf", "not sorted", "bcftools sort"), may_create=("g.fa.fai",)),
    Case("no chromosome in common", other_names, ["variants", "g.fa", "n.vcf", "--model", "model", "-o", "out"],
         ("n.vcf", "none of the chromosomes", "chr1 / 1"), may_create=("g.fa.fai",)),
    Case("output over the input VCF", bgzipped, ["variants", "g.fa", "calls.vcf.gz", "--model", "model", "-o",
                                                 "calls", "--force"],
         ("calls.vcf.gz", "would overwrite"), may_create=("g.fa.fai",)),
)
def test_bad_input_is_refused_in_one_line_and_leaves_the_folder_as_it_was(case, folder, capfd, monkeypatch):
    check_refusal(case, folder, capfd, monkeypatch)


@pytest.mark.parametrize("args, option", [
    (["--stride", "500"], "--stride"),
    (["--max-n-frac", "2"], "--max-n-frac"),
    (["--max-allele-length", "0"], "--max-allele-length"),
])
def test_bad_options_exit_2_and_name_the_option(folder, monkeypatch, args, option):
    monkeypatch.chdir(folder)
    result = runner.invoke(app, ["variants", "g.fa", "v.vcf", "--model", "model", "-o", "out", *args])
    assert result.exit_code == 2 and option in result.stderr
    assert not list(folder.glob("out*"))


def test_a_missing_vcf_is_an_option_error(folder, monkeypatch):
    monkeypatch.chdir(folder)
    result = runner.invoke(app, ["variants", "g.fa", "absent.vcf", "--model", "model"])
    assert result.exit_code == 2 and "absent.vcf" in result.stderr
