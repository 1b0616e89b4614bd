"""Where `dataset build`'s records come from: windows centred on peaks' summits, the FASTA length rule, the
coordinates in FASTA headers, reading peaks files."""
from __future__ import annotations

import gzip

import numpy as np
import pytest

from ielmscan.errors import InputError
from ielmscan.io.fasta import read_fasta, write_fasta
from ielmscan.learn.dataset_sources import header_coordinates, read_peaks

from tests.learn.test_background import SUMMIT, planted_genome
from tests.learn.test_dataset_build import build, narrowpeak, planted_peaks


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    return planted_genome(tmp_path_factory.mktemp("genome") / "planted.fa")


def test_windows_are_centred_on_summits_or_on_interval_centres(tmp_path, genome):
    path, seqs = genome
    with_summit = narrowpeak(tmp_path / "a.narrowPeak", planted_peaks(seqs)[:8])
    minus_one = narrowpeak(tmp_path / "b.narrowPeak", planted_peaks(seqs)[8:12], summit=None)
    bed3 = tmp_path / "c.bed"
    bed3.write_text("".join(f"{c}\t{s}\t{e + 101}\n" for c, s, e in planted_peaks(seqs)[12:]))  # odd length 501
    expected = {}
    for peaks_file, centre in ((with_summit, lambda s, e: s + SUMMIT), (minus_one, lambda s, e: (s + e) // 2),
                               (bed3, lambda s, e: (s + e) // 2)):
        out, manifest = build(tmp_path, f"out-{peaks_file.name}", peaks=peaks_file, genome=path, background_ratio=0,
                              neg_fastas=[write_fasta(tmp_path / "n.fa", [("n", "A" * 200)])])
        for p in read_peaks(peaks_file):
            start = centre(p.start, p.end) - 100
            expected[f"{p.chrom}:{start}-{start + 200}"] = seqs[p.chrom][start:start + 200].upper()
        got = dict(read_fasta(out / "train.pos.fa"))
        assert set(got) <= set(expected) and len(got) == len(read_peaks(peaks_file))
        assert all(got[name] == expected[name] for name in got)
    assert manifest["sources"][f"peaks {bed3}"]["centred_on_summit"] == 0


def test_fasta_records_are_kept_cut_to_their_centre_or_dropped(tmp_path):
    rng = np.random.default_rng(0)
    long = "".join(rng.choice(list("ACGT"), 261))
    exact = "".join(rng.choice(list("ACGT"), 200)).lower()
    pos = write_fasta(tmp_path / "pos.fa", [("exact", exact), ("long", long), ("short", "ACGT" * 30),
                                            ("with_n", "ACGT" * 45 + "N" * 20)])
    neg = write_fasta(tmp_path / "neg.fa", [(f"n{i}", "".join(rng.choice(list("ACGT"), 200))) for i in range(3)])
    out, manifest = build(tmp_path, pos_fastas=[pos], neg_fastas=[neg])
    assert dict(read_fasta(out / "train.pos.fa")) == {"exact": exact.upper(), "long": long[30:230]}
    stats = manifest["sources"][f"pos_fasta {pos}"]
    assert (stats["records"], stats["kept"], stats["cut_to_window"], stats["too_short"], stats["too_many_n"]) == \
        (4, 2, 1, 1, 1)
    assert manifest["background"] is None and manifest["counts"]["train"] == {"pos": 2, "neg": 3}


@pytest.mark.parametrize("header, expected", [
    ("chr1_40744600_40744800_40744690|test chr1:40744600-40744800 summit=40744690", ("chr1", 40744600, 40744800)),
    ("train_enh_0001|strong chrX_48897056_48897256", ("chrX", 48897056, 48897256)),
    ("chr22:1,000-2,000", ("chr22", 1000, 2000)),
    ("rb_0002|enhancer", None),
    ("x chr1:300-100", None),
])
def test_coordinates_are_read_from_fasta_headers(header, expected):
    assert header_coordinates(header) == expected


def test_peaks_files_may_be_gzipped_and_errors_name_the_line(tmp_path):
    with gzip.open(tmp_path / "p.bed.gz", "wt") as fh:
        fh.write("track name=x\nchr1\t10\t20\n")
    assert [(p.chrom, p.start, p.end, p.summit) for p in read_peaks(tmp_path / "p.bed.gz")] == [("chr1", 10, 20, None)]
    for text, message in (("chr1\t10\n", ":1: expected at least 3 columns"), ("chr1\t20\t10\n", "start < end"),
                          ("chr1\t0\t10\t.\t0\t.\t1\t1\t1\t10\n", "beyond the peak"), ("chr1\tx\t5\n", "whole numbers")):
        (tmp_path / "bad.bed").write_text(text)
        with pytest.raises(InputError, match=message):
            read_peaks(tmp_path / "bad.bed")
