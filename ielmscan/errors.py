"""Exception types that the CLI turns into one line on stderr and a non-zero exit."""
from __future__ import annotations


class IelmscanError(Exception):
    """Base class for errors caused by the user's input, files or environment."""


class InputError(IelmscanError, ValueError):
    """An input file or parameter is missing, malformed or out of range."""


class GenomeError(InputError):
    """A FASTA file cannot be opened or indexed, or a chromosome/interval is not in it."""


class BundleError(InputError):
    """A model bundle is missing, malformed or inconsistent."""


class OutputError(IelmscanError, OSError):
    """An output file or folder cannot be written."""
