"""bgzip and tabix: text outputs written BGZF-compressed and their tabix (.tbi) index, through pysam's htslib;
the sequence lengths a .tbi index can hold."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ielmscan.errors import OutputError
from ielmscan.io.capture import captured_stderr
from ielmscan.io.temp_names import shown_name
from ielmscan.io.write_errors import failed_write, output_error

__all__ = ["check_tabix_lengths", "tabix_index"]


# A .tbi index holds positions below 2^29: longer sequences would need a CSI index.
TABIX_MAX_LENGTH = (1 << 29) - 1


def check_tabix_lengths(chrom_sizes: Iterable[tuple[str, int]]) -> None:
    """OutputError naming the first sequence too long for a tabix (.tbi) index, if any."""
    for name, length in chrom_sizes:
        if length > TABIX_MAX_LENGTH:
            raise OutputError(f"--tabix: {name} ({length:,} bp) is longer than a .tbi index can hold "
                              f"({TABIX_MAX_LENGTH:,} bp); write plain outputs and index them with a CSI index "
                              "(tabix --csi)")


class _BgzfText:
    """A text file written BGZF-compressed (what ``bgzip`` writes and tabix indexes), through pysam's htslib.

    Writes are gathered into pieces of about a megabyte; htslib's messages never reach the terminal; a failed
    write raises OSError with the cause a write there now gets (htslib does not keep errno).
    """

    _PIECE = 1 << 20

    def __init__(self, path: Path) -> None:
        import pysam  # here, so that importing io.tabix (`--help`) does not load htslib

        self.path = path
        with open(path, "wb"):  # htslib crashes the interpreter on an unwritable path: find out first, in Python
            pass
        with captured_stderr():
            self._file: Any = pysam.BGZFile(str(path), "wb")
        self._pending: list[bytes] = []
        self._size = 0

    def write(self, text: str) -> int:
        data = text.encode("utf-8")
        self._pending.append(data)
        self._size += len(data)
        if self._size >= self._PIECE:
            self._write_pending()
        return len(text)

    def _write_pending(self) -> None:
        if not self._pending:
            return
        data, self._pending, self._size = b"".join(self._pending), [], 0
        self._htslib(self._file.write, data)

    def _htslib(self, call: Callable[..., Any], *args: Any) -> Any:
        with captured_stderr():
            try:
                return call(*args)
            except OSError:
                pass
        raise failed_write(self.path, "htslib")

    def flush(self) -> None:
        self._write_pending()

    def close(self) -> None:
        if self._file is None:
            return
        try:
            self._write_pending()
        finally:
            bgzf, self._file = self._file, None
            self._htslib(bgzf.close)


def tabix_index(data: str | Path, index: str | Path, name: str | Path | None = None, preset: str = "bed") -> None:
    """Write the tabix (.tbi) index of BGZF file ``data`` to ``index``: BED-like lines by default (chrom, 0-based
    start, end; ``#`` lines skipped), or another of pysam's presets (``vcf``). The lines must be grouped by
    chromosome and sorted by start within each.

    htslib's messages never reach the terminal; a failure raises OutputError naming ``name`` (default: the
    index as the user knows it, :func:`shown_name`)."""
    import pysam

    name = Path(name) if name is not None else shown_name(index)
    with captured_stderr() as log:
        try:
            pysam.tabix_index(str(data), preset=preset, index=str(index), force=True)
            return
        except (OSError, ValueError):
            pass
    said = " ".join(log.text.split())
    if "unsorted" in said.lower():
        raise OutputError(f"cannot write tabix index {name}: the lines are not sorted ({said})")
    raise output_error(f"cannot write tabix index {name}", failed_write(Path(index), "htslib"))

