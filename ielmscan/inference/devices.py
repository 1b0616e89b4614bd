"""Device and numeric-precision choice for inference and training.

Kept free of top-level torch imports so the CLI can name these choices without loading torch.
"""
from __future__ import annotations

import re
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


def device_names(text: str, workers: int | None = None) -> list[str]:
    """The scoring devices a ``--device`` value and ``--workers`` count ask for, one name per scorer.

    ``cuda:0,cuda:1`` gives two CUDA scorers; ``cpu`` with ``workers`` N gives N CPU scorers (each with its
    share of the threads). A list holds devices of one kind, each named once, so that a chunk scores the
    same whichever device took it. No torch here: the CLI checks the value as an option. Raises InputError.
    """
    names = [part.strip() for part in text.split(",")]
    if not all(names):
        raise InputError(f"device list {text!r} has an empty entry: write it as cuda:0,cuda:1")
    if workers is not None and workers < 1:
        raise InputError(f"--workers {workers} must be at least 1")
    if len(names) > 1:
        for name in names:
            if not re.fullmatch(r"cuda:\d+", name):
                raise InputError(f"device list {text!r}: list CUDA devices by number (cuda:0,cuda:1); for "
                                 "several CPU scorers use --device cpu --workers N")
        if len(set(names)) != len(names):
            raise InputError(f"device list {text!r} names a device twice")
        if workers not in (None, len(names)):
            raise InputError(f"--workers {workers} does not match the {len(names)} devices of --device {text}")
        return names
    if workers is None or workers == 1:
        return names
    if names[0] not in ("cpu", "auto"):
        raise InputError(f"--workers {workers} runs several CPU scorers (--device cpu); for GPUs list them: "
                         "--device cuda:0,cuda:1")
    return names * workers


def resolve_devices(names: list[str]) -> list[torch.device]:
    """Each name of :func:`device_names` resolved (:func:`resolve_device`): all of one kind, a GPU only once."""
    devices = [resolve_device(name) for name in names]
    if len({d.type for d in devices}) > 1:
        raise InputError(f"devices {', '.join(names)} are not of one kind: scores would depend on the device")
    gpus = [d for d in devices if d.type == "cuda"]
    if len(gpus) > 1 and len({d.index or 0 for d in gpus}) < len(gpus):
        raise InputError("--workers runs several CPU scorers, and --device auto chose a GPU: give --device cpu, "
                         "or list the GPUs (--device cuda:0,cuda:1)")
    return devices


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
