"""Argument checks shared by the kernel wrappers (kernels see only NumPy arrays and scalars)."""
from __future__ import annotations

import numpy as np


def check_int(value: object, name: str, minimum: int) -> int:
    """Return ``value`` as a Python int ≥ ``minimum``, or raise ValueError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer ≥ {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be ≥ {minimum}, got {value}")
    return int(value)
