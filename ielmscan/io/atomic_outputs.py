"""Outputs that appear complete or not at all.

Outputs are written to temporary names and renamed at the end, all or nothing (:class:`OutputSet` for files
beside a prefix, :class:`OutputFolder` for a folder of files), so a run leaves either complete outputs or none;
no output ever replaces one of the run's inputs, nor an earlier output without ``force``.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from ielmscan.errors import OutputError
from ielmscan.io.paths import can_create_files as _can_create_files
from ielmscan.io.paths import check_not_inputs, check_outputs, pid_running
from ielmscan.io.tabix import _BgzfText, tabix_index
from ielmscan.io.temp_names import TEMP_NAME, hidden_name
from ielmscan.io.write_errors import NamedOutput, output_error

__all__ = [
    "OutputFolder",
    "OutputSet",
    "remove_stale_temps",
    "replace_together",
]


# Errors that only a write gives (a full disk, a quota, a file-size limit): a block that ends with one failed to
# write its outputs, whatever it was doing.
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


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
        match = TEMP_NAME.fullmatch(entry.name)
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
                backup = final.parent / hidden_name(final.name, "bak")
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
            self._temps[suffix] = self.folder / hidden_name(self.prefix.name + suffix, "tmp")
        return self._temps[suffix]

    def open(self, suffix: str) -> NamedOutput:
        """The temporary file of ``suffix`` opened for text (UTF-8); failures to write it name the final file.

        A suffix ending in ``.gz`` is written BGZF-compressed (bgzip), which :meth:`tabix_index` can index.
        """
        path = self.temp(suffix)
        try:
            stream = _BgzfText(path) if suffix.endswith(".gz") else path.open("w", encoding="utf-8")
        except OSError as exc:
            raise output_error(f"cannot write {self.final(suffix)}", exc) from exc
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
        staging = where / hidden_name(self._name, "tmp")
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
            raise output_error(f"cannot write {self.kind} {self.folder}", exc) from exc


def _readable(folder: Path) -> None:
    """Give the staged files the permissions of ordinary new files (safetensors writes them private)."""
    umask = os.umask(0)
    os.umask(umask)
    for root, _, files in os.walk(folder):
        for name in files:
            os.chmod(Path(root) / name, 0o666 & ~umask)

