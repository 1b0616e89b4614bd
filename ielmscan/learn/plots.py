"""ROC and precision-recall figures comparing models, and sequence logos of motifs (PNG).

Matplotlib is imported inside the functions, so importing this module (and the CLI) stays cheap.
Figures are drawn on a bare ``Figure`` with the Agg canvas instead of through ``pyplot``: that needs no
display, leaves the user's pyplot backend and figure list untouched, and never leaves a figure open.
Curves with more points than a figure can show (a genome's bins have millions of distinct scores) are
thinned to ``MAX_POINTS`` points spread evenly along the curve before drawing.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ielmscan.errors import InputError, OutputError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot_logo", "plot_pr", "plot_roc", "thin_curve"]

Curves = Mapping[str, tuple[np.ndarray, np.ndarray, float]]
MAX_POINTS = 4000  # per curve; far more than 150 dpi can tell apart on a 5.5-inch axis


def _new_figure() -> tuple[Figure, Axes]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 5.5), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _check_curves(curves: Curves) -> None:
    if not curves:
        raise InputError("no curves to plot: pass at least one named model")
    for name, (x, y, _) in curves.items():
        if len(x) != len(y):
            raise InputError(f"curve {name!r} has {len(x)} x values but {len(y)} y values")


def thin_curve(x: np.ndarray, y: np.ndarray, max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` points of the curve through ``(x, y)``, evenly spaced along its length.

    The first and last points are always kept; a curve that is short enough is returned unchanged.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) <= max_points:
        return x, y
    travelled = np.r_[0.0, np.cumsum(np.abs(np.diff(x)) + np.abs(np.diff(y)))]
    marks = np.linspace(0.0, travelled[-1], max_points)
    keep = np.unique(np.r_[0, np.minimum(np.searchsorted(travelled, marks), len(x) - 1), len(x) - 1])
    return x[keep], y[keep]


def _finish(fig: Figure, ax: Axes, path: str | Path, legend_loc: str) -> None:
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    ax.legend(loc=legend_loc, fontsize=9, frameon=True)
    try:
        fig.savefig(path, format="png", dpi=150)
    except OSError as exc:
        raise OutputError(f"cannot write plot {path}: {exc.strerror or exc}") from exc


def plot_roc(curves: Curves, path: str | Path, title: str = "ROC curve") -> None:
    """Save a ROC plot: one line per model from ``{name: (fpr, tpr, auroc)}``, plus the chance diagonal."""
    _check_curves(curves)
    fig, ax = _new_figure()
    for name, (fpr, tpr, auroc) in curves.items():
        fpr, tpr = thin_curve(fpr, tpr)
        ax.plot(fpr, tpr, linewidth=1.8, label=f"{name} (AUROC {auroc:.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="chance (0.500)")
    ax.set_xlabel("False positive rate (1 − specificity)")
    ax.set_ylabel("True positive rate (sensitivity)")
    ax.set_title(title)
    _finish(fig, ax, path, "lower right")  # a better-than-chance ROC curve stays clear of this corner


def plot_pr(curves: Curves, path: str | Path, prevalence: float, title: str = "Precision-recall curve") -> None:
    """Save a precision-recall plot from ``{name: (precision, recall, auprc)}``.

    The horizontal line at ``prevalence`` (fraction of positives) is what a random ranking achieves.
    """
    _check_curves(curves)
    if not 0.0 <= prevalence <= 1.0:
        raise InputError(f"prevalence must be a fraction of positives in [0, 1], got {prevalence!r}")
    fig, ax = _new_figure()
    for name, (precision, recall, auprc) in curves.items():
        # Precision P_n holds over (R_{n-1}, R_n]: the area under these steps is the AUPRC (average precision).
        recall, precision = thin_curve(recall, precision)
        recall_line = np.r_[0.0, recall]
        precision_line = np.r_[precision[:1], precision]
        ax.step(recall_line, precision_line, where="pre", linewidth=1.8, label=f"{name} (AUPRC {auprc:.3f})")
    ax.axhline(prevalence, linestyle="--", color="grey", linewidth=1, label=f"chance ({prevalence:.3f})")
    ax.set_xlabel("Recall (sensitivity)")
    ax.set_ylabel("Precision")
    ax.set_title(title)
    _finish(fig, ax, path, "lower left")  # low recall has high precision, so this corner stays free


LOGO_COLOURS = {"A": "#109648", "C": "#255C99", "G": "#F7B32B", "T": "#D62839"}  # the usual logo colours


def plot_logo(probabilities: np.ndarray, path: str | Path, title: str = "") -> None:
    """Save a sequence logo of a (width, 4) A/C/G/T probability matrix: each column as tall as its
    information content (2 + Σ p log2 p bits), its letters stacked by probability, the likeliest on top."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.patches import PathPatch
    from matplotlib.text import TextPath
    from matplotlib.transforms import Affine2D

    probs = np.asarray(probabilities, dtype=float)
    if probs.ndim != 2 or probs.shape[1] != 4 or not len(probs):
        raise InputError(f"a logo needs a (width, 4) probability matrix, got shape {probs.shape}")
    fig, ax = _new_figure()
    fig.set_size_inches(max(3.0, 0.45 * len(probs) + 1.0), 2.4)
    font = FontProperties(family="DejaVu Sans", weight="bold")
    with np.errstate(divide="ignore", invalid="ignore"):
        bits = 2.0 + np.nansum(np.where(probs > 0, probs * np.log2(probs), 0.0), axis=1)
    for column, (row, height) in enumerate(zip(probs, bits)):
        bottom = 0.0
        for letter in np.argsort(row, kind="stable"):
            letter_height = row[letter] * height
            if letter_height <= 1e-3:
                continue
            glyph = TextPath((0, 0), "ACGT"[letter], size=1, prop=font)
            box = glyph.get_extents()
            shape = (Affine2D().translate(-box.x0, -box.y0).scale(0.9 / box.width, letter_height / box.height)
                     .translate(column + 0.05, bottom))
            ax.add_patch(PathPatch(shape.transform_path(glyph), color=LOGO_COLOURS["ACGT"[letter]], linewidth=0))
            bottom += letter_height
    ax.set_xlim(0, len(probs))
    ax.set_ylim(0, 2)
    ax.set_xticks(np.arange(len(probs)) + 0.5, [str(i + 1) for i in range(len(probs))])
    ax.set_ylabel("bits")
    ax.set_title(title, fontsize=9)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    try:
        fig.savefig(path, format="png", dpi=150)
    except OSError as exc:
        raise OutputError(f"cannot write logo {path}: {exc.strerror or exc}") from exc
