"""The report of `ielmscan evaluate --scan` for people: a text table, ROC and precision-recall plots, and the
report folder (``genome_metrics.json`` and the plots) written at once. The report itself, and what its terms
mean, are :mod:`ielmscan.learn.genome_evaluation`'s."""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ielmscan.io.writers import write_manifest
from ielmscan.learn.evaluate import jsonable, report_folder

__all__ = ["table", "write_report"]

REPORT_NAME = "genome_metrics.json"

SETS = ("truth", "control", "truth_excluding_control_bins")


def _fmt(value: float, spec: str = ".3f") -> str:
    return "-" if value is None or np.isnan(value) else format(value, spec)


METRIC_HEADS = ("positive bins", "AUROC", "AUPRC", "AUROC(GC)", "AUPRC(GC)", "GC-AUROC", "enrichment",
                "precision", "recall")
METRIC_WIDTHS = (18, 8, 8, 11, 11, 10, 12, 11, 8)


def _metric_cells(s: dict[str, Any]) -> tuple[str, ...]:
    """The table's cells of one set's report, from ``positive bins`` to ``recall``."""
    enrichment, regions = s.get("enrichment", {}), s.get("regions", {})
    return (
        f"{s['positive_bins']:,} ({_fmt(100 * s['positive_share'], '.2f')}%)",
        _fmt(s["model"]["auroc"]), _fmt(s["model"]["auprc"]), _fmt(s["gc"]["auroc"]), _fmt(s["gc"]["auprc"]),
        _fmt(s["gc_controlled_auroc"]), _fmt(enrichment.get("value", float("nan")), ".2f"),
        _fmt(regions.get("precision", float("nan"))), _fmt(regions.get("recall", float("nan"))),
    )


def _rows(rows: list[tuple[str, ...]], widths: tuple[int, ...]) -> list[str]:
    return ["".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]


def table(report: dict[str, Any]) -> str:
    """The report as text: one row per set of intervals, one per scan when several were pooled, then what the
    columns mean."""
    b, scans = report["bins"], report["scans"]
    what = scans[0]["prefix"] if len(scans) == 1 else f"{len(scans)} scans pooled"
    lines = [f"{what}: {b['scored']:,} scored bins ({b['bases']:,} bases, window {scans[0]['window']}, "
             f"stride {scans[0]['stride']}); called: {b['called']:,} bins, {_fmt(100 * b['share_called'], '.2f')}% "
             "of the bases"]
    rows = [("set", *METRIC_HEADS)]
    rows += [(name, *_metric_cells(report[name])) for name in SETS if name in report]
    lines += _rows(rows, (30, *METRIC_WIDTHS))
    if len(scans) > 1:
        rows = [("scan (truth)", "scored bins", "called", *METRIC_HEADS)]
        rows += [(part["scan"]["prefix"], f"{part['bins']['scored']:,}",
                  f"{_fmt(100 * part['bins']['share_called'], '.2f')}%", *_metric_cells(part["truth"]))
                 for part in report["per_scan"]]
        first = max(len(row[0]) for row in rows) + 2
        lines += _rows(rows, (first, 13, 9, *METRIC_WIDTHS))
    lines.append(f"AUROC(GC), AUPRC(GC): the GC content of each bin's {report['gc_context_bases']}-bp context as the "
                 f"score; GC-AUROC: the track's AUROC within GC strata of {report['gc_stratum_width']:g}")
    lines.append("enrichment: share of positive bins among called bins / among all scored bins; precision: "
                 "calls overlapping the set; recall: its intervals on scored bins overlapped by a call")
    if len(scans) > 1:
        lines.append("sets: over the bins of all the scans; scan (truth): the truth on each scan's own bins, "
                     "called: its share of bases called")
    return "\n".join(lines)


def write_plots(report: dict[str, Any], folder: Path) -> list[Path]:
    """ROC and PR curves of the track and of GC content, one pair of PNGs per set: ``{set}_roc.png``, ``{set}_pr.png``."""
    from ielmscan.learn.plots import plot_pr, plot_roc

    paths = []
    names = {"model": "model track", "gc": f"GC of the {report['gc_context_bases']}-bp context"}
    for name, curves in report["curves"].items():
        if not curves:
            continue
        s = report[name]
        roc = {names[k]: (c["roc"][0], c["roc"][1], s[k]["auroc"]) for k, c in curves.items()}
        pr = {names[k]: (c["pr"][0], c["pr"][1], s[k]["auprc"]) for k, c in curves.items()}
        label = name.replace("_", " ")
        paths += [folder / f"{name}_roc.png", folder / f"{name}_pr.png"]
        plot_roc(roc, paths[-2], title=f"ROC of the scored bins: {label}")
        plot_pr(pr, paths[-1], prevalence=s["positive_share"], title=f"Precision-recall of the scored bins: {label}")
    return paths


def write_report(report: dict[str, Any], output: str | Path, inputs: Iterable[str | Path | None] = (),
                 force: bool = False) -> list[Path]:
    """Write ``genome_metrics.json`` and the plots into ``output`` at once (:func:`report_folder`); their final
    paths."""
    with report_folder(output, REPORT_NAME, inputs, force) as folder:
        write_manifest(folder.staging / REPORT_NAME, jsonable(report))  # strict JSON: NaN as null
        names = [REPORT_NAME, *(p.name for p in write_plots(report, folder.staging))]
    return [Path(output) / name for name in names]
