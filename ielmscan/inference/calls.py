"""From window scores to calls: bins, regions, p-values and the run's q-values.

Shared by a scan and by `ielmscan merge`, so that a merged run and a single run call regions by the very
same code from the very same window scores.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from ielmscan.io.intervals import Interval
from ielmscan.io.writers import Region, regions_from_bins
from ielmscan.kernels.grid import WindowGrid
from ielmscan.kernels.reduce import bin_window_scores
from ielmscan.model.bundle import Bundle
from ielmscan.model.calibration import Calibration, benjamini_hochberg

if TYPE_CHECKING:
    from ielmscan.inference.params import ScanParams

log = logging.getLogger(__name__)


# A window's score when the --fast first stage kept it from the ensemble: the first stage vouches that no
# bin it covers is called (every window sharing a bin with a passing one is scored), so it counts as
# examined but holds no probability; bins whose every window is REJECTED are gaps in the track.
REJECTED = np.float32(-1.0)


@dataclass
class IntervalResult:
    interval: Interval
    scores: np.ndarray  # float32 per window, NaN where skipped
    bins: np.ndarray  # float32 per stride bin, NaN where no window was scored
    regions: list[Region]
    windows_to_ensemble: int = 0  # windows the transformers scored
    windows_rejected: int = 0  # windows the --fast first stage kept from the transformers (NaN in scores)
    bases_scored: int = 0  # bases in bins that hold a score (what the track covers)
    windows_blacklisted: int = 0  # windows overlapping a --blacklist interval (NaN in scores)

    @property
    def windows_scored(self) -> int:
        return int(np.count_nonzero(self.scores >= 0))  # NaN (skipped) and REJECTED compare false

    @property
    def windows_skipped(self) -> int:
        """Windows not scored for N/ambiguous bases."""
        return len(self.scores) - self.windows_scored - self.windows_rejected - self.windows_blacklisted


def call_threshold(bundle: Bundle, params: ScanParams) -> tuple[float, str]:
    """The bin score regions are called at, and the rule in words (for the manifest).

    A given threshold wins; else a calibrated bundle's score at p = max_p; else the bundle's own
    threshold, with a warning that its calls mean little on a genome.
    """
    if params.threshold is not None:
        return params.threshold, f"bin score >= {params.threshold:g} (--threshold)"
    if bundle.calibration is not None:
        calibrated_window = bundle.calibration.source.get("window", bundle.window)
        if params.window != calibrated_window or not params.scorer.reverse_complement:
            log.warning("the model was calibrated on %s-bp windows, both strands; p-values of this scan (%s-bp "
                        "windows%s) are approximate", calibrated_window, params.window,
                        "" if params.scorer.reverse_complement else ", one strand")
        threshold = bundle.calibration.threshold(params.max_p)
        return threshold, (f"background p-value <= {params.max_p:g} (bin score >= {threshold:.4f}, against "
                           f"{bundle.calibration.windows:,} background windows)")
    log.warning("model %s has no background calibration: calls use its threshold %.3f, which means little on a "
                "genome, and narrowPeak p/q-values are -1 (add one with `ielmscan model calibrate`)",
                bundle.path, bundle.threshold)
    return bundle.threshold, f"bin score >= {bundle.threshold:g} (the model's threshold; no calibration)"


class Caller:
    """Calls regions in each finished interval and keeps what the run's q-values need."""

    def __init__(self, grid: WindowGrid, calibration: Calibration | None, threshold: float, rule: str) -> None:
        self.grid = grid
        self.calibration = calibration
        self.threshold, self.rule = threshold, rule
        # Scored bins per background rank (how many background windows score at least as high): what
        # the q-values of the whole run are computed from.
        self.exceeding = np.zeros(self.calibration.windows + 1 if self.calibration else 0, dtype=np.int64)

    @classmethod
    def for_scan(cls, bundle: Bundle, params: ScanParams) -> Caller:
        """The caller of a scan of ``bundle`` with ``params`` (window resolved): its threshold and rule."""
        return cls(params.grid, bundle.calibration, *call_threshold(bundle, params))

    def finish(self, interval: Interval, scores: np.ndarray, blacklisted: int = 0) -> IntervalResult:
        """Bins, regions (with p-values) and counts of an interval whose every window is scored, NaN (skipped)
        or REJECTED (``--fast``); ``blacklisted`` of the NaN windows were kept out by a blacklist."""
        grid = self.grid
        rejected = scores == REJECTED
        n_rejected = int(np.count_nonzero(rejected))
        if n_rejected:
            scores = np.where(rejected, np.float32(np.nan), scores)
        bins = bin_window_scores(scores, grid.window, grid.stride, len(interval))
        examined = np.isfinite(bins)
        if n_rejected:
            # Per bin, the share of its usable windows the first stage vouched for: finite where the scan
            # examined the bin (scored or vouched for); a bin is the full scan's value only where the ensemble
            # scored every window covering it, and one vouched for in part is a gap, like one vouched for whole.
            share = bin_window_scores(np.where(np.isnan(scores) & ~rejected, np.nan, rejected).astype(np.float32),
                                      grid.window, grid.stride, len(interval))
            examined = np.isfinite(share)
            bins = np.where(share > 0, np.float32(np.nan), bins)
        regions = regions_from_bins(interval.chrom, interval.start, interval.end, grid.stride, bins, self.threshold)
        if self.calibration is not None:
            scored = bins[np.isfinite(bins)]
            self.exceeding += np.bincount(self.calibration.exceeding(scored), minlength=len(self.exceeding))
            # --fast gaps were examined too: tests for the q-values, at p = 1 (the first stage vouched that
            # they are not called), so the called bins' q-values are never smaller than the full scan's.
            self.exceeding[-1] += int(np.count_nonzero(examined & ~np.isfinite(bins)))
            p_values = self.calibration.p_values(np.array([r.max_score for r in regions], dtype=np.float32))
            regions = [replace(r, p_value=float(pv)) for r, pv in zip(regions, p_values)]
        starts, ends = grid.bin_edges(interval.start, interval.end)
        # Bases the scan examined: bins with a usable window, scored or vouched for by the first stage.
        bases_scored = int((ends[examined] - starts[examined]).sum())
        return IntervalResult(interval, scores, bins, regions, int(np.count_nonzero(scores >= 0)), n_rejected,
                              bases_scored, blacklisted)

    def with_q_values(self, regions: list[Region]) -> list[Region]:
        """``regions`` with the Benjamini-Hochberg q-value of their best bin among every bin scored so far."""
        if self.calibration is None or not regions:
            return regions
        q_by_rank = benjamini_hochberg(self.exceeding, self.calibration.windows)
        ranks = self.calibration.exceeding(np.array([r.max_score for r in regions], dtype=np.float32))
        return [replace(r, q_value=float(q)) for r, q in zip(regions, q_by_rank[ranks])]
