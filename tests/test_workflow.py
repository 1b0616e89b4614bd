"""The cluster examples work as docs/hpc.md says: the Snakemake workflow (examples/workflow/) and the Slurm
array script (examples/slurm_scan.sh) scan a genome in shards, resume interrupted shards, and merge them
into exactly the outputs of one scan."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ielmscan.cli import app
from ielmscan.io.score_store import read_store
from ielmscan.io.synthetic import write_synthetic_genome

from tests.bundles import random_bundle
from tests.scans import assert_same_outputs

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
WORKFLOW = EXAMPLES / "workflow"
SLURM_SCRIPT = EXAMPLES / "slurm_scan.sh"
# The options of every scan below. Small chunks give each shard several; stride 10 makes a chunk slow enough
# to interrupt a scan between two of them; the random model's probabilities lie near 0.02, so this
# threshold calls regions, some of them across shard boundaries.
OPTIONS = ["--chunk-size", "2000", "--stride", "10", "--threshold", "0.019", "--precision", "fp32"]
needs_bash = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A folder with a generated genome (g.fa) and a tiny random model (model/)."""
    folder = tmp_path_factory.mktemp("workflow")
    random_bundle(folder / "model", ks=(3,), hidden=16)
    write_synthetic_genome(folder / "g.fa", {"chr1": 50_000, "chr2": 12_000, "chr3": 120}, seed=4)
    return folder


@pytest.fixture(scope="module")
def case(inputs):
    """The inputs and the outputs of one unsplit scan of them (``single``)."""
    folder = inputs
    result = CliRunner().invoke(app, ["scan", str(folder / "g.fa"), "--model", str(folder / "model"), *OPTIONS,
                                      "--device", "cpu", "--threads", "1", "-q", "-o", str(folder / "single")])
    assert result.exit_code == 0, result.output
    assert len(Path(folder / "single.bed").read_text().splitlines()) >= 5  # something to compare
    return folder


def same_outputs(merged: Path, single: Path) -> None:
    assert_same_outputs(merged, single)
    assert json.loads(Path(f"{merged}.json").read_text())["regions"] == json.loads(
        Path(f"{single}.json").read_text())["regions"]


def environment(**extra: str) -> dict[str, str]:
    """This environment with the `ielmscan` console script (beside this Python) first on PATH."""
    path = os.pathsep.join([*extra.pop("PREPEND", "").split(os.pathsep), str(Path(sys.executable).parent),
                            os.environ.get("PATH", "")])
    return {**os.environ, **extra, "PATH": path.lstrip(os.pathsep)}


def interrupt_after_chunks(proc: subprocess.Popen, checkpoint: Path, sig: int, chunks: int = 2) -> tuple[str, str]:
    """Send ``sig`` to ``proc`` once its scan has saved ``chunks`` chunks in ``checkpoint``; returns its output.

    Two, not one: a scan stopped while it is still syncing its first chunk to disk counts no chunk saved
    and removes the checkpoint (the chunk is lost, which costs a rerun a chunk, not a test a failure)."""
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            if len(read_store(checkpoint)[1]) >= chunks:
                proc.send_signal(sig)
                return proc.communicate(timeout=60)
        except Exception:  # not there yet, or a record half written
            pass
        time.sleep(0.02)
    proc.kill()
    raise AssertionError(f"the scan ended before it checkpointed {chunks} chunks: {proc.communicate()}")


# -- the Snakemake workflow -------------------------------------------------------------------------------


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(WORKFLOW / "Snakefile"),
                           "--directory", str(workdir), *args], env=environment(), capture_output=True, text=True)


def workflow_config(folder: Path, shards: int = 3) -> list[str]:
    return ["--config", f"genome={folder / 'g.fa'}", f"model={folder / 'model'}", f"shards={shards}", "threads=1",
            "device=cpu", f"scan_options={' '.join(OPTIONS)}", "name=g"]


