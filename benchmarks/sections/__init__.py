"""The benchmark sections, one module each, in the order of the table: each ``bench_*`` function appends
its :class:`benchmarks.harness.Row` objects to ``rows`` and its raw numbers to ``details``."""
