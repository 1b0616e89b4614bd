"""Fixtures shared across the test folders: tiny bundles, a tiny genome, and the shared real data.

Real data lives beside the repository in ``../shared/data`` (or where ``IELMSCAN_SHARED_DATA`` points);
tests that need it ask the ``shared_data`` fixture for a path and are skipped cleanly when it is absent.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.bundles import gc_bundle, random_bundle

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("IELMSCAN_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Callable[[str], Path]:
    """``shared_data("ienhancer2l/train_enhancer.fa")``: that path of the shared data, or a clean skip."""

    def path(relative: str) -> Path:
        found = SHARED_DATA / relative
        if not found.exists():
            pytest.skip(f"shared data {relative} not found under {SHARED_DATA}")
        return found

    return path


@pytest.fixture(scope="module")
def random_bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved random two-member bundle (k = 3, 4, hidden 32) whose scores vary between windows."""
    directory = tmp_path_factory.mktemp("bundle") / "random"
    random_bundle(directory)
    return directory


@pytest.fixture(scope="module")
def gc_bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved one-member bundle whose probability is a known function of a window's GC fraction."""
    directory = tmp_path_factory.mktemp("bundle") / "gc"
    gc_bundle(directory)
    return directory
