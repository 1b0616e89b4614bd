"""ielmscan's performance benchmarks, run with ``python benchmarks/run.py`` or ``python -m benchmarks.run``.

:mod:`benchmarks.harness` holds the bookkeeping (rows, timing, machine, table, JSON),
:mod:`benchmarks.reference` the iEnhancer-ELM-style pipeline the end-to-end section compares against,
:mod:`benchmarks.genomes` the generated and shared genomes, and :mod:`benchmarks.sections` one module
per section of the table. See benchmarks/README.md for what each number means.
"""
