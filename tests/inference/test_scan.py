"""The whole streaming path: FASTA → windows → ensemble → bins → regions → files."""
from __future__ import annotations

import io
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pyBigWig
import pysam
import pytest

from ielmscan.errors import InputError
from ielmscan.model.bundle import load_bundle
from ielmscan.inference.devices import Precision
from ielmscan.io.genome import Genome
from ielmscan.inference.plan import Shard
from ielmscan.io.intervals import Blacklist, Interval
from ielmscan.inference.scorer import ScorerSettings
from ielmscan.kernels.encode import reverse_complement
from ielmscan.inference.scan import ScanParams, Scanner, default_prefix, output_prefix, run_scan
from ielmscan.io.fasta import write_fasta
from ielmscan.io.synthetic import synthetic_sequence, write_synthetic_genome

from ielmscan.model.calibration import Calibration
from tests.bundles import gc_bundle, gc_probability, random_bundle
from tests.scans import assert_same_outputs

FP32 = ScorerSettings(device="cpu", precision=Precision.fp32)


def params(**kwargs) -> ScanParams:
    kwargs.setdefault("scorer", FP32)
    return ScanParams(**kwargs)


def read_bed(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text().splitlines()]


# --- a hand-made genome whose every score is known -------------------------------------------------

# "peak": G/C only in [260, 330); "gappy": N in [300, 400); "short": shorter than one window.
PEAK = "A" * 260 + "G" * 40 + "C" * 30 + "A" * 270
GAPPY = "A" * 300 + "N" * 100 + "T" * 200
SHORT = "ACGT" * 20
W, S = 100, 50


def expected_windows(seq: str) -> np.ndarray:
    """Each window's probability from its GC fraction; NaN when over 10 % N (skipped)."""
    out = []
    for start in range(0, len(seq) - W + 1, S):
        win = seq[start : start + W]
        if win.count("N") / W > 0.1:
            out.append(np.nan)
        else:
            out.append(gc_probability((win.count("G") + win.count("C")) / W))
    return np.array(out)


