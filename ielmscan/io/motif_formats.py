"""Motif files: position frequency matrices in MEME's minimal text format, and tab-separated tables.

``ielmscan motifs`` writes its motifs as MEME files (what Tomtom, FIMO and memelite read) and its
summary and matches as TSV tables with a header row; both are read back here, so the tests and a user's
own JASPAR/MEME file go through one parser. Letters are always A, C, G, T in that order.
"""
from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ielmscan.errors import InputError

ALPHABET = "ACGT"
_WIDTH = re.compile(r"\bw=\s*(\d+)")
_NSITES = re.compile(r"\bnsites=\s*([0-9.eE+-]+)")


@dataclass
class MemeMotif:
    """One motif of a MEME file: its name (``MOTIF`` line's first word), the rest of that line, and a
    (width, 4) letter-probability matrix over A, C, G, T; ``nsites`` is 0 where the file does not say."""

    name: str
    alt: str
    probabilities: np.ndarray
    nsites: int = 0


def write_meme(path: str | Path, motifs: Iterable[MemeMotif]) -> Path:
    """Write motifs in MEME's minimal format (version 4, DNA, both strands, uniform background)."""
    path = Path(path)
    lines = ["MEME version 4", "", f"ALPHABET= {ALPHABET}", "", "strands: + -", "",
             "Background letter frequencies", "A 0.25 C 0.25 G 0.25 T 0.25", ""]
    for motif in motifs:
        probs = np.asarray(motif.probabilities, dtype=np.float64)
        if probs.ndim != 2 or probs.shape[1] != 4 or not len(probs):
            raise ValueError(f"motif {motif.name}: probabilities must be (width, 4), got {probs.shape}")
        if re.search(r"\s", motif.name) or not motif.name:
            raise ValueError(f"motif name {motif.name!r} must be one word")
        lines.append(f"MOTIF {motif.name} {motif.alt}".rstrip())
        lines.append(f"letter-probability matrix: alength= 4 w= {len(probs)} nsites= {motif.nsites} E= 0")
        lines.extend(" ".join(f"{value:.6f}" for value in row) for row in probs)
        lines.append("")
    path.write_text("\n".join(lines) + "\n")
    return path


def read_meme(path: str | Path) -> list[MemeMotif]:
    """The motifs of a MEME text file (ours, JASPAR's or MEME's); rows are normalised to sum to 1.

    Raises :class:`InputError` naming the file and line for anything that is not a 4-letter matrix.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read MEME file {path}: {exc}") from None
    lines = text.splitlines()
    motifs: list[MemeMotif] = []
    name: str | None = None
    alt = ""
    number = 0
    while number < len(lines):
        line = lines[number].strip()
        number += 1
        if line.startswith("ALPHABET") and "ACGT" not in line.replace(" ", "").upper():
            raise InputError(f"{path}:{number}: only the DNA alphabet ACGT is supported ({line})")
        if line.startswith("MOTIF"):
            parts = line.split(maxsplit=2)
            if len(parts) < 2:
                raise InputError(f"{path}:{number}: MOTIF line without a name")
            name, alt = parts[1], parts[2] if len(parts) > 2 else ""
        elif line.startswith("letter-probability matrix"):
            if name is None:
                raise InputError(f"{path}:{number}: a matrix before any MOTIF line")
            width = _WIDTH.search(line)
            if width is None or int(width.group(1)) < 1:
                raise InputError(f"{path}:{number}: the matrix line does not give its width (w= N)")
            nsites = _NSITES.search(line)
            rows = []
            for _ in range(int(width.group(1))):
                while number < len(lines) and not lines[number].strip():
                    number += 1
                number += 1
                try:
                    row = [float(v) for v in lines[number - 1].split()] if number <= len(lines) else []
                except ValueError:
                    row = []
                if len(row) != 4 or not all(math.isfinite(v) and v >= 0 for v in row) or sum(row) <= 0:
                    raise InputError(f"{path}:{number}: motif {name}: expected 4 non-negative numbers per row "
                                     f"(A C G T) for w= {width.group(1)}")
                rows.append(row)
            probs = np.asarray(rows, dtype=np.float64)
            motifs.append(MemeMotif(name, alt, probs / probs.sum(1, keepdims=True),
                                    int(float(nsites.group(1))) if nsites else 0))
            name = None
    if not motifs:
        raise InputError(f"{path}: no motifs (a MOTIF line followed by a letter-probability matrix)")
    return motifs


def write_table(path: str | Path, columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> Path:
    """A TSV table with a header row; floats keep 4 significant digits (p-values in scientific notation)."""
    path = Path(path)

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return "nan" if math.isnan(value) else f"{value:.4g}"
        return "" if value is None else str(value)

    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([cell(row.get(column)) for column in columns])
    return path


def read_table(path: str | Path) -> list[dict[str, str]]:
    """The rows of a TSV table written by :func:`write_table`, as header → text dicts."""
    path = Path(path)
    try:
        with path.open(newline="") as handle:
            return list(csv.DictReader(handle, delimiter="\t"))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"cannot read table {path}: {exc}") from None
