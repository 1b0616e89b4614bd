"""What C libraries (htslib through pysam, libBigWig through pyBigWig) write straight to file descriptor 2.

The library never prints: their messages are caught here, read by the caller (an htslib warning can be the only
sign of a bad file, a libBigWig line the only sign of a failed write) and never reach the user's terminal.
:func:`one_line` makes one line of them (and of pysam's errors) for an error message; :func:`quiet_htslib`
silences htslib for passes whose failures are said otherwise.
"""
from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator

import pysam

__all__ = ["CapturedText", "captured_stderr", "one_line", "quiet_htslib"]


class CapturedText:
    """The text caught by :func:`captured_stderr` (set when its ``with`` block ends)."""

    text = ""


@contextlib.contextmanager
def captured_stderr() -> Iterator[CapturedText]:
    """Send file descriptor 2 to a temporary file for the ``with`` block; the first 8 kB are kept as text.

    The whole process is affected: keep the block around the C call only.
    """
    log = CapturedText()
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 (embedded interpreters): nothing to capture
        yield log
        return
    try:
        sink = tempfile.TemporaryFile()
    except OSError:  # no room for even an empty file (a full /tmp): drop the messages rather than show them
        sink = open(os.devnull, "w+b")
    with sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield log
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            with contextlib.suppress(OSError):
                sink.seek(0)
                log.text = sink.read(8192).decode("utf-8", "replace")


def one_line(*parts: str) -> str:
    """Join messages (htslib log lines, pysam errors) into one line without their prefixes."""
    out: list[str] = []
    for part in parts:
        for line in part.splitlines():
            line = line.strip().strip("'\"")
            if "samtools returned with error" in line:
                line = line.split("stderr=", 1)[-1]
            line = re.sub(r"^\[[A-Z]::\w+\]\s*", "", line).strip()
            if line and line not in out:
                out.append(line)
    return "; ".join(out) or "unknown error"


@contextlib.contextmanager
def quiet_htslib() -> Iterator[None]:
    """Keep htslib's warnings and error lines off the terminal for the ``with`` block: for reads whose failures
    the raised error says, or that an earlier pass has checked.

    (Through htslib's verbosity, not file descriptor 2: reads may run in a background thread beside the progress
    bar.)
    """
    previous = pysam.set_verbosity(0)
    try:
        yield
    finally:
        pysam.set_verbosity(previous)
