"""Tests for ielmscan.io.write_errors: failures to write an output named as the user knows it, errno kept;
standard output as a named output."""
from __future__ import annotations

import errno
import io
import os
import sys

import pytest

import ielmscan.io.write_errors as write_errors_mod
from ielmscan.errors import OutputError


class Full(io.StringIO):
    """A text stream on a full disk."""

    def write(self, text: str) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    flush = write  # type: ignore[assignment]


def test_a_named_output_names_itself_and_keeps_the_errno() -> None:
    out = write_errors_mod.NamedOutput(Full(), "results/out.bed")
    with pytest.raises(OutputError, match=r"^cannot write results/out.bed: No space left on device$") as caught:
        out.write("chr1\t0\t10\n")
    assert caught.value.errno == errno.ENOSPC
    with pytest.raises(OutputError) as closed:
        write_errors_mod.NamedOutput(None, "x").write("a")
    assert closed.value.errno == errno.EBADF


def test_a_broken_pipe_stays_recognisable() -> None:
    class Gone(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    with pytest.raises(OutputError) as caught:
        write_errors_mod.StandardOutput(Gone()).write("x")
    assert caught.value.errno == errno.EPIPE and "standard output" in str(caught.value)


def test_standard_output_follows_sys_stdout_and_counts_what_it_passes_on(monkeypatch) -> None:
    target = io.StringIO()
    before = write_errors_mod.StandardOutput.handed_over
    monkeypatch.setattr(sys, "stdout", write_errors_mod.StandardOutput(target))  # as the CLI installs it
    print("a line")
    write_errors_mod.StandardOutput().write("more\n")  # follows sys.stdout, looks through it: counted once
    assert target.getvalue() == "a line\nmore\n"
    assert write_errors_mod.StandardOutput.handed_over - before == len("a line\nmore\n")


def test_discarding_pending_output_leaves_a_replaced_stdout_alone(monkeypatch) -> None:
    replaced = io.StringIO()
    monkeypatch.setattr(sys, "stdout", write_errors_mod.StandardOutput(replaced))
    write_errors_mod.discard_pending_output()  # a test runner's stream: nothing to do, and no error
    print("still here")
    assert replaced.getvalue() == "still here\n"


def test_a_closed_stream_fails_only_when_written() -> None:
    out = write_errors_mod.StandardOutput(None)
    out.flush()  # a command that prints nothing does not care that stdout is closed
    assert out.closed and not hasattr(out, "isatty")  # what libraries that only look at it see (colorama)
    with out:
        pass
    with pytest.raises(OutputError, match="standard output: it is closed"):
        out.write("a result\n")

