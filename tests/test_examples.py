"""The scripts in examples/ run as documented (the cluster examples: tests/test_workflow.py)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


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
