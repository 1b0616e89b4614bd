"""Files: FASTA and genome access, intervals, output writers, paths, synthetic genomes. Reads and writes; no models."""
