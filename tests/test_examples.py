"""The scripts in examples/ run as documented."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ielmscan.io.synthetic import write_synthetic_genome

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_slurm_array_task_scans_its_chromosome_on_the_cpus_it_was_given(tmp_path):
    genome = write_synthetic_genome(tmp_path / "genome.fa", {"chr1": 3_000, "chr2": 2_000}, seed=3)
    (tmp_path / "chroms.txt").write_text("chr1\nchr2\n")
    # What SLURM sets for the second task of `sbatch --array=1-2 --cpus-per-task=2`; the console script
    # lives beside this Python.
    env = {**os.environ, "SLURM_ARRAY_TASK_ID": "2", "SLURM_CPUS_PER_TASK": "2",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(["bash", str(EXAMPLES / "slurm_scan.sh"), str(genome), str(tmp_path / "chroms.txt"),
                           str(tmp_path / "results")], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((tmp_path / "results" / "chr2.json").read_text())
    assert list(manifest["chromosomes"]) == ["chr2"]
    assert manifest["parameters"]["scoring_workers"] == 2
    assert (tmp_path / "results" / "chr2.bed").is_file() and (tmp_path / "results" / "chr2.bw").is_file()
    assert not (tmp_path / "results" / "chr1.json").exists()


def test_example_genome_script_writes_the_same_genome_every_time(tmp_path):
    for name in ("a.fa", "b.fa"):
        proc = subprocess.run([sys.executable, str(EXAMPLES / "make_example_genome.py"), str(tmp_path / name)],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "a.fa").read_text()
    assert text == (tmp_path / "b.fa").read_text()
    records = [chunk.split("\n", 1) for chunk in text.split(">")[1:]]
    lengths = {header.split()[0]: len(body.replace("\n", "")) for header, body in records}
    assert lengths == {"chrSyn1": 300_000, "chrSyn2": 150_000, "chrSynM": 16_569}
