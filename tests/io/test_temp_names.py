"""Tests for ielmscan.io.temp_names: hidden temporary names shown as the final names the user knows."""
from __future__ import annotations

from pathlib import Path

import ielmscan.io.temp_names as temp_names_mod


def test_shown_name_turns_temporary_and_staging_names_back_into_final_ones(tmp_path: Path) -> None:
    assert temp_names_mod.shown_name(tmp_path / ".out.bw.tmp-123-0123abcd") == tmp_path / "out.bw"
    assert temp_names_mod.shown_name(Path(".model.tmp-9-89abcdef/k3.safetensors")) == Path("model/k3.safetensors")
    assert temp_names_mod.shown_name(Path("plain/out.bed")) == Path("plain/out.bed")

