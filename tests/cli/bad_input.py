"""The harness of the bad-input tables (`tests/cli/test_bad_input_*.py`): one row per odd input a user may give.

A row names how to spoil the user's folder, the command line, the exit code it must end with and the words its
one-line message must hold. The harness checks what every refusal promises: the exit code, one line on stderr
that starts with ``ielmscan: error:`` (exit 1) and holds the words, no traceback, nothing from htslib or
libBigWig on the terminal, and every file of the folder as it was (no output left behind, none changed).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ielmscan.cli import app
from ielmscan.io.synthetic import write_synthetic_genome

runner = CliRunner()


def genome_folder(folder: Path, bundle: Path) -> Path:
    """A user's folder with a good genome `g.fa` (not yet indexed) and a bundle `model` (a link to ``bundle``)."""
    write_synthetic_genome(folder / "g.fa", {"chr1": 1_500}, seed=1)
    (folder / "model").symlink_to(bundle)
    return folder


def nothing(folder: Path) -> None:
    """The spoiler of a row whose bad input is on the command line only."""


def snapshot(folder: Path) -> dict[str, bytes | str | None]:
    """Every entry under ``folder``, hidden ones too: a file's bytes, a link's target, None for a folder."""
    return {str(p.relative_to(folder)): (os.readlink(p) if p.is_symlink() else None if p.is_dir() else p.read_bytes())
            for p in sorted(folder.rglob("*")) if not (p.is_fifo() or p.is_socket())}


@dataclass(frozen=True)
class Case:
    """One bad input: ``spoil(folder)`` prepares it, ``args`` run in that folder, and what must come out."""

    name: str
    spoil: Callable[[Path], None]
    args: list[str]
    words: tuple[str, ...]
    exit_code: int = 1
    stdin: str | bytes | None = None
    # Files a refusal may legitimately leave, by name relative to the folder (e.g. an index built on the way).
    may_create: tuple[str, ...] = field(default=())


def cases(*rows: Case) -> pytest.MarkDecorator:
    """``@cases(Case(...), ...)`` parametrises a test over the rows, each shown by its name."""
    return pytest.mark.parametrize("case", rows, ids=[row.name for row in rows])


def check_refusal(case: Case, folder: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> str:
    """Run ``case`` in ``folder`` and assert everything a refusal promises; return the message line."""
    monkeypatch.chdir(folder)
    case.spoil(folder)
    capfd.readouterr()
    before = snapshot(folder)
    result = runner.invoke(app, case.args, input=case.stdin)
    after = snapshot(folder)
    raw = capfd.readouterr()  # what C libraries wrote straight to the file descriptors
    assert result.exit_code == case.exit_code, (result.exit_code, result.output)
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)
    message = result.stderr.strip()
    if case.exit_code in (1, 2):  # a refusal and an option error both say it in one line
        assert len(message.splitlines()) == 1, message
        assert message.startswith("ielmscan: error: "), message
    for word in case.words:
        assert word.lower() in message.lower(), (word, message)
    assert raw.err.strip() == "", raw.err
    for name in case.may_create:
        after.pop(name, None)
    assert after == before, sorted(set(after) ^ set(before)) or "a file changed"
    return message
