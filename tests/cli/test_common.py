"""What every command shares (ielmscan/cli/common.py): usage errors in one line, failures to write standard
output, and what a stopped run says of its outputs."""
from __future__ import annotations

import errno
import io
import os

import pytest
import typer
from typer.testing import CliRunner

from ielmscan.cli import app
from ielmscan.cli.common import BROKEN_PIPE_EXIT, Terminated, friendly_errors
from ielmscan.errors import InputError
from ielmscan.io.write_errors import StandardOutput

runner = CliRunner()


@pytest.mark.parametrize("args, words", [
    (["scan", "g.fa", "--bogus"], ["no such option: --bogus", "'ielmscan scan --help'"]),
    (["scan", "g.fa", "--stride", "abc"], ["--stride"]),
    (["scan", "g.fa", "--threshold", "1.5"], ["--threshold"]),
    (["scan", "g.fa", "--precision", "fp8"], ["--precision", "fp8"]),
    (["scan", "g.fa", "-o"], ["-o", "requires an argument"]),
    (["predict", "x.fa", "--threads", "0"], ["--threads", "'ielmscan predict --help'"]),
    (["model", "init"], ["missing option '--output'"]),
    (["model", "nosuch"], ["no such command 'nosuch'", "'ielmscan model --help'"]),
    (["dataset", "audit", "--near-k", "4", "a.fa"], ["--near-k"]),
])
def test_a_usage_error_is_one_line_and_exit_2(args, words, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ielmscan: error: "), result.stderr
    for word in words:
        assert word in lines[0]
    assert result.stdout == "" and not list(tmp_path.iterdir())


def test_help_stays_typers_and_a_command_without_arguments_shows_it():
    assert runner.invoke(app, ["scan", "--help"]).exit_code == 0
    bare = runner.invoke(app, ["scan"])
    assert bare.exit_code == 2 and "Usage: ielmscan scan" in bare.output and "error" not in bare.output


def test_version_into_a_full_stdout_is_an_error(monkeypatch):
    class Full(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("ielmscan.cli.common.sys.stdout", Full())
    with pytest.raises(SystemExit) as done:
        app(args=["--version"], prog_name="ielmscan", standalone_mode=True)
    assert done.value.code == 1


@friendly_errors
def _streams_then(stop: BaseException, lines: int) -> None:
    for _ in range(lines):
        StandardOutput().write("chr1\t0\t10\n")
    raise stop


@pytest.mark.parametrize("stop, code, how", [(Terminated(), 143, "terminated (SIGTERM)"),
                                             (KeyboardInterrupt(), 130, "interrupted")])
def test_a_stopped_run_says_whether_results_were_already_streamed(stop, code, how, capsys):
    with pytest.raises(typer.Exit) as done:
        _streams_then(stop, 0)
    assert done.value.exit_code == code
    assert capsys.readouterr().err == f"ielmscan: error: {how}; no outputs were written\n"
    with pytest.raises(typer.Exit):
        _streams_then(stop, 2)
    err = capsys.readouterr().err
    assert err.startswith(f"ielmscan: error: {how}; the lines already written to standard output are incomplete")
    assert "no outputs were written" not in err
    capsys.readouterr()


@pytest.mark.parametrize("failure, code, message", [
    (BrokenPipeError(errno.EPIPE, "Broken pipe"), BROKEN_PIPE_EXIT, ""),  # the reader left: nothing to say
    (OSError(errno.ENOSPC, "No space left on device"), 1, "ielmscan: error: No space left on device\n"),
    (OSError(errno.EACCES, "Permission denied", "out.bed"), 1, "ielmscan: error: Permission denied: out.bed\n"),
    (InputError("FASTA g.fa has no sequences"), 1, "ielmscan: error: FASTA g.fa has no sequences\n"),
])
def test_library_failures_become_one_line_or_a_quiet_broken_pipe(failure, code, message, capsys):
    with pytest.raises(typer.Exit) as done:
        _streams_then(failure, 0)
    assert done.value.exit_code == code
    assert capsys.readouterr().err == message