def expected_bins(windows: np.ndarray, length: int) -> np.ndarray:
    """Bin b = mean of the scored windows overlapping it; W = 2 S, so windows b-1 and b."""
    bins = []
    for b in range(-(-length // S)):
        covering = [windows[j] for j in (b - 1, b) if 0 <= j < len(windows) and not np.isnan(windows[j])]
        bins.append(np.mean(covering) if covering else np.nan)
    return np.array(bins)


@pytest.fixture
def tiny(tmp_path):
    fasta = write_fasta(tmp_path / "tiny.fa", [("peak", PEAK), ("short", SHORT), ("gappy", GAPPY)])
    gc_bundle(tmp_path / "gc", threshold=0.4)
    return fasta, load_bundle(tmp_path / "gc")


def test_hand_made_genome_gives_the_expected_bins_regions_and_summits(tiny, tmp_path):
    fasta, bundle = tiny
    run_scan(fasta, bundle, params(window=W, stride=S), str(tmp_path / "out"))

    with pyBigWig.open(str(tmp_path / "out.bw")) as bw:
        assert list(bw.chroms().items()) == [("peak", 600), ("short", 80), ("gappy", 600)]
        for chrom, seq in (("peak", PEAK), ("gappy", GAPPY)):
            bins = expected_bins(expected_windows(seq), len(seq))
            entries = bw.intervals(chrom)
            assert [(s, e) for s, e, _ in entries] == [(b * S, b * S + S) for b in np.flatnonzero(~np.isnan(bins))]
            np.testing.assert_allclose([v for _, _, v in entries], bins[~np.isnan(bins)], atol=1e-5)
        assert bw.intervals("short") is None
        # The N gap is a gap in the track, not a zero.
        assert all(e <= 300 or s >= 400 for s, e, _ in bw.intervals("gappy"))

    # Bins 5 ([250, 300): windows 4 and 5) and 6 ([300, 350): windows 5 and 6) pass 0.4; bin 5 is the best.
    peak_bins = expected_bins(expected_windows(PEAK), len(PEAK))
    assert peak_bins[5] > peak_bins[6] >= 0.4 > max(peak_bins[4], peak_bins[7])
    assert read_bed(tmp_path / "out.bed") == [
        ["peak", "250", "350", "ielm_1", str(round(1000 * peak_bins[5])), ".", f"{peak_bins[5]:.4f}", "-1", "-1", "25"]
    ]

    manifest = json.loads((tmp_path / "out.json").read_text())
    assert manifest["chromosomes"]["peak"]["windows_scanned"] == 11
    assert manifest["chromosomes"]["gappy"] == {
        "bases": 600, "bases_scored": 500, "bases_called": 0, "windows_scanned": 8, "windows_skipped": 3,
        "windows_blacklisted": 0, "windows_rejected_fast": 0, "regions": 0,
    }
    assert manifest["bases_called"] == 100 and manifest["bases_scored"] == 600 + 500  # gappy: 2 bins in the N gap
    assert manifest["share_called"] == pytest.approx(100 / 1100, abs=1e-6)
    assert manifest["chromosomes"]["short"]["windows_scanned"] == 0
    assert manifest["regions"] == 1
    assert manifest["parameters"]["threshold"] == 0.4
    assert manifest["model"]["sha256"] == bundle.checksum


def test_threshold_option_overrides_the_bundle(tiny, tmp_path):
    fasta, bundle = tiny
    run_scan(fasta, bundle, params(window=W, stride=S, threshold=0.55), str(tmp_path / "out"))
    assert [row[:3] for row in read_bed(tmp_path / "out.bed")] == [["peak", "250", "300"]]


def test_stdout_mode_streams_the_bed_and_writes_no_files(tiny, tmp_path, monkeypatch):
    fasta, bundle = tiny
    monkeypatch.chdir(tmp_path)
    Genome.open(fasta).close()  # the .fai index is the only file a scan may leave
    before = set(tmp_path.iterdir())
    out = io.StringIO()
    manifest = run_scan(fasta, bundle, params(window=W, stride=S), "-", stdout=out)
    assert out.getvalue().startswith("peak\t250\t350\tielm_1\t")
    assert manifest["outputs"] == {"bed": "-"}
    assert set(tmp_path.iterdir()) == before


def test_region_selection_limits_the_scan(tiny, tmp_path):
    fasta, bundle = tiny
    bed = tmp_path / "sel.bed"
    bed.write_text("gappy\t0\t250\n")
    manifest = run_scan(fasta, bundle, params(window=W, stride=S), str(tmp_path / "out"), regions_bed=bed)
    assert list(manifest["chromosomes"]) == ["gappy"]
    with pyBigWig.open(str(tmp_path / "out.bw")) as bw:
        assert list(bw.chroms()) == ["gappy"]
        assert max(e for _, e, _ in bw.intervals("gappy")) <= 250


def test_manifest_reports_the_time_the_model_waited_for_input(tiny, tmp_path, monkeypatch):
    fasta, bundle = tiny
    manifest = run_scan(fasta, bundle, params(window=W, stride=S), str(tmp_path / "fast"))
    assert 0.0 <= manifest["input_wait_seconds"] <= manifest["wall_seconds"]
    # A slow reader (a network filesystem, say): every chunk takes 0.2 s more to prepare, so the scoring
    # loop waits at least that long for the first one.
    prepare = Scanner.prepare

    def slow_prepare(self, chunk, *context):
        time.sleep(0.2)
        return prepare(self, chunk, *context)

    monkeypatch.setattr(Scanner, "prepare", slow_prepare)
    slow = run_scan(fasta, bundle, params(window=W, stride=S, chunk_size=200), str(tmp_path / "slow"))
    assert 0.2 <= slow["input_wait_seconds"] <= slow["wall_seconds"]


def test_failed_scan_leaves_no_outputs(tiny, tmp_path):
    fasta, bundle = tiny
    with pytest.raises(Exception, match="nosuch"):
        run_scan(fasta, bundle, params(window=W, stride=S), str(tmp_path / "out"), chroms=["nosuch"])
    assert not list(tmp_path.glob("out*")) and not list(tmp_path.glob(".out*"))


# --- invariances on a synthetic genome with a random ensemble ---------------------------------------


@pytest.fixture(scope="module")
def ensemble(tmp_path_factory):
    path = tmp_path_factory.mktemp("bundle") / "rand"
    random_bundle(path, ks=(3, 4), hidden=16)
    return load_bundle(path)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    folder = tmp_path_factory.mktemp("genome")
    return write_synthetic_genome(folder / "syn.fa", {"chrA": 4_000, "chrB": 2_550}, seed=5)


def scores(bundle, fasta, **kwargs) -> dict[str, np.ndarray]:
    scanner = Scanner(bundle, params(**kwargs))
    with Genome.open(fasta) as genome:
        return {name: scanner.score_interval(genome, Interval(name, 0, length)).scores for name, length in genome.chroms}


def test_scores_do_not_depend_on_chunk_or_batch_size(ensemble, synthetic):
    reference = scores(ensemble, synthetic)
    for kwargs in ({"chunk_size": 300}, {"chunk_size": 1_234}, {"scorer": ScorerSettings(device="cpu", precision=Precision.fp32, batch_size=1)},
                   {"scorer": ScorerSettings(device="cpu", precision=Precision.fp32, batch_size=7)}):
        other = scores(ensemble, synthetic, **kwargs)
        for chrom in reference:
            np.testing.assert_allclose(other[chrom], reference[chrom], atol=1e-6, err_msg=str(kwargs))
    assert np.nanstd(reference["chrA"]) > 0.01


def test_scores_do_not_depend_on_chromosome_order(ensemble, synthetic, tmp_path):
    with Genome.open(synthetic) as genome:
        records = [(name, genome.fetch(name, 0, length)) for name, length in genome.chroms]
    swapped = write_fasta(tmp_path / "swapped.fa", records[::-1])
    a, b = scores(ensemble, synthetic), scores(ensemble, swapped)
    assert list(b) == ["chrB", "chrA"]
    for chrom in a:
        np.testing.assert_array_equal(a[chrom], b[chrom])


def test_reverse_complement_genome_gives_the_mirrored_track(ensemble, tmp_path):
    # Length chosen so the window grid and the bins are symmetric: (length - window) and length
    # are multiples of the stride.
    seq = bytes(synthetic_sequence(3_000, np.random.default_rng(11)))
    fwd = write_fasta(tmp_path / "fwd.fa", [("c", seq)])
    rev = write_fasta(tmp_path / "rev.fa", [("c", reverse_complement(seq))])
    run_scan(fwd, ensemble, params(), str(tmp_path / "fwd"))
    run_scan(rev, ensemble, params(), str(tmp_path / "rev"))
    with pyBigWig.open(str(tmp_path / "fwd.bw")) as a, pyBigWig.open(str(tmp_path / "rev.bw")) as b:
        track_a = np.array(a.values("c", 0, 3_000), dtype=float)
        track_b = np.array(b.values("c", 0, 3_000), dtype=float)[::-1]
    np.testing.assert_allclose(track_a, track_b, atol=1e-5)
    assert np.nanstd(track_a) > 0.01


def test_without_rc_averaging_the_strands_differ(ensemble, tmp_path):
    seq = bytes(synthetic_sequence(1_000, np.random.default_rng(3)))
    fwd = write_fasta(tmp_path / "fwd.fa", [("c", seq)])
    rev = write_fasta(tmp_path / "rev.fa", [("c", reverse_complement(seq))])
    no_rc = ScorerSettings(device="cpu", precision=Precision.fp32, reverse_complement=False)
    a = scores(ensemble, fwd, scorer=no_rc)["c"]
    b = scores(ensemble, rev, scorer=no_rc)["c"][::-1]
    assert np.nanmax(np.abs(a - b)) > 1e-3


def test_plain_and_bgzipped_fasta_give_identical_outputs(ensemble, synthetic, tmp_path):
    plain = tmp_path / "plain.fa"
    shutil.copy(synthetic, plain)
    packed = tmp_path / "packed.fa.gz"
    pysam.tabix_compress(str(plain), str(packed))
    run_scan(plain, ensemble, params(), str(tmp_path / "a"))
    run_scan(packed, ensemble, params(), str(tmp_path / "b"))
    assert (tmp_path / "a.bed").read_text() == (tmp_path / "b.bed").read_text()
    with pyBigWig.open(str(tmp_path / "a.bw")) as a, pyBigWig.open(str(tmp_path / "b.bw")) as b:
        for chrom in ("chrA", "chrB"):
            assert a.intervals(chrom) == b.intervals(chrom)


def test_outputs_are_valid_bigwig_and_sorted_narrowpeak(ensemble, synthetic, tmp_path):
    # A threshold inside the random ensemble's score range, so that some regions are called.
    threshold = float(np.nanpercentile(np.concatenate(list(scores(ensemble, synthetic).values())), 70))
    manifest = run_scan(synthetic, ensemble, params(threshold=threshold), str(tmp_path / "o"))
    sizes = {"chrA": 4_000, "chrB": 2_550}
    with pyBigWig.open(str(tmp_path / "o.bw")) as bw:
        assert list(bw.chroms().items()) == list(sizes.items())
        assert bw.header()["nLevels"] > 0  # zoom levels kept
        for chrom, length in sizes.items():
            entries = bw.intervals(chrom)
            starts = [s for s, _, _ in entries]
            assert starts == sorted(starts)
            assert all(0 <= s < e <= length for s, e, _ in entries)
            assert all(0.0 <= v <= 1.0 for _, _, v in entries)
    rows = read_bed(tmp_path / "o.bed")
    assert rows
    order = [("chrA", "chrB").index(r[0]) for r in rows]
    assert order == sorted(order)
    for chrom in sizes:
        starts = [int(r[1]) for r in rows if r[0] == chrom]
        assert starts == sorted(starts)
    for row in rows:
        assert len(row) == 10
        start, end, score, signal, summit = int(row[1]), int(row[2]), int(row[4]), float(row[6]), int(row[9])
        assert 0 <= start < end <= sizes[row[0]] and 0 <= score <= 1000 and threshold - 1e-4 <= signal <= 1
        assert 0 <= summit < end - start and row[5] == "." and row[7] == row[8] == "-1"
    assert manifest["regions"] == len(rows)
    assert manifest["windows_scanned"] == sum(c["windows_scanned"] for c in manifest["chromosomes"].values())


def test_a_folder_as_prefix_gets_the_outputs_inside_it_named_after_the_genome(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").mkdir()
    fasta = Path("/data/hg38.fa.gz")
    assert output_prefix(None, fasta) == "hg38.ielmscan"
    assert output_prefix("results", fasta) == os.path.join("results", "hg38.ielmscan")  # an existing folder
    assert output_prefix("new/", fasta) == os.path.join("new/", "hg38.ielmscan")  # a trailing slash: a folder
    assert output_prefix("run1", fasta) == "run1" and output_prefix("-", fasta) == "-"


@pytest.mark.parametrize("selection, why", [
    ({"exclude": ["chr1", "chr2"]}, "--chrom/--exclude-chrom leave no chromosome"),
    ({"chroms": ["chr1"], "exclude": ["chr1"]}, "--chrom/--exclude-chrom leave no chromosome"),
    ({"regions": ""}, "holds no interval longer than 0"),
    ({"regions": "chr1\t10\t10\n"}, "holds no interval longer than 0"),
    ({"regions": "chr2\t0\t100\n", "chroms": ["chr1"]}, "on the chromosomes kept by --chrom/--exclude-chrom"),
])
def test_nothing_to_scan_is_said_before_any_work(selection, why, tmp_path, random_bundle_dir):
    fasta = write_synthetic_genome(tmp_path / "g.fa", {"chr1": 1_000, "chr2": 500}, seed=3)
    regions = None
    if "regions" in selection:
        regions = tmp_path / "r.bed"
        regions.write_text(selection["regions"])
    bundle = load_bundle(random_bundle_dir)
    for prefix in (str(tmp_path / "out"), "-"):
        with pytest.raises(InputError, match=f"nothing to scan in .*g.fa: .*{why}"):
            run_scan(fasta, bundle, params(window=100, threshold=0.5), prefix, chroms=selection.get("chroms"),
                     exclude=selection.get("exclude"), regions_bed=regions)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["g.fa", "g.fa.fai", *(["r.bed"] if regions else [])])


def test_default_prefix_drops_fasta_extensions():
    assert default_prefix(Path("/data/hg38.fa.gz")) == "hg38.ielmscan"
    assert default_prefix(Path("genome.fasta")) == "genome.ielmscan"


# --- real genome pieces ----------------------------------------------------------------------------


@pytest.mark.slow
def test_real_genomes_scan_without_error_and_soft_masking_is_ignored(tmp_path, shared_data):
    bundle_dir = tmp_path / "b"
    random_bundle(bundle_dir, ks=(3,), hidden=16)
    bundle = load_bundle(bundle_dir)
    fast = params(stride=200)
    for shared in sorted(shared_data("genomes").glob("*.fa")):
        fasta = Path(shutil.copy(shared, tmp_path))  # never write indexes into the shared folder
        manifest = run_scan(fasta, bundle, fast, str(tmp_path / fasta.stem))
        assert manifest["windows_scanned"] > 0
        if fasta.name.startswith("grch37"):
            assert list(manifest["chromosomes"]) == ["22:20000001-21000000"]
            assert manifest["windows_skipped"] >= 100_000 // 200 - 1  # the assembly gap
    masked = tmp_path / "hg38_chr16_186964-397118.fa"
    upper = tmp_path / "upper.fa"
    upper.write_bytes(b"".join(l if l.startswith(b">") else l.upper() for l in masked.read_bytes().splitlines(True)))
    run_scan(upper, bundle, fast, str(tmp_path / "upper"))
    with pyBigWig.open(str(tmp_path / "upper.bw")) as a, pyBigWig.open(str(tmp_path / masked.stem) + ".bw") as b:
        assert a.intervals("chr16") == b.intervals("chr16")


def test_calibrated_calls_carry_p_and_q_values_and_follow_max_p(tiny, tmp_path):
    fasta, bundle = tiny
    # A hand-made background: 999 windows at GC 0.05 ... 0.5 on the GC model's probability scale.
    background = gc_probability(np.linspace(0.05, 0.5, 999)).astype(np.float32)
    bundle.calibration = Calibration(background, {"genome": "hand-made"})
    peak_bins = expected_bins(expected_windows(PEAK), len(PEAK))
    gappy_bins = expected_bins(expected_windows(GAPPY), len(GAPPY))
    scored = np.r_[peak_bins, gappy_bins]
    scored = scored[np.isfinite(scored)].astype(np.float32)
    regions = []
    for max_p in (0.001, 0.05):
        prefix = tmp_path / f"cal{max_p}"
        manifest = run_scan(fasta, bundle, params(window=W, stride=S, max_p=max_p), str(prefix))
        threshold = bundle.calibration.threshold(max_p)
        assert manifest["parameters"]["threshold"] == pytest.approx(threshold)
        assert "p-value <= " + f"{max_p:g}" in manifest["calls"]["rule"]
        rows = read_bed(Path(f"{prefix}.bed"))
        called = np.flatnonzero(peak_bins >= threshold)
        assert [(int(r[1]), int(r[2])) for r in rows] == [(called.min() * S, (called.max() + 1) * S)]
        regions.append(rows[0][1:3])
        (row,) = rows
        best = np.float32(peak_bins[called].max())
        p = (1 + np.sum(background >= best)) / (len(background) + 1)
        assert float(row[7]) == pytest.approx(-np.log10(p), abs=1e-3)
        # Benjamini-Hochberg over every scored bin of the run, at the best bin's p-value.
        p_all = np.array([(1 + np.sum(background >= v)) / (len(background) + 1) for v in scored])
        q = min(1.0, min(pv * len(p_all) / np.sum(p_all <= pv) for pv in p_all if pv >= p))
        assert float(row[8]) == pytest.approx(-np.log10(q), abs=1e-3)
    assert regions == [["250", "300"], ["250", "350"]]  # a larger max_p calls more


def test_a_bundle_without_calibration_scans_with_a_warning(tiny, tmp_path, caplog):
    fasta, bundle = tiny
    with caplog.at_level("WARNING"):
        manifest = run_scan(fasta, bundle, params(window=W, stride=S), str(tmp_path / "out"))
    assert "no background calibration" in caplog.text and "ielmscan model calibrate" in caplog.text
    assert manifest["calls"]["calibration"] is None and "no calibration" in manifest["calls"]["rule"]
    assert all(row[7] == "-1" and row[8] == "-1" for row in read_bed(tmp_path / "out.bed"))


# --- the blacklist, several devices, tabix outputs ---------------------------------------------------

BLACKLIST = "chrA\t1010\t1250\nchrA\t3990\t4000\nchrB\t0\t1\nchrB\t700\t1000\nchrB\t800\t900\n"


def overlapping(start: int, window: int, intervals: list[tuple[int, int]]) -> bool:
    return any(start < end and start + window > begin for begin, end in intervals)


def test_the_blacklist_removes_exactly_the_overlapping_windows(ensemble, synthetic, tmp_path):
    bed = tmp_path / "black.bed"
    bed.write_text(BLACKLIST)
    p = params().for_bundle(ensemble)
    with Genome.open(synthetic) as genome:
        blacklist = Blacklist.read(genome, bed)
        with Scanner(ensemble, p) as plain, Scanner(ensemble, p, blacklist) as masked:
            for chrom, length in genome.chroms:
                listed = [(int(f[1]), int(f[2])) for f in (line.split() for line in BLACKLIST.splitlines())
                          if f[0] == chrom]
                before = plain.score_interval(genome, Interval(chrom, 0, length))
                after = masked.score_interval(genome, Interval(chrom, 0, length))
                hit = [overlapping(j * p.stride, p.window, listed) for j in range(len(before.scores))]
                for j, (a, b) in enumerate(zip(before.scores, after.scores)):
                    if hit[j]:
                        assert np.isnan(b), (chrom, j)
                    else:
                        assert a == b or (np.isnan(a) and np.isnan(b)), (chrom, j)
                assert after.windows_blacklisted == sum(hit) > 0
                assert after.windows_skipped == before.windows_skipped - sum(
                    h and np.isnan(a) for h, a in zip(hit, before.scores))
                # A bin whose every window is blacklisted is a gap, never a value.
                for b in range(len(after.bins)):
                    covering = [j for j in range(max(0, b - p.window // p.stride + 1), b + 1) if j < len(hit)]
                    if covering and all(hit[j] for j in covering):
                        assert np.isnan(after.bins[b])


def test_a_blacklisted_scan_counts_its_windows_and_ignores_other_chromosomes(ensemble, synthetic, tmp_path, caplog):
    bed = tmp_path / "black.bed"
    bed.write_text(BLACKLIST + "chrUn_gl000220\t0\t5000\n")
    with caplog.at_level("WARNING"):
        manifest = run_scan(synthetic, ensemble, params(), str(tmp_path / "b"), blacklist_bed=bed)
    assert "chrUn_gl000220" in caplog.text and "ignored" in caplog.text
    plain = run_scan(synthetic, ensemble, params(), str(tmp_path / "p"))
    assert manifest["windows_blacklisted"] > 0 and plain["windows_blacklisted"] == 0
    assert (manifest["windows_scanned"] + manifest["windows_blacklisted"] + manifest["windows_skipped"]
            == plain["windows_scanned"] + plain["windows_skipped"])
    assert manifest["parameters"]["blacklist"] == str(bed)
    # Parts of the blacklist outside what was scanned do not matter; the parts inside are the run's key.
    with Genome.open(synthetic) as genome:
        only_b = Blacklist.read(genome, bed).within([Interval("chrB", 0, 2_550)])
    assert [(i.chrom, i.start, i.end) for i in only_b.intervals] == [("chrB", 0, 1), ("chrB", 700, 1000)]


def test_a_resume_with_another_blacklist_is_refused(ensemble, synthetic, tmp_path):
    bed = tmp_path / "black.bed"
    bed.write_text(BLACKLIST)
    prefix = tmp_path / "run"
    run_scan(synthetic, ensemble, params(), str(prefix), shard=Shard(0, 2), blacklist_bed=bed)
    (tmp_path / "run.json").unlink()
    (tmp_path / "run.scores").rename(tmp_path / "run.checkpoint")
    other = tmp_path / "other.bed"
    other.write_text("chrA\t0\t100\n")
    with pytest.raises(InputError, match="differs in the blacklist"):
        run_scan(synthetic, ensemble, params(), str(prefix), shard=Shard(0, 2), blacklist_bed=other, resume=True)
    run_scan(synthetic, ensemble, params(), str(prefix), shard=Shard(0, 2), blacklist_bed=bed, resume=True)


def test_two_cpu_workers_give_the_outputs_of_one(ensemble, synthetic, tmp_path):
    threshold = float(np.nanpercentile(np.concatenate(list(scores(ensemble, synthetic).values())), 70))
    one = ScorerSettings(device="cpu", precision=Precision.fp32, threads=2)
    two = ScorerSettings(device="cpu", precision=Precision.fp32, threads=2, workers=2)
    # Small chunks, so that both workers have several and one interval's chunks overlap the next one's.
    a = run_scan(synthetic, ensemble, params(threshold=threshold, chunk_size=600, scorer=one), str(tmp_path / "one"))
    b = run_scan(synthetic, ensemble, params(threshold=threshold, chunk_size=600, scorer=two), str(tmp_path / "two"))
    assert (a["parameters"]["devices"], b["parameters"]["devices"]) == (["cpu"], ["cpu", "cpu"])
    assert (b["parameters"]["scoring_workers"], b["parameters"]["threads_per_worker"]) == (2, 1)
    assert a["regions"] > 0
    assert_same_outputs(tmp_path / "one", tmp_path / "two")


def test_tabix_outputs_read_back_by_region_and_equal_the_text_ones(ensemble, synthetic, tmp_path):
    threshold = float(np.nanpercentile(np.concatenate(list(scores(ensemble, synthetic).values())), 60))
    run_scan(synthetic, ensemble, params(threshold=threshold), str(tmp_path / "text"), bedgraph=True)
    manifest = run_scan(synthetic, ensemble, params(threshold=threshold), str(tmp_path / "tbx"), bedgraph=True,
                        tabix=True)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("tbx")) == [
        "tbx.bed.gz", "tbx.bed.gz.tbi", "tbx.bedGraph.gz", "tbx.bedGraph.gz.tbi", "tbx.bw", "tbx.json"]
    assert set(manifest["outputs"]) == {"bed.gz", "bed.gz.tbi", "bw", "bedGraph.gz", "bedGraph.gz.tbi", "json"}
    for text, packed in (("text.bed", "tbx.bed.gz"), ("text.bedGraph", "tbx.bedGraph.gz")):
        lines = (tmp_path / text).read_text().splitlines()
        assert lines
        with pysam.TabixFile(str(tmp_path / packed)) as tabix:
            assert tabix.contigs == ["chrA", "chrB"]
            assert list(tabix.fetch("chrA")) + list(tabix.fetch("chrB")) == lines
            inside = [line for line in lines if line.startswith("chrB\t")
                      and int(line.split()[1]) < 1_500 and int(line.split()[2]) > 1_000]
            assert list(tabix.fetch("chrB", 1_000, 1_500)) == inside


def test_tabix_refuses_standard_output(ensemble, synthetic):
    with pytest.raises(InputError, match="--tabix"):
        run_scan(synthetic, ensemble, params(), "-", tabix=True)


def test_a_scan_with_a_bpe_member_does_not_depend_on_chunks_batches_or_workers_and_is_strand_symmetric(tmp_path):
    bundle = random_bundle(tmp_path / "mixed", ks=(3,), hidden=16, bpe=64)  # a k-mer and a BPE member
    genome = write_synthetic_genome(tmp_path / "g.fa", {"chrA": 2_600, "chrB": 1_200}, seed=8)
    reference = scores(bundle, genome)
    for kwargs in ({"chunk_size": 400}, {"scorer": ScorerSettings(device="cpu", precision=Precision.fp32, batch_size=3)},
                   {"scorer": ScorerSettings(device="cpu", precision=Precision.fp32, threads=2, workers=2)}):
        other = scores(bundle, genome, **kwargs)
        for chrom in reference:
            np.testing.assert_allclose(other[chrom], reference[chrom], atol=1e-5, err_msg=str(kwargs))
    assert np.nanstd(reference["chrA"]) > 1e-3  # far above the tolerance: the windows are told apart
    seq = bytes(synthetic_sequence(1_000, np.random.default_rng(4)))
    fwd = write_fasta(tmp_path / "fwd.fa", [("c", seq)])
    rev = write_fasta(tmp_path / "rev.fa", [("c", reverse_complement(seq))])
    np.testing.assert_allclose(scores(bundle, fwd)["c"], scores(bundle, rev)["c"][::-1], atol=1e-5)
    manifest = run_scan(genome, bundle, params(), str(tmp_path / "out"))
    assert manifest["model"]["members"] == [3, "bpe64"] and (tmp_path / "out.bw").is_file()
