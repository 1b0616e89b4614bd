"""Reading a scan's outputs back: PREFIX.json (the manifest's parameters), PREFIX.bw (the track) and PREFIX.bed.

Used by the genome evaluation (``ielmscan evaluate --scan``). Coordinates are 0-based, half-open.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyBigWig

from ielmscan.errors import GenomeError, InputError
from ielmscan.io.genome import Genome

__all__ = ["ScanOutputs", "check_file", "read_track"]

BIGWIG_MAGIC = (bytes.fromhex("26fc8f88"), bytes.fromhex("888ffc26"))  # either byte order
TRACK_CHUNK = 10_000_000  # bases of a chromosome whose bigWig entries are read at a time


@dataclass(frozen=True)
class ScanOutputs:
    """The files of a scan and the manifest's parameters that the evaluation needs."""

    prefix: str
    track: Path
    calls: Path
    manifest: Path
    genome: Path
    window: int
    stride: int
    threshold: float | None

    @classmethod
    def find(cls, prefix: str | Path, genome: str | Path | None = None) -> ScanOutputs:
        """PREFIX.bw, PREFIX.bed (or the `--tabix` PREFIX.bed.gz) and PREFIX.json, checked; ``genome`` overrides
        the manifest's FASTA."""
        prefix = str(prefix)
        track, calls, manifest = (Path(prefix + suffix) for suffix in (".bw", ".bed", ".json"))
        if not calls.exists() and Path(prefix + ".bed.gz").exists():
            calls = Path(prefix + ".bed.gz")
        for path, what in ((manifest, "scan manifest"), (track, "scan track"), (calls, "scan calls")):
            check_file(path, what)
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
            parameters = data["parameters"]
            window, stride = int(parameters["window"]), int(parameters["stride"])
            named = data["genome"]
            threshold = parameters.get("threshold")
            threshold = float(threshold) if threshold is not None else None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"scan manifest {manifest} is not readable JSON: {exc}") from None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InputError(f"scan manifest {manifest} has no valid parameters.window, parameters.stride and "
                             f"genome ({type(exc).__name__}: {exc}): is it an ielmscan scan's PREFIX.json?") from None
        if window < 1 or stride < 1:
            raise InputError(f"scan manifest {manifest}: window {window} and stride {stride} must be positive")
        if genome is None:
            fasta = Path(str(named))
            if not fasta.is_absolute() and not fasta.exists() and (manifest.parent / fasta).exists():
                fasta = manifest.parent / fasta  # a relative path written where the scan ran
            if not fasta.is_file():
                raise InputError(f"genome {fasta} named in scan manifest {manifest} not found: pass --genome FASTA")
        else:
            fasta = Path(genome)
            check_file(fasta, "genome")
        return cls(prefix, track, calls, manifest, fasta, window, stride, threshold)

    def summary(self) -> dict[str, Any]:
        """The files and parameters as the report gives them."""
        return {"prefix": self.prefix, "track": str(self.track), "calls": str(self.calls),
                "manifest": str(self.manifest), "genome": str(self.genome), "window": self.window,
                "stride": self.stride, "threshold": self.threshold}


def check_file(path: Path, what: str) -> None:
    """InputError naming ``what`` and the path unless it is an existing file."""
    if not path.exists():
        raise InputError(f"{what} {path} not found")
    if not path.is_file():
        raise InputError(f"{what} {path} is not a file")


def read_track(scan: ScanOutputs, genome: Genome) -> list[tuple[str, np.ndarray]]:
    """Every chromosome of the bigWig with its entries as an (n, 3) array of start, end, value."""
    # libBigWig writes its own complaints to stderr on a file that is not a bigWig: check the magic first.
    with open(scan.track, "rb") as fh:
        magic = fh.read(4)
    try:
        bw = pyBigWig.open(str(scan.track)) if magic in BIGWIG_MAGIC else None
    except RuntimeError:
        bw = None
    if bw is None or not bw.isBigWig():
        raise InputError(f"scan track {scan.track} is not a bigWig file")
    try:
        out = []
        for chrom, length in bw.chroms().items():
            try:
                if genome.length(chrom) != length:
                    raise InputError(f"scan track {scan.track}: {chrom} has {length} bases there but "
                                     f"{genome.length(chrom)} in genome {scan.genome}: not the genome scanned")
            except GenomeError:
                raise InputError(f"scan track {scan.track}: chromosome {chrom!r} is not in genome {scan.genome}: "
                                 "not the genome scanned (pass --genome FASTA)") from None
            pieces = []
            for a in range(0, length, TRACK_CHUNK):
                entries = np.array(bw.intervals(chrom, a, min(a + TRACK_CHUNK, length)) or [], dtype=np.float64)
                if len(entries):
                    pieces.append(entries[entries[:, 0] >= a])  # an entry across the boundary was read before
            entries = np.concatenate(pieces) if pieces else np.empty((0, 3))
            out.append((chrom, entries[np.isfinite(entries[:, 2])]))
        return out
    finally:
        bw.close()
