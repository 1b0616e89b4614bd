"""The command line as a user meets it: help, bad input, exit codes, an end-to-end run."""
from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pyBigWig
import pytest
from typer.testing import CliRunner

from ielmscan.cli import app, main
from ielmscan.cli.scan import summary_line
from ielmscan.inference.scorer import CPU_BATCH, GPU_BATCH
from ielmscan.io.fasta import write_fasta
from ielmscan.io.synthetic import write_synthetic_genome
from ielmscan.model.bundle import load_bundle

from tests.bundles import random_bundle

runner = CliRunner()


def torch_sees_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "bundle"
    random_bundle(path, ks=(3, 4), hidden=16)
    return path


@pytest.fixture
def genome(tmp_path):
    return write_synthetic_genome(tmp_path / "g.fa", {"chr1": 3_000, "chr2": 1_000}, seed=1)


def no_outputs(folder: Path, prefix: str = "out") -> bool:
    return not [p for p in folder.iterdir() if p.name.startswith((prefix, f".{prefix}"))]


def test_help_lists_commands_and_panels():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "scan" in result.stdout and "model" in result.stdout
    result = runner.invoke(app, ["scan", "--help"])
    assert result.exit_code == 0
    for panel in ("Input", "Model", "Scanning", "Output", "Performance"):
        assert panel in result.stdout
    assert "--max-n-frac" in result.stdout


@pytest.mark.parametrize("command, default", [
    (["scan"], "[default: the bundled trained model]"),
    (["scan"], f"[default: {CPU_BATCH} on CPU, {GPU_BATCH} on GPU]"),  # the help text spells the scorer's defaults
    (["predict"], "[default: the bundled trained model]"),
    (["model", "info"], "[default: the bundled trained model]"),
])
def test_help_shows_defaults_written_in_brackets(command, default):
    # Rich reads a bare "[...]" as markup and drops it; the help texts escape it.
    result = runner.invoke(app, [*command, "--help"], terminal_width=200)
    text = " ".join(result.stdout.replace("│", " ").split())
    assert default in text


def test_cli_module_does_not_import_torch_or_numba():
    code = "import sys, ielmscan.cli; print('torch' in sys.modules, 'numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("ielmscan ")


@pytest.mark.parametrize(
    "args, option",
    [
        (["--bogus"], "--bogus"),
        (["--stride", "300"], "--stride"),
        (["--threshold", "1.5"], "--threshold"),
        (["--max-n-frac", "-0.1"], "--max-n-frac"),
        (["--window", "400"], "--window"),  # longer than the members' positions allow
        (["--precision", "fp8"], "--precision"),
        (["--threads", "0"], "--threads"),
        (["--workers", "0"], "--workers"),
        (["--device", "cuda:0,cuda:0"], "--device"),  # a device twice
        (["--device", "cuda:0,cpu"], "--device"),  # devices of two kinds
        (["--device", "cuda:1", "--workers", "2"], "--workers"),  # workers are CPU scorers
        (["--tabix", "-o", "-"], "--tabix"),
        (["--tabix", "--shard", "1/2"], "--tabix"),  # a shard writes window scores: --tabix goes to merge
        (["--blacklist", "missing.bed"], "--blacklist"),
    ],
)
def test_bad_options_exit_2_and_name_the_option(genome, bundle_dir, tmp_path, args, option):
    result = runner.invoke(app, ["scan", str(genome), "--model", str(bundle_dir), "-o", str(tmp_path / "out"), *args])
    assert result.exit_code == 2
    # One line, as the README promises (Typer's own usage errors were a five-line box).
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("ielmscan: error: "), result.stderr
    assert option in result.stderr
    assert "Traceback" not in result.output
    assert no_outputs(tmp_path)


def test_end_to_end_scan_writes_the_three_outputs(genome, bundle_dir, tmp_path):
    result = runner.invoke(app, ["scan", str(genome), "--model", str(bundle_dir), "-o", str(tmp_path / "out"),
                                 "--device", "cpu", "--stride", "100", "--threshold", "0.5"])
    assert result.exit_code == 0, result.output
    for suffix in (".bed", ".bw", ".json"):
        assert (tmp_path / f"out{suffix}").is_file()
    manifest = json.loads((tmp_path / "out.json").read_text())
    assert manifest["parameters"]["stride"] == 100
    assert manifest["windows_scanned"] == (3_000 - 200) // 100 + 1 + (1_000 - 200) // 100 + 1 - manifest["windows_skipped"]
    assert "windows scored" in result.stderr  # the one-line summary


def test_summary_says_when_the_model_waited_for_its_input():
    manifest = {"bases": 1_000_000, "chromosomes": {"chr1": {}}, "windows_scanned": 19_997, "windows_skipped": 0,
                "regions": 12, "share_called": 0.0125, "parameters": {"threshold": 0.46}, "wall_seconds": 10.0,
                "windows_per_second": 1999.7, "input_wait_seconds": 0.1, "outputs": {"bed": "o.bed"}}
    assert "waited" not in summary_line(manifest)
    manifest["input_wait_seconds"] = 4.0
    assert "the model waited 4.0 s (40%) for reading and encoding" in summary_line(manifest)


