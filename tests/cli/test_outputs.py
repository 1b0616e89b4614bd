"""Every command that writes, as a user meets it: no output replaces an input (the same file through a relative
path, a link or a hard link, or a file of a bundle), nor an earlier output or a folder the command did not make
without `--force` (the shared option of `ielmscan/cli/common.py`); a refused run leaves every file as it was."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ielmscan.cli import app
from ielmscan.inference.scan import ScanParams, run_scan
from ielmscan.io.genome import Genome
from ielmscan.io.synthetic import write_synthetic_genome
from ielmscan.model.bundle import load_bundle

from tests.bundles import labelled_fastas, random_bundle

runner = CliRunner()


def snapshot(folder: Path) -> dict[str, bytes | str | None]:
    """Every entry under ``folder``, hidden ones too: a file's bytes, a link's target, None for a folder."""
    return {str(p.relative_to(folder)): (os.readlink(p) if p.is_symlink() else None if p.is_dir() else p.read_bytes())
            for p in sorted(folder.rglob("*"))}


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A user's folder: genome (indexed), regions, a bundle, labelled sequences and an earlier scan `run`."""
    monkeypatch.chdir(tmp_path)
    genome = write_synthetic_genome(tmp_path / "g.fa", {"chr1": 1_500}, seed=1)
    Genome.open(genome).close()
    (tmp_path / "loci.bed").write_text("chr1\t0\t900\n")
    bundle = random_bundle(tmp_path / "model", ks=(3,), hidden=16)
    labelled_fastas(tmp_path, n=8)
    for prefix in ("run", "scans/genome_metrics"):  # the second: a scan whose manifest takes a report's name
        Path(prefix).parent.mkdir(exist_ok=True)
        run_scan(genome, bundle, ScanParams(window=100, stride=50, threshold=0.5), prefix)
    (tmp_path / "truth.bed").write_text("chr1\t100\t300\n")
    return tmp_path


def model_init(*args: str) -> list[str]:
    return ["model", "init", "--k", "3", "--hidden", "16", "--layers", "1", "--heads", "2", *args]


SCAN = ["scan", "g.fa", "--model", "model", "--window", "100", "-q"]
EVALUATE = ["evaluate", "--pos", "pos.fa", "--neg", "neg.fa", "--model", "model", "--no-baselines", "--device", "cpu"]
TRAIN = ["train", "--pos", "pos.fa", "--neg", "neg.fa", "--k", "3", "--hidden", "16", "--layers", "1", "--heads", "2",
         "--epochs", "1", "-q"]


def hard_link(src: str, dst: str):
    return lambda folder: os.link(folder / src, folder / dst)


def sym_link(src: str, dst: str):
    return lambda folder: (folder / dst).symlink_to(folder / src)


def user_file(name: str):
    return lambda folder: (folder / name).write_text("chr1\t0\t10\tmy own notes\n")


def folder_with(name: str, files: dict[str, str]):
    def make(folder: Path) -> None:
        (folder / name).mkdir()
        for file, text in files.items():
            (folder / name / file).write_text(text)
    return make


def earlier_dataset(folder: Path) -> None:
    folder_with("ds", {"train.pos.fa": ">p\n" + "ACGT" * 50 + "\n"})(folder)
    (folder / "ds" / "dataset.json").write_text(json.dumps({"files": {"train.pos.fa": {}}}))


