"""FASTA records: the one reader of small sequence files and the one writer of FASTA.

Genomes are read through :mod:`ielmscan.io.genome` (indexed, streamed); this module reads files of
labelled or query sequences whole, and writes any records with 60-column lines.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ielmscan.errors import InputError

LINE_WIDTH = 60


def read_fasta(path: str | Path) -> list[tuple[str, str]]:
    """(name, sequence) records of a small FASTA file; name = header up to the first space."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read FASTA {path}: {exc}") from None
    records: list[tuple[str, list[str]]] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if line.startswith(">"):
            records.append((line[1:].split(maxsplit=1)[0] if len(line) > 1 else "", []))
        elif not records:
            raise InputError(f"{path}:{number}: not a FASTA file (sequence before the first '>' header)")
        else:
            records[-1][1].append(line)
    if not records:
        raise InputError(f"{path}: no FASTA records")
    return [(name, "".join(parts)) for name, parts in records]


def write_fasta(path: str | Path, records: Iterable[tuple[str, bytes | bytearray | str]], description: str = "") -> Path:
    """Write records as FASTA with 60-column lines."""
    path = Path(path)
    with path.open("wb") as fh:
        for name, seq in records:
            data = seq.encode() if isinstance(seq, str) else bytes(seq)
            fh.write(f">{name}{' ' + description if description else ''}\n".encode())
            for i in range(0, len(data), LINE_WIDTH):
                fh.write(data[i : i + LINE_WIDTH] + b"\n")
    return path
