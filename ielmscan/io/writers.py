"""Output files: narrowPeak/BED regions, bigWig and bedGraph tracks (plain, or bgzip with a tabix index), the
run manifest.

All coordinates are 0-based, half-open (``[start, end)``), as BED and bigWig store them. Outputs are
written to temporary names and renamed at the end, all or nothing (:class:`OutputSet` for files beside a
prefix, :class:`OutputFolder` for a folder of files), so a run leaves either complete outputs or none; no
output ever replaces one of the run's inputs, nor an earlier output without ``force``.
"""
from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import secrets
import shutil
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pyBigWig

from ielmscan.errors import OutputError
from ielmscan.io.capture import captured_stderr
from ielmscan.io.paths import can_create_files as _can_create_files
from ielmscan.io.paths import check_not_inputs, check_outputs, pid_running
from ielmscan.kernels.grid import bin_edges

__all__ = [
    "BigWigWriter",
    "NamedOutput",
    "OutputFolder",
    "OutputSet",
    "Region",
    "StandardOutput",
    "check_tabix_lengths",
    "discard_pending_output",
    "regions_from_bins",
    "remove_stale_temps",
    "replace_together",
    "shown_name",
    "tabix_index",
    "write_bedgraph",
    "write_manifest",
    "write_narrowpeak",
]


_TEMP_NAME = re.compile(r"\.(?P<name>.+)\.tmp-(?P<pid>[0-9]+)-[0-9a-f]{8}")


def _hidden_name(name: str, kind: str) -> str:
    """``.NAME.KIND-PID-XXXXXXXX``: a hidden name in the same folder, tagged with this process's id."""
    return f".{name}.{kind}-{os.getpid()}-{secrets.token_hex(4)}"


def shown_name(path: str | Path) -> Path:
    """``path`` as the user knows it: a temporary or staging name (``.NAME.tmp-PID-XXXXXXXX``) shown as NAME."""
    parts = [m["name"] if (m := _TEMP_NAME.fullmatch(part)) else part for part in Path(path).parts]
    return Path(*parts) if parts else Path(path)


# Errors that only a write gives (a full disk, a quota, a file-size limit): a block that ends with one failed to
# write its outputs, whatever it was doing.
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def _output_error(message: str, cause: OSError) -> OutputError:
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
        return _output_error(f"cannot write {self.name}", exc)

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


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


def remove_stale_temps(folder: Path, names: Iterable[str]) -> list[Path]:
    """Delete the temporary files ``.NAME.tmp-PID-XXXXXXXX`` of these final names left by a process that no
    longer runs (a run killed with SIGKILL, or by a power cut); return what was removed.

    A temporary file of a running process (this one included) is kept: that run is still writing it.
    """
    wanted = set(names)
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_NAME.fullmatch(entry.name)
        if match and match["name"] in wanted and not pid_running(int(match["pid"])):
            _remove(Path(entry.path))
            removed.append(Path(entry.path))
    return removed


def replace_together(moves: Sequence[tuple[Path, Path]], retire: Sequence[Path] = ()) -> None:
    """Rename each ``(temporary, final)`` pair, in order, so that every final changes or none does.

    Every final name is checked first (a folder in the way of a file, or the other way round, or a folder
    that accepts no new files, stops it before anything is renamed). Existing finals, and the files of an
    earlier set that the new one no longer has (``retire``), are then renamed aside to hidden backup names,
    the new files renamed in (the last pair last: put the manifest there) and the backups deleted. If a
    rename fails, the new files go back to their temporary names and the backups to their own, so an
    earlier complete set is left exactly as it was.
    """
    for tmp, final in moves:
        if not os.path.lexists(tmp):
            raise OutputError(f"output {final} was never written: no outputs were changed")
        in_the_way = os.path.lexists(final) and final.is_dir() != tmp.is_dir()
        if in_the_way:
            what = "folder" if final.is_dir() else "file"
            raise OutputError(f"cannot create output {final}: a {what} of that name is in the way")
    for parent in dict.fromkeys(final.parent for _, final in moves):
        if not _can_create_files(parent):
            raise OutputError(f"cannot create outputs in {parent}: the folder is not writable")
    backups: list[tuple[Path, Path]] = []
    done: list[tuple[Path, Path]] = []
    final = moves[0][1] if moves else Path()
    try:
        # The manifest (last) is moved aside first: from then on the earlier set no longer looks complete.
        for final in [*(f for _, f in reversed(moves)), *retire]:
            if os.path.lexists(final):
                backup = final.parent / _hidden_name(final.name, "bak")
                os.replace(final, backup)
                backups.append((final, backup))
        for tmp, final in moves:
            os.replace(tmp, final)
            done.append((tmp, final))
    except OSError as exc:
        lost = []
        for tmp, new in reversed(done):
            with contextlib.suppress(OSError):
                os.replace(new, tmp)
        for old, backup in reversed(backups):
            try:
                os.replace(backup, old)
            except OSError:
                lost.append(f"{old} is kept as {backup}")
        kept = f"; could not put back: {', '.join(lost)}" if lost else "; the earlier outputs are unchanged"
        raise OutputError(f"cannot create output {final}: {exc.strerror or exc}{kept}") from exc
    for _, backup in backups:
        _remove(backup)