# (case, set-up, arguments, words the one-line error must hold); every case exits 1 and changes no file.
REFUSED = [
    ("scan: README recipe, PREFIX.bed is the --regions BED", None,
     [*SCAN, "--regions", "loci.bed", "-o", "loci"], ["loci.bed", "would overwrite the input loci.bed"]),
    ("scan: PREFIX.bed is a hard link to the --regions BED", hard_link("loci.bed", "other.bed"),
     [*SCAN, "--regions", "loci.bed", "-o", "other"], ["other.bed", "input loci.bed"]),
    ("scan: PREFIX.bed is a symbolic link to the --regions BED", sym_link("loci.bed", "other.bed"),
     [*SCAN, "--regions", "loci.bed", "-o", "other"], ["other.bed", "input loci.bed"]),
    ("scan: -o BUNDLE/ensemble replaces the bundle's manifest", None,
     [*SCAN, "-o", "model/ensemble"], ["model/ensemble.json", "would overwrite the input"]),
    ("scan: a file of the user's own at PREFIX.bed, without --force", user_file("mine.bed"),
     [*SCAN, "-o", "mine"], ["mine.bed", "already exists", "--force"]),
    ("scan: --force never replaces an input", None,
     [*SCAN, "--regions", "loci.bed", "-o", "loci", "--force"], ["would overwrite the input loci.bed"]),
    ("scan: a folder in the way of PREFIX.bed", folder_with("x.bed", {}),
     [*SCAN, "-o", "x", "--force"], ["x.bed is a folder"]),
    ("predict: -o the FASTA", None,
     ["predict", "pos.fa", "--model", "model", "-o", "pos.fa", "--device", "cpu"], ["pos.fa", "would overwrite the input"]),
    ("predict: -o a relative path to the FASTA", folder_with("sub", {}),
     ["predict", "pos.fa", "--model", "model", "-o", "sub/../pos.fa", "--force"], ["would overwrite the input pos.fa"]),
    ("predict: -o a file of the bundle", None,
     ["predict", "pos.fa", "--model", "model", "-o", "model/k3.safetensors", "--force"], ["model/k3.safetensors"]),
    ("predict: an earlier table without --force", lambda folder: (folder / "p.tsv").write_text("old\n"),
     ["predict", "pos.fa", "--model", "model", "-o", "p.tsv"], ["p.tsv already exists", "--force"]),
    ("evaluate: -o the model bundle", None,
     [*EVALUATE, "-o", "model", "--force"], ["output model would overwrite the input model"]),
    ("evaluate: -o a folder it did not make", folder_with("mine", {"notes.txt": "mine"}),
     [*EVALUATE, "-o", "mine"], ["mine exists and is not empty", "--force"]),
    ("evaluate --scan: an earlier report without --force", folder_with("rep", {"genome_metrics.json": "{}"}),
     ["evaluate", "--scan", "run", "--truth", "truth.bed", "-o", "rep"], ["rep already exists", "--force"]),
    ("evaluate --scan: -o the folder of its scan", None,
     ["evaluate", "--scan", "run", "--truth", "truth.bed", "-o", "."], [". exists and is not empty", "--force"]),
    ("evaluate --scan: -o a folder whose report file is the scan's manifest", None,
     ["evaluate", "--scan", "scans/genome_metrics", "--truth", "truth.bed", "-o", "scans", "--force"],
     ["scans/genome_metrics.json would overwrite the input scans/genome_metrics.json"]),
    ("model init: over an earlier bundle (its trained weights)", None,
     model_init("-o", "model"), ["model bundle model already exists", "--force"]),
    ("model init: over a folder that is not a bundle, even with --force", folder_with("data", {"precious.txt": "x"}),
     model_init("-o", "data", "--force"), ["data", "is not a model bundle"]),
    ("model init: over a file that is not the bundle's, even with --force", lambda folder: (folder / "model" / "k5.safetensors").write_text("mine"),
     model_init("--k", "5", "-o", "model", "--force"), ["model/k5.safetensors is not part of the earlier model bundle"]),
    ("model combine: -o one of its bundles", None,
     ["model", "combine", "model", "model", "-o", "model", "--force"], ["would overwrite the input model"]),
    ("pretrain: -o its FASTA", None,
     ["pretrain", "pos.fa", "-o", "pos.fa", "--force"], ["output pos.fa would overwrite the input pos.fa"]),
    ("pretrain: -o the --init bundle", None,
     ["pretrain", "pos.fa", "--init", "model", "-o", "model", "--force"], ["would overwrite the input model"]),
    ("train: over an earlier bundle without --force", None,
     [*TRAIN, "-o", "model"], ["model bundle model already exists", "--force"]),
    ("train: -o the --init bundle", None,
     [*TRAIN, "--init", "model", "-o", "model", "--force"], ["would overwrite the input model"]),
    ("train: --cv-report over a training FASTA", None,
     [*TRAIN, "--cv", "2", "--cv-report", "neg.fa", "--force"], ["output neg.fa would overwrite the input neg.fa"]),
    ("dataset build: over an earlier data set without --force", earlier_dataset,
     ["dataset", "build", "--pos-fasta", "pos.fa", "--neg-fasta", "neg.fa", "--window", "100", "-o", "ds"],
     ["data set ds already exists", "--force"]),
    ("dataset build: over an input that the earlier data set owns", earlier_dataset,
     ["dataset", "build", "--pos-fasta", "ds/train.pos.fa", "--neg-fasta", "neg.fa", "--window", "100", "-o", "ds",
      "--force"], ["ds/train.pos.fa would overwrite the input ds/train.pos.fa"]),
    ("dataset audit: --json over a FASTA", None,
     ["dataset", "audit", "pos.fa", "neg.fa", "--json", "neg.fa", "--force"], ["output neg.fa would overwrite the input"]),
]


@pytest.mark.parametrize("setup, args, words", [case[1:] for case in REFUSED], ids=[case[0] for case in REFUSED])
def test_a_refused_output_exits_1_names_the_file_and_changes_nothing(work, setup, args, words):
    if setup is not None:
        setup(work)
    before = snapshot(work)
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("ielmscan: error: ") and len(result.stderr.strip().splitlines()) == 1
    for word in words:
        assert word in result.stderr
    assert snapshot(work) == before  # inputs byte for byte, no output or temporary file left


