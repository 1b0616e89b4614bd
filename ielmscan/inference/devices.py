"""Device and numeric-precision choice for inference and training.

Kept free of top-level torch imports so the CLI can name these choices without loading torch.
"""
from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING

from ielmscan.errors import InputError

if TYPE_CHECKING:
    import torch


class Precision(str, Enum):
    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"


def resolve_device(name: str) -> torch.device:
    """``auto`` → the first CUDA device if there is one, else the CPU; ``cpu``; ``cuda``/``cuda:N``."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise InputError(f"device {name!r} is not valid: use auto, cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise InputError(f"device {name!r} is not supported: use auto, cpu, cuda or cuda:N")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"device {name!r} was asked for, but this torch sees no CUDA GPU")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise InputError(f"device {name!r} does not exist: {torch.cuda.device_count()} CUDA GPU(s) visible")
    return device


def native_bf16(device: torch.device) -> bool:
    """Whether the device does bf16 matrix work natively (CUDA with bf16, or a CPU with AVX512-BF16/AMX)."""
    import torch

    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(precision: Precision | str, device: torch.device) -> Precision:
    precision = Precision(precision)
    if precision is Precision.auto:
        return Precision.bf16 if native_bf16(device) else Precision.fp32
    return precision
