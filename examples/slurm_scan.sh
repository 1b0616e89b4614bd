#!/usr/bin/env bash
# Scan a genome as a SLURM batch job: one chromosome per array task, on the CPUs the job was given.
#
#   sbatch --array=1-24 examples/slurm_scan.sh genome.fa chroms.txt results/
#
# chroms.txt lists one chromosome name per line (e.g. `cut -f1 genome.fa.fai | head -24`). Each task
# writes results/<chrom>.bed, .bw and .json; outputs appear only when its scan completed, so a task
# that hits the time limit (SIGTERM) leaves nothing half-written and can simply be resubmitted.
# Index the FASTA once before submitting (`samtools faidx genome.fa`, or a first `ielmscan scan`), so
# that the array tasks do not all build the index at the same time.
#SBATCH --job-name=ielmscan
#SBATCH --cpus-per-task=8
#SBATCH --mem=4G
#SBATCH --time=04:00:00
set -euo pipefail

genome=$1
chroms=$2
outdir=$3
chrom=$(sed -n "${SLURM_ARRAY_TASK_ID}p" "$chroms")
mkdir -p "$outdir"

# On a GPU partition add `#SBATCH --gres=gpu:1`: --device auto then picks the GPU.
ielmscan scan "$genome" --chrom "$chrom" --threads "${SLURM_CPUS_PER_TASK:-1}" \
    --output "$outdir/$chrom" --quiet
