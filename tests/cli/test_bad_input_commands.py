"""Commands given wrongly, nothing to scan, a full disk, a standard output that is full, closed or gone: one row
each (harness: bad_input.py), and the same promises checked on real processes where only a process shows them
(a pipe whose reader left, /dev/full, a closed stdout)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pyBigWig
import pytest

from ielmscan.cli import app
from ielmscan.io.atomic_outputs import OutputSet

from tests.cli.bad_input import Case, cases, check_refusal, genome_folder, nothing, runner, snapshot

# --threshold: a scan of the random test bundle then has no calibration warning before its refusal.
SCAN = ["scan", "g.fa", "--model", "model", "-t", "0.5"]
INDEX = ("g.fa.fai",)  # built on the way by refusals that open the genome


@pytest.fixture
def folder(tmp_path: Path, random_bundle_dir: Path) -> Path:
    return genome_folder(tmp_path, random_bundle_dir)


def bed(text: str):
    return lambda folder: (folder / "r.bed").write_text(text)


@cases(
    # Usage errors: one line, exit 2, where Typer drew a five-line box.
    Case("unknown option", nothing, [*SCAN, "-o", "out", "--bogus"], ("--bogus",), exit_code=2),
    Case("a value of the wrong type", nothing, [*SCAN, "-o", "out", "--stride", "abc"], ("--stride",), exit_code=2),
    Case("a value out of range", nothing, [*SCAN, "-o", "out", "--max-n-frac", "2"], ("--max-n-frac",), exit_code=2),
    Case("an option without its value", nothing, [*SCAN, "-o"], ("-o",), exit_code=2),
    Case("a file option naming no file", nothing, [*SCAN, "-o", "out", "--regions", "nope.bed"], ("nope.bed",),
         exit_code=2),
    Case("an unknown command", nothing, ["model", "nosuch"], ("nosuch",), exit_code=2),
    Case("a required option left out", nothing, ["model", "init"], ("--output",), exit_code=2),
    # The genome reader checks the FASTA argument (so that it can explain '-'): a bad input file, exit 1.
    Case("a FASTA that does not exist", nothing, ["scan", "missing.fa", "--model", "model", "-o", "out", "-t", "0.5"],
         ("missing.fa",)),
    # Nothing to scan: said as such, not "a bigWig needs at least one chromosome".
    Case("every chromosome excluded", nothing, [*SCAN, "-o", "out", "-x", "chr1"], ("nothing to scan", "g.fa"),
         may_create=INDEX),
    Case("--chrom and --exclude-chrom cancel out", nothing, [*SCAN, "-o", "out", "-c", "chr1", "-x", "chr1"],
         ("nothing to scan",), may_create=INDEX),
    Case("an empty regions BED", bed(""), [*SCAN, "-o", "out", "--regions", "r.bed"], ("nothing to scan", "r.bed"),
         may_create=INDEX),
    Case("a regions BED of zero-length intervals", bed("chr1\t5\t5\nchr1\t900\t900\n"),
         [*SCAN, "-o", "out", "--regions", "r.bed"], ("nothing to scan", "r.bed"), may_create=INDEX),
    Case("nothing to scan, to standard output", nothing, [*SCAN, "-o", "-", "-x", "chr1"], ("nothing to scan",),
         may_create=INDEX),
    # -o DIR/ puts the outputs in DIR; a DIR that does not exist is said so, not written beside it.
    Case("-o a folder that does not exist", nothing, [*SCAN, "-o", "nodir/"], ("nodir", "does not exist"),
         may_create=INDEX),
)
def test_a_command_given_wrongly_is_refused_in_one_line(case, folder, capfd, monkeypatch):
    check_refusal(case, folder, capfd, monkeypatch)


def test_nothing_to_scan_writes_nothing_to_standard_output(folder, monkeypatch):
    monkeypatch.chdir(folder)
    result = runner.invoke(app, [*SCAN, "-o", "-", "-x", "chr1"])
    assert result.exit_code == 1 and result.stdout == ""


# -- a full disk: the file named as the user knows it, libBigWig and htslib kept off the terminal --------------

def full_disk_for(suffix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The temporary file of ``suffix`` becomes a link to /dev/full: writing it fails as on a full disk
    (for the bigWig, through libBigWig's own writes)."""
    temp = OutputSet.temp

    def on_full_disk(self: OutputSet, asked: str) -> Path:
        path = temp(self, asked)
        if asked == suffix and not os.path.lexists(path):
            path.symlink_to("/dev/full")
        return path

    monkeypatch.setattr(OutputSet, "temp", on_full_disk)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("suffix, message", [
    (".bw", "cannot write bigWig out.bw: No space left on device"),
    (".bed", "cannot write out.bed: No space left on device"),
    (".bedGraph", "cannot write out.bedGraph: No space left on device"),
    (".json", "cannot write out.json: No space left on device"),
])
def test_a_full_disk_names_the_output_and_leaves_none(suffix, message, folder, capfd, monkeypatch):
    monkeypatch.chdir(folder)
    full_disk_for(suffix, monkeypatch)
    capfd.readouterr()
    result = runner.invoke(app,
                           ["scan", "g.fa", "--model", "model", "-t", "0", "--bedgraph", "-o", "out"])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    # One line: the failure, then what was kept for --resume (the scored chunks survive a full disk).
    line, = result.stderr.splitlines()
    assert line.startswith(f"ielmscan: error: {message}"), line
    kept = os.path.exists(os.path.join(folder, "out.checkpoint"))  # none when it failed before a chunk was scored
    assert line.endswith("kept in out.checkpoint: run the same command with --resume to continue") == kept, line
    assert capfd.readouterr().err == ""  # nothing from libBigWig
    assert not [p for p in os.listdir(folder) if p.startswith(("out.", ".out")) and not p.endswith(".checkpoint")]


