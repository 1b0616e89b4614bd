"""Labelled sets that cannot serve training or evaluation, as a new user gives them: one row each (harness:
bad_input.py). Each refusal names the file and what is wrong with the data, before any training."""
from __future__ import annotations

from pathlib import Path

import pytest

from ielmscan.io.fasta import read_fasta, write_fasta

from tests.bundles import labelled_fastas
from tests.cli.bad_input import Case, cases, check_refusal

TINY = ["--k", "3", "--hidden", "16", "--layers", "1", "--heads", "2", "--epochs", "1", "-q"]


@pytest.fixture
def folder(tmp_path: Path, random_bundle_dir: Path) -> Path:
    """A user's folder with 20 positives `pos.fa` and 20 negatives `neg.fa` (200 bp) and a bundle `model`."""
    labelled_fastas(tmp_path, n=20)
    (tmp_path / "model").symlink_to(random_bundle_dir)
    return tmp_path


def first_records(name: str, source: str, n: int):
    """A spoiler writing the first ``n`` records of ``source`` to ``name``."""
    return lambda d: write_fasta(d / name, read_fasta(d / source)[:n])


def all_n(d: Path) -> None:
    write_fasta(d / "masked.fa", [(f"m{i}", "N" * 200) for i in range(20)])


def both(*spoilers):
    return lambda d: [spoil(d) for spoil in spoilers]


def train(*args: str) -> list[str]:
    return ["train", *args, *TINY]


@cases(
    Case("train: a single positive", first_records("one.fa", "pos.fa", 1),
         train("--pos", "one.fa", "--neg", "neg.fa", "-o", "out"),
         ("one.fa", "1 usable distinct positive", "validation split", "at least 10")),
    Case("train: one record of each class",
         both(first_records("p1.fa", "pos.fa", 1), first_records("n1.fa", "neg.fa", 1)),
         train("--pos", "p1.fa", "--neg", "n1.fa", "-o", "out"), ("p1.fa", "at least 10 of each class")),
    Case("train: the same file as --pos and --neg", lambda d: None,
         train("--pos", "pos.fa", "--neg", "pos.fa", "-o", "out"),
         ("pos.fa", "both the positives and the negatives")),
    Case("train: identical copies as --pos and --neg",
         lambda d: (d / "copy.fa").write_bytes((d / "pos.fa").read_bytes()),
         train("--pos", "pos.fa", "--neg", "copy.fa", "-o", "out"), ("pos.fa", "copy.fa", "same 20", "must differ")),
    Case("train: all-N positives", all_n, train("--pos", "masked.fa", "--neg", "neg.fa", "-o", "out"),
         ("masked.fa", "none of the 20", "N")),
    Case("train: too few for --cv 5", both(first_records("p8.fa", "pos.fa", 8), first_records("n8.fa", "neg.fa", 8)),
         train("--pos", "p8.fa", "--neg", "n8.fa", "--cv", "5"), ("p8.fa", "--cv 5", "at least 13", "fewer folds")),
    Case("train: no negatives", lambda d: None, train("--pos", "pos.fa", "-o", "out"),
         ("pos.fa", "negatives", "--background")),
    Case("evaluate: a single record of each class",
         both(first_records("p1.fa", "pos.fa", 1), first_records("n1.fa", "neg.fa", 1)),
         ["evaluate", "--pos", "p1.fa", "--neg", "n1.fa", "--model", "model", "--device", "cpu"],
         ("p1.fa", "baselines", "at least 5", "--no-baselines")),
    Case("evaluate: one class only (the negatives all N)", all_n,
         ["evaluate", "--pos", "pos.fa", "--neg", "masked.fa", "--model", "model", "--device", "cpu", "--no-baselines",
          "-o", "report"], ("masked.fa", "none of the 20 negative", "usable")),
    Case("evaluate: the same file as --pos and --neg", lambda d: None,
         ["evaluate", "--pos", "pos.fa", "--neg", "pos.fa", "--model", "model", "-o", "report"],
         ("pos.fa", "both the positives and the negatives")),
    Case("model cascade: the same file as --pos and --neg", lambda d: None,
         ["model", "cascade", "model", "--pos", "pos.fa", "--neg", "pos.fa", "--device", "cpu"],
         ("pos.fa", "must differ")),
    Case("model cascade: all-N negatives", all_n,
         ["model", "cascade", "model", "--pos", "pos.fa", "--neg", "masked.fa", "--device", "cpu"],
         ("masked.fa", "none of the 20", "usable")),
)
def test_unusable_labelled_data_is_refused_in_one_line(case, folder, capfd, monkeypatch):
    check_refusal(case, folder, capfd, monkeypatch)
