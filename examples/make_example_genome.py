"""Write the bundled example genome: a small SYNTHETIC genome (random sequence, not from any organism).

Usage: python examples/make_example_genome.py [OUTPUT.fa]   (default: examples/example_genome.fa)
"""
from __future__ import annotations

import sys
from pathlib import Path

from ielmscan.io.synthetic import write_synthetic_genome

# Three chromosomes, one shorter than a window's worth of bases would still be scanned without error.
LENGTHS = {"chrSyn1": 300_000, "chrSyn2": 150_000, "chrSynM": 16_569}

if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("example_genome.fa")
    write_synthetic_genome(out, LENGTHS, seed=2023)
    print(f"wrote synthetic example genome {out} ({sum(LENGTHS.values()):,} bp)", file=sys.stderr)
