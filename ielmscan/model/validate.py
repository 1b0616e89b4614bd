"""What every file of a model bundle must pass at load, before anything is allocated.

A bundle may come from anyone, so nothing in it is trusted: ``ensemble.json`` is read field by field with each
field's type and range checked (:class:`Entry`), the files it names must be plain names that stay inside the
bundle folder (:func:`inside`), and a safetensors file's header (tensor names, dtypes, shapes) is checked
against what the bundle declares before any tensor is read (:func:`tensor_header`, :func:`check_tensors`);
the tensors must then hold finite numbers (:func:`check_finite`). Every problem is one ``BundleError`` naming
the bundle, the file and the field or tensor. docs/security.md lists the checks and the limits.
"""
from __future__ import annotations

import errno
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError, safe_open

from ielmscan.errors import BundleError

MANIFEST = "ensemble.json"
FLOAT_DTYPES = ("F16", "BF16", "F32", "F64")  # safetensors' names; weights are cast to float32 on load
NUMPY_DTYPES = ("F16", "F32", "F64")  # what the first stage and the calibration (read with NumPy) may hold
REQUIRED: Any = object()  # the default of a field that must be there


def show(value: Any) -> str:
    """A JSON value as a message names it: short, and with its type when that is the problem."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    return "a list" if isinstance(value, list) else "an object" if isinstance(value, dict) else type(value).__name__


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # JSON true is not 1


def _range(low: float | None, high: float | None, open_low: bool = False, open_high: bool = False) -> str:
    if low is not None and high is not None:
        return f"in {'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"
    if low is not None:
        return f"{'>' if open_low else '>='} {low:g}"
    return f"{'<' if open_high else '<='} {high:g}"


class Entry:
    """One JSON object of a bundle's ``ensemble.json``, read field by field with its type and range checked.

    ``where`` is the object's place in the file (``""`` for the top, ``members[1]``, ``cascade``): messages
    name the field as ``members[1].k``.
    """

    def __init__(self, data: Any, bundle: Path, where: str = "") -> None:
        self.bundle, self.where = bundle, where
        if not isinstance(data, dict):
            raise self.error(None, f"must be a JSON object, not {show(data)}")
        self.data: dict[str, Any] = data

    def error(self, key: str | None, problem: str) -> BundleError:
        name = ".".join(part for part in (self.where, key) if part) or "the file"
        return BundleError(f"model bundle {self.bundle}: {MANIFEST}: {name} {problem}")

    def has(self, key: str) -> bool:
        return key in self.data

    def value(self, key: str, default: Any = REQUIRED) -> Any:
        if key in self.data:
            return self.data[key]
        if default is REQUIRED:
            raise self.error(key, "is missing")
        return default

    def integer(self, key: str, low: int, high: int | None = None, default: Any = REQUIRED, note: str = "") -> int:
        """A whole number in [low, high]; ``note`` says where the limit comes from."""
        value = self.value(key, default)
        if not _is_int(value):
            raise self.error(key, f"must be a whole number {_range(low, high)}, not {show(value)}")
        if value < low or (high is not None and value > high):
            raise self.error(key, f"is {value}: it must be {_range(low, high)}{note}")
        return int(value)

    def number(self, key: str, low: float | None = None, high: float | None = None, default: Any = REQUIRED,
               open_low: bool = False, open_high: bool = False) -> float:
        """A finite number (NaN and Infinity, which Python's JSON reads, are refused) in the given range."""
        value = self.value(key, default)
        if not (_is_int(value) or isinstance(value, float)) or not math.isfinite(value):
            bounds = "" if low is None and high is None else " " + _range(low, high, open_low, open_high)
            raise self.error(key, f"must be a finite number{bounds}, not {show(value)}")
        below = low is not None and (value <= low if open_low else value < low)
        above = high is not None and (value >= high if open_high else value > high)
        if below or above:
            raise self.error(key, f"is {value:g}: it must be {_range(low, high, open_low, open_high)}")
        return float(value)

    def text(self, key: str, default: Any = REQUIRED) -> str:
        value = self.value(key, default)
        if not isinstance(value, str) or not value:
            raise self.error(key, f"must be a non-empty string, not {show(value)}")
        return value

    def integers(self, key: str, low: int, high: int) -> list[int]:
        """A non-empty list of distinct whole numbers in [low, high]."""
        value = self.value(key)
        if (not isinstance(value, list) or not value or not all(_is_int(v) and low <= v <= high for v in value)
                or len(set(value)) != len(value)):
            shown = show(value) if not isinstance(value, list) else "[" + ", ".join(map(show, value[:10])) + "]"
            raise self.error(key, f"must be a list of distinct whole numbers in [{low}, {high}], not {shown}")
        return [int(v) for v in value]

    def entry(self, key: str) -> Entry | None:
        """The object under ``key``, or None when there is none."""
        if key not in self.data:
            return None
        return Entry(self.data[key], self.bundle, ".".join(p for p in (self.where, key) if p))

    def file_name(self, key: str, default: Any = REQUIRED, suffix: str = "") -> str:
        """A plain file name in the bundle folder: no folders, no ``..``, not absolute."""
        name = self.text(key, default)
        if "/" in name or "\\" in name or name in (".", "..") or "\0" in name:
            raise self.error(key, f"{show(name)} must be a plain file name in the bundle folder (no folders, "
                                  "no '..', not absolute)")
        if suffix and not name.endswith(suffix):
            raise self.error(key, f"{show(name)} must end in {suffix}")
        return name


def bundle_folder(directory: Path) -> Path:
    """The bundle folder, resolved (a bundle reached through a symlink is fine); one line if it is none."""
    try:
        real = directory.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        if _is_loop(exc):
            raise BundleError(f"model bundle {directory}: is a symlink loop") from None
        raise BundleError(f"model bundle {directory}: not a directory (no such folder)") from None
    if not real.is_dir():
        raise BundleError(f"model bundle {directory}: not a directory")
    return real


def _is_loop(exc: BaseException) -> bool:
    # Python 3.11 and 3.12 raise RuntimeError for a loop in Path.resolve, later ones OSError(ELOOP).
    return isinstance(exc, RuntimeError) or getattr(exc, "errno", None) == errno.ELOOP


def inside(bundle: Path, name: str, what: str, folder: bool = False) -> Path:
    """``bundle / name``, checked: it exists, is a file (or a folder), and resolves inside the bundle folder.

    ``name`` is a plain name (:meth:`Entry.file_name`); a symlink is followed only while it stays inside, so a
    bundle cannot make ielmscan read a file elsewhere on the machine, and a symlink loop is one line.
    """
    root = bundle_folder(bundle)
    path = bundle / name
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        problem = "is a symlink loop" if _is_loop(exc) else "is missing"
        raise BundleError(f"model bundle {bundle}: {what} {name} {problem}") from None
    if real == root:
        raise BundleError(f"model bundle {bundle}: {what} {name} is a link to the bundle folder itself")
    if root not in real.parents:
        raise BundleError(f"model bundle {bundle}: {what} {name} is a link to {real}, outside the bundle folder: "
                          "copy the file into the bundle instead")
    if folder != real.is_dir() or (not folder and not real.is_file()):
        raise BundleError(f"model bundle {bundle}: {what} {name} is not a {'folder' if folder else 'file'}")
    return path


def read_json(bundle: Path, path: Path, limit: int, kind: str) -> Any:
    """A JSON file of the bundle (the manifest, a tokenizer), parsed; refused beyond ``limit`` bytes: a real one is
    far smaller, and reading gigabytes would cost memory before any check. ``kind`` names what it should be."""
    try:
        if path.stat().st_size > limit:
            raise BundleError(f"model bundle {bundle}: {path.name} is larger than {limit // 2**20} MB: it is not {kind}")
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise BundleError(f"model bundle {bundle}: {path.name} is not valid JSON ({reason})") from None


def tensor_header(bundle: Path, path: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Each tensor's dtype and shape from a safetensors file's header, without reading the tensors.

    safetensors refuses a header that does not cover the file exactly, so a truncated file is caught here,
    as is anything that is not safetensors (a pickle renamed, say: it is never unpickled).
    """
    try:
        with safe_open(str(path), framework="numpy") as f:
            return {name: (f.get_slice(name).get_dtype(), tuple(f.get_slice(name).get_shape())) for name in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BundleError(f"model bundle {bundle}: {path.name} is not a readable safetensors file ({reason}); "
                          "bundles hold safetensors only (pickled .bin/.pt weights are never loaded)") from None


def check_tensors(bundle: Path, file: str, header: Mapping[str, tuple[str, tuple[int, ...]]],
                  expected: Mapping[str, tuple[int, ...]], dtypes: tuple[str, ...] = FLOAT_DTYPES) -> None:
    """The header holds exactly the ``expected`` tensors, each of its expected shape and a float dtype."""
    if set(header) != set(expected):
        missing = sorted(set(expected) - set(header))[:3]
        extra = sorted(set(header) - set(expected))[:3]
        raise BundleError(f"model bundle {bundle}: {file} does not match its config (missing {missing}, "
                          f"unexpected {extra})")
    for name, (dtype, shape) in header.items():
        if dtype not in dtypes:
            raise BundleError(f"model bundle {bundle}: {file}: tensor {name} is {dtype}: weights must be one of "
                              f"{', '.join(dtypes)}")
        if tuple(shape) != tuple(expected[name]):
            raise BundleError(f"model bundle {bundle}: {file}: {name} has shape {tuple(shape)}, config says "
                              f"{tuple(expected[name])}")


def check_finite(where: str, tensors: Mapping[str, Any]) -> None:
    """Every tensor (torch or NumPy) holds finite numbers: one NaN weight makes every score NaN, which a scan
    would report as windows skipped and a prediction as NA, with exit 0. ``where`` starts the message."""
    for name, tensor in tensors.items():
        # NumPy's test: torch's took 100 times as long on the shipped model (its thread pool).
        array = tensor.detach().float().numpy() if hasattr(tensor, "detach") else tensor
        if not np.isfinite(array).all():
            raise BundleError(f"{where}: tensor {name} holds NaN or infinite values")
