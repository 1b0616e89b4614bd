"""ielmscan: genome-wide enhancer scanning with a multi-scale k-mer transformer ensemble."""
from __future__ import annotations

__version__ = "0.1.0"
