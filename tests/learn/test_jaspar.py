"""Known motifs: JASPAR through pyjaspar (offline), MEME files, and the Tomtom comparison."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from ielmscan.errors import InputError
from ielmscan.io.motif_formats import MemeMotif, write_meme
from ielmscan.learn.jaspar import (DEFAULT_RELEASE, Database, _similarity, check_comparison_packages, compare,
                                   load_database)

CTCF = "MA0139.2"


def test_similarity_is_the_mean_column_correlation_on_the_aligned_strand():
    rng = np.random.default_rng(0)
    target = rng.dirichlet(np.ones(4), 12)
    query = target[3:10]
    assert _similarity(query, target, 3, "+") == pytest.approx(1.0)
    assert _similarity(query[::-1, ::-1], target, 2, "-") == pytest.approx(1.0)  # reverse complement
    assert _similarity(query, target, 4, "+") < 0.9
    # only the overlapping columns count: a query hanging 2 columns off the target's start
    assert _similarity(np.r_[np.full((2, 4), 0.25), target[:5]], target, -2, "+") == pytest.approx(1.0)


def test_a_meme_file_is_a_database(tmp_path):
    path = write_meme(tmp_path / "known.meme", [MemeMotif("M1", "ONE", np.eye(4)), MemeMotif("M2", "", np.eye(4))])
    database = load_database(path)
    assert database.name == str(path) and [m.name for m in database.motifs] == ["M1", "M2"]


def test_missing_packages_are_named_with_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "memelite", None)
    with pytest.raises(InputError, match=r"needs the package memelite: pip install 'ielmscan\[motifs\]'"):
        check_comparison_packages(DEFAULT_RELEASE)
    monkeypatch.setitem(sys.modules, "pyjaspar", None)
    with pytest.raises(InputError, match="needs the package pyjaspar"):
        load_database("JASPAR2024")
    path = write_meme(tmp_path / "known.meme", [MemeMotif("M1", "", np.eye(4))])
    assert len(load_database(path).motifs) == 1  # a file needs no pyjaspar


@pytest.fixture(scope="module")
def jaspar() -> Database:
    pytest.importorskip("pyjaspar")
    return load_database(DEFAULT_RELEASE)


def test_jaspar_vertebrates_load_offline_from_the_package(jaspar):
    assert jaspar.name == f"{DEFAULT_RELEASE} CORE vertebrates"
    assert len(jaspar.motifs) > 800
    ids = [m.name for m in jaspar.motifs]
    assert len(set(ids)) == len(ids) and all(i.startswith("MA") for i in ids)
    ctcf = next(m for m in jaspar.motifs if m.name == CTCF)
    assert ctcf.alt == "CTCF" and ctcf.probabilities.shape[1] == 4 and ctcf.nsites > 0
    np.testing.assert_allclose(ctcf.probabilities.sum(1), 1.0)


def test_an_unknown_release_lists_the_shipped_ones():
    pytest.importorskip("pyjaspar")
    with pytest.raises(InputError, match=r"--jaspar JASPAR1999: not a file, nor a JASPAR release .*JASPAR2024"):
        load_database("JASPAR1999")


@pytest.mark.slow  # memelite compiles Tomtom with Numba on first use
def test_tomtom_finds_a_planted_jaspar_matrix_on_either_strand(jaspar):
    pytest.importorskip("memelite")
    ctcf = next(m for m in jaspar.motifs if m.name == CTCF).probabilities
    rng = np.random.default_rng(0)
    noisy = 0.9 * ctcf[3:13] + 0.1 * rng.dirichlet(np.ones(4), 10)  # ten columns, a little noise
    forward, reverse = compare([noisy, noisy[::-1, ::-1]], jaspar, top=3)
    assert len(forward) == 3 and [m.p_value for m in forward] == sorted(m.p_value for m in forward)
    best = forward[0]
    assert (best.target_id, best.target_name, best.strand, best.offset, best.overlap) == (CTCF, "CTCF", "+", 3, 10)
    assert best.q_value < 1e-6 and best.similarity > 0.95
    assert best.e_value == pytest.approx(best.p_value * len(jaspar.motifs))
    assert (reverse[0].target_id, reverse[0].strand) == (CTCF, "-") and reverse[0].similarity > 0.95
