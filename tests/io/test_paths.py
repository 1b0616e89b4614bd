"""Tests for ielmscan.io.paths: writable folders, outputs that would replace an input, running processes, file digests."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ielmscan.errors import OutputError
from ielmscan.io.paths import can_create_files, check_not_inputs, check_outputs, file_sha256, pid_running


def test_writable_folder_accepts_files_and_probe_leaves_nothing(tmp_path):
    assert can_create_files(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_folder_marked_read_only_is_respected_even_for_root(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        assert not can_create_files(folder)
    finally:
        folder.chmod(0o755)


def test_missing_folder_accepts_nothing(tmp_path):
    assert not can_create_files(tmp_path / "absent")


# -- outputs against inputs ------------------------------------------------------------------------


def same_file_cases(tmp_path: Path) -> dict[str, tuple[Path, list[Path]]]:
    """Ways of naming an input as an output: (output, inputs)."""
    data = tmp_path / "data"
    data.mkdir()
    fasta = data / "seqs.fa"
    fasta.write_text(">a\nACGT\n")
    os.link(fasta, tmp_path / "hard.fa")
    (tmp_path / "soft.fa").symlink_to(fasta)
    (tmp_path / "linked").symlink_to(data, target_is_directory=True)
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "ensemble.json").write_text("{}")
    return {
        "the same path": (fasta, [fasta]),
        "a relative path": (Path(os.path.relpath(fasta)), [fasta]),
        "a path through .. ": (data / ".." / "data" / "seqs.fa", [fasta]),
        "a symbolic link to it": (tmp_path / "soft.fa", [fasta]),
        "a hard link to it": (tmp_path / "hard.fa", [fasta]),
        "a linked folder": (tmp_path / "linked" / "seqs.fa", [fasta]),
        "a file of an input folder": (bundle / "ensemble.json", [bundle]),
        "an input folder itself": (bundle, [None, bundle]),
    }


CASES = ["the same path", "a relative path", "a path through .. ", "a symbolic link to it", "a hard link to it",
         "a linked folder", "a file of an input folder", "an input folder itself"]


@pytest.mark.parametrize("case", CASES)
def test_an_output_that_is_an_input_is_refused_naming_both(tmp_path, case):
    output, inputs = same_file_cases(tmp_path)[case]
    for force in (False, True):
        with pytest.raises(OutputError) as caught:
            check_outputs([output], inputs, force=force)
        message = str(caught.value)
        assert f"output {output} would overwrite the input" in message and "--force never replaces" in message
        assert str(inputs[-1]) in message


def test_other_outputs_pass_and_existing_ones_need_force(tmp_path):
    fasta = tmp_path / "seqs.fa"
    fasta.write_text(">a\nACGT\n")
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "ensemble.json").write_text("{}")
    check_outputs([tmp_path / "seqs.tsv", bundle / "other.json", tmp_path / "absent" / "x"], [fasta, bundle, None])
    (tmp_path / "seqs.tsv").write_text("old")
    with pytest.raises(OutputError, match=r"seqs\.tsv already exists: --force replaces it"):
        check_outputs([tmp_path / "seqs.tsv"], [fasta])
    check_outputs([tmp_path / "seqs.tsv"], [fasta], force=True)
    with pytest.raises(OutputError, match="bundle is a folder"):
        check_outputs([bundle], [fasta], force=True)
    with pytest.raises(OutputError, match="would overwrite the input"):
        check_not_inputs([tmp_path / "x", fasta], [fasta])
    # A folder input counts with its entries, not with what its subfolders hold (DATASET/model of a
    # previous `train --dataset DATASET -o DATASET/model`): those are given separately when they are read.
    (bundle / "sub").mkdir()
    (bundle / "sub" / "ensemble.json").write_text("{}")
    check_not_inputs([bundle / "sub" / "ensemble.json"], [bundle])
    with pytest.raises(OutputError, match="would overwrite the input"):
        check_not_inputs([bundle / "sub" / "ensemble.json"], [bundle, bundle / "sub"])


def test_pid_running():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert pid_running(os.getpid()) and pid_running(1)
    assert not pid_running(child.pid)
    assert not pid_running(2**40)


def test_file_sha256_is_the_digest_of_the_bytes(tmp_path):
    import hashlib

    data = b">a\nACGT\n" * 10_000  # several read blocks
    path = tmp_path / "seqs.fa"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
    path.write_bytes(data + b"A")
    assert file_sha256(path) != hashlib.sha256(data).hexdigest()