PREDICT_HEADER = "id\tlength\twindows\tprobability\t"  # how an ielmscan predict table begins


def earlier_run_outputs(finals: Sequence[Path]) -> set[Path]:
    """Which of ``finals`` (resolved) an earlier ielmscan run wrote, so that a rerun may replace them.

    A run manifest (an existing ``.json`` among them holding ``ielmscan_version`` and ``outputs``) vouches
    for itself and the outputs it lists; a table that begins with the ``predict`` header vouches for
    itself. Anything else is the user's and needs ``--force``.
    """
    earlier: set[Path] = set()
    for final in finals:
        if not final.is_file():
            continue
        try:
            with final.open("rb") as fh:
                head = fh.read(1 << 20)
        except OSError:
            continue
        if final.suffix == ".json":
            try:
                manifest = json.loads(head)
            except ValueError:
                continue
            if isinstance(manifest, dict) and "ielmscan_version" in manifest and isinstance(manifest.get("outputs"), dict):
                earlier.add(final.resolve())
                earlier.update(Path(str(o)).resolve() for o in manifest["outputs"].values() if o != "-")
        elif head.startswith(PREDICT_HEADER.encode()):
            earlier.add(final.resolve())
    return earlier


class OutputSet:
    """A group of output files ``PREFIX + suffix`` that appear together or not at all.

    Write each output to :meth:`temp`; leaving the ``with`` block normally renames every temporary
    file that was asked for to its :meth:`final` name, all or nothing (:func:`replace_together`), in the
    order of ``suffixes`` (put the manifest last: its presence then marks a complete set). Leaving it
    with an exception deletes them all and leaves existing final files untouched.

    No final name may be one of ``inputs`` (compared as files: links and hard links count). An existing
    file is replaced only with ``force``, unless an earlier ielmscan run wrote it (:func:`earlier_run_outputs`):
    rerunning a command into the same prefix just replaces its results. Both are checked when the set is
    made, before any work, and again at the end. Temporary files of these outputs left by a killed run are
    removed.
    """

    def __init__(
        self,
        prefix: str | Path,
        suffixes: Sequence[str],
        inputs: Iterable[str | Path | None] = (),
        force: bool = False,
    ) -> None:
        self.prefix = Path(prefix)
        self.suffixes = tuple(suffixes)
        if not self.suffixes or len(set(self.suffixes)) != len(self.suffixes):
            raise ValueError(f"suffixes must be non-empty and distinct, got {list(self.suffixes)}")
        if not self.prefix.name:
            raise OutputError(f"output prefix {str(prefix)!r} has no file name part: use e.g. out/sample")
        self.folder = self.prefix.parent
        if not self.folder.is_dir():
            raise OutputError(
                f"output folder {self.folder} does not exist: create it or choose another output prefix"
            )
        if not _can_create_files(self.folder):
            raise OutputError(f"output folder {self.folder} is not writable: choose another output prefix")
        self.inputs = tuple(inputs)
        self.force = force
        remove_stale_temps(self.folder, [self.prefix.name + s for s in self.suffixes])
        self._check_finals([self.final(s) for s in self.suffixes])
        self._temps: dict[str, Path] = {}

    def _check_finals(self, finals: list[Path]) -> None:
        check_not_inputs(finals, self.inputs)
        earlier = earlier_run_outputs(finals)
        check_outputs([f for f in finals if f.resolve() not in earlier], self.inputs, self.force)

    def final(self, suffix: str) -> Path:
        """Where the output with ``suffix`` ends up."""
        self._check(suffix)
        return self.folder / (self.prefix.name + suffix)

    def temp(self, suffix: str) -> Path:
        """A hidden temporary path in the output folder (same path for repeated calls)."""
        self._check(suffix)
        if suffix not in self._temps:
            self._temps[suffix] = self.folder / _hidden_name(self.prefix.name + suffix, "tmp")
        return self._temps[suffix]

    def open(self, suffix: str) -> NamedOutput:
        """The temporary file of ``suffix`` opened for text (UTF-8); failures to write it name the final file.

        A suffix ending in ``.gz`` is written BGZF-compressed (bgzip), which :meth:`tabix_index` can index.
        """
        path = self.temp(suffix)
        try:
            stream = _BgzfText(path) if suffix.endswith(".gz") else path.open("w", encoding="utf-8")
        except OSError as exc:
            raise _output_error(f"cannot write {self.final(suffix)}", exc) from exc
        return NamedOutput(stream, self.final(suffix))

    def tabix_index(self, suffix: str) -> None:
        """Index the written BGZF BED-like output ``suffix`` with tabix into the output ``suffix + ".tbi"``,
        committed with it."""
        tabix_index(self.temp(suffix), self.temp(suffix + ".tbi"), self.final(suffix + ".tbi"))

    def _check(self, suffix: str) -> None:
        if suffix not in self.suffixes:
            raise ValueError(f"suffix {suffix!r} is not one of {list(self.suffixes)}")

    def commit(self) -> None:
        """Rename every temporary file asked for to its final name, all or nothing; an earlier run's outputs
        of this prefix that the new set does not have (a `.bed` after `--tabix`, a `.bedGraph` no longer asked
        for) go with the set they belonged to, so that no stale file is left beside the new ones."""
        moves = [(self._temps[s], self.final(s)) for s in self.suffixes if s in self._temps]
        try:
            self._check_finals([final for _, final in moves])
            replace_together(moves, self._leftovers([final for _, final in moves]))
        except OutputError:
            self.discard()
            raise
        self._temps.clear()

    def _leftovers(self, finals: list[Path]) -> list[Path]:
        """Files an earlier run's manifest among ``finals`` lists beside this prefix that the new set lacks."""
        keep = {f.resolve() for f in finals}
        leftovers: list[Path] = []
        for manifest in (f for f in finals if f.suffix == ".json" and f.resolve() in earlier_run_outputs([f])):
            try:
                listed = json.loads(manifest.read_text(encoding="utf-8"))["outputs"].values()
            except (OSError, ValueError, KeyError, AttributeError):
                continue
            for name in listed:
                path = Path(str(name))
                same_prefix = path.parent.resolve() == self.folder.resolve() and path.name.startswith(self.prefix.name)
                if same_prefix and path.is_file() and not path.is_symlink() and path.resolve() not in keep:
                    try:
                        check_not_inputs([path], self.inputs)
                    except OutputError:
                        continue  # never an input, even one an earlier run wrote
                    leftovers.append(path)
        return leftovers

    def discard(self) -> None:
        """Delete every temporary file; final files stay as they were."""
        for path in self._temps.values():
            with contextlib.suppress(OSError):
                path.unlink()
        self._temps.clear()

    def __enter__(self) -> OutputSet:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


