#!/usr/bin/env bash
# Scan a genome on SLURM in N shards (one array task each), then merge them in a job that waits for all of
# them. The merged OUT.bed, OUT.bw and OUT.json are what one unsplit `ielmscan scan` would have written.
#
# Submit both from a login node with one command (extra arguments go to every shard's `ielmscan scan`):
#
#   bash examples/slurm_scan.sh genome.fa 16 results/hg38 --model DIR
#
# or by hand, which is what that does:
#
#   jid=$(sbatch --parsable --array=1-16 examples/slurm_scan.sh genome.fa 16 results/hg38 --model DIR)
#   sbatch --dependency=afterok:$jid --kill-on-invalid-dep=yes --job-name=ielmscan-merge \
#       --cpus-per-task=1 --mem=4G --time=01:00:00 examples/slurm_scan.sh --merge genome.fa 16 results/hg38
#
# Task i runs `ielmscan scan genome.fa --shard i/16 --resume -o results/hg38.shards/i-of-16`; the merge job
# runs `ielmscan merge` on the 16 shards. Rerun one task with `sbatch --array=7 examples/slurm_scan.sh ...`
# (same arguments), then submit the merge again.
#
# Interruptions: every task keeps its finished chunks in results/hg38.shards/i-of-16.checkpoint, and
# `--resume` continues from there, so a task that is killed, pre-empted or out of time loses at most the
# chunk it was scoring. `--signal=B:USR1@300` asks SLURM to warn this script 5 minutes before the time
# limit: it then stops the scan with SIGTERM (the checkpoint is kept, exit 143) and requeues the task, which
# starts again with the same arguments and resumes (`--requeue`, at most IELMSCAN_MAX_REQUEUES=5 times).
# Without the warning, SLURM's own SIGTERM at the limit keeps the checkpoint too: resubmit the task and it
# resumes. `--open-mode=append` keeps the log of every attempt in one file.
#
# Index the FASTA once before submitting (`samtools faidx genome.fa`, or a first `ielmscan scan`), so that
# the tasks do not all build the same index. Sizes (memory, time per Gb, GPUs): docs/hpc.md. On a GPU
# partition add `#SBATCH --gres=gpu:1` (or --gpus=1): --device auto then picks the GPU.
#SBATCH --job-name=ielmscan
#SBATCH --cpus-per-task=8
#SBATCH --mem=4G
#SBATCH --time=04:00:00
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --signal=B:USR1@300
set -euo pipefail

usage="usage: bash $0 GENOME N OUT [ielmscan scan options...]   (see the comments at the top)"
merge=0
if [ "${1:-}" = "--merge" ]; then
    merge=1
    shift
fi
[ $# -ge 3 ] || { echo "$usage" >&2; exit 2; }
genome=$1
shards=$2
out=$3
shift 3
case $shards in '' | *[!0-9]* | 0) echo "N must be a whole number above 0, not '$shards'" >&2; exit 2 ;; esac
parts="$out.shards"  # this run's shards: $parts/i-of-N.scores, .json (and .checkpoint while unfinished)

if [ "$merge" = 1 ]; then
    prefixes=()
    for i in $(seq 1 "$shards"); do prefixes+=("$parts/$i-of-$shards"); done
    trap '' USR1  # the time-limit warning is for the shard tasks: the merge simply goes on
    exec ielmscan merge "${prefixes[@]}" -o "$out"
fi

if [ -z "${SLURM_ARRAY_TASK_ID:-}" ]; then
    if [ -n "${SLURM_JOB_ID:-}" ]; then
        echo "this job is not an array: submit the shards with sbatch --array=1-$shards, or run this script" \
            "with bash on a login node to submit everything" >&2
        exit 2
    fi
    # Not an array task: submit the N shard tasks and the merge that waits for them.
    mkdir -p "$parts"
    jid=$(sbatch --parsable --array="1-$shards" "$0" "$genome" "$shards" "$out" "$@")
    jid=${jid%%;*}  # --parsable prints "jobid" or "jobid;cluster"
    sbatch --parsable --dependency="afterok:$jid" --kill-on-invalid-dep=yes --job-name=ielmscan-merge \
        --cpus-per-task=1 --mem=4G --time=01:00:00 "$0" --merge "$genome" "$shards" "$out"
    echo "submitted shards (array job $jid) and their merge into $out.bed, .bw and .json" >&2
    exit 0
fi

i=$SLURM_ARRAY_TASK_ID
if [ "$i" -lt 1 ] || [ "$i" -gt "$shards" ]; then
    echo "array task $i is not a shard of $shards: submit with --array=1-$shards" >&2
    exit 2
fi
mkdir -p "$parts"

# Run the scan in the background so that this shell can act on SLURM's warning while it runs.
requeue_on_warning() {
    kill -TERM "$scan" 2>/dev/null || true
    wait "$scan" || true  # exit 143: it stopped after saving its checkpoint
    if [ "${SLURM_RESTART_COUNT:-0}" -lt "${IELMSCAN_MAX_REQUEUES:-5}" ]; then
        echo "time limit near: shard $i/$shards requeued; it resumes from its checkpoint" >&2
        scontrol requeue "$SLURM_JOB_ID"
    else
        echo "time limit near and requeued ${SLURM_RESTART_COUNT} times: resubmit task $i, it resumes" >&2
    fi
    exit 143
}
trap requeue_on_warning USR1

ielmscan scan "$genome" --shard "$i/$shards" --resume --threads "${SLURM_CPUS_PER_TASK:-1}" \
    --output "$parts/$i-of-$shards" "$@" &
scan=$!
status=0
wait "$scan" || status=$?
# A USR1 interrupts `wait`; the trap then ends the script, so only the scan's own end gets here.
exit "$status"