@pytest.mark.slow
def test_workflow_in_three_shards_resumes_an_interrupted_shard_and_merges_into_one_scans_outputs(case, tmp_path):
    pytest.importorskip("snakemake")
    shards = tmp_path / "results" / "shards"
    shards.mkdir(parents=True)
    # Shard 2 was stopped by a time limit in an earlier attempt (the command the workflow runs): its
    # checkpoint is there, and a shard job without --resume would refuse to start over it.
    earlier = subprocess.Popen(
        [sys.executable, "-m", "ielmscan", "scan", str(case / "g.fa"), "--model", str(case / "model"), "--shard",
         "2/3", "--resume", "--threads", "1", "--device", "cpu", *OPTIONS, "-o", str(shards / "g.2-of-3")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    interrupt_after_chunks(earlier, shards / "g.2-of-3.checkpoint", signal.SIGTERM)
    assert earlier.returncode == 143
    saved = len(read_store(shards / "g.2-of-3.checkpoint")[1])

    proc = snakemake(tmp_path, "--cores", "2", *workflow_config(case))
    assert proc.returncode == 0, proc.stderr[-3000:]
    same_outputs(tmp_path / "results" / "g", case / "single")
    assert not list(shards.glob("*.checkpoint"))
    manifests = [json.loads((shards / f"g.{i}-of-3.json").read_text()) for i in (1, 2, 3)]
    assert [m["shard"] for m in manifests] == [{"index": i, "count": 3} for i in (1, 2, 3)]
    assert all(m["parameters"]["scoring_workers"] == 1 for m in manifests)  # the config's threads
    # The resumed shard holds every chunk it owns, the saved ones included.
    assert len(read_store(shards / "g.2-of-3.scores")[1]) == manifests[1]["chunks"] > saved


@pytest.mark.parametrize("profile, expect", [("slurm", "runtime=240"), ("slurm-gpu", "gpu=1")])
def test_slurm_profiles_plan_resumable_shard_jobs_with_their_resources(inputs, tmp_path, profile, expect):
    pytest.importorskip("snakemake")
    pytest.importorskip("snakemake_executor_plugin_slurm")
    # A dry run checks the profile against Snakemake and the plugin (an unknown key is an error) and
    # submits nothing; --cores lifts the dry run's one-core cap on threads.
    proc = snakemake(tmp_path, "--dry-run", "--cores", "64", "--profile", str(WORKFLOW / "profiles" / profile),
                     *workflow_config(inputs, shards=4))
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    out = proc.stdout + proc.stderr
    scans = [line for line in out.splitlines() if "ielmscan scan" in line and "Shell command" in line]
    assert len(scans) == 4
    assert all("--resume" in line and "--device cpu" in line for line in scans)
    assert sorted(line.split("--shard ")[1].split()[0] for line in scans) == ["1/4", "2/4", "3/4", "4/4"]
    assert sum("ielmscan merge" in line for line in out.splitlines() if "Shell command" in line) == 1
    assert expect in out


@pytest.mark.parametrize("given, merge_options, outputs", [
    (["bedgraph=true", "tabix=false"], ["--bedgraph"], "results/g.bed, results/g.bedGraph, results/g.bw"),
    (["bedgraph=no", "tabix=True"], ["--tabix"], "results/g.bed.gz, results/g.bed.gz.tbi, results/g.bw"),
])
def test_workflow_yes_no_settings_read_as_written_on_the_command_line(inputs, tmp_path, given, merge_options, outputs):
    pytest.importorskip("snakemake")
    proc = snakemake(tmp_path, "--dry-run", "--printshellcmds", "--cores", "1", *workflow_config(inputs), *given)
    assert proc.returncode == 0, proc.stderr[-3000:]
    merge = next(line for line in proc.stdout.splitlines() if line.startswith("Shell command: ielmscan merge"))
    assert [word for word in merge.split() if word in ("--bedgraph", "--tabix")] == merge_options
    assert f"output: {outputs}" in proc.stdout


# -- the Slurm array script ---------------------------------------------------------------------------------

# Stands in for sbatch: records the call and runs the job at once (array tasks one after another, with the
# variables SLURM sets), printing the job id as `sbatch --parsable` does.
FAKE_SBATCH = """#!/usr/bin/env bash
echo "$*" >> "$SBATCH_CALLS"
array=
while [ $# -gt 0 ]; do
  case $1 in --array=*) array=${1#--array=} ;; --*) ;; *) break ;; esac
  shift
done
script=$1; shift
if [ -n "$array" ]; then
  for i in $(seq "${array%-*}" "${array#*-}"); do
    SLURM_JOB_ID=$((100 + i)) SLURM_ARRAY_JOB_ID=100 SLURM_ARRAY_TASK_ID=$i SLURM_CPUS_PER_TASK=2 \\
      bash "$script" "$@" >&2 || exit 1
  done
  echo 100
else
  SLURM_JOB_ID=200 SLURM_CPUS_PER_TASK=1 bash "$script" "$@" >&2 || exit 1
  echo 200
fi
"""


def fake_commands(folder: Path) -> dict[str, str]:
    """A folder with a fake sbatch and a fake scontrol that records its arguments; the environment to use."""
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(FAKE_SBATCH)
    (bin_dir / "scontrol").write_text('#!/usr/bin/env bash\necho "$*" >> "$SCONTROL_CALLS"\n')
    for name in ("sbatch", "scontrol"):
        (bin_dir / name).chmod(0o755)
    return environment(PREPEND=str(bin_dir), SBATCH_CALLS=str(folder / "sbatch.calls"),
                       SCONTROL_CALLS=str(folder / "scontrol.calls"))


@needs_bash
@pytest.mark.slow
def test_slurm_script_submits_one_task_per_shard_and_a_merge_that_equal_one_scan(case, tmp_path):
    env = fake_commands(tmp_path)
    out = tmp_path / "results" / "g"
    proc = subprocess.run(["bash", str(SLURM_SCRIPT), str(case / "g.fa"), "3", str(out), "--model",
                           str(case / "model"), *OPTIONS], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    array, merge = (tmp_path / "sbatch.calls").read_text().splitlines()
    assert "--array=1-3" in array.split() and "--model" in array.split()
    assert "--dependency=afterok:100" in merge.split() and "--merge" in merge.split()
    same_outputs(out, case / "single")
    for i in (1, 2, 3):  # each task scanned its shard on the CPUs the job was given
        manifest = json.loads((tmp_path / "results" / "g.shards" / f"{i}-of-3.json").read_text())
        assert manifest["shard"] == {"index": i, "count": 3}
        assert manifest["parameters"]["scoring_workers"] == 2


@needs_bash
@pytest.mark.slow
def test_slurm_task_warned_of_its_time_limit_keeps_its_checkpoint_requeues_itself_and_resumes(case, tmp_path):
    env = fake_commands(tmp_path)
    out = tmp_path / "results" / "g"
    args = ["bash", str(SLURM_SCRIPT), str(case / "g.fa"), "3", str(out), "--model", str(case / "model"), *OPTIONS]
    task = {"SLURM_JOB_ID": "102", "SLURM_ARRAY_TASK_ID": "2", "SLURM_CPUS_PER_TASK": "1"}
    checkpoint = tmp_path / "results" / "g.shards" / "2-of-3.checkpoint"
    # What `#SBATCH --signal=B:USR1@300` does 5 minutes before the time limit: USR1 to the batch shell.
    proc = subprocess.Popen(args, env={**env, **task}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, err = interrupt_after_chunks(proc, checkpoint, signal.SIGUSR1)
    assert proc.returncode == 143, err
    assert (tmp_path / "scontrol.calls").read_text().split() == ["requeue", "102"]
    assert checkpoint.exists() and not (checkpoint.parent / "2-of-3.json").exists()
    saved = len(read_store(checkpoint)[1])

    # SLURM starts the requeued task again with the same script and arguments; it resumes.
    again = subprocess.run(args, env={**env, **task, "SLURM_RESTART_COUNT": "1"}, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(read_store(checkpoint.parent / "2-of-3.scores")[1]) > saved
    for i in ("1", "3"):
        done = subprocess.run(args, env={**env, **task, "SLURM_ARRAY_TASK_ID": i}, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-3000:]
    merged = subprocess.run(["bash", str(SLURM_SCRIPT), "--merge", str(case / "g.fa"), "3", str(out)],
                            env={**env, "SLURM_JOB_ID": "200"}, capture_output=True, text=True)
    assert merged.returncode == 0, merged.stderr[-3000:]
    same_outputs(out, case / "single")


@needs_bash
@pytest.mark.parametrize("args, env, words", [
    (["g.fa", "3"], {}, "usage"),
    (["g.fa", "three", "out"], {}, "whole number"),
    (["g.fa", "3", "out"], {"SLURM_ARRAY_TASK_ID": "4", "SLURM_JOB_ID": "104"}, "--array=1-3"),
    (["g.fa", "3", "out"], {"SLURM_JOB_ID": "7"}, "not an array"),
])
def test_slurm_script_misuse_is_one_message_and_exit_2(tmp_path, args, env, words):
    clean = {k: v for k, v in environment().items() if not k.startswith("SLURM_")}
    proc = subprocess.run(["bash", str(SLURM_SCRIPT), *args], env={**clean, **env}, capture_output=True, text=True,
                          cwd=tmp_path)
    assert proc.returncode == 2
    assert words in proc.stderr and len(proc.stderr.strip().splitlines()) <= 2
