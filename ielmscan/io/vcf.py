"""VCF and BCF files through pysam: the records a command reads, and the same records written back with INFO
fields added (bgzip-compressed, with a tabix index).

Positions are 0-based inside (``VcfRecord.start`` is VCF POS - 1, the REF allele covers ``[start, start +
len(REF))``, half-open); messages name a record by its chromosome and the file's own 1-based ``POS``.

A file is read twice: a first pass checks every record (a parse error, an unsorted file) before any work
starts and learns the chromosomes it uses; the second pass yields the records. The second pass reads with a
header that already declares everything the first pass met undeclared (contigs, INFO keys), so the records
can be written out unchanged, only annotated.
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pysam

from ielmscan.errors import InputError, OutputError
from ielmscan.io.capture import captured_stderr, quiet_htslib
from ielmscan.io.tabix import tabix_index

__all__ = ["InfoField", "VcfReader", "VcfRecord", "VcfWriter", "index_vcf", "vcf_index_paths"]

# htslib guesses Type=String for an undeclared INFO key; pysam then cannot write END back (it syncs END
# as an integer), so the reserved keys a structural-variant record carries are declared as the spec does.
_RESERVED_INFO = {"END": ("1", "Integer", "End position of the variant (1-based, inclusive)")}


@dataclass(frozen=True)
class VcfRecord:
    """One record: where it lies (0-based), its alleles, and the pysam record to annotate and write back."""

    index: int  # 0-based order in the file
    chrom: str
    start: int  # 0-based start of REF: VCF POS - 1
    id: str  # "." when none
    ref: str
    alts: tuple[str, ...]  # empty when ALT is "."
    svtype: str | None  # INFO SVTYPE, when the record declares one
    raw: pysam.VariantRecord

    @property
    def pos(self) -> int:
        """The record's 1-based VCF POS (for messages)."""
        return self.start + 1


@dataclass(frozen=True)
class InfoField:
    """An INFO field a writer adds: one value per ALT allele (``Number=A``)."""

    name: str
    type: str  # Float, Integer or String
    description: str


def vcf_index_paths(path: Path) -> list[Path]:
    """The index files a VCF may have beside it (tabix, CSI): inputs too, never to be written over."""
    return [path.with_name(path.name + suffix) for suffix in (".tbi", ".csi")]


def _htslib_detail(log: str, fallback: str) -> str:
    """htslib's own error lines (``[E::vcf_parse] ...``) without their prefixes, else ``fallback``."""
    errors = [re.sub(r"^\[E::\w+\]\s*", "", line).strip() for line in log.splitlines() if line.startswith("[E::")]
    return "; ".join(e for e in errors if e) or fallback


def _open(path: Path) -> pysam.VariantFile:
    with captured_stderr() as log:
        try:
            return pysam.VariantFile(str(path))
        except (OSError, ValueError) as exc:
            failure = exc
    if isinstance(failure, ValueError) or "is it VCF/BCF" in str(failure):
        raise InputError(f"{path} is not a VCF or BCF file (plain, gzip or bgzip): "
                         f"{_htslib_detail(log.text, str(failure))}")
    raise InputError(f"cannot read VCF {path}: {_htslib_detail(log.text, str(failure))}")


