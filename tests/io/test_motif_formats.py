"""MEME files and TSV tables as ``ielmscan motifs`` writes them and as users hand them in (JASPAR's MEME)."""
from __future__ import annotations

import numpy as np
import pytest

from ielmscan.errors import InputError
from ielmscan.io.motif_formats import MemeMotif, read_meme, read_table, write_meme, write_table

JASPAR_STYLE = """MEME version 4

ALPHABET= ACGT

strands: + -

Background letter frequencies
A 0.25 C 0.25 G 0.25 T 0.25

MOTIF MA0004.1 Arnt
letter-probability matrix: alength= 4 w= 3 nsites= 20 E= 0
  0.200000\t  0.800000\t  0.000000\t  0.000000
  0.950000\t  0.000000\t  0.050000\t  0.000000

  0.000000\t  1.000000\t  0.000000\t  0.000000
URL http://jaspar.genereg.net/matrix/MA0004.1

MOTIF MA0006.1
letter-probability matrix: alength= 4 w= 2 nsites= 24 E= 0
 2 0 0 2
 0 0 4 0
"""


def test_written_motifs_read_back_unchanged(tmp_path):
    rng = np.random.default_rng(0)
    motifs = [MemeMotif("motif_1", "ccgGCCCagc", rng.dirichlet(np.ones(4), 10), 256),
              MemeMotif("motif_2", "", rng.dirichlet(np.ones(4), 6), 11)]
    back = read_meme(write_meme(tmp_path / "m.meme", motifs))
    assert [(m.name, m.alt, m.nsites) for m in back] == [("motif_1", "ccgGCCCagc", 256), ("motif_2", "", 11)]
    for written, read in zip(motifs, back):
        np.testing.assert_allclose(read.probabilities, written.probabilities, atol=1e-6)


def test_jaspar_meme_files_are_read_with_blank_lines_tabs_and_counts(tmp_path):
    path = tmp_path / "jaspar.meme"
    path.write_text(JASPAR_STYLE)
    arnt, other = read_meme(path)
    assert (arnt.name, arnt.alt, arnt.nsites) == ("MA0004.1", "Arnt", 20)
    np.testing.assert_allclose(arnt.probabilities, [[0.2, 0.8, 0, 0], [0.95, 0, 0.05, 0], [0, 1, 0, 0]])
    assert other.alt == "" and other.nsites == 24
    np.testing.assert_allclose(other.probabilities, [[0.5, 0, 0, 0.5], [0, 0, 1, 0]])  # counts → probabilities


def test_memelite_reads_our_meme_files_as_we_do(tmp_path):
    memelite_io = pytest.importorskip("memelite.io")
    rng = np.random.default_rng(1)
    motifs = [MemeMotif(f"motif_{i}", "x", rng.dirichlet(np.ones(4), 8), 20) for i in range(3)]
    theirs = memelite_io.read_meme(str(write_meme(tmp_path / "m.meme", motifs)))
    assert list(theirs) == ["motif_0 x", "motif_1 x", "motif_2 x"]
    for motif, pwm in zip(motifs, theirs.values()):
        np.testing.assert_allclose(pwm.T, motif.probabilities, atol=1e-6)


@pytest.mark.parametrize(("text", "message"), [
    ("MOTIF a\nletter-probability matrix: w= 2\n0.1 0.2 0.3 0.4\n0.1 0.2 0.3\n", ":4: motif a: expected 4"),
    ("MOTIF a\nletter-probability matrix: w= 2\n0.1 0.2 0.3 0.4\n", ":4: motif a: expected 4"),
    ("MOTIF a\nletter-probability matrix: alength= 4\n", ":2: the matrix line does not give its width"),
    ("MOTIF a\nletter-probability matrix: w= 1\n-1 0 0 2\n", ":3: motif a"),
    ("letter-probability matrix: w= 1\n1 0 0 0\n", ":1: a matrix before any MOTIF line"),
    ("ALPHABET= ACGU\n", "only the DNA alphabet"),
    ("MEME version 4\n", "no motifs"),
])
def test_malformed_meme_files_fail_with_the_file_and_line(tmp_path, text, message):
    path = tmp_path / "bad.meme"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as info:
        read_meme(path)
    assert str(path) in str(info.value)


def test_unreadable_meme_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="cannot read MEME file"):
        read_meme(tmp_path / "absent.meme")


def test_motif_names_must_be_one_word_and_matrices_four_letters(tmp_path):
    with pytest.raises(ValueError, match="one word"):
        write_meme(tmp_path / "m.meme", [MemeMotif("two words", "", np.full((2, 4), 0.25))])
    with pytest.raises(ValueError, match=r"\(width, 4\)"):
        write_meme(tmp_path / "m.meme", [MemeMotif("m", "", np.full((2, 3), 1 / 3))])


def test_tables_round_trip_with_empty_cells_and_short_floats(tmp_path):
    rows = [{"motif": "motif_1", "p_value": 1.234567e-30, "fold": 1.58812, "match": None},
            {"motif": "motif_2", "p_value": float("nan"), "fold": 2.0}]
    path = write_table(tmp_path / "t.tsv", ("motif", "p_value", "fold", "match"), rows)
    assert path.read_text().splitlines()[0] == "motif\tp_value\tfold\tmatch"
    back = read_table(path)
    assert back == [{"motif": "motif_1", "p_value": "1.235e-30", "fold": "1.588", "match": ""},
                    {"motif": "motif_2", "p_value": "nan", "fold": "2", "match": ""}]
