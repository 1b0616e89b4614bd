"""Shards + merge equal a single run; mismatched or incomplete shard sets are refused by name."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyBigWig
import pysam
import pytest

from ielmscan.errors import InputError
from ielmscan.inference.merge import run_merge
from ielmscan.inference.plan import ScanPlan, Shard
from ielmscan.inference.scan import ScanParams, run_scan
from ielmscan.inference.scorer import ScorerSettings
from ielmscan.io.intervals import Interval
from ielmscan.io.synthetic import write_synthetic_genome
from ielmscan.model.bundle import load_bundle, save_bundle
from ielmscan.model.calibration import Calibration

from tests.bundles import gc_bundle, gc_probability

LENGTHS = {"chr1": 9_000, "chr2": 150, "chr3": 4_000, "chrM": 1_700}
# Small chunks, so that a chromosome is split between shards and regions cross shard boundaries.
PARAMS = ScanParams(window=200, stride=50, chunk_size=600, max_p=0.05, scorer=ScorerSettings(device="cpu", precision="fp32"))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("merge")
    genome = write_synthetic_genome(folder / "g.fa", LENGTHS, seed=3)
    bundle = gc_bundle(folder / "gc")
    # A background of GC fractions around the genome's, so that p-values, calls and q-values all matter.
    background = gc_probability(np.random.default_rng(0).normal(0.41, 0.03, size=400).clip(0, 1))
    bundle.calibration = Calibration(background.astype(np.float32), {"genome": "test", "window": 200})
    save_bundle(bundle, folder / "gc", force=True)
    bundle = load_bundle(folder / "gc")
    single = run_scan(genome, bundle, PARAMS, str(folder / "single"), bedgraph=True)
    assert single["regions"] >= 6
    return folder, genome, bundle, single


def shard_run(folder: Path, genome: Path, bundle, count: int, name: str, params: ScanParams = PARAMS) -> list[str]:
    prefixes = []
    for i in range(count):
        prefix = str(folder / f"{name}.{i + 1}-of-{count}")
        run_scan(genome, bundle, params, prefix, shard=Shard(i, count))
        prefixes.append(prefix)
    return prefixes


def boundaries(count: int) -> list[tuple[str, int]]:
    """Where one shard's windows end and the next one's begin, inside a chromosome."""
    plan = ScanPlan([Interval(c, 0, n) for c, n in LENGTHS.items()], PARAMS.grid, PARAMS.chunk_windows)
    firsts = [plan.shard_chunks(Shard(i, count)) for i in range(1, count)]
    return [(plan.intervals[c[0].interval].chrom, c[0].first_window * PARAMS.stride) for c in firsts
            if c and c[0].first_window > 0]


def regions(bed: Path) -> list[tuple[str, int, int]]:
    return [(f[0], int(f[1]), int(f[2])) for f in (line.split("\t") for line in bed.read_text().splitlines())]


def track(path: Path) -> dict[str, list]:
    with pyBigWig.open(str(path)) as bw:
        return {"header": list(bw.chroms().items()), **{c: bw.intervals(c) for c in bw.chroms()}}


def comparable(manifest: dict) -> dict:
    return {k: v for k, v in manifest.items() if k not in ("command", "wall_seconds", "windows_per_second",
                                                           "input_wait_seconds", "outputs")}


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_shards_merged_equal_a_single_run(setup, count):
    folder, genome, bundle, single = setup
    prefixes = shard_run(folder, genome, bundle, count, f"s{count}")
    windows = [json.loads(Path(f"{p}.json").read_text())["windows"] for p in prefixes]
    assert sum(windows) == single["windows_scanned"] + single["windows_skipped"] + single["windows_rejected_fast"]
    if count == 7:  # the case the merge exists for: calls that span two shards
        assert any(start < b < end for chrom, start, end in regions(folder / "single.bed")
                   for c, b in boundaries(count) if c == chrom)
    merged = run_merge(prefixes[::-1], str(folder / f"merged{count}"), bedgraph=True)  # any order
    for suffix in (".bed", ".bedGraph"):
        assert Path(f"{folder}/merged{count}{suffix}").read_bytes() == Path(f"{folder}/single{suffix}").read_bytes()
    assert track(folder / f"merged{count}.bw") == track(folder / "single.bw")
    assert comparable(merged) == comparable(single)
    assert comparable(json.loads(Path(f"{folder}/merged{count}.json").read_text())) == comparable(single)


def test_more_shards_than_chunks_leaves_empty_shards_that_merge(setup):
    folder, genome, bundle, single = setup
    params = ScanParams(window=200, stride=50, chunk_size=100_000, max_p=0.05, scorer=PARAMS.scorer)
    prefixes = shard_run(folder, genome, bundle, 6, "empty", params)
    assert 0 in [json.loads(Path(f"{p}.json").read_text())["windows"] for p in prefixes]
    run_merge(prefixes, str(folder / "merged-empty"))
    assert (folder / "merged-empty.bed").read_bytes() == (folder / "single.bed").read_bytes()


def test_incomplete_duplicated_and_foreign_shard_sets_are_refused(setup, tmp_path):
    folder, genome, bundle, _ = setup
    prefixes = shard_run(folder, genome, bundle, 3, "check")
    with pytest.raises(InputError, match="2/3 missing"):
        run_merge([prefixes[0], prefixes[2]], str(tmp_path / "m"))
    with pytest.raises(InputError, match="given twice"):
        run_merge([prefixes[0], prefixes[0], prefixes[1], prefixes[2]], str(tmp_path / "m"))
    other = shard_run(folder, genome, bundle, 3, "stride",
                      ScanParams(window=200, stride=25, chunk_size=600, max_p=0.05, scorer=PARAMS.scorer))
    with pytest.raises(InputError, match="stride"):
        run_merge([prefixes[0], other[1], prefixes[2]], str(tmp_path / "m"))
    four = shard_run(folder, genome, bundle, 4, "four")
    with pytest.raises(InputError, match="number of shards"):
        run_merge([prefixes[0], four[1], prefixes[2]], str(tmp_path / "m"))
    Path(f"{prefixes[1]}.json").unlink()  # a shard that did not finish
    with pytest.raises(InputError, match="did not finish"):
        run_merge(prefixes, str(tmp_path / "m"))
    assert not list(tmp_path.iterdir())


def test_merge_refuses_another_model(setup, tmp_path, random_bundle_dir):
    folder, genome, bundle, _ = setup
    prefixes = shard_run(folder, genome, bundle, 2, "model")
    with pytest.raises(InputError, match="sha256"):
        run_merge(prefixes, str(tmp_path / "m"), model=random_bundle_dir)


def test_blacklisted_shards_scored_on_any_number_of_devices_merge_into_the_single_tabix_run(setup, tmp_path):
    folder, genome, bundle, _ = setup
    black = tmp_path / "black.bed"
    black.write_text("chr1\t2000\t2600\nchr3\t0\t300\nchrM\t1650\t1700\nchrUn\t0\t100\n")
    single = run_scan(genome, bundle, PARAMS, str(tmp_path / "single"), bedgraph=True, tabix=True, blacklist_bed=black)
    assert single["windows_blacklisted"] > 0
    two = ScanParams(window=200, stride=50, chunk_size=600, max_p=0.05,
                     scorer=ScorerSettings(device="cpu", precision="fp32", threads=2, workers=2))
    prefixes = []
    for i, params in enumerate((two, PARAMS, two)):  # one device or two: the same scores, the same run key
        prefixes.append(str(tmp_path / f"part{i + 1}"))
        run_scan(genome, bundle, params, prefixes[-1], shard=Shard(i, 3), blacklist_bed=black)
    merged = run_merge(prefixes, str(tmp_path / "merged"), bedgraph=True, tabix=True)
    for suffix in (".bed.gz", ".bedGraph.gz"):
        with pysam.TabixFile(str(tmp_path / f"merged{suffix}")) as a, \
                pysam.TabixFile(str(tmp_path / f"single{suffix}")) as b:
            assert a.contigs == b.contigs and all(list(a.fetch(c)) == list(b.fetch(c)) for c in a.contigs)
    assert track(tmp_path / "merged.bw") == track(tmp_path / "single.bw")
    counts = ("windows_scanned", "windows_skipped", "windows_blacklisted", "regions", "chromosomes")
    assert {k: merged[k] for k in counts} == {k: single[k] for k in counts}
    other = tmp_path / "other.bed"
    other.write_text("chr1\t2000\t2650\n")
    run_scan(genome, bundle, PARAMS, str(tmp_path / "foreign"), shard=Shard(1, 3), blacklist_bed=other)
    with pytest.raises(InputError, match="blacklist"):
        run_merge([prefixes[0], str(tmp_path / "foreign"), prefixes[2]], str(tmp_path / "m"))
