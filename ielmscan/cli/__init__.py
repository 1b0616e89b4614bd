"""Command-line interface: parses and validates, then calls one library function per command; no numerics.

``ielmscan genome.fa ...`` is shorthand for ``ielmscan scan genome.fa ...``. The commands live in
``scan`` (scan), ``learn`` (train, pretrain, predict), ``evaluate``, ``model`` (model init, info, combine,
cascade, calibrate), ``dataset`` (dataset build, audit) and ``dnabert`` (import-dnabert); importing them
registers them on the shared app, scan first so that ``--help`` lists it first.
Nothing heavy (torch, numba) is imported here, so ``ielmscan --help`` answers at once.
"""
from __future__ import annotations

import os
import signal
import sys

from ielmscan.cli import scan as _scan  # noqa: F401  (registers `scan` first)
from ielmscan.cli import learn as _learn  # noqa: F401
from ielmscan.cli import evaluate as _evaluate  # noqa: F401
from ielmscan.cli import model as _model  # noqa: F401
from ielmscan.cli import dataset as _dataset  # noqa: F401
from ielmscan.cli import motifs as _motifs  # noqa: F401
from ielmscan.cli import variants as _variants  # noqa: F401
from ielmscan.cli import dnabert as _dnabert  # noqa: F401
from ielmscan.cli.common import BROKEN_PIPE_EXIT, app

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> None:
    """Console entry point: route ``ielmscan FASTA ...`` to ``ielmscan scan FASTA ...``."""
    args = list(sys.argv[1:] if argv is None else argv)
    commands = {info.name or info.callback.__name__ for info in app.registered_commands if info.callback}
    commands |= {group.name for group in app.registered_groups if group.name}
    # A lone "-" (FASTA on standard input) is an argument too: `scan` says why it needs a file.
    if args and (args[0] == "-" or not args[0].startswith("-")) and args[0] not in commands:
        args.insert(0, "scan")
    _occupy_closed_std_fds()
    try:
        app(args=args, prog_name="ielmscan")
    except SystemExit as done:
        if _reader_left(done) and hasattr(signal, "SIGPIPE"):
            # Our reader went away (`ielmscan ... | head`): end as Unix tools do, by SIGPIPE, silently.
            sys.stdout = sys.stderr = None  # nothing more to say, and no flush at exit to fail
            signal.signal(signal.SIGPIPE, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGPIPE)
        raise


def _reader_left(done: SystemExit) -> bool:
    """Whether the run ended because standard output's reader went away.

    Our own commands say so by their exit code; ``--help`` and ``--version`` (printed by rich and click)
    exit 1 while handling the broken pipe.
    """
    if done.code == BROKEN_PIPE_EXIT:
        return True
    cause = done.__context__
    while done.code == 1 and cause is not None:
        if isinstance(cause, BrokenPipeError):
            return True
        cause = cause.__context__
    return False


def _occupy_closed_std_fds() -> None:
    """Put /dev/null on any of file descriptors 0-2 that the caller closed (`ielmscan ... >&-`).

    Otherwise the next file opened would take that number, and whatever htslib or libBigWig writes to
    stderr, or anything written to stdout, would land in it. A closed stdout stays closed for results:
    Python saw it closed at start-up (``sys.stdout`` is None), and writing a result there is an error.
    """
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
