"""A scan killed after any number of chunks, resumed, equals an uninterrupted one; a wrong resume is refused."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from ielmscan.errors import InputError, OutputError
from ielmscan.inference.merge import run_merge
from ielmscan.inference.plan import Shard
from ielmscan.inference.scan import ScanParams, run_scan
from ielmscan.inference.scorer import ScorerSettings
from ielmscan.io.score_store import ScoreStore, read_store
from ielmscan.io.synthetic import write_synthetic_genome
from ielmscan.model.bundle import load_bundle, save_bundle
from ielmscan.model.calibration import Calibration

from tests.bundles import gc_bundle, gc_probability

PARAMS = ScanParams(window=200, stride=50, chunk_size=600, max_p=0.05,
                    scorer=ScorerSettings(device="cpu", precision="fp32"))


class Killed(BaseException):
    """Stands for a kill: nothing after it runs in the scan (like SIGKILL, but in-process)."""


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("resume")
    genome = write_synthetic_genome(folder / "g.fa", {"chr1": 6_000, "chr2": 3_000}, seed=5)
    bundle = gc_bundle(folder / "gc")
    background = gc_probability(np.random.default_rng(0).normal(0.41, 0.03, size=400).clip(0, 1))
    bundle.calibration = Calibration(background.astype(np.float32), {"genome": "test", "window": 200})
    save_bundle(bundle, folder / "gc", force=True)
    bundle = load_bundle(folder / "gc")
    run_scan(genome, bundle, PARAMS, str(folder / "whole"))
    return folder, genome, bundle


def outputs(prefix: Path) -> tuple[bytes, bytes]:
    return Path(f"{prefix}.bed").read_bytes(), Path(f"{prefix}.bw").read_bytes()


def killed_scan(monkeypatch: pytest.MonkeyPatch, chunks: int, *args, **kwargs) -> Killed:
    """Run ``run_scan(*args, **kwargs)`` killed after its ``chunks``-th checkpointed chunk; the kill it died of."""
    with monkeypatch.context() as patch:
        kill_after(patch, chunks)
        with pytest.raises(Killed) as stopped:
            run_scan(*args, **kwargs)
    return stopped.value


def kill_after(monkeypatch: pytest.MonkeyPatch, chunks: int) -> None:
    """Make the scan die right after its ``chunks``-th chunk reached the checkpoint."""
    original = ScoreStore.append

    def append(self, chunk):
        original(self, chunk)
        if self.appended >= chunks:
            raise Killed()

    monkeypatch.setattr(ScoreStore, "append", append)


@pytest.mark.parametrize("chunks", [1, 7, 19])
def test_killed_then_resumed_equals_an_uninterrupted_run(setup, tmp_path, monkeypatch, caplog, chunks):
    folder, genome, bundle = setup
    prefix = tmp_path / "run"
    stopped = killed_scan(monkeypatch, chunks, genome, bundle, PARAMS, str(prefix))
    checkpoint = Path(f"{prefix}.checkpoint")
    assert len(read_store(checkpoint)[1]) == chunks
    assert not Path(f"{prefix}.bed").exists() and not Path(f"{prefix}.json").exists()  # nothing looks complete
    # What the command line adds to its one error line: what is kept, and how to go on.
    assert stopped.__notes__ == [f"{chunks} finished chunk(s) are kept in {checkpoint}: run the same command "
                                       "with --resume to continue"]
    with caplog.at_level(logging.INFO):
        manifest = run_scan(genome, bundle, PARAMS, str(prefix), resume=True)
    assert f"{chunks} chunk(s) already scored" in caplog.text
    assert outputs(prefix) == outputs(folder / "whole")
    assert manifest["regions"] > 0 and not checkpoint.exists()


def test_a_record_torn_by_the_kill_is_scored_again(setup, tmp_path, monkeypatch):
    folder, genome, bundle = setup
    prefix = tmp_path / "run"
    killed_scan(monkeypatch, 4, genome, bundle, PARAMS, str(prefix))
    checkpoint = Path(f"{prefix}.checkpoint")
    checkpoint.write_bytes(checkpoint.read_bytes()[:-7])
    run_scan(genome, bundle, PARAMS, str(prefix), resume=True)
    assert outputs(prefix) == outputs(folder / "whole")


def test_a_checkpoint_is_never_discarded_silently(setup, tmp_path, monkeypatch):
    folder, genome, bundle = setup
    prefix = tmp_path / "run"
    killed_scan(monkeypatch, 2, genome, bundle, PARAMS, str(prefix))
    with pytest.raises(OutputError, match="add --resume to continue it, or --force"):
        run_scan(genome, bundle, PARAMS, str(prefix))
    assert len(read_store(Path(f"{prefix}.checkpoint"))[1]) == 2
    run_scan(genome, bundle, PARAMS, str(prefix), force=True)  # starts over
    assert outputs(prefix) == outputs(folder / "whole")


@pytest.mark.parametrize("change, words", [
    (dict(params=ScanParams(window=200, stride=25, chunk_size=600, max_p=0.05, scorer=PARAMS.scorer)), "stride"),
    (dict(params=ScanParams(window=200, stride=50, chunk_size=900, max_p=0.05, scorer=PARAMS.scorer)), "chunk_size"),
    (dict(chroms=["chr1"]), "chromosomes or regions"),
    (dict(model="random"), "model"),
    (dict(genome="other"), "genome"),
])
def test_resuming_with_another_run_is_refused(setup, tmp_path, monkeypatch, random_bundle_dir, change, words):
    folder, genome, bundle = setup
    prefix = tmp_path / "run"
    killed_scan(monkeypatch, 2, genome, bundle, PARAMS, str(prefix))
    other_genome = write_synthetic_genome(tmp_path / "other.fa", {"chr1": 6_000, "chr2": 3_000}, seed=6)
    with pytest.raises(InputError, match=words) as err:
        run_scan(other_genome if change.get("genome") else genome,
                 load_bundle(random_bundle_dir) if change.get("model") else bundle,
                 change.get("params", PARAMS), str(prefix), chroms=change.get("chroms"), resume=True)
    assert "checkpoint" in str(err.value)
    assert len(read_store(Path(f"{prefix}.checkpoint"))[1]) == 2  # kept for the right command


def test_resume_without_a_checkpoint_scans_from_the_start(setup, tmp_path, caplog):
    folder, genome, bundle = setup
    with caplog.at_level(logging.INFO):
        run_scan(genome, bundle, PARAMS, str(tmp_path / "run"), resume=True)
    assert "scanning from the start" in caplog.text  # said, not warned: every first batch job passes --resume
    assert outputs(tmp_path / "run") == outputs(folder / "whole")


def test_a_killed_shard_resumes_and_merges_to_the_single_run(setup, tmp_path, monkeypatch):
    folder, genome, bundle = setup
    prefixes = [str(tmp_path / f"part{i}") for i in (1, 2)]
    run_scan(genome, bundle, PARAMS, prefixes[0], shard=Shard(0, 2))
    killed_scan(monkeypatch, 3, genome, bundle, PARAMS, prefixes[1], shard=Shard(1, 2))
    assert not Path(f"{prefixes[1]}.json").exists()
    with pytest.raises(InputError, match="did not finish"):
        run_merge(prefixes, str(tmp_path / "merged"))
    run_scan(genome, bundle, PARAMS, prefixes[1], shard=Shard(1, 2), resume=True)
    run_merge(prefixes, str(tmp_path / "merged"))
    assert outputs(tmp_path / "merged") == outputs(folder / "whole")