# -- standard output full, closed or gone: real processes ----------------------------------------------------

def ielmscan(*args: str) -> list[str]:
    return [sys.executable, "-m", "ielmscan", *args]


SCAN_TO_STDOUT = ["g.fa", "--model", "model", "-o", "-", "-t", "0", "-q"]
PREDICT = ["predict", "g.fa", "--model", "model", "--device", "cpu"]


def unchanged_but_the_index(folder: Path, before: dict) -> None:
    after = snapshot(folder)
    after.pop("g.fa.fai", None)
    before = dict(before)
    before.pop("g.fa.fai", None)
    assert after == before


@pytest.mark.slow
@pytest.mark.parametrize("args", [SCAN_TO_STDOUT, PREDICT], ids=["scan -o -", "predict"])
def test_a_reader_that_goes_away_ends_the_run_by_sigpipe_quietly(args, folder):
    before = snapshot(folder)
    proc = subprocess.Popen(ielmscan(*args), cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # `| head -0`: the reader is gone before the first line
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGPIPE, err.decode()
    assert err == b""  # no traceback, no "Exception ignored", no message: what `cat` does
    unchanged_but_the_index(folder, before)


@pytest.mark.parametrize("args", [["--help"], ["scan", "--help"], ["--version"]], ids=" ".join)
def test_help_and_version_into_a_closed_pipe_end_by_sigpipe_quietly(args, tmp_path):
    # `ielmscan --help | head -1` in a script with `set -o pipefail` must not look like a failure.
    proc = subprocess.Popen(ielmscan(*args), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGPIPE, err.decode()
    assert err == b""


@pytest.mark.slow
def test_head_1_in_a_shell_pipeline(folder):
    command = " ".join(ielmscan(*SCAN_TO_STDOUT)) + " 2> err.txt | head -1; echo ${PIPESTATUS[0]} > status.txt"
    out = subprocess.run(["bash", "-c", command], cwd=folder, capture_output=True, text=True, timeout=300)
    assert out.stdout.startswith("chr1\t") and len(out.stdout.splitlines()) == 1
    assert (folder / "err.txt").read_text() == ""
    assert (folder / "status.txt").read_text().strip() in ("0", "141")  # all written before head left, or SIGPIPE


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("args", [SCAN_TO_STDOUT, PREDICT], ids=["scan -o -", "predict"])
def test_a_full_standard_output_is_one_line(args, folder):
    before = snapshot(folder)
    with open("/dev/full", "w") as full:
        proc = subprocess.run(ielmscan(*args), cwd=folder, stdout=full, stderr=subprocess.PIPE, text=True,
                              timeout=300)
    assert proc.returncode == 1
    assert proc.stderr == "ielmscan: error: cannot write to standard output: No space left on device\n"
    unchanged_but_the_index(folder, before)


@pytest.mark.slow
@pytest.mark.parametrize("args", [SCAN_TO_STDOUT, PREDICT], ids=["scan -o -", "predict"])
def test_a_closed_standard_output_is_one_line(args, folder):
    before = snapshot(folder)
    command = " ".join(ielmscan(*args)) + " >&-"
    proc = subprocess.run(["bash", "-c", command], cwd=folder, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert proc.stderr.startswith("ielmscan: error: cannot write to standard output: it is closed")
    assert len(proc.stderr.splitlines()) == 1
    unchanged_but_the_index(folder, before)


@pytest.mark.slow
def test_a_scan_to_files_needs_no_standard_output(folder):
    # With stdout closed, the next file opened would take its number: the scan must still write its files, and
    # nothing meant for stdout or stderr may land in them.
    command = " ".join(ielmscan("g.fa", "--model", "model", "-o", "out", "-t", "0")) + " >&- 2>&-"
    proc = subprocess.run(["bash", "-c", command], cwd=folder, capture_output=True, timeout=300)
    assert proc.returncode == 0
    assert json.loads((folder / "out.json").read_text())["regions"] >= 1
    assert all(line.count("\t") == 9 for line in (folder / "out.bed").read_text().splitlines())
    with pyBigWig.open(str(folder / "out.bw")) as bw:
        assert bw.chroms() == {"chr1": 1_500}
