"""What C libraries write to file descriptor 2 is caught, handed to the caller and kept off the terminal."""
from __future__ import annotations

import os

import pytest

from ielmscan.io.capture import captured_stderr, quiet_htslib


def test_text_written_to_fd_2_is_caught_and_not_shown(capfd):
    with captured_stderr() as log:
        os.write(2, b"[E::fai_build] a message from C\n")
    assert log.text == "[E::fai_build] a message from C\n"
    os.write(2, b"after\n")  # fd 2 is the terminal's again
    assert capfd.readouterr().err == "after\n"


def test_fd_2_comes_back_when_the_block_raises(capfd):
    try:
        with captured_stderr():
            os.write(2, b"hidden\n")
            raise RuntimeError("libBigWig failed")
    except RuntimeError:
        pass
    os.write(2, b"shown\n")
    assert capfd.readouterr().err == "shown\n"


def test_a_full_temporary_folder_drops_the_text_instead_of_failing(monkeypatch, capfd):
    def no_room(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("tempfile.TemporaryFile", no_room)
    with captured_stderr() as log:
        os.write(2, b"dropped\n")
    assert log.text == "" and capfd.readouterr().err == ""


def test_the_old_name_in_genome_still_works():
    from ielmscan.io.genome import _captured_stderr

    assert _captured_stderr is captured_stderr


def test_quiet_htslib_silences_htslib_inside_and_restores_its_verbosity_after() -> None:
    import pysam

    before = pysam.set_verbosity(3)
    try:
        with quiet_htslib():
            assert pysam.set_verbosity(0) == 0  # silent inside the block
        assert pysam.set_verbosity(3) == 3  # restored, also after an error:
        with pytest.raises(ValueError), quiet_htslib():
            raise ValueError("a read failed")
        assert pysam.set_verbosity(3) == 3
    finally:
        pysam.set_verbosity(before)
