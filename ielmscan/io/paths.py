"""File-system checks shared by the readers and the writers."""
from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path


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
