"""What a scan's options set (`ScanParams`): the one record of every parameter that decides its scores and calls.

Its own module so that the scan, the call rule and the output writers can all name it without importing one
another.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from ielmscan.errors import InputError
from ielmscan.inference.scorer import ScorerSettings
from ielmscan.kernels.grid import WindowGrid
from ielmscan.model.bundle import Bundle, check_window


@dataclass
class ScanParams:
    """Everything that decides the scores, recorded verbatim in the run manifest."""

    window: int | None = None  # bases per window; None: the bundle's (the length its members were trained on)
    stride: int = 50  # bases between window starts, and the width of a track bin
    max_n_frac: float = 0.1  # windows with a larger fraction of N/IUPAC bases are skipped
    threshold: float | None = None  # region threshold on bin scores; None: from max_p (calibrated bundles) or the bundle's
    max_p: float = 0.01  # calibrated bundles: bins whose background p-value is at most this form regions
    chunk_size: int = 1_000_000  # bases read and encoded at a time (bounds memory)
    fast: bool = False  # cascade: only windows passing the bundle's linear first stage reach the ensemble
    scorer: ScorerSettings = field(default_factory=ScorerSettings)

    def for_bundle(self, bundle: Bundle) -> ScanParams:
        """These parameters with the window resolved (the bundle's where none was given) and checked."""
        params = replace(self, window=self.window if self.window is not None else bundle.window)
        params.validate(bundle)
        return params

    def validate(self, bundle: Bundle) -> None:
        if self.window is None:
            raise InputError("no window length: resolve it with ScanParams.for_bundle(bundle)")
        if self.window < 1 or self.stride < 1:
            raise InputError(f"window ({self.window}) and stride ({self.stride}) must be positive")
        if self.stride > self.window:
            raise InputError(f"stride {self.stride} is larger than the window {self.window}: bases would be skipped")
        check_window(bundle, self.window)
        if not 0.0 <= self.max_n_frac <= 1.0:
            raise InputError(f"--max-n-frac {self.max_n_frac} is outside [0, 1]")
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise InputError(f"threshold {self.threshold} is outside [0, 1]")
        if not 0.0 < self.max_p <= 1.0:
            raise InputError(f"--max-p {self.max_p} is outside (0, 1]")
        if self.chunk_size < self.window:
            raise InputError(f"chunk size {self.chunk_size} is smaller than the window {self.window}")
        if self.fast and bundle.cascade is None:
            raise InputError(f"--fast needs a bundle with a cascade first stage; {bundle.path} has none "
                             "(add one with `ielmscan model cascade`)")

    @property
    def grid(self) -> WindowGrid:
        """Where windows start and bins lie (needs a resolved window: see :meth:`for_bundle`)."""
        if self.window is None:
            raise InputError("no window length: resolve it with ScanParams.for_bundle(bundle)")
        return WindowGrid(self.window, self.stride)

    @property
    def chunk_windows(self) -> int:
        return self.grid.windows_within(self.chunk_size)