def test_force_replaces_an_earlier_scan_and_leaves_no_backups(work):
    before = json.loads((work / "run.json").read_text())
    result = runner.invoke(app, [*SCAN, "-o", "run", "--stride", "25", "--force"])
    assert result.exit_code == 0, result.output
    after = json.loads((work / "run.json").read_text())
    assert before["parameters"]["stride"] == 50 and after["parameters"]["stride"] == 25
    assert not [p.name for p in work.iterdir() if p.name.startswith(".")]


def test_force_replaces_an_earlier_bundle_keeping_files_that_are_not_its_own(work):
    (work / "model" / "README.txt").write_text("my notes")
    result = runner.invoke(app, model_init("--k", "4", "-o", "model", "--force"))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (work / "model").iterdir()) == ["README.txt", "ensemble.json", "k4.safetensors"]
    assert (work / "model" / "README.txt").read_text() == "my notes"
    assert load_bundle(work / "model").ks == [4]


def test_a_rerun_replaces_its_own_earlier_files_but_folders_need_force(work):
    # Files an earlier run wrote (a scan's set, vouched for by its manifest; a predict table) are results:
    # running the command again replaces them.
    for args in ([*SCAN, "-o", "again"], ["predict", "pos.fa", "--model", "model", "-o", "p.tsv", "--device", "cpu"]):
        assert runner.invoke(app, args).exit_code == 0
        assert runner.invoke(app, args).exit_code == 0
    # A report folder is replaced only with --force.
    args = [*EVALUATE, "-o", "rep"]
    assert runner.invoke(app, args).exit_code == 0
    first = snapshot(work)
    again = runner.invoke(app, args)
    assert again.exit_code == 1 and "--force" in again.stderr and snapshot(work) == first
    assert runner.invoke(app, [*args, "--force"]).exit_code == 0


def test_model_calibrate_rewrites_its_bundle_in_place_and_keeps_other_files(work):
    (work / "model" / "README.txt").write_text("my notes")
    write_synthetic_genome(work / "big.fa", {"chr1": 300_000}, seed=2)
    result = runner.invoke(app, ["model", "calibrate", "model", "--background", "big.fa", "--windows", "1000",
                                 "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (work / "model").iterdir()) == ["README.txt", "calibration.safetensors",
                                                                   "ensemble.json", "k3.safetensors"]


def test_a_killed_scans_temporary_files_are_removed_by_the_next_run_of_that_prefix(work):
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    alive = os.getppid()
    stale = [work / f".out.bed.tmp-{child.pid}-0123abcd", work / f".out.bw.tmp-{child.pid}-89abcdef"]
    running = work / f".out.bed.tmp-{alive}-0123abcd"
    for path in (*stale, running):
        path.write_text("partial")
    result = runner.invoke(app, [*SCAN, "-o", "out"])
    assert result.exit_code == 0, result.output
    assert not any(p.exists() for p in stale) and running.exists()


@pytest.mark.slow
def test_a_scan_killed_outright_leaves_temporary_files_that_the_next_run_removes(tmp_path):
    # SIGKILL (the out-of-memory killer, a scheduler's hard kill) allows no clean-up: the next run of the prefix
    # must remove what the dead process left.
    import signal
    import time

    random_bundle(tmp_path / "model", ks=(3,), hidden=16)
    fasta = write_synthetic_genome(tmp_path / "big.fa", {"chr1": 400_000}, seed=2)
    scan = [sys.executable, "-m", "ielmscan", "scan", str(fasta), "--model", str(tmp_path / "model"), "-o",
            str(tmp_path / "out"),
            "--stride", "10", "--chunk-size", "20000", "--device", "cpu", "--threshold", "0.5", "-q"]
    proc = subprocess.Popen(scan, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".out.*")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)  # until the scan has opened its temporary outputs
    assert proc.poll() is None, f"the scan finished before it could be killed: {proc.communicate()[1]}"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    left = sorted(p.name for p in tmp_path.glob(".out.*"))
    assert left, "a killed scan leaves its temporary files"
    # --force: a scan that keeps a checkpoint of its work would otherwise ask for --resume.
    rerun = subprocess.run([*scan, "--force", "--chrom", "chr1", "--regions", str(_small_bed(tmp_path))],
                           capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert not list(tmp_path.glob(".out.*"))  # the dead process's files are gone, and the new run left none
    assert json.loads((tmp_path / "out.json").read_text())["regions"] >= 0


def _small_bed(folder: Path) -> Path:
    bed = folder / "small.bed"
    bed.write_text("chr1\t0\t5000\n")
    return bed
