"""`ielmscan dataset build | audit` as a user meets them: help, an end-to-end build, --strict, bad input."""
from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from ielmscan.cli import app, main
from ielmscan.io.fasta import read_fasta, write_fasta
from ielmscan.kernels.encode import reverse_complement

from tests.learn.test_background import PLANTED, planted_genome

runner = CliRunner()


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    return planted_genome(tmp_path_factory.mktemp("genome") / "planted.fa")


@pytest.fixture
def peaks(tmp_path, genome):
    path = tmp_path / "peaks.narrowPeak"
    path.write_text("".join(f"{c}\t{s}\t{e}\t.\t0\t.\t1\t1\t1\t150\n" for c in genome[1] for s, e in PLANTED))
    return path


def random_records(prefix: str, n: int, seed: int) -> list[tuple[str, str]]:
    rng = np.random.default_rng(seed)
    return [(f"{prefix}{i}", "".join(rng.choice(list("ACGT"), 200))) for i in range(n)]


def one_line_error(result, code: int, *words: str) -> None:
    assert result.exit_code == code, result.output
    assert result.stderr.startswith("ielmscan: error: ") and len(result.stderr.strip().splitlines()) == 1
    for word in words:
        assert word in result.stderr
    assert "Traceback" not in result.output


def test_help_lists_the_dataset_commands_and_panels():
    result = runner.invoke(app, ["dataset", "--help"])
    assert result.exit_code == 0 and "build" in result.stdout and "audit" in result.stdout
    result = runner.invoke(app, ["dataset", "build", "--help"], terminal_width=200)
    text_only = " ".join(result.stdout.replace("│", " ").split())
    for text in ("Input", "Background", "Splits", "Output", "--peaks", "--pos-fasta", "--background-ratio",
                 "--margin", "--val-chrom", "--force", "[default: the window, so none overlap]"):
        assert text in text_only
    assert "--strict" in runner.invoke(app, ["dataset", "audit", "--help"]).stdout


def test_build_writes_the_splits_and_the_manifest(tmp_path, genome, peaks):
    out = tmp_path / "set"
    result = runner.invoke(app, ["dataset", "build", "--peaks", str(peaks), "--genome", str(genome[0]), "-o", str(out),
                                 "--margin", "500", "--val-chrom", "chr2", "--test-chrom", "chr3", "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert "train" in result.stdout and "AUROC of GC alone" in result.stdout
    assert f"wrote {out}/" in result.stderr
    manifest = json.loads((out / "dataset.json").read_text())
    assert manifest["counts"]["total"] == {"pos": 16, "neg": 16}
    assert manifest["command"][:3] and manifest["parameters"]["val_chroms"] == ["chr2"]
    for split, chrom in (("val", "chr2"), ("test", "chr3")):
        assert {name.split(":")[0] for name, _ in read_fasta(out / f"{split}.pos.fa")} == {chrom}
    again = runner.invoke(app, ["dataset", "build", "--peaks", str(peaks), "--genome", str(genome[0]), "-o", str(out)])
    one_line_error(again, 1, "--force", "already exists")
    forced = runner.invoke(app, ["dataset", "build", "--peaks", str(peaks), "--genome", str(genome[0]), "-o", str(out),
                                 "--force", "--background-ratio", "2"])
    assert forced.exit_code == 0 and json.loads((out / "dataset.json").read_text())["counts"]["total"]["neg"] == 32


def test_audit_strict_fails_on_duplicates_across_files_and_passes_clean_ones(tmp_path):
    a = random_records("a", 10, 0)
    clean = write_fasta(tmp_path / "clean.fa", random_records("c", 10, 1))
    first = write_fasta(tmp_path / "a.fa", a)
    copied = write_fasta(tmp_path / "b.fa", [("b_rc", reverse_complement(a[0][1].encode()).decode()), ("b_exact", a[1][1])])
    result = runner.invoke(app, ["dataset", "audit", str(first), str(clean), "--strict", "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    assert "a.fa vs clean.fa" in result.stdout and json.loads((tmp_path / "r.json").read_text())["k"] == 32
    result = runner.invoke(app, ["dataset", "audit", str(first), str(copied), "--strict"])
    one_line_error(result, 1, "2 exact or reverse-complement duplicate pair(s) span two files")
    assert "reverse complement: a.fa:a0  b.fa:b_rc" in result.stdout
    assert runner.invoke(app, ["dataset", "audit", str(first), str(copied)]).exit_code == 0  # reported, not failed
    one_line_error(runner.invoke(app, ["dataset", "audit", str(first), str(first)]), 2, "named twice")


def test_the_dataset_group_is_not_taken_for_a_genome(tmp_path, capsys):
    path = write_fasta(tmp_path / "x.fa", random_records("x", 3, 0))
    with pytest.raises(SystemExit) as exit_info:
        main(["dataset", "audit", str(path)])
    assert exit_info.value.code == 0 and "x.fa" in capsys.readouterr().out


@pytest.mark.parametrize("args, code, words", [
    (["--pos-fasta", "{pos}"], 2, ["no negatives"]),
    (["--peaks", "{peaks}", "--neg-fasta", "{neg}"], 2, ["--peaks needs --genome"]),
    (["--pos-fasta", "{pos}", "--neg-fasta", "{neg}", "--val-fraction", "0.6", "--test-fraction", "0.5"], 2, ["sum"]),
    (["--pos-fasta", "{pos}", "--neg-fasta", "{neg}", "--val-chrom", "chr1", "--test-chrom", "chr1"], 2, ["chr1"]),
    (["--pos-fasta", "{notfasta}", "--neg-fasta", "{neg}"], 1, ["notfasta.txt"]),
    (["--pos-fasta", "{short}", "--neg-fasta", "{neg}"], 1, ["short.fa", "200-base"]),
    (["--peaks", "{badpeaks}", "--genome", "{genome}"], 1, ["bad.bed:2", "3 columns"]),
    (["--peaks", "{peaks}", "--genome", "{notfasta}"], 1, ["notfasta.txt"]),
])
def test_bad_input_gives_one_line_and_the_right_exit_code(tmp_path, genome, peaks, args, code, words):
    files = {
        "pos": write_fasta(tmp_path / "pos.fa", random_records("p", 5, 0)),
        "neg": write_fasta(tmp_path / "neg.fa", random_records("n", 5, 1)),
        "short": write_fasta(tmp_path / "short.fa", [("s", "ACGT")]),
        "peaks": peaks, "genome": genome[0],
    }
    (tmp_path / "notfasta.txt").write_text("hello\n")
    (tmp_path / "bad.bed").write_text("chr1\t0\t300\nchr1\t5\n")
    files.update(notfasta=tmp_path / "notfasta.txt", badpeaks=tmp_path / "bad.bed")
    argv = [a.format(**files) for a in args]
    result = runner.invoke(app, ["dataset", "build", *argv, "-o", str(tmp_path / "out")])
    one_line_error(result, code, *words)
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out*"))


def test_a_missing_file_is_refused_by_name(tmp_path):
    result = runner.invoke(app, ["dataset", "audit", str(tmp_path / "nope.fa")])
    assert result.exit_code == 2 and "nope.fa" in result.stderr
    result = runner.invoke(app, ["dataset", "build", "--pos-fasta", str(tmp_path / "nope.fa"), "-o", str(tmp_path / "o")])
    assert result.exit_code == 2 and "nope.fa" in result.stderr