def test_threads_option_sets_the_scoring_workers(genome, bundle_dir, tmp_path):
    result = runner.invoke(app, ["scan", str(genome), "--model", str(bundle_dir), "-o", str(tmp_path / "out"),
                                 "--device", "cpu", "-@", "3"])
    assert result.exit_code == 0, result.output
    parameters = json.loads((tmp_path / "out.json").read_text())["parameters"]
    assert (parameters["scoring_workers"], parameters["threads_per_worker"]) == (3, 1)


def test_quiet_prints_nothing_and_stdout_mode_prints_only_bed(genome, bundle_dir, tmp_path):
    result = runner.invoke(app, ["scan", str(genome), "--model", str(bundle_dir), "-o", "-", "-q", "-t", "0"])
    assert result.exit_code == 0
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines and all(len(line.split("\t")) == 10 for line in lines)


@pytest.mark.parametrize(
    "setup, args, message",
    [
        (lambda d: None, ["missing.fa"], "missing.fa"),
        (lambda d: (d / "bad.fa").write_text("hello world\n"), ["bad.fa"], "bad.fa"),
        (lambda d: None, ["g.fa", "--chrom", "chrX"], "chrX"),
        (lambda d: None, ["g.fa", "-o", "nosuchdir/out"], "nosuchdir"),
        (lambda d: (d / "broken").mkdir(), ["g.fa", "--model", "broken"], "broken"),
    ],
)
def test_bad_input_gives_one_line_and_no_outputs(genome, bundle_dir, tmp_path, monkeypatch, setup, args, message):
    monkeypatch.chdir(tmp_path)
    setup(tmp_path)
    if "--model" not in args:
        args = [*args, "--model", str(bundle_dir)]
    if "-o" not in args:
        args = [*args, "-o", "out"]
    result = runner.invoke(app, ["scan", *args])
    assert result.exit_code != 0
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1  # exit 1 or 2, one line
    assert result.stderr.startswith("ielmscan: error: ")
    assert no_outputs(tmp_path)