class OutputFolder:
    """A folder of output files that appear together or not at all: a model bundle, a data set, a report.

    Write every file into :attr:`staging` inside the ``with`` block; leaving it normally moves them into
    ``folder``: a new folder is renamed into place whole, an existing one gets its files renamed in with
    :func:`replace_together` (``marker`` last). ``marker`` is the file that marks a folder of this
    ``kind`` (``ensemble.json``, ``dataset.json``, ``metrics.json``). The rules, checked when the object
    is made (before any work) and again at the end:

    - no output may replace one of ``inputs``, with or without ``force``;
    - an empty or absent folder is written; one holding ``marker`` (an earlier output of this kind) is
      replaced only with ``force``: the files the earlier output owns (``owned(folder)``, read from its
      marker; by default the names this run writes) are replaced, or removed when the new output has no
      file of that name, and every other file in the folder is kept;
    - a non-empty folder without ``marker`` is written into with ``force`` when ``shared`` (its files are
      kept), and never otherwise ("it is not a model bundle");
    - no new file may take the name of an existing file that the earlier output does not own.

    Staging folders (``.NAME.tmp-PID-XXXXXXXX``) left by a killed run are removed.
    """

    def __init__(
        self,
        folder: str | Path,
        kind: str,
        marker: str,
        inputs: Iterable[str | Path | None] = (),
        force: bool = False,
        owned: Callable[[Path], set[str]] | None = None,
        shared: bool = False,
    ) -> None:
        self.folder = Path(folder)
        self.kind, self.marker, self.force, self.shared = kind, marker, force, shared
        self.inputs = tuple(inputs)
        self._owned = owned
        self._staging: Path | None = None
        resolved = self.folder.resolve()
        self._name, self._parent = resolved.name, resolved.parent
        if not self._name:
            raise OutputError(f"cannot write {kind} {self.folder}: choose a folder with a name")
        check_not_inputs([self.folder], self.inputs)
        if os.path.lexists(self.folder) and not self.folder.is_dir():
            raise OutputError(f"output {self.folder} exists and is not a folder: choose another output")
        if not self._parent.is_dir():
            raise OutputError(f"cannot write {kind} {self.folder}: folder {self._parent} does not exist")
        remove_stale_temps(self._parent, [self._name])
        if self.folder.is_dir():
            remove_stale_temps(self.folder, [self._name])
        self._check()

    def _earlier(self) -> set[str] | None:
        """The names an earlier output of this kind in the folder owns; None if the folder holds none."""
        if not (self.folder / self.marker).is_file():
            return None
        if self._owned is None:
            return {self.marker}
        try:
            names = set(self._owned(self.folder))
        except (OSError, ValueError, TypeError, KeyError):
            names = set()
        return {n for n in names if n and Path(n).name == n and n not in (".", "..")} | {self.marker}

    def _check(self, names: Iterable[str] = ()) -> list[Path]:
        """Check the rules for an output with these file names; return the earlier files to remove."""
        names = list(names)
        earlier = self._earlier()
        planned = [self.folder / n for n in (*names, *(earlier or ()))]
        check_not_inputs([self.folder, *planned], self.inputs)
        if not self.folder.is_dir():
            return []
        ours = self._staging.name if self._staging is not None else None
        present = [e.name for e in os.scandir(self.folder) if e.name != ours]
        if present and earlier is not None and not self.force:
            raise OutputError(f"{self.kind} {self.folder} already exists: --force replaces it, or choose another "
                              "output")
        if present and earlier is None:
            if not self.shared:
                raise OutputError(f"cannot write {self.kind} {self.folder}: the folder exists and is not a "
                                  f"{self.kind}; choose another output")
            if not self.force:
                raise OutputError(f"output folder {self.folder} exists and is not empty: --force writes into it "
                                  "(its other files are kept), or choose another output")
        replaceable = set(names) if self._owned is None else (earlier or set())
        for name in names:
            if name in present and name not in replaceable:
                raise OutputError(f"cannot write {self.kind} {self.folder}: {self.folder / name} is not part of "
                                  f"the earlier {self.kind}; move it or choose another output")
        return [self.folder / n for n in sorted((earlier or set()) - set(names)) if n in present]

    @property
    def staging(self) -> Path:
        """The folder to write the outputs into (inside the ``with`` block)."""
        if self._staging is None:
            raise ValueError("OutputFolder.staging is only there inside its with block")
        return self._staging

    def __enter__(self) -> OutputFolder:
        where = self.folder if self.folder.is_dir() else self._parent
        staging = where / _hidden_name(self._name, "tmp")
        try:
            staging.mkdir()  # not mkdtemp, whose private folder would become a bundle others cannot read
        except OSError as exc:
            raise OutputError(f"cannot write {self.kind} {self.folder}: {exc.strerror or exc} ({where})") from exc
        self._staging = staging
        return self

    def commit(self) -> None:
        """Move the staged files into the folder, all or nothing."""
        staging = self.staging
        try:
            names = sorted((p.name for p in staging.iterdir()), key=lambda n: (n == self.marker, n))
            if self.marker not in names:
                raise OutputError(f"{self.kind} {self.folder}: {self.marker} was never written; nothing was changed")
            _readable(staging)
            retire = self._check(names)
            if not self.folder.is_dir():
                try:  # a plain rename: it fails, replacing nothing, if a folder with files took the name
                    os.rename(staging, self.folder)
                except OSError as exc:
                    raise OutputError(f"cannot create {self.kind} {self.folder}: {exc.strerror or exc}") from exc
            else:
                replace_together([(staging / n, self.folder / n) for n in names], retire)
        except BaseException:
            self.discard()
            raise
        self.discard()

    def discard(self) -> None:
        """Delete the staging folder (after a commit, the empty one left behind)."""
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.commit()
            return
        self.discard()
        if isinstance(exc, OSError) and not isinstance(exc, OutputError) and exc.errno in _WRITE_ERRNOS:
            raise _output_error(f"cannot write {self.kind} {self.folder}", exc) from exc