class VcfReader:
    """A VCF or BCF file, checked whole when opened (parse errors, sort order); iterate :meth:`records`.

    ``records_total`` and ``contigs`` (records per chromosome, in file order) come from the first pass.
    The file must be sorted the way tabix needs: each chromosome's records together, by position.
    """

    def __init__(self, path: str | Path, contig_lengths: Mapping[str, int] | None = None) -> None:
        """``contig_lengths`` (a genome's) declare the chromosomes the file uses without declaring them."""
        self.path = Path(path)
        if not self.path.exists():
            raise InputError(f"VCF file {self.path} does not exist")
        if self.path.is_dir():
            raise InputError(f"VCF path {self.path} is a directory: give the VCF file inside it")
        self.contigs: dict[str, int] = {}
        self.records_total = 0
        first = _open(self.path)
        try:
            for key, (number, kind, description) in _RESERVED_INFO.items():
                if key not in first.header.info:
                    first.header.info.add(key, number, kind, description)
            self._check_records(first)
            self._file = _open(self.path)
            for name, length in (contig_lengths or {}).items():
                if name in self.contigs and name not in self._file.header.contigs:
                    self._file.header.contigs.add(name, length=length)
            # Declared before the second pass parses anything: its records then carry no undeclared key.
            self._file.header.merge(first.header)
        finally:
            first.close()
        self.header: pysam.VariantHeader = self._file.header

    def _check_records(self, vcf: pysam.VariantFile) -> None:
        done: set[str] = set()  # chromosomes whose records are behind us
        chrom, last = None, -1
        with captured_stderr() as log:
            failure: Exception | None = None
            try:
                for record in vcf:
                    if record.chrom != chrom:
                        if record.chrom in done:
                            raise InputError(
                                f"{self.path} is not sorted: records on {record.chrom} appear again after records on "
                                f"{chrom} (POS {record.pos}); sort it first, e.g. `bcftools sort -Oz -o "
                                f"sorted.vcf.gz {self.path.name}`")
                        if chrom is not None:
                            done.add(chrom)
                        chrom, last = record.chrom, -1
                    if record.pos < last:
                        raise InputError(f"{self.path} is not sorted: {chrom} POS {record.pos} comes after POS {last}; "
                                         f"sort it first, e.g. `bcftools sort -Oz -o sorted.vcf.gz {self.path.name}`")
                    last = record.pos
                    self.contigs[chrom] = self.contigs.get(chrom, 0) + 1
                    self.records_total += 1
            except (OSError, ValueError) as exc:
                if isinstance(exc, InputError):
                    raise
                failure = exc
        if failure is not None:
            where = f"after {chrom} POS {last}" if chrom is not None else "the first record"
            raise InputError(f"cannot read VCF {self.path}: record {self.records_total + 1} ({where}): "
                             f"{_htslib_detail(log.text, str(failure))}")

    def add_info(self, fields: Sequence[InfoField]) -> None:
        """Declare INFO fields; one the file already declares must have the same Number and Type."""
        for field in fields:
            existing = self.header.info.get(field.name)
            if existing is None:
                self.header.info.add(field.name, "A", field.type, field.description)
            elif existing.number != "A" or existing.type != field.type:
                raise InputError(f"{self.path} already declares INFO {field.name} as Number={existing.number}, "
                                 f"Type={existing.type}; ielmscan writes Number=A, Type={field.type}")

    def add_meta(self, key: str, value: str) -> None:
        """A ``##key=value`` header line (provenance)."""
        self.header.add_line(f"##{key}={value}")

    def records(self) -> Iterator[VcfRecord]:
        """Every record in file order (once)."""
        with quiet_htslib():
            for index, raw in enumerate(self._file):
                svtype = raw.info.get("SVTYPE") if "SVTYPE" in raw.header.info else None
                if isinstance(svtype, tuple):
                    svtype = svtype[0] if svtype else None
                yield VcfRecord(index, raw.chrom, raw.start, raw.id or ".", raw.ref or "", tuple(raw.alts or ()),
                                str(svtype) if svtype is not None else None, raw)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> VcfReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class VcfWriter:
    """Writes records read by a :class:`VcfReader` (after its header additions) as bgzip-compressed VCF."""

    def __init__(self, path: Path, reader: VcfReader, fields: Sequence[InfoField]) -> None:
        self.path = path
        self.source = reader.path
        self.fields = list(fields)
        with captured_stderr() as log:
            try:
                self._file = pysam.VariantFile(str(path), "wz", header=reader.header)
                failure = None
            except (OSError, ValueError) as exc:
                failure = exc
        if failure is not None:
            raise OutputError(f"cannot write {path}: {_htslib_detail(log.text, str(failure))}")

    def write(self, record: VcfRecord, values: Mapping[str, Sequence[float | str | None]]) -> None:
        """``record`` with ``values`` (one per ALT, None for '.') set; earlier values of the fields are dropped."""
        info = record.raw.info
        for field in self.fields:
            if field.name in info:
                del info[field.name]
        for name, per_allele in values.items():
            if any(v is not None for v in per_allele):
                info[name] = tuple(per_allele)
        try:
            with quiet_htslib():
                self._file.write(record.raw)
        except (TypeError, ValueError) as exc:
            raise InputError(f"{self.source}: record {record.chrom} POS {record.pos} cannot be written back "
                             f"out: {exc}") from exc
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc}") from exc

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> VcfWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def index_vcf(path: Path, index: Path) -> None:
    """Build the tabix index ``index`` of the bgzip-compressed, sorted VCF ``path`` (io.tabix's one indexer)."""
    tabix_index(path, index, preset="vcf")