def test_without_a_default_model_the_scan_says_so(genome, tmp_path, monkeypatch):
    monkeypatch.setattr("ielmscan.model.bundle.default_bundle_path", lambda: None)
    result = runner.invoke(app, ["scan", str(genome), "-o", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "no trained default model" in result.stderr
    assert no_outputs(tmp_path)


def test_model_init_and_info(tmp_path):
    result = runner.invoke(app, ["model", "init", "--k", "3,5", "--layers", "1", "--hidden", "16", "-o", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    # Without size options a new bundle has iEnhancer-ELM's members (k = 3..6) of the shipped models' shape,
    # as train and pretrain do.
    assert runner.invoke(app, ["model", "init", "-o", str(tmp_path / "d")]).exit_code == 0
    shape = load_bundle(tmp_path / "d")
    assert shape.ks == [3, 4, 5, 6] and shape.window == 200
    assert {(m.config.num_layers, m.config.hidden_size, m.config.num_heads) for m in shape.members} == {(1, 64, 4)}
    info = runner.invoke(app, ["model", "info", str(tmp_path / "m")])
    assert info.exit_code == 0
    assert "k3" in info.stdout and "k5" in info.stdout and "sha256" in info.stdout
    bad = runner.invoke(app, ["model", "init", "--k", "3,x", "-o", str(tmp_path / "n")])
    assert bad.exit_code == 2 and "--k" in bad.stderr


def test_fasta_first_is_shorthand_for_scan(genome, bundle_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as done:
        main([str(genome), "--model", str(bundle_dir), "-q"])
    assert done.value.code == 0
    assert (tmp_path / "g.ielmscan.bed").is_file() and (tmp_path / "g.ielmscan.bw").is_file()


def test_console_script_runs(genome, bundle_dir, tmp_path):
    # The installed entry point, as a shell pipeline would call it.
    write_fasta(tmp_path / "one.fa", [("c", "ACGT" * 100)])
    proc = subprocess.run(
        [sys.executable, "-c", "from ielmscan.cli import main; main()", str(tmp_path / "one.fa"),
         "--model", str(bundle_dir), "-o", "-", "--threshold", "0"],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("c\t0\t400\t")


@pytest.mark.slow
def test_sigterm_mid_scan_exits_143_and_leaves_no_files(bundle_dir, tmp_path):
    # What a batch scheduler does at a job's time limit.
    import signal
    import time

    fasta = write_synthetic_genome(tmp_path / "big.fa", {"chr1": 400_000}, seed=2)
    proc = subprocess.Popen(
        [sys.executable, "-c", "from ielmscan.cli import main; main()", "scan", str(fasta), "--model",
         str(bundle_dir), "-o", str(tmp_path / "out"), "--stride", "10", "--chunk-size", "20000", "--device", "cpu"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".out*")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)  # wait until the scan has started writing its temporary outputs
    assert proc.poll() is None, "the scan finished before it could be interrupted"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143
    assert "terminated" in err and "Traceback" not in err
    # Nothing that looks complete; the finished chunks, if any, are kept for --resume (tests/cli/test_cluster.py).
    checkpoint = tmp_path / "out.checkpoint"
    if checkpoint.exists():
        assert "--resume" in err
        checkpoint.unlink()
    assert no_outputs(tmp_path)


def test_scan_window_defaults_to_the_models(genome, tmp_path):
    runner.invoke(app, ["model", "init", "--k", "3", "--hidden", "16", "--window", "120", "-o", str(tmp_path / "m")])
    result = runner.invoke(app, ["scan", str(genome), "--model", str(tmp_path / "m"), "-o", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "out.json").read_text())
    assert manifest["parameters"]["window"] == 120
    assert manifest["windows_scanned"] + manifest["windows_skipped"] == (3000 - 120) // 50 + 1 + (1000 - 120) // 50 + 1
    result = runner.invoke(app, ["scan", str(genome), "--model", str(tmp_path / "m"), "--stride", "150", "-o",
                                 str(tmp_path / "o2")])
    assert result.exit_code == 2 and "stride 150 is larger than the window 120" in result.stderr


def test_bedgraph_holds_the_bigwig_bins_and_needs_a_prefix(genome, bundle_dir, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["scan", str(genome), "--model", str(bundle_dir), "-o", str(out), "--bedgraph", "-q"])
    assert result.exit_code == 0, result.output
    lines = [line.split("\t") for line in (tmp_path / "out.bedGraph").read_text().splitlines()]
    with pyBigWig.open(str(tmp_path / "out.bw")) as bw:
        for chrom, start, end, value in lines:
            (stored,) = bw.intervals(chrom, int(start), int(end))
            assert (stored[0], stored[1]) == (int(start), int(end)) and abs(stored[2] - float(value)) < 5e-5
        assert len(lines) == sum(len(bw.intervals(c)) for c in bw.chroms())
    assert json.loads((tmp_path / "out.json").read_text())["outputs"]["bedGraph"] == str(tmp_path / "out.bedGraph")
    refused = runner.invoke(app, ["scan", str(genome), "--model", str(bundle_dir), "-o", "-", "--bedgraph"])
    assert refused.exit_code == 2 and "--bedgraph" in refused.stderr


def test_o_a_folder_writes_inside_it_named_after_the_genome(genome, bundle_dir, tmp_path, monkeypatch):
    # As MACS's --outdir: `-o results/` is a folder, not the prefix "results" beside it.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").mkdir()
    for output in ("results/", "results"):
        result = runner.invoke(app, ["scan", str(genome), "--model", str(bundle_dir), "-o", output, "-q"])
        assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["g.ielmscan.bed", "g.ielmscan.bw",
                                                                     "g.ielmscan.json"]
    assert not list(tmp_path.glob("results.*"))


def test_two_workers_tabix_and_a_blacklist_on_the_command_line(genome, bundle_dir, tmp_path, caplog):
    base = ["scan", str(genome), "--model", str(bundle_dir), "--device", "cpu", "--precision", "fp32", "-t", "0.01",
            "--chunk-size", "1000", "-@", "2", "--bedgraph"]
    assert runner.invoke(app, [*base, "-o", str(tmp_path / "one"), "-q"]).exit_code == 0
    result = runner.invoke(app, [*base, "-o", str(tmp_path / "two"), "--workers", "2", "--tabix", "-q"])
    assert result.exit_code == 0, result.output
    for text in ("bed", "bedGraph"):
        with gzip.open(tmp_path / f"two.{text}.gz", "rb") as fh:
            assert fh.read() == (tmp_path / f"one.{text}").read_bytes()
        assert (tmp_path / f"two.{text}.gz.tbi").is_file()
    assert (tmp_path / "one.bed").stat().st_size > 0
    parameters = json.loads((tmp_path / "two.json").read_text())["parameters"]
    assert (parameters["device"], parameters["devices"], parameters["scoring_workers"]) == ("cpu", ["cpu", "cpu"], 2)
    black = tmp_path / "black.bed"
    black.write_text("chr1\t1000\t1100\nchrUn\t0\t10\n")
    with caplog.at_level("WARNING"):
        result = runner.invoke(app, [*base, "-o", str(tmp_path / "masked"), "--blacklist", str(black)])
    assert result.exit_code == 0, result.output
    assert "blacklist" in caplog.text and "(chrUn)" in caplog.text  # ignored, with a warning
    assert "5 blacklisted" in result.stderr  # the windows starting at 850..1050 overlap [1000, 1100)
    assert json.loads((tmp_path / "masked.json").read_text())["windows_blacklisted"] == 5


@pytest.mark.skipif(torch_sees_cuda(), reason="CUDA is available here")
def test_a_gpu_list_without_cuda_is_one_line(genome, bundle_dir, tmp_path):
    result = runner.invoke(app, ["scan", str(genome), "--model", str(bundle_dir), "-o", str(tmp_path / "out"),
                                 "--device", "cuda:0,cuda:1"])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == ["ielmscan: error: device 'cuda:0' was asked for, but this torch sees no "
                                          "CUDA GPU"]
    assert no_outputs(tmp_path)