def _readable(folder: Path) -> None:
    """Give the staged files the permissions of ordinary new files (safetensors writes them private)."""
    umask = os.umask(0)
    os.umask(umask)
    for root, _, files in os.walk(folder):
        for name in files:
            os.chmod(Path(root) / name, 0o666 & ~umask)


def _bin_edges(start: int, end: int, stride: int, n_values: int) -> tuple[np.ndarray, np.ndarray]:
    """Starts and ends of the stride bins of ``[start, end)``, checked against the number of values given."""
    starts, ends = bin_edges(start, end, stride)
    if n_values != len(starts):
        raise ValueError(f"[{start}, {end}) with stride {stride} has {len(starts)} bins, got {n_values} values")
    return starts, ends


# Bins handed to pyBigWig per call: fewer than one libBigWig write buffer holds (32 kB: 8,186 fixed-step values).
# libBigWig checks a failed write only when a call starts a new block; inside a call, or when a call appends to
# the previous block, it ignores the failure and overruns its buffer (a crash, on a full disk). So no call may
# fill the buffer, and no call may append: see BigWigWriter._add_runs.
_ENTRIES_PER_CALL = 8_000


class BigWigWriter:
    """Stream stride-bin scores into a bigWig whose header lists ``chrom_sizes`` in the given order.

    Bins must arrive in header order and by increasing position. NaN (and infinite) bins become gaps:
    the file never holds NaN. Zoom levels are kept (pyBigWig's default), so browsers draw it quickly.
    libBigWig's messages never reach the terminal; a failed write (a full disk) raises :class:`OutputError`
    naming the file as the user knows it (``name``, default :func:`shown_name` of ``path``).
    """

    def __init__(self, path: str | Path, chrom_sizes: list[tuple[str, int]], name: str | Path | None = None) -> None:
        self.path = Path(path)
        self.name = Path(name) if name is not None else shown_name(self.path)
        if not chrom_sizes:
            raise ValueError("a bigWig needs at least one chromosome in its header")
        self._order = {name: i for i, (name, _) in enumerate(chrom_sizes)}
        if len(self._order) != len(chrom_sizes):
            raise ValueError("chromosome names in a bigWig header must be distinct")
        self._sizes = {name: int(size) for name, size in chrom_sizes}
        # pyBigWig crashes the interpreter on an unwritable path: find out first, in Python.
        try:
            with open(self.path, "wb"):
                pass
        except OSError as exc:
            raise _output_error(f"cannot write bigWig {self.name}", exc) from exc
        self._bw: Any = None
        self._bw = self._libbigwig(pyBigWig.open, str(self.path), "w")
        if self._bw is None:
            raise OutputError(f"cannot write bigWig {self.name}: {_write_failure(self.path)}")
        self._libbigwig(self._bw.addHeader, [(name, int(size)) for name, size in chrom_sizes])
        self._last = (-1, 0)  # (header index, end) of the last add_bins call

    def _libbigwig(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``call`` with libBigWig's stderr caught; its failure (an exception, or an error it only printed,
        as bwClose does) closes the file and raises OutputError with the cause a write there now gives."""
        failed = False
        with captured_stderr() as log:
            try:
                result = call(*args, **kwargs)
            except (RuntimeError, SystemError):  # pyBigWig's failed writes (some return no exception at all)
                failed, result = True, None
        if failed or "error" in log.text.lower():
            self._abandon()
            raise OutputError(f"cannot write bigWig {self.name}: {_write_failure(self.path)}")
        return result

    def _abandon(self) -> None:
        bw, self._bw = self._bw, None
        if bw is not None:
            with captured_stderr(), contextlib.suppress(RuntimeError):
                bw.close()

    def add_bins(self, chrom: str, start: int, end: int, stride: int, values: np.ndarray) -> None:
        """Write scores for bins ``[start + b*stride, min(start + (b+1)*stride, end))`` (0-based, half-open)."""
        if self._bw is None:
            raise ValueError(f"bigWig {self.name} is closed")
        if chrom not in self._order:
            raise ValueError(f"chromosome {chrom!r} is not in the bigWig header of {self.name}")
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        starts, ends = _bin_edges(start, end, stride, values.size)
        if end > self._sizes[chrom]:
            raise ValueError(f"bins end at {end}, beyond {chrom} (length {self._sizes[chrom]})")
        key = self._order[chrom]
        last_key, last_end = self._last
        if key < last_key or (key == last_key and start < last_end):
            raise ValueError(
                f"bins {chrom}:[{start}, {end}) arrive out of order: bigWig entries must follow the "
                "header's chromosome order and increase in position without overlap"
            )
        self._last = (key, max(end, last_end) if key == last_key else end)
        # Runs of finite bins go in as fixed-step entries straight from NumPy, a slice at a time: no
        # Python list per bin, so memory stays flat however long the chromosome is. A last bin cut
        # short by the interval's end is written on its own with its true end.
        finite = np.flatnonzero(np.isfinite(values))
        if not finite.size:
            return
        breaks = np.flatnonzero(np.diff(finite) != 1)
        run_starts = np.r_[finite[0], finite[breaks + 1]]
        run_ends = np.r_[finite[breaks], finite[-1]] + 1
        self._libbigwig(self._add_runs, chrom, starts, ends, stride, values, run_starts, run_ends)

    def _add_runs(self, chrom: str, starts: np.ndarray, ends: np.ndarray, stride: int, values: np.ndarray,
                  run_starts: np.ndarray, run_ends: np.ndarray) -> None:
        # Each run of bins goes in as fixed-step slices. pyBigWig appends a slice that continues the last one
        # to its block, so the last bin of every slice but the run's last is written as a single
        # (start, end, value) entry in between: every call then starts a block (see _ENTRIES_PER_CALL). A last
        # bin cut short by the interval's end is a fixed-step entry of its own, with its true width.
        bw = self._bw
        for a, b in zip(run_starts.tolist(), run_ends.tolist()):
            full = b if ends[b - 1] - starts[b - 1] == stride else b - 1
            for s in range(a, full, _ENTRIES_PER_CALL):
                e = min(s + _ENTRIES_PER_CALL, full)
                last_slice = e == full
                stop = e if last_slice else e - 1
                bw.addEntries(chrom, int(starts[s]), values=values[s:stop], span=stride, step=stride)
                if not last_slice:
                    bw.addEntries([chrom], [int(starts[stop])], ends=[int(ends[stop])], values=[float(values[stop])])
            if full < b:
                width = int(ends[b - 1] - starts[b - 1])
                bw.addEntries(chrom, int(starts[b - 1]), values=values[b - 1 : b], span=width, step=stride)

    def close(self) -> None:
        """Finish the file (writes the index and zoom levels); safe to call twice."""
        if self._bw is not None:
            self._libbigwig(self._bw.close)
            self._bw = None

    def __enter__(self) -> BigWigWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self._abandon()  # the file is discarded: finishing it would only add libBigWig's complaints


def _write_failure(path: Path, library: str = "libBigWig") -> str:
    """Why writing to ``path`` fails (libBigWig and htslib do not say): see :func:`_failed_write`."""
    failure = _failed_write(path, library)
    return failure.strerror or str(failure)


def _failed_write(path: Path, library: str) -> OSError:
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


# A .tbi index holds positions below 2^29: longer sequences would need a CSI index.
TABIX_MAX_LENGTH = (1 << 29) - 1


def check_tabix_lengths(chrom_sizes: Iterable[tuple[str, int]]) -> None:
    """OutputError naming the first sequence too long for a tabix (.tbi) index, if any."""
    for name, length in chrom_sizes:
        if length > TABIX_MAX_LENGTH:
            raise OutputError(f"--tabix: {name} ({length:,} bp) is longer than a .tbi index can hold "
                              f"({TABIX_MAX_LENGTH:,} bp); write plain outputs and index them with a CSI index "
                              "(tabix --csi)")


class _BgzfText:
    """A text file written BGZF-compressed (what ``bgzip`` writes and tabix indexes), through pysam's htslib.

    Writes are gathered into pieces of about a megabyte; htslib's messages never reach the terminal; a failed
    write raises OSError with the cause a write there now gets (htslib does not keep errno).
    """

    _PIECE = 1 << 20

    def __init__(self, path: Path) -> None:
        import pysam  # here, so that importing writers (`--help`) does not load htslib

        self.path = path
        with open(path, "wb"):  # htslib crashes the interpreter on an unwritable path: find out first, in Python
            pass
        with captured_stderr():
            self._file: Any = pysam.BGZFile(str(path), "wb")
        self._pending: list[bytes] = []
        self._size = 0

    def write(self, text: str) -> int:
        data = text.encode("utf-8")
        self._pending.append(data)
        self._size += len(data)
        if self._size >= self._PIECE:
            self._write_pending()
        return len(text)

    def _write_pending(self) -> None:
        if not self._pending:
            return
        data, self._pending, self._size = b"".join(self._pending), [], 0
        self._htslib(self._file.write, data)

    def _htslib(self, call: Callable[..., Any], *args: Any) -> Any:
        with captured_stderr():
            try:
                return call(*args)
            except OSError:
                pass
        raise _failed_write(self.path, "htslib")

    def flush(self) -> None:
        self._write_pending()

    def close(self) -> None:
        if self._file is None:
            return
        try:
            self._write_pending()
        finally:
            bgzf, self._file = self._file, None
            self._htslib(bgzf.close)


def tabix_index(data: str | Path, index: str | Path, name: str | Path | None = None, preset: str = "bed") -> None:
    """Write the tabix (.tbi) index of BGZF file ``data`` to ``index``: BED-like lines by default (chrom, 0-based
    start, end; ``#`` lines skipped), or another of pysam's presets (``vcf``). The lines must be grouped by
    chromosome and sorted by start within each.

    htslib's messages never reach the terminal; a failure raises OutputError naming ``name`` (default: the
    index as the user knows it, :func:`shown_name`)."""
    import pysam

    name = Path(name) if name is not None else shown_name(index)
    with captured_stderr() as log:
        try:
            pysam.tabix_index(str(data), preset=preset, index=str(index), force=True)
            return
        except (OSError, ValueError):
            pass
    said = " ".join(log.text.split())
    if "unsorted" in said.lower():
        raise OutputError(f"cannot write tabix index {name}: the lines are not sorted ({said})")
    raise _output_error(f"cannot write tabix index {name}", _failed_write(Path(index), "htslib"))


@dataclass(frozen=True)
class Region:
    """A called region ``[start, end)`` (0-based, half-open); ``summit`` is a 0-based offset from start.

    ``p_value`` and ``q_value`` belong to the region's best bin; NaN where they were not computed.
    """

    chrom: str
    start: int
    end: int
    max_score: float
    summit: int
    p_value: float = math.nan
    q_value: float = math.nan


def regions_from_bins(
    interval_chrom: str,
    start: int,
    end: int,
    stride: int,
    bin_scores: np.ndarray,
    threshold: float,
) -> list[Region]:
    """Maximal runs of stride bins of ``[start, end)`` scoring ``>= threshold`` (0-based, half-open).

    NaN bins break runs. A region's summit is the centre of its first highest-scoring bin, given as an
    offset from the region's start.
    """
    # Imported here so that importing writers (e.g. for `--help`) does not load numba.
    from ielmscan.kernels.reduce import call_regions

    scores = np.ascontiguousarray(bin_scores, dtype=np.float32).reshape(-1)
    _bin_edges(start, end, stride, scores.size)
    b0, b1, best, summit_bin = call_regions(scores, float(threshold))
    b0 = np.asarray(b0, dtype=np.int64)
    b1 = np.asarray(b1, dtype=np.int64)
    summit_bin = np.asarray(summit_bin, dtype=np.int64)
    r_start = start + b0 * stride
    r_end = np.minimum(start + b1 * stride, end)
    s_start = start + summit_bin * stride
    s_len = np.minimum(s_start + stride, end) - s_start
    summit = s_start + s_len // 2 - r_start
    return [
        Region(interval_chrom, int(a), int(b), float(m), int(s))
        for a, b, m, s in zip(r_start.tolist(), r_end.tolist(), np.asarray(best).tolist(), summit.tolist())
    ]


def write_narrowpeak(
    fh: TextIO, regions: Iterable[Region], name_prefix: str = "ielm", first_index: int = 1
) -> int:
    """Write regions as narrowPeak (BED6+4, 0-based half-open); return how many lines were written.

    Columns: chrom, start, end, name ``{name_prefix}_{n}``, score = round(1000 * max probability)
    clipped to 0..1000, strand ``.``, signalValue = max probability (4 decimals), pValue and qValue as
    -log10 (3 decimals; -1 where not computed), summit offset from start.
    """
    count = 0
    for count, r in enumerate(regions, 1):
        if not math.isfinite(r.max_score):
            raise ValueError(f"region {r.chrom}:[{r.start}, {r.end}) has a non-finite score {r.max_score}")
        score = min(1000, max(0, int(round(1000 * r.max_score))))
        fh.write(
            f"{r.chrom}\t{r.start}\t{r.end}\t{name_prefix}_{first_index + count - 1}\t{score}\t.\t"
            f"{r.max_score:.4f}\t{_minus_log10(r.p_value)}\t{_minus_log10(r.q_value)}\t{r.summit}\n"
        )
    return count


def _minus_log10(value: float) -> str:
    """narrowPeak's p/q column: -log10 with 3 decimals, or -1 when not computed (NaN)."""
    if math.isnan(value):
        return "-1"
    return f"{-math.log10(max(value, 1e-300)) + 0.0:.3f}"


def write_bedgraph(
    fh: TextIO, chrom: str, start: int, end: int, stride: int, values: np.ndarray
) -> int:
    """Write stride-bin scores of ``[start, end)`` as bedGraph lines (0-based, half-open), skipping NaN.

    Returns how many lines were written.
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    starts, ends = _bin_edges(start, end, stride, values.size)
    keep = np.isfinite(values)
    lines = [
        f"{chrom}\t{a}\t{b}\t{v:.4f}\n"
        for a, b, v in zip(starts[keep].tolist(), ends[keep].tolist(), values[keep].tolist())
    ]
    fh.writelines(lines)
    return len(lines)


def _jsonable(value: Any) -> Any:
    """Plain JSON types: NumPy scalars/arrays and paths converted, NaN/inf as null (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_manifest(target: str | Path | NamedOutput, manifest: dict) -> None:
    """Write ``manifest`` as JSON (indent 2, trailing newline) to a path or an open :class:`NamedOutput`."""
    text = json.dumps(_jsonable(manifest), indent=2, allow_nan=False) + "\n"
    if isinstance(target, NamedOutput):
        target.write(text)
        return
    try:
        Path(target).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise _output_error(f"cannot write {shown_name(target)}", exc) from exc
