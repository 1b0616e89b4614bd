"""Keep freed memory in the process while scoring or training on a CPU (glibc's malloc).

A CPU forward or training pass allocates and frees tensors of a few MB per operator. With glibc's
defaults such blocks go back to the operating system (large blocks are mmapped, free heap tops are
trimmed, and each thread's arena gives up emptied heaps), so the next batch faults fresh pages in
again. One arena for all threads, a 32 MB mmap threshold and a 256 MB trim threshold keep those blocks
for reuse: scans and training run faster at the same peak memory (figures: docs/performance.md).
"""
from __future__ import annotations

import ctypes
import logging
import os
import platform

import torch

log = logging.getLogger(__name__)

# mallopt() parameters from glibc's malloc.h.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD_BYTES = 32 << 20  # blocks up to this size come from the heap and are reused
TRIM_THRESHOLD_BYTES = 256 << 20  # free memory kept at the heap's top before it is returned
# A user who tuned malloc through the environment keeps their settings.
USER_SETTINGS = ("MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_",
                 "GLIBC_TUNABLES")

_applied: bool | None = None


def retain_freed_memory(device: torch.device | None = None) -> bool:
    """Set glibc's malloc options once per process for work on ``device`` (default: CPU); whether in effect.

    False for other devices (their tensors do not live in malloc's memory), where the C library is not
    glibc, or where the environment already tunes malloc.
    """
    global _applied
    if device is not None and device.type != "cpu":
        return False
    if _applied is not None:
        return _applied
    if platform.libc_ver()[0] != "glibc" or any(name in os.environ for name in USER_SETTINGS):
        _applied = False
        return False
    libc = ctypes.CDLL(None)
    _applied = all(libc.mallopt(param, value) for param, value in (
        (M_ARENA_MAX, 1), (M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES), (M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)))
    log.debug("glibc malloc keeps freed blocks: %s", _applied)
    return _applied
