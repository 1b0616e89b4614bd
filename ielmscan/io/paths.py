"""File-system checks shared by the readers and the writers: writable folders, outputs that must not
replace an input (or an earlier output without ``--force``), running processes, file digests."""
from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from ielmscan.errors import OutputError


def can_create_files(folder: Path) -> bool:
    """True if new files may be created in ``folder``.

    A folder whose permission bits grant nobody write access counts as read-only even for root
    (shared reference data is marked that way on purpose). Otherwise we probe by creating a file:
    read-only mounts, ACLs and network file systems are only revealed by trying.
    """
    try:
        if not folder.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
            return False
        fd, probe = tempfile.mkstemp(prefix=".ielmscan-probe-", dir=folder)
    except OSError:
        return False
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return True


def _identity(path: Path) -> tuple[str, tuple[int, int] | None]:
    """A path's resolved form (links followed, relative made absolute) and its (device, inode), if it exists."""
    try:
        st = os.stat(path)
        inode: tuple[int, int] | None = (st.st_dev, st.st_ino)
    except (OSError, ValueError):
        inode = None
    return os.path.realpath(path), inode


def _input_paths(inputs: Iterable[str | Path | None]) -> Iterator[Path]:
    """Every input path; a folder (a model bundle, a data set) stands for itself and the entries in it, not
    for what its subfolders hold (a model trained into ``DATASET/model`` is no input of a later run)."""
    for item in inputs:
        if item is None:
            continue
        path = Path(item)
        yield path
        if path.is_dir():
            with contextlib.suppress(OSError):
                yield from (Path(entry.path) for entry in os.scandir(path))


def check_not_inputs(outputs: Iterable[str | Path], inputs: Iterable[str | Path | None]) -> None:
    """Raise OutputError if an output is one of the inputs, which nothing may replace, not even ``--force``.

    Two paths are the same file when they resolve to the same path or, both existing, share a device and
    inode: a relative path, a symbolic link or a hard link to an input counts as the input. A folder among
    the inputs counts with every entry in it (give a subfolder that is read too, e.g. a bundle's ``layer2``).
    """
    known: dict[str, Path] = {}
    inodes: dict[tuple[int, int], Path] = {}
    for path in _input_paths(inputs):
        resolved, inode = _identity(path)
        known.setdefault(resolved, path)
        if inode is not None:
            inodes.setdefault(inode, path)
    for output in outputs:
        resolved, inode = _identity(Path(output))
        clash = known.get(resolved) or (inodes.get(inode) if inode is not None else None)
        if clash is not None:
            raise OutputError(f"output {output} would overwrite the input {clash}: choose another output "
                              "(--force never replaces an input)")


def check_outputs(outputs: Iterable[str | Path], inputs: Iterable[str | Path | None] = (), force: bool = False) -> None:
    """Raise OutputError if an output file is an input, a folder, or exists while ``force`` is not given."""
    outputs = [Path(p) for p in outputs]
    check_not_inputs(outputs, inputs)
    for output in outputs:
        if output.is_dir():
            raise OutputError(f"output {output} is a folder: choose another output")
        if os.path.lexists(output) and not force:
            raise OutputError(f"output {output} already exists: --force replaces it, or choose another output")


def pid_running(pid: int) -> bool:
    """True if a process with this id runs on this machine (ours, another user's, or a zombie)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OverflowError, ValueError):
        return False  # no process can have such an id
    except OSError:
        return True  # e.g. EPERM: it exists but belongs to someone else
    return True


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in blocks (inputs may be large)."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
