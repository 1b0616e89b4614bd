"""`dataset build` as a library: GC-matched background, duplicates, splits, outputs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ielmscan.errors import InputError, OutputError
from ielmscan.io.fasta import read_fasta, write_fasta
from ielmscan.kernels.encode import reverse_complement
from ielmscan.learn.background import gc_histogram
from ielmscan.learn.baselines import gc_content
from ielmscan.learn.dataset import canonical
from ielmscan.learn.dataset_build import build_dataset, dataset_output
from ielmscan.learn.dataset_request import BuildRequest

from tests.learn.test_background import N_RUN, PLANTED, SUMMIT, planted_genome

GC_TOLERANCE = 0.1  # total variation distance between the classes' GC histograms (0: identical; 1: disjoint)


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    return planted_genome(tmp_path_factory.mktemp("genome") / "planted.fa")


def narrowpeak(path: Path, peaks, summit: int | None = SUMMIT) -> Path:
    """``peaks`` ((chrom, start, end)) as narrowPeak with the summit offset (-1 for None)."""
    lines = [f"{c}\t{s}\t{e}\tpeak{i}\t0\t.\t1\t1\t1\t{-1 if summit is None else summit}\n"
             for i, (c, s, e) in enumerate(peaks)]
    path.write_text("".join(lines))
    return path


def planted_peaks(seqs) -> list[tuple[str, int, int]]:
    return [(c, s, e) for c in seqs for s, e in PLANTED]


def build(tmp_path: Path, name: str = "out", **kwargs) -> tuple[Path, dict]:
    request = BuildRequest(output=tmp_path / name, **{"val_fraction": 0.0, "test_fraction": 0.0, **kwargs})
    result = build_dataset(request)
    return result.output, result.manifest


def records(folder: Path) -> dict[str, list[tuple[str, str]]]:
    """Every FASTA file of a built set, by file name."""
    return {p.name: read_fasta(p) for p in sorted(folder.glob("*.fa"))}


def span(name: str) -> tuple[str, int, int]:
    chrom, coords = name.rsplit(":", 1)
    start, end = coords.split("-")
    return chrom, int(start), int(end)


def overlaps(interval, intervals) -> bool:
    chrom, start, end = interval
    return any(c == chrom and start < e and s < end for c, s, e in intervals)


def test_background_is_gc_matched_and_keeps_off_positives_blacklist_and_n_runs(tmp_path, genome):
    path, seqs = genome
    peaks = narrowpeak(tmp_path / "p.narrowPeak", planted_peaks(seqs))
    blacklist = tmp_path / "black.bed"
    blacklist.write_text("# regions to avoid\nchr4\t0\t6000\nchrUn\t0\t100\n")
    out, manifest = build(tmp_path, peaks=peaks, genome=path, blacklist=blacklist, background_ratio=2, margin=1000)
    negatives = [span(name) for name, _ in read_fasta(out / "train.neg.fa")]
    assert len(negatives) == 32 and manifest["background"]["unfilled"] == 0
    forbidden = [(c, s - 1000, e + 1000) for c, s, e in planted_peaks(seqs)] + [("chr4", 0, 6000), N_RUN]
    assert not any(overlaps(n, forbidden) for n in negatives)
    pos_gc = gc_content([s for _, s in read_fasta(out / "train.pos.fa")])
    neg_gc = gc_content([s for _, s in read_fasta(out / "train.neg.fa")])
    pos_hist, neg_hist = gc_histogram(pos_gc), gc_histogram(neg_gc)
    assert 0.5 * np.abs(pos_hist / pos_hist.sum() - neg_hist / neg_hist.sum()).sum() <= GC_TOLERANCE
    assert manifest["gc"]["pos"] == pos_hist.tolist() and manifest["gc"]["neg"] == neg_hist.tolist()
    assert abs(manifest["gc"]["auroc_pos_vs_neg"] - 0.5) < 0.15
    assert manifest["background"]["exclude_intervals_not_in_genome"] == 1  # chrUn


def test_duplicates_are_collapsed_and_sequences_in_both_classes_dropped(tmp_path):
    rng = np.random.default_rng(1)
    seqs = ["".join(rng.choice(list("ACGT"), 200)) for _ in range(12)]
    rc = [reverse_complement(s.encode()).decode() for s in seqs]
    pos = write_fasta(tmp_path / "pos.fa", [("p0", seqs[0]), ("p0_again", seqs[0]), ("p0_rc", rc[0].lower()),
                                            ("p1", seqs[1]), ("p2", seqs[2]), ("p3", seqs[3])])
    neg = write_fasta(tmp_path / "neg.fa", [("n_p1_rc", rc[1]), *((f"n{i}", seqs[i]) for i in range(4, 12)),
                                            ("n4_rc", rc[4])])
    out, manifest = build(tmp_path, pos_fastas=[pos], neg_fastas=[neg], val_fraction=0.25, test_fraction=0.25)
    duplicates = manifest["duplicates"]
    assert duplicates["within_class_dropped"] == 3  # p0_again, p0_rc, n4_rc
    assert duplicates["cross_class_dropped"] == 2 and duplicates["cross_class_groups"] == 1  # p1 and n_p1_rc
    kept = [(name, seq) for recs in records(out).values() for name, seq in recs]
    assert sorted(name for name, _ in kept) == sorted(["p0", "p2", "p3", *(f"n{i}" for i in range(4, 12))])
    canon = [canonical(seq) for _, seq in kept]
    assert len(set(canon)) == len(canon)


def test_chromosome_splits_put_each_chromosome_where_asked(tmp_path, genome):
    path, seqs = genome
    peaks = narrowpeak(tmp_path / "p.narrowPeak", planted_peaks(seqs))
    rng = np.random.default_rng(2)
    free = write_fasta(tmp_path / "free.fa", [(f"free{i}", "".join(rng.choice(list("ACGT"), 200)))
                                              for i in range(20)])
    placed = write_fasta(tmp_path / "placed.fa", [("x chr2:100-300", "".join(rng.choice(list("ACGT"), 200)))])
    out, manifest = build(tmp_path, peaks=peaks, genome=path, pos_fastas=[free, placed], margin=500,
                          val_chroms=["chr2"], test_chroms=["chr3", "chr4"], val_fraction=0.2, test_fraction=0.2)
    where = {"train": {"chr1"}, "val": {"chr2"}, "test": {"chr3", "chr4"}}
    free_counts = {}
    for name, recs in records(out).items():
        split = name.split(".")[0]
        chroms = {span(n)[0] for n, _ in recs if ":" in n}
        assert chroms <= where[split], name
        free_counts[split] = free_counts.get(split, 0) + sum(n.startswith("free") for n, _ in recs)
    assert ("x", ) == tuple(n for n, _ in read_fasta(out / "val.pos.fa") if not n.startswith(("chr", "free")))
    assert free_counts == {"train": 12, "val": 4, "test": 4}  # records without coordinates: stratified
    assert manifest["splits"]["by_chromosome"] and manifest["splits"]["stratified_records"] == 20


def test_background_from_another_assembly_joins_the_stratified_split(tmp_path, genome):
    path, _ = genome
    rng = np.random.default_rng(3)
    pos = write_fasta(tmp_path / "pos.fa", [(f"p{i} {'chrA' if i < 10 else 'chrB'}:{i * 1000}-{i * 1000 + 200}",
                                             "".join(rng.choice(list("ACGT"), 200))) for i in range(20)])
    out, manifest = build(tmp_path, pos_fastas=[pos], genome=path, val_chroms=["chrB"], val_fraction=0.5)
    assert manifest["counts"]["train"] == {"pos": 10, "neg": 10} and manifest["counts"]["val"] == {"pos": 10, "neg": 10}
    assert not manifest["splits"]["background_by_chromosome"]
    assert any("20 positive(s) with coordinates lie on sequences" in w for w in manifest["warnings"])


def test_the_same_seed_builds_the_same_files(tmp_path, genome):
    path, seqs = genome
    peaks = narrowpeak(tmp_path / "p.narrowPeak", planted_peaks(seqs))
    kwargs = {"peaks": peaks, "genome": path, "margin": 500, "val_fraction": 0.2, "test_fraction": 0.2}
    a, _ = build(tmp_path, "a", seed=5, **kwargs)
    b, _ = build(tmp_path, "b", seed=5, **kwargs)
    c, _ = build(tmp_path, "c", seed=6, **kwargs)
    assert records(a) == records(b)
    assert records(a) != records(c)


def test_an_existing_folder_is_refused_unless_forced_and_a_failure_leaves_it_alone(tmp_path, monkeypatch):
    pos = write_fasta(tmp_path / "pos.fa", [("p", "ACGT" * 50)])
    neg = write_fasta(tmp_path / "neg.fa", [("n", "AACC" * 50)])
    with pytest.raises(OutputError, match="missing does not exist"):
        dataset_output(BuildRequest(output=tmp_path / "missing" / "out"))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(OutputError, match="--force"):
        build(tmp_path, pos_fastas=[pos], neg_fastas=[neg])
    monkeypatch.setattr("ielmscan.learn.dataset_build.write_manifest", lambda *a: (_ for _ in ()).throw(OSError("disk")))
    with pytest.raises(OSError, match="disk"):
        build(tmp_path, pos_fastas=[pos], neg_fastas=[neg], force=True)
    assert (tmp_path / "out" / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["neg.fa", "out", "pos.fa"]  # no staging left
    monkeypatch.undo()
    build(tmp_path, pos_fastas=[pos], neg_fastas=[neg], force=True)  # beside the files it did not make
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["dataset.json", "keep.txt", "train.neg.fa",
                                                                   "train.pos.fa"]
    assert (tmp_path / "out" / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["neg.fa", "out", "pos.fa"]
    with pytest.raises(OutputError, match="already exists: --force replaces it"):
        build(tmp_path, pos_fastas=[pos], neg_fastas=[neg])
    # An earlier set's files that the new one lacks go with it (train --dataset would read a stale split).
    build(tmp_path, pos_fastas=[pos, write_fasta(tmp_path / "pos2.fa", [("q", "ACGA" * 50)])], neg_fastas=[neg],
          val_fraction=0.5, force=True)
    assert "val.pos.fa" in {p.name for p in (tmp_path / "out").iterdir()}
    build(tmp_path, pos_fastas=[pos], neg_fastas=[neg], force=True)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["dataset.json", "keep.txt", "train.neg.fa",
                                                                   "train.pos.fa"]


def test_unusable_inputs_are_input_errors(tmp_path, genome):
    path, _ = genome
    short = write_fasta(tmp_path / "short.fa", [("s", "ACGT")])
    neg = write_fasta(tmp_path / "neg.fa", [("n", "AACC" * 50)])
    with pytest.raises(InputError, match="none of its 1 record"):
        build(tmp_path, pos_fastas=[short], neg_fastas=[neg])
    elsewhere = tmp_path / "p.bed"
    elsewhere.write_text("chrZ\t0\t500\n")
    with pytest.raises(InputError, match="1 on sequences it lacks"):
        build(tmp_path, peaks=elsewhere, genome=path)
    same = write_fasta(tmp_path / "same.fa", [("n", "AACC" * 50)])
    with pytest.raises(InputError, match="every positive also appears among the negatives"):
        build(tmp_path, pos_fastas=[same], neg_fastas=[neg])


@pytest.mark.slow
def test_real_dhs_positives_with_background_from_grch37_chr22(tmp_path, shared_data):
    dhs = shared_data("dhs_k562_hepg2/k562_dhs.fa")
    genome = shared_data("genomes/grch37_chr22_1-22000000.fa.gz")
    first = write_fasta(tmp_path / "k562_500.fa", read_fasta(dhs)[:500])
    out, manifest = build(tmp_path, pos_fastas=[first], genome=genome, val_fraction=0.1, test_fraction=0.1)
    counts = manifest["counts"]
    assert counts["total"] == {"pos": 500, "neg": 500}
    for split, share in (("train", 0.8), ("val", 0.1), ("test", 0.1)):
        assert abs(counts[split]["pos"] - 500 * share) <= 5 and abs(counts[split]["neg"] - 500 * share) <= 5
    assert manifest["background"]["unfilled"] == 0 and manifest["background"]["filled_from_other_bins"] <= 10
    assert abs(manifest["gc"]["pos_mean"] - manifest["gc"]["neg_mean"]) < 0.01
    assert abs(manifest["gc"]["auroc_pos_vs_neg"] - 0.5) < 0.05
    pos, neg = np.array(manifest["gc"]["pos"]), np.array(manifest["gc"]["neg"])
    assert 0.5 * np.abs(pos / pos.sum() - neg / neg.sum()).sum() <= GC_TOLERANCE
    negatives = read_fasta(out / "train.neg.fa")
    assert all(name.startswith("22:") and set(seq) <= set("ACGT") for name, seq in negatives)
