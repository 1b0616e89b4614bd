"""Failures to write an output, said as one :class:`OutputError` naming the output as the user knows it, errno
kept: text streams that fail so (:class:`NamedOutput`; :class:`StandardOutput` for standard output), and the
cause a write to a path gets now (for the C libraries that do not say)."""
from __future__ import annotations

import contextlib
import errno
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from ielmscan.errors import OutputError

__all__ = ["NamedOutput", "StandardOutput", "discard_pending_output", "failed_write", "output_error"]


def output_error(message: str, cause: OSError) -> OutputError:
    """OutputError with ``message``, keeping the errno of ``cause`` (a broken pipe must stay recognisable)."""
    if isinstance(cause, OutputError):
        return cause
    error = OutputError(f"{message}: {cause.strerror or cause}")
    error.errno = cause.errno
    return error


class NamedOutput:
    """A text stream whose failures to write (disk full, quota, stream closed, reader gone) raise
    :class:`OutputError` naming the output as the user knows it, errno kept.

    A context manager: leaving it closes the stream (``close=False``: only flushes it).
    """

    def __init__(self, stream: TextIO | None, name: str | Path, close: bool = True) -> None:
        self._stream = stream
        self.name = str(name)
        self._close = close
        self.written = 0  # characters handed to the stream

    def _target(self) -> TextIO:
        if self._stream is None:
            raise self._error(OSError(errno.EBADF, "it is closed; redirect it to a file or /dev/null"))
        return self._stream

    def _error(self, exc: OSError) -> OutputError:
        return output_error(f"cannot write {self.name}", exc)

    def write(self, text: str) -> int:
        try:
            count = self._target().write(text)
        except OSError as exc:
            raise self._error(exc) from exc
        self.written += len(text)
        return count

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        try:
            stream = self._target()
        except OutputError:
            return  # a closed stream: only writing to it is an error
        try:
            stream.flush()
        except OSError as exc:
            raise self._error(exc) from exc

    def close(self) -> None:
        if not self._close:
            self.flush()
            return
        try:
            stream = self._target()
        except OutputError:
            return
        try:
            stream.close()
        except OSError as exc:
            raise self._error(exc) from exc

    def __getattr__(self, name: str) -> Any:  # isatty, encoding, fileno, ... of the stream
        try:
            stream = self._target()
        except OutputError:  # closed: libraries that only look (colorama asks .closed) must not fail
            if name == "closed":
                return True
            raise AttributeError(name) from None
        return getattr(stream, name)

    def __enter__(self) -> NamedOutput:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        elif self._close:
            with contextlib.suppress(OSError):
                self._target().close()


_CURRENT: Any = object()  # StandardOutput's default: whatever sys.stdout is at each write


class StandardOutput(NamedOutput):
    """Standard output as a :class:`NamedOutput`: ``stream`` (None: closed), or by default ``sys.stdout`` as
    it is at each write (test runners replace it; a StandardOutput found there is looked through).

    The CLI puts one in place of ``sys.stdout`` while a command runs, so every result printed (``print``,
    ``typer.echo``, a table, a BED) fails the same way. :attr:`handed_over` counts the characters every
    StandardOutput of the process has passed on: whether results were streamed when a run is stopped.
    """

    handed_over = 0

    def __init__(self, stream: TextIO | None = _CURRENT) -> None:
        super().__init__(None if stream is _CURRENT else stream, "to standard output", close=False)
        self._follow = stream is _CURRENT

    def _target(self) -> TextIO:
        if self._follow:
            current = sys.stdout
            self._stream = current._target() if isinstance(current, StandardOutput) else current
        return super()._target()

    def write(self, text: str) -> int:
        count = super().write(text)
        StandardOutput.handed_over += len(text)
        return count


def discard_pending_output() -> None:
    """After a command failed: point the process's real standard output at /dev/null, so that what is still
    buffered for it goes nowhere quietly instead of failing again, with a traceback, when Python exits.

    Only the process's own stdout (under :class:`StandardOutput` or not); a test runner's stream is left alone.
    """
    stream = sys.stdout
    if isinstance(stream, StandardOutput):
        stream = stream._stream if not stream._follow else sys.__stdout__
    if stream is None or stream is not sys.__stdout__:
        return
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)


def failed_write(path: Path, library: str) -> OSError:
    """The error a probe appended to ``path``, a temporary file discarded anyway, gets now (a full disk, a
    quota, a file-size limit), errno kept; a generic one naming ``library`` if the probe succeeds."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, bytes(1 << 16))  # more than a block: a full disk has none to give
        finally:
            os.close(fd)
    except OSError as exc:
        return exc
    return OSError(errno.EIO, f"{library} could not write it (is the disk full?)")

