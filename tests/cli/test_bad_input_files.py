"""Bad genome, sequence and interval files, as a new user gives them: one row each (harness: bad_input.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from ielmscan.io.synthetic import write_synthetic_genome

from tests.cli.bad_input import Case, cases, check_refusal


@pytest.fixture
def folder(tmp_path: Path, random_bundle_dir: Path) -> Path:
    """A user's folder with a good genome `g.fa` (not yet indexed) and a bundle `model`."""
    write_synthetic_genome(tmp_path / "g.fa", {"chr1": 1_500}, seed=1)
    (tmp_path / "model").symlink_to(random_bundle_dir)
    return tmp_path


def nothing(folder: Path) -> None:
    pass


@cases(
    Case("not a FASTA", lambda d: (d / "bad.fa").write_text("hello world\n"), ["scan", "bad.fa", "--model", "model", "-o", "out"],
         ("bad.fa",)),
)
def test_bad_file_is_refused_in_one_line(case, folder, capfd, monkeypatch):
    check_refusal(case, folder, capfd, monkeypatch)
