"""Known motifs to compare with: JASPAR's vertebrate collection (offline, from ``pyjaspar``) or a MEME file,
and a Tomtom comparison (``memelite``'s implementation) of ``ielmscan motifs``' matrices against them.

Both packages are the optional extra ``ielmscan[motifs]``: pyjaspar ships every JASPAR release as an SQLite
file inside its wheel, so nothing is downloaded at run time. Tomtom's p-values are memelite's; the q-values
are Benjamini–Hochberg over every query–target pair of the run (as Tomtom's), E-values are p times the
number of targets, and the similarity is the mean Pearson correlation of the aligned columns.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ielmscan.errors import InputError
from ielmscan.io.motif_formats import MemeMotif, read_meme
from ielmscan.learn.motifs import benjamini_hochberg

log = logging.getLogger(__name__)

DEFAULT_RELEASE = "JASPAR2026"  # the newest release pyjaspar 4.0 ships
COLLECTION, TAX_GROUP = "CORE", "vertebrates"
INSTALL = "pip install 'ielmscan[motifs]'"


@dataclass
class Database:
    """Motifs to compare with; ``name`` says where they came from (a release or a file)."""

    name: str
    motifs: list[MemeMotif]


@dataclass
class Match:
    """One known motif matched to a query motif (Tomtom's alignment of the two)."""

    target_id: str
    target_name: str
    p_value: float
    e_value: float
    q_value: float
    similarity: float  # mean Pearson correlation of the aligned columns, -1..1
    offset: int  # target column under the query's first column (negative: the query starts before it)
    overlap: int  # aligned columns
    strand: str  # "+", or "-" where the target's reverse complement matched


def _missing(package: str) -> InputError:
    return InputError(f"comparing motifs with a database needs the package {package}: {INSTALL} "
                      "(or --jaspar none to skip the comparison)")


def jaspar_releases() -> list[str]:
    """The JASPAR releases the installed pyjaspar ships."""
    try:
        import pyjaspar
    except ImportError:
        raise _missing("pyjaspar") from None
    return sorted(pyjaspar.jaspar_releases)


def load_database(source: str | Path) -> Database:
    """A MEME file's motifs (a path that exists), or a JASPAR release's CORE vertebrate motifs, latest
    version of each (``JASPAR2026``, ...), read offline through pyjaspar."""
    if Path(source).is_file():
        return Database(str(source), read_meme(source))
    name = str(source)
    releases = jaspar_releases()
    if name not in releases:
        raise InputError(f"--jaspar {name}: not a file, nor a JASPAR release pyjaspar ships "
                         f"({', '.join(releases)})")
    from pyjaspar import jaspardb

    motifs = []
    for motif in jaspardb(release=name).fetch_motifs(collection=COLLECTION, tax_group=[TAX_GROUP],
                                                     all_versions=False):
        counts = np.array([motif.counts[base] for base in "ACGT"], dtype=np.float64).T  # (width, 4)
        motifs.append(MemeMotif(motif.matrix_id, motif.name, counts / counts.sum(1, keepdims=True),
                                int(round(counts[0].sum()))))
    if not motifs:
        raise InputError(f"JASPAR release {name} has no {COLLECTION} {TAX_GROUP} motifs")
    return Database(f"{name} {COLLECTION} {TAX_GROUP}", motifs)


def check_comparison_packages(source: str | Path) -> None:
    """Fail early (before any analysis) when the comparison could not run."""
    try:
        import memelite  # noqa: F401
    except ImportError:
        raise _missing("memelite") from None
    if not Path(source).is_file():
        jaspar_releases()


def _similarity(query: np.ndarray, target: np.ndarray, offset: int, strand: str) -> float:
    """Mean Pearson correlation over the columns Tomtom aligned ((width, 4) matrices)."""
    if strand == "-":
        target = target[::-1, ::-1]
    rows = [i for i in range(len(query)) if 0 <= i + offset < len(target)]
    correlations = []
    for i in rows:
        a, b = query[i] - query[i].mean(), target[i + offset] - target[i + offset].mean()
        norm = np.linalg.norm(a) * np.linalg.norm(b)
        correlations.append(float(a @ b / norm) if norm > 0 else 0.0)
    return float(np.mean(correlations)) if correlations else 0.0


def compare(queries: list[np.ndarray], database: Database, top: int = 3) -> list[list[Match]]:
    """The ``top`` best matches (smallest p-value) of each (width, 4) query matrix in ``database``."""
    if not queries:
        return []
    try:
        from memelite import tomtom
    except ImportError:
        raise _missing("memelite") from None
    targets = [np.ascontiguousarray(m.probabilities.T) for m in database.motifs]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        p, _, offsets, overlaps, strands = tomtom([np.ascontiguousarray(q.T) for q in queries], targets)
    for warning in caught:  # e.g. too few targets for reliable p-values
        log.warning("%s", warning.message)
    p = np.clip(np.nan_to_num(p, nan=1.0), 0.0, 1.0)
    q = benjamini_hochberg(p.ravel()).reshape(p.shape)
    matches = []
    for row, query in enumerate(queries):
        found = []
        for column in np.argsort(p[row], kind="stable")[:top]:
            target = database.motifs[column]
            strand = "-" if strands[row, column] else "+"
            offset = int(offsets[row, column])
            found.append(Match(target.name, target.alt, float(p[row, column]),
                               float(p[row, column] * len(targets)), float(q[row, column]),
                               _similarity(query, target.probabilities, offset, strand), offset,
                               int(overlaps[row, column]), strand))
        matches.append(found)
    return matches
