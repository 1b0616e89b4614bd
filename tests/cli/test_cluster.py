"""What a batch job does: scan in shards and merge, get killed and resume, stop at SIGTERM and go on."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ielmscan.cli import app
from ielmscan.io.score_store import read_store
from ielmscan.io.synthetic import write_synthetic_genome

from tests.bundles import random_bundle
from tests.scans import assert_same_outputs

runner = CliRunner()
FAST = ["--device", "cpu", "--precision", "fp32", "--threads", "1", "-q"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cluster")
    random_bundle(folder / "model", ks=(3,), hidden=16)
    write_synthetic_genome(folder / "g.fa", {"chr1": 30_000, "chr2": 8_000, "chr3": 120}, seed=4)
    result = runner.invoke(app, ["scan", str(folder / "g.fa"), "--model", str(folder / "model"), "--chunk-size",
                                 "2000", "--threshold", "0.5", "-o", str(folder / "single"), *FAST])
    assert result.exit_code == 0, result.output
    return folder


def scan_args(folder: Path, prefix: Path, *extra: str) -> list[str]:
    return ["scan", str(folder / "g.fa"), "--model", str(folder / "model"), "--chunk-size", "2000", "--threshold",
            "0.5", "-o", str(prefix), *FAST, *extra]


def test_three_shards_merged_on_the_command_line_equal_one_scan(folder, tmp_path):
    for i in (1, 2, 3):
        result = runner.invoke(app, scan_args(folder, tmp_path / f"part{i}", "--shard", f"{i}/3"))
        assert result.exit_code == 0, result.output
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(f"part{i}")) == [
            f"part{i}.json", f"part{i}.scores"]
    result = runner.invoke(app, ["merge", *(str(tmp_path / f"part{i}") for i in (3, 1, 2)), "-o",
                                 str(tmp_path / "merged")])
    assert result.exit_code == 0, result.output
    assert "regions" in result.stderr
    assert_same_outputs(tmp_path / "merged", folder / "single")


def test_merge_tabix_writes_the_indexed_files_of_a_tabix_scan(folder, tmp_path):
    for i in (1, 2):
        assert runner.invoke(app, scan_args(folder, tmp_path / f"part{i}", "--shard", f"{i}/2", "--workers",
                                            str(i))).exit_code == 0
    result = runner.invoke(app, ["merge", str(tmp_path / "part1"), str(tmp_path / "part2"), "-o",
                                 str(tmp_path / "merged"), "--tabix", "--bedgraph", "-q"])
    assert result.exit_code == 0, result.output
    assert runner.invoke(app, scan_args(folder, tmp_path / "single", "--tabix", "--bedgraph")).exit_code == 0
    for name in ("bed.gz", "bed.gz.tbi", "bedGraph.gz", "bedGraph.gz.tbi"):
        assert (tmp_path / f"merged.{name}").read_bytes() == (tmp_path / f"single.{name}").read_bytes(), name
    refused = runner.invoke(app, ["merge", str(tmp_path / "part1"), str(tmp_path / "part2"), "-o", "-", "--tabix"])
    assert refused.exit_code == 2 and "--tabix" in refused.stderr


@pytest.mark.parametrize("args, words", [
    (["--shard", "4/3"], "--shard"), (["--shard", "x"], "--shard"), (["--shard", "1/2", "-o", "-"], "-o PREFIX"),
    (["--resume", "-o", "-"], "-o PREFIX"),
])
def test_bad_cluster_options_are_one_line_option_errors(folder, tmp_path, args, words):
    result = runner.invoke(app, ["scan", str(folder / "g.fa"), "--model", str(folder / "model"), *args])
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and words in result.stderr


def test_merge_of_an_incomplete_set_names_what_is_missing(folder, tmp_path):
    assert runner.invoke(app, scan_args(folder, tmp_path / "p1", "--shard", "1/2")).exit_code == 0
    result = runner.invoke(app, ["merge", str(tmp_path / "p1"), "-o", str(tmp_path / "m")])
    assert result.exit_code == 1 and "2/2 missing" in result.stderr
    assert not list(tmp_path.glob("m*"))


def run_until_checkpointed(args: list[str], checkpoint: Path, chunks: int) -> subprocess.Popen:
    """Start the scan as its own process and return once ``chunks`` chunks are in its checkpoint."""
    proc = subprocess.Popen([sys.executable, "-m", "ielmscan", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            if len(read_store(checkpoint)[1]) >= chunks:
                return proc
        except Exception:  # not there yet, or a record half written
            pass
        time.sleep(0.02)
    proc.kill()
    raise AssertionError(f"the scan ended before {chunks} chunks were checkpointed: {proc.communicate()}")


@pytest.mark.slow
@pytest.mark.parametrize("chunks", [1, 9])
def test_kill_9_then_resume_equals_an_uninterrupted_scan(folder, tmp_path, chunks):
    prefix = tmp_path / "run"
    # Stride 10 makes each chunk slow enough to kill the process between two of them.
    args = scan_args(folder, prefix, "--stride", "10")
    proc = run_until_checkpointed(args, Path(f"{prefix}.checkpoint"), chunks)
    proc.kill()
    proc.communicate()
    assert not Path(f"{prefix}.json").exists()
    result = runner.invoke(app, [*args, "--resume"])
    assert result.exit_code == 0, result.output
    reference = tmp_path / "reference"
    assert runner.invoke(app, scan_args(folder, reference, "--stride", "10")).exit_code == 0
    assert_same_outputs(prefix, reference)
    assert not Path(f"{prefix}.checkpoint").exists()


@pytest.mark.slow
def test_sigterm_keeps_the_checkpoint_exits_143_and_the_rerun_without_resume_refuses(folder, tmp_path):
    prefix = tmp_path / "run"
    args = scan_args(folder, prefix, "--stride", "10")
    proc = run_until_checkpointed(args, Path(f"{prefix}.checkpoint"), 2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143
    assert "--resume" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.checkpoint"]  # nothing that looks complete
    again = runner.invoke(app, args)
    assert again.exit_code == 1 and "--resume" in again.stderr
    assert runner.invoke(app, [*args, "--resume"]).exit_code == 0
    assert json.loads(Path(f"{prefix}.json").read_text())["regions"] >= 0
