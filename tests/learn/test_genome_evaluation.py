"""Genome evaluation on a hand-made genome scanned with the GC bundle, so every bin, call and count is known.

Window = stride = 20: every bin is scored by exactly one window, the bin itself, so a bin's value is
``gc_probability`` of its own GC and its GC context (20 bases centred on it) is that same window.

  chr1, 12 bins of 20 bp; G/C count per bin (bin 4 is all N: never scored, a gap in the track)
    bin    0   1   2   3   4   5   6   7   8   9   10  11
    G/C    4   16  6   18  N   11  14  2   12  17  8   5
    called .   x   .   x       x   x   .   x   x   .   .     (GC > 0.5 ⇔ probability > 0.5, the threshold)
  chr2, 6 bins: G/C 15 5 13 7 9 6, called: bins 0 and 2
  chr3: in the genome, not scanned

  calls: chr1 [20,40) [60,80) [100,140) [160,200); chr2 [0,20) [40,60)              → 6 calls, 8 called bins
  truth: chr1 25-35 (bin 1), 65-70 (bin 3), 95-105 (bin 5; its other half in the gap), 205-230 (bins 10, 11),
         80-100 (the gap only), chr2 50-70 (bins 2, 3), chr3 0-10 (not scanned: ignored)
  → 17 scored bins, 7 positive, 4 of them called
"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from ielmscan.errors import GenomeError, InputError
from ielmscan.inference.scan import ScanParams, run_scan
from ielmscan.io.fasta import write_fasta
from ielmscan.io.genome import Genome
from ielmscan.learn.genome_evaluation import _context_gc, evaluate_scan
from ielmscan.learn.genome_report import table, write_report
from ielmscan.model.bundle import default_bundle_path, load_bundle

from tests.bundles import gc_bundle, gc_probability

CHR1 = [4, 16, 6, 18, None, 11, 14, 2, 12, 17, 8, 5]
CHR2 = [15, 5, 13, 7, 9, 6]
TRUTH = "chr1\t25\t35\nchr1\t65\t70\nchr1\t95\t105\nchr1\t205\t230\nchr1\t80\t100\nchr2\t50\t70\nchr3\t0\t10\n"
CONTROL = "chr1\t0\t20\nchr1\t60\t80\nchr2\t100\t120\n"  # bins chr1 0, chr1 3 (also truth, called), chr2 5

# Scored bins in track order (chr1 without the gap, then chr2), with their labels.
GC = np.array([c for c in CHR1 if c is not None] + CHR2) / 20
TRUTH_BINS = np.array([0, 1, 0, 1, 1, 0, 0, 0, 0, 1, 1] + [0, 0, 1, 1, 0, 0], dtype=bool)
CONTROL_BINS = np.array([1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0] + [0, 0, 0, 0, 0, 1], dtype=bool)
CALLED = GC > 0.5


def block(gc_count: int | None) -> str:
    return "N" * 20 if gc_count is None else "GC" * (gc_count // 2) + "G" * (gc_count % 2) + "A" * (20 - gc_count)


def pair_auroc(labels: np.ndarray, score: np.ndarray) -> float:
    pos, neg = score[labels], score[~labels]
    return float(((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum())
                 / (len(pos) * len(neg)))


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    folder = tmp_path_factory.mktemp("genome_eval")
    fasta = write_fasta(folder / "g.fa", [("chr1", "".join(map(block, CHR1))), ("chr2", "".join(map(block, CHR2))),
                                          ("chr3", "ACGT" * 10)])
    bundle = gc_bundle(folder / "gc")
    run_scan(fasta, bundle, ScanParams(window=20, stride=20, threshold=0.5), str(folder / "scan"),
             chroms=["chr1", "chr2"])
    (folder / "truth.bed").write_text("track name=truth\n" + TRUTH)
    (folder / "control.bed").write_text(CONTROL)
    return folder


@pytest.fixture(scope="module")
def report(scanned):
    return evaluate_scan(scanned / "scan", [scanned / "truth.bed"], control=scanned / "control.bed")


def test_the_scan_is_what_the_docstring_says(scanned):
    import pyBigWig

    bw = pyBigWig.open(str(scanned / "scan.bw"))
    chr1, chr2 = bw.intervals("chr1"), bw.intervals("chr2")
    bw.close()
    assert [s for s, _, _ in chr1] == [20 * b for b, c in enumerate(CHR1) if c is not None]
    values = np.array([v for _, _, v in chr1 + chr2])
    np.testing.assert_allclose(values, gc_probability(GC), atol=2e-3)  # bf16 on a CPU
    calls = [line.split("\t")[:3] for line in (scanned / "scan.bed").read_text().splitlines()]
    assert calls == [["chr1", "20", "40"], ["chr1", "60", "80"], ["chr1", "100", "140"], ["chr1", "160", "200"],
                     ["chr2", "0", "20"], ["chr2", "40", "60"]]


def test_bins_and_share_called(report):
    assert report["bins"] == {"scored": 17, "bases": 340, "called": 8, "called_bases": 160,
                              "share_called": 160 / 340, "bins_without_gc": 0}
    assert report["scan"]["window"] == report["scan"]["stride"] == report["gc_context_bases"] == 20


def test_truth_bins_auroc_and_gc(report):
    truth = report["truth"]
    assert (truth["bins"], truth["positive_bins"], truth["positive_share"]) == (17, 7, 7 / 17)
    assert truth["intervals"] == 7
    expected = pair_auroc(TRUTH_BINS, gc_probability(GC))
    assert truth["model"]["auroc"] == pytest.approx(expected, abs=1e-12)
    # The context is the window scored: the GC bundle ranks bins exactly as GC does ...
    assert truth["model"] == truth["gc"]
    assert truth["gc"]["auroc"] == pytest.approx(pair_auroc(TRUTH_BINS, GC), abs=1e-12)
    # ... and within a GC stratum (one GC value each here) it cannot tell bins apart. Only GC 0.25 holds
    # both classes (chr1 bin 11, truth; chr2 bin 1, not).
    assert truth["gc_controlled_auroc"] == 0.5


def test_enrichment_and_region_precision_recall(report):
    truth = report["truth"]
    assert truth["enrichment"] == {"value": pytest.approx((4 / 8) / (7 / 17)), "called_bins": 8,
                                   "called_positive_bins": 4, "positive_bins": 7, "bins": 17}
    # Calls overlapping truth: chr1 [20,40) [60,80) [100,140), chr2 [40,60); not chr1 [160,200), chr2 [0,20).
    # Truth on scored bins: all but chr1 80-100 (the gap) and chr3 (not scanned); 205-230 is not called.
    assert truth["regions"] == {"calls": 6, "calls_overlapping": 4, "precision": pytest.approx(4 / 6),
                                "intervals_on_scored_bins": 5, "intervals_found": 4, "recall": pytest.approx(4 / 5)}


def test_control_is_reported_and_removed_from_the_truth_ranking(report):
    control = report["control"]
    assert (control["positive_bins"], control["enrichment"]["called_positive_bins"]) == (3, 1)
    assert control["enrichment"]["value"] == pytest.approx((1 / 8) / (3 / 17))
    assert control["regions"]["precision"] == pytest.approx(1 / 6)
    assert control["regions"]["recall"] == pytest.approx(1 / 3)
    assert control["model"]["auroc"] == pytest.approx(pair_auroc(CONTROL_BINS, GC), abs=1e-12)
    kept = report["truth_excluding_control_bins"]
    keep = ~CONTROL_BINS
    assert (kept["bins"], kept["positive_bins"]) == (14, 6)
    assert kept["model"]["auroc"] == pytest.approx(pair_auroc(TRUTH_BINS[keep], GC[keep]), abs=1e-12)


def test_several_truth_files_are_joined(scanned, report):
    lines = TRUTH.splitlines(keepends=True)
    (scanned / "truth_a.bed").write_text("".join(lines[:3]))
    (scanned / "truth_b.bed").write_text("".join(lines[3:]))
    joined = evaluate_scan(scanned / "scan", [scanned / "truth_a.bed", scanned / "truth_b.bed"])
    assert joined["truth"]["files"] == [str(scanned / "truth_a.bed"), str(scanned / "truth_b.bed")]
    for key in ("positive_bins", "model", "enrichment", "regions"):
        assert joined["truth"][key] == report["truth"][key]
    assert "control" not in joined and "truth_excluding_control_bins" not in joined


def test_context_gc_is_centred_clipped_and_skips_n(tmp_path):
    seq = "GGGG" + "AAAA" + "NNCC" + "ATAT" + "GC"  # 18 bases
    fasta = write_fasta(tmp_path / "c.fa", [("c", seq)])
    starts = np.array([0, 4, 8, 12, 16])
    ends = np.minimum(starts + 4, 18)
    with Genome.open(fasta) as genome:
        gc = _context_gc(genome, "c", starts, ends, window=8)
    # Contexts: centre (s+e)//2 - 4 ... + 8, clipped to [0, 18):
    #   [0,6) GGGGAA 4/6 · [2,10) GGAAAANN 2/6 · [6,14) AANNCCAT 2/6 · [10,18) CCATATGC 4/8 · [13,18) TATGC 2/5
    np.testing.assert_allclose(gc, [4 / 6, 2 / 6, 2 / 6, 4 / 8, 2 / 5])
    with Genome.open(write_fasta(tmp_path / "n.fa", [("n", "N" * 10)])) as genome:
        assert np.isnan(_context_gc(genome, "n", np.array([0]), np.array([4]), window=4)).all()


def test_genome_from_the_manifest_or_given(scanned, tmp_path):
    prefix = tmp_path / "moved"
    for suffix in (".bw", ".bed"):
        shutil.copy(scanned / f"scan{suffix}", f"{prefix}{suffix}")
    manifest = json.loads((scanned / "scan.json").read_text())
    manifest["genome"] = str(tmp_path / "gone.fa")
    (tmp_path / "moved.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match=r"gone\.fa named in scan manifest .*moved\.json not found: pass --genome"):
        evaluate_scan(prefix, [scanned / "truth.bed"])
    report = evaluate_scan(prefix, [scanned / "truth.bed"], genome=scanned / "g.fa")
    assert report["truth"]["positive_bins"] == 7


def test_errors_name_the_file(scanned, tmp_path):
    with pytest.raises(InputError, match=r"scan manifest .*nothing\.json not found"):
        evaluate_scan(tmp_path / "nothing", [scanned / "truth.bed"])
    partial = tmp_path / "partial"
    shutil.copy(scanned / "scan.json", f"{partial}.json")
    shutil.copy(scanned / "scan.bed", f"{partial}.bed")
    with pytest.raises(InputError, match=r"scan track .*partial\.bw not found"):
        evaluate_scan(partial, [scanned / "truth.bed"])
    (tmp_path / "partial.bw").write_text("not a bigWig\n")
    with pytest.raises(InputError, match=r"partial\.bw is not a bigWig file"):
        evaluate_scan(partial, [scanned / "truth.bed"])
    (tmp_path / "bad.json").write_text("{")
    for suffix in (".bw", ".bed"):
        shutil.copy(scanned / f"scan{suffix}", tmp_path / f"bad{suffix}")
    with pytest.raises(InputError, match=r"bad\.json is not readable JSON"):
        evaluate_scan(tmp_path / "bad", [scanned / "truth.bed"])

    elsewhere = tmp_path / "elsewhere.bed"
    elsewhere.write_text("chr3\t0\t10\nchr1\t80\t100\n")  # not scanned, and the gap
    with pytest.raises(InputError, match=r"truth BED .*elsewhere\.bed: none of its 2 intervals overlaps a scored bin"):
        evaluate_scan(scanned / "scan", [scanned / "truth.bed", elsewhere])
    with pytest.raises(InputError, match=r"control BED .*elsewhere\.bed"):
        evaluate_scan(scanned / "scan", [scanned / "truth.bed"], control=elsewhere)
    typo = tmp_path / "typo.bed"
    typo.write_text("chr1\t0\t10\nchrX\t0\t10\n")
    with pytest.raises(GenomeError, match=r"typo\.bed:2: sequence 'chrX' is not in"):
        evaluate_scan(scanned / "scan", [typo])
    with pytest.raises(InputError, match=r"truth BED .*missing\.bed not found"):
        evaluate_scan(scanned / "scan", [tmp_path / "missing.bed"])
    with pytest.raises(InputError, match="no truth BED"):
        evaluate_scan(scanned / "scan", [])


def test_a_scan_of_another_genome_is_refused(scanned, tmp_path):
    other = write_fasta(tmp_path / "other.fa", [("chr1", "ACGT" * 10), ("chr2", "ACGT" * 30)])
    with pytest.raises(InputError, match=r"chr1 has 240 bases there but 40 in genome .*other\.fa"):
        evaluate_scan(scanned / "scan", [scanned / "truth.bed"], genome=other)


@pytest.mark.slow
def test_real_data_smoke_default_model(shared_data, tmp_path):
    fasta = tmp_path / "chr16.fa"
    shutil.copy(shared_data("genomes/hg38_chr16_186964-397118.fa"), fasta)
    truth = shared_data("genomes/annotations/hg38_chr16_186964-397118.enhancer_ensembl_rb.bed")
    control = shared_data("genomes/annotations/hg38_chr16_186964-397118.promoter_ensembl_rb.bed")
    if default_bundle_path() is None:
        pytest.skip("no default model installed")
    bundle = load_bundle(default_bundle_path())
    run_scan(fasta, bundle, ScanParams(stride=200), str(tmp_path / "scan"))
    report = evaluate_scan(tmp_path / "scan", [truth], control=control)
    print("\n" + table(report))
    bins, t = report["bins"], report["truth"]
    assert bins["scored"] > 500 and 0.0 <= bins["share_called"] <= 1.0
    assert 0 < t["positive_bins"] < bins["scored"]
    for value in (t["model"]["auroc"], t["gc"]["auroc"], report["control"]["model"]["auroc"],
                  report["truth_excluding_control_bins"]["model"]["auroc"]):
        assert 0.0 <= value <= 1.0
    assert t["enrichment"]["value"] >= 0.0 or np.isnan(t["enrichment"]["value"])
    assert 0 <= t["regions"]["intervals_found"] <= t["regions"]["intervals_on_scored_bins"] <= t["intervals"]
    write_report(report, tmp_path / "eval")
    assert (tmp_path / "eval" / "truth_roc.png").exists()


def test_a_manifest_without_the_parameters_is_refused(scanned, tmp_path):
    for suffix in (".bw", ".bed"):
        shutil.copy(scanned / f"scan{suffix}", tmp_path / f"odd{suffix}")
    (tmp_path / "odd.json").write_text(json.dumps({"genome": str(scanned / "g.fa"), "parameters": {"window": 20}}))
    with pytest.raises(InputError, match=r"odd\.json has no valid parameters\.window, parameters\.stride"):
        evaluate_scan(tmp_path / "odd", [scanned / "truth.bed"])


# -- several scans pooled ------------------------------------------------------------------------------------------
#
# Two genome pieces, each its own FASTA and scan (window = stride = 20, threshold 0.5): chr1 of 30 blocks and
# chr16 of 24 blocks (block 5 all N: a gap), G/C counts drawn once from a seeded generator. Truth and control
# BEDs per piece, and one truth BED on both.

PIECE_A = [int(c) for c in np.random.default_rng(3).integers(0, 21, 30)]
PIECE_B = [None if i == 5 else int(c) for i, c in enumerate(np.random.default_rng(4).integers(0, 21, 24))]
TRUTH_A = "chr1\t30\t50\nchr1\t100\t170\nchr1\t400\t405\nchr1\t590\t600\n"
TRUTH_B = "chr16\t0\t45\nchr16\t95\t110\nchr16\t300\t380\n"
CONTROL_A = "chr1\t200\t260\n"
CONTROL_B = "chr16\t200\t240\nchr16\t460\t480\n"


@pytest.fixture(scope="module")
def pieces(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pieces")
    bundle = gc_bundle(folder / "gc")
    for name, chrom, blocks in (("a", "chr1", PIECE_A), ("b", "chr16", PIECE_B)):
        fasta = write_fasta(folder / f"{name}.fa", [(chrom, "".join(map(block, blocks)))])
        run_scan(fasta, bundle, ScanParams(window=20, stride=20, threshold=0.5), str(folder / name))
    for name, text in (("truth_a", TRUTH_A), ("truth_b", TRUTH_B), ("truth_ab", TRUTH_B + TRUTH_A),
                       ("control_a", CONTROL_A), ("control_b", CONTROL_B)):
        (folder / f"{name}.bed").write_text(text)
    return folder


def bed(text: str) -> list[tuple[str, int, int]]:
    return [(c, int(a), int(b)) for c, a, b in (line.split("\t") for line in text.splitlines())]


def touches(chrom: str, start: int, end: int, intervals: list[tuple[str, int, int]]) -> bool:
    return any(c == chrom and a < end and b > start for c, a, b in intervals)


def by_hand(folder, names: list[str], truth: str, control: str) -> dict:
    """The pooled figures computed directly from the bigWigs, the calls and the sequences of the scans."""
    import pyBigWig

    from ielmscan.learn.evaluate import GC_STRATUM_WIDTH
    from ielmscan.learn.metrics import binary_metrics, gc_controlled_auroc

    bins, calls = [], []
    for name in names:
        bw = pyBigWig.open(str(folder / f"{name}.bw"))
        with Genome.open(folder / f"{name}.fa") as genome:
            for chrom in bw.chroms():
                for s, e, v in bw.intervals(chrom):
                    seq = genome.fetch(chrom, s, e).upper()
                    bins.append((chrom, s, e, v, (seq.count(b"G") + seq.count(b"C")) / (e - s)))
        bw.close()
        calls += [(c, int(a), int(b)) for c, a, b, *_ in
                  (line.split("\t") for line in (folder / f"{name}.bed").read_text().splitlines())]
    values, gc = np.array([b[3] for b in bins]), np.array([b[4] for b in bins])
    called = np.array([any(c == chrom and a <= s and e <= b for c, a, b in calls) for chrom, s, e, *_ in bins])
    widths = np.array([e - s for _, s, e, *_ in bins])
    out = {"bins": {"scored": len(bins), "bases": int(widths.sum()), "called": int(called.sum()),
                    "called_bases": int(widths[called].sum()), "share_called": widths[called].sum() / widths.sum(),
                    "bins_without_gc": 0}}
    for set_name, text in (("truth", truth), ("control", control)):
        intervals = bed(text)
        labels = np.array([touches(chrom, s, e, intervals) for chrom, s, e, *_ in bins])
        model, by_gc = binary_metrics(labels, values), binary_metrics(labels, gc)
        scored = [iv for iv in intervals if any(touches(iv[0], iv[1], iv[2], [b[:3]]) for b in bins)]
        out[set_name] = {
            "positive_bins": int(labels.sum()),
            "model": {"auroc": model["auroc"], "auprc": model["auprc"]},
            "gc": {"auroc": by_gc["auroc"], "auprc": by_gc["auprc"]},
            "gc_controlled_auroc": gc_controlled_auroc(labels, values, gc, GC_STRATUM_WIDTH),
            "enrichment": (labels & called).sum() / called.sum() / labels.mean(),
            "precision": sum(touches(*c, intervals) for c in calls) / len(calls),
            "recall": sum(touches(*iv, calls) for iv in scored) / len(scored),
        }
    return out


def test_pooled_metrics_equal_those_of_the_concatenated_bins(pieces):
    report = evaluate_scan([pieces / "a", pieces / "b"], [pieces / "truth_ab.bed"],
                           control=[pieces / "control_a.bed", pieces / "control_b.bed"])
    expected = by_hand(pieces, ["a", "b"], TRUTH_A + TRUTH_B, CONTROL_A + CONTROL_B)
    assert report["bins"] == pytest.approx(expected["bins"], abs=1e-12)
    assert report["bins"]["scored"] == 30 + 23
    for name in ("truth", "control"):
        got, want = report[name], expected[name]
        assert got["positive_bins"] == want["positive_bins"] > 0
        for key in ("model", "gc"):
            assert got[key] == pytest.approx(want[key], abs=1e-12)
        assert got["gc_controlled_auroc"] == pytest.approx(want["gc_controlled_auroc"], abs=1e-12)
        assert got["enrichment"]["value"] == pytest.approx(want["enrichment"], abs=1e-12)
        assert got["regions"]["precision"] == pytest.approx(want["precision"], abs=1e-12)
        assert got["regions"]["recall"] == pytest.approx(want["recall"], abs=1e-12)
    assert report["truth"]["intervals"] == 7 and report["control"]["intervals"] == 3
    assert [s["prefix"] for s in report["scans"]] == [str(pieces / "a"), str(pieces / "b")]
    assert "scan" not in report and "truth_excluding_control_bins" in report
    # One file on both pieces: each scan ignores the other piece's intervals, and the report counts them.
    assert report["truth"]["ignored_intervals"] == {str(pieces / "truth_ab.bed"): {str(pieces / "a"): 3,
                                                                                   str(pieces / "b"): 4}}
    assert [part["truth"]["ignored_intervals"] for part in report["per_scan"]] == [
        {str(pieces / "truth_ab.bed"): 3}, {str(pieces / "truth_ab.bed"): 4}]
    assert report["control"]["ignored_intervals"] == {
        str(pieces / "control_a.bed"): {str(pieces / "a"): 0, str(pieces / "b"): 1},
        str(pieces / "control_b.bed"): {str(pieces / "a"): 2, str(pieces / "b"): 0}}


def test_per_scan_breakdown_equals_single_scan_runs(pieces):
    pooled = evaluate_scan([pieces / "a", pieces / "b"], [pieces / "truth_a.bed", pieces / "truth_b.bed"],
                           control=[pieces / "control_a.bed", pieces / "control_b.bed"])
    joined = evaluate_scan([pieces / "a", pieces / "b"], [pieces / "truth_ab.bed"],
                           control=[pieces / "control_a.bed", pieces / "control_b.bed"])
    for key in ("bins", "truth", "control", "truth_excluding_control_bins"):
        same = {k: v for k, v in pooled[key].items() if k not in ("files", "ignored_intervals")}
        assert same == {k: v for k, v in joined[key].items() if k not in ("files", "ignored_intervals")}
    assert len(pooled["per_scan"]) == 2
    for part, name in zip(pooled["per_scan"], "ab"):
        alone = evaluate_scan(pieces / name, [pieces / f"truth_{name}.bed"], control=pieces / f"control_{name}.bed")
        assert part["scan"] == alone["scan"] == alone["scans"][0]
        assert part["bins"] == alone["bins"]
        for key in ("truth", "control", "truth_excluding_control_bins"):
            drop = ("files", "ignored_intervals")
            assert ({k: v for k, v in part[key].items() if k not in drop}
                    == {k: v for k, v in alone[key].items() if k not in drop}), key
        # The one-scan report breaks itself down into that one scan.
        assert [p["bins"] for p in alone["per_scan"]] == [alone["bins"]]
    text = table(pooled)
    assert text.splitlines()[0].startswith("2 scans pooled: 53 scored bins")
    assert sum(line.startswith(str(pieces / name)) for line in text.splitlines() for name in "ab") == 2
    assert "scan (truth)" in text


def test_one_scan_report_and_table_keep_their_shape(report):
    assert report["scan"] == report["scans"][0] and report["scan"]["prefix"].endswith("scan")
    assert report["truth"]["ignored_intervals"] == {report["truth"]["files"][0]: {report["scan"]["prefix"]: 0}}
    text = table(report)
    assert text.splitlines()[0].startswith(f"{report['scan']['prefix']}: 17 scored bins")
    assert "scan (truth)" not in text


def test_a_bed_on_no_scanned_genome_is_an_error_naming_the_file(pieces, tmp_path):
    unknown = tmp_path / "unknown.bed"
    unknown.write_text("chrZ\t0\t10\nchrY\t5\t9\n")
    with pytest.raises(GenomeError, match=r"unknown\.bed:1: sequence 'chrZ' is in none of the scans' genomes "
                                          r"\(.*a\.fa, .*b\.fa\)"):
        evaluate_scan([pieces / "a", pieces / "b"], [pieces / "truth_ab.bed"], control=[unknown])
    # A file on both pieces is fine; one whose intervals miss every scored bin of every scan is not.
    far = tmp_path / "far.bed"
    far.write_text("chr1\t0\t0\nchr16\t100\t120\n")  # empty, and the gap of chr16
    with pytest.raises(InputError, match=r"truth BED .*far\.bed: none of its 1 intervals overlaps a scored bin of "
                                         r"the scans \(scored: chr1, chr16\)"):
        evaluate_scan([pieces / "a", pieces / "b"], [far])


def test_overlapping_or_unlike_scans_are_refused(pieces, tmp_path):
    bundle = load_bundle(pieces / "gc")
    fasta = pieces / "a.fa"
    for name, region in (("left", "chr1\t0\t300\n"), ("right", "chr1\t300\t600\n"), ("middle", "chr1\t200\t500\n")):
        (tmp_path / f"{name}.regions").write_text(region)
        run_scan(fasta, bundle, ScanParams(window=20, stride=20, threshold=0.5), str(tmp_path / name),
                 regions_bed=tmp_path / f"{name}.regions")
    # Two shards of one chromosome pool to the bins of the whole scan.
    shards = evaluate_scan([tmp_path / "left", tmp_path / "right"], [pieces / "truth_a.bed"])
    whole = evaluate_scan(pieces / "a", [pieces / "truth_a.bed"])
    assert shards["bins"]["scored"] == whole["bins"]["scored"] == 30
    for key in ("positive_bins", "model", "gc", "gc_controlled_auroc"):
        assert shards["truth"][key] == whole["truth"][key]
    assert shards["truth"]["regions"]["intervals_on_scored_bins"] == 4
    with pytest.raises(InputError, match=r"scans .*left and .*middle both scored chr1:\[200, 220\): pooled scans "
                                         r"must not overlap"):
        evaluate_scan([tmp_path / "left", tmp_path / "middle"], [pieces / "truth_a.bed"])
    with pytest.raises(InputError, match=r"scans .*/a and .*/a both scored chr1:\[0, 20\)"):
        evaluate_scan([pieces / "a", pieces / "a"], [pieces / "truth_a.bed"])
    run_scan(pieces / "b.fa", bundle, ScanParams(window=20, stride=10, threshold=0.5), str(tmp_path / "fine"))
    with pytest.raises(InputError, match=r"scans .*/a \(window 20, stride 20\) and .*fine \(window 20, stride 10\) "
                                         "differ"):
        evaluate_scan([pieces / "a", tmp_path / "fine"], [pieces / "truth_ab.bed"])


def test_genomes_are_given_one_per_scan_and_must_agree_on_names(pieces, tmp_path):
    with pytest.raises(InputError, match="1 genomes for 2 scans: give one genome per scan"):
        evaluate_scan([pieces / "a", pieces / "b"], [pieces / "truth_ab.bed"], genome=[pieces / "a.fa"])
    report = evaluate_scan([pieces / "a", pieces / "b"], [pieces / "truth_ab.bed"],
                           genome=[pieces / "a.fa", pieces / "b.fa"])
    assert [s["genome"] for s in report["scans"]] == [str(pieces / "a.fa"), str(pieces / "b.fa")]
    clash = write_fasta(tmp_path / "clash.fa", [("chr16", "".join(map(block, PIECE_B))), ("chr1", "ACGT")])
    with pytest.raises(InputError, match=r"sequence 'chr1' has 600 bases in genome .*a\.fa but 4 in genome "
                                         r".*clash\.fa"):
        evaluate_scan([pieces / "a", pieces / "b"], [pieces / "truth_ab.bed"], genome=[pieces / "a.fa", clash])
