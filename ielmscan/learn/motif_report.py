"""`ielmscan motifs` from start to end: read the sequences, score attention, find the motifs
(:mod:`ielmscan.learn.motifs`), compare them with known ones (:mod:`ielmscan.learn.jaspar`), and write the
report folder all or nothing.

The folder: ``motifs.meme`` (position frequency matrices, MEME format), ``motifs.tsv`` (a line per motif:
instances, enrichment, best known match), ``matches.tsv`` (the best matches of every motif),
``instances.tsv`` (every instance window, 0-based half-open), ``motif_N.png`` (a logo per motif) and
``motifs.json`` (settings, counts, model, outputs), written last.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ielmscan import __version__
from ielmscan.io.atomic_outputs import OutputFolder
from ielmscan.io.fasta import read_fasta
from ielmscan.io.motif_formats import MemeMotif, write_meme, write_table
from ielmscan.io.writers import write_manifest
from ielmscan.learn.attention import attention_scores, check_lengths
from ielmscan.learn.jaspar import Database, compare, load_database
from ielmscan.learn.motifs import MotifParams, MotifResult, find_motifs
from ielmscan.learn.plots import plot_logo
from ielmscan.model.bundle import Bundle

MANIFEST = "motifs.json"
MEME, SUMMARY, MATCHES, INSTANCES = "motifs.meme", "motifs.tsv", "matches.tsv", "instances.tsv"
SUMMARY_COLUMNS = ("motif", "consensus", "width", "instances", "sequences", "patterns", "key", "key_positives",
                   "key_negatives", "fold_enrichment", "p_value", "q_value", "best_match", "best_match_name",
                   "match_p_value", "match_q_value", "match_similarity", "known")
MATCH_COLUMNS = ("motif", "rank", "target_id", "target_name", "p_value", "e_value", "q_value", "similarity",
                 "offset", "overlap", "strand")
INSTANCE_COLUMNS = ("motif", "sequence", "start", "end", "window")
SHUFFLE_SEED = 0  # column order of the shuffled control copies


@dataclass
class MotifReport:
    """A finished analysis: the motifs (with their matches), the sequences, and how they were found."""

    result: MotifResult
    names: list[str]  # the positives' names, for instances.tsv
    positives: list[str]
    member: str | None  # None: all members' attention averaged
    database: str | None  # what the motifs were compared with; None: not compared
    database_size: int
    match_q: float  # a motif is "known" where its best match's q-value is below this
    model: dict[str, Any]
    # The same comparison for copies of the motifs with their columns shuffled (same information, no
    # order): how many of those "match" says how much the count of known motifs means.
    shuffled_known: int | None = None

    def known(self) -> int:
        """Motifs whose best match is below ``match_q``."""
        return sum(1 for m in self.result.motifs if m.matches and m.matches[0].q_value < self.match_q)


def motif_folder(output: str | Path, inputs: Iterable[str | Path | None] = (), force: bool = False) -> OutputFolder:
    """Where a motif report goes, checked: never over an input; over an earlier report (its files only) or
    into a non-empty folder only with ``force``. Make it early to fail before the analysis."""
    return OutputFolder(output, "motif report", MANIFEST, inputs=inputs, force=force, owned=_report_files,
                        shared=True)


def _report_files(folder: Path) -> set[str]:
    """The files an earlier report in ``folder`` lists in its manifest."""
    return {MANIFEST, *json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["outputs"]}


def run_motifs(bundle: Bundle, pos: str | Path, neg: str | Path, params: MotifParams = MotifParams(),
               member: str | None = None, database: str | Path | None = None, top: int = 3,
               match_q: float = 0.05, device: str = "cpu", batch_size: int | None = None) -> MotifReport:
    """The whole analysis on FASTA files of positives and negatives; ``database``: a JASPAR release name or
    a MEME file to compare with (None: no comparison). Nothing is written."""
    known: Database | None = load_database(database) if database is not None else None  # fail before the work
    records = read_fasta(pos)
    names, positives = [n for n, _ in records], [s.upper() for _, s in records]
    negatives = [s.upper() for _, s in read_fasta(neg)]
    check_lengths(bundle, positives, member, names, str(pos))
    scores = attention_scores(bundle, positives, member=member, device=device, batch_size=batch_size)
    result = find_motifs(positives, negatives, scores, params)
    shuffled_known = None
    if known is not None:
        matrices = [m.probabilities for m in result.motifs]
        for motif, matches in zip(result.motifs, compare(matrices, known, top)):
            motif.matches = matches
        rng = np.random.default_rng(SHUFFLE_SEED)
        shuffled = compare([m[rng.permutation(len(m))] for m in matrices], known, 1)
        shuffled_known = sum(1 for matches in shuffled if matches and matches[0].q_value < match_q)
    return MotifReport(result, names, positives, member, known.name if known else None,
                       len(known.motifs) if known else 0, match_q,
                       {"path": str(bundle.path), "sha256": bundle.checksum, "members": [m.name for m in bundle.members]},
                       shuffled_known)


def _summary_rows(report: MotifReport) -> list[dict[str, Any]]:
    result = report.result
    total = result.positives + result.negatives
    rows = []
    for motif in result.motifs:
        key = motif.key
        with_key = key.positives + key.negatives
        fold = (key.positives / result.positives) / (with_key / total) if with_key and result.positives else float("nan")
        row: dict[str, Any] = {
            "motif": motif.name, "consensus": motif.consensus, "width": result.params.width,
            "instances": len(motif.windows), "sequences": motif.sequences, "patterns": len(motif.patterns),
            "key": key.seq, "key_positives": key.positives, "key_negatives": key.negatives,
            "fold_enrichment": fold, "p_value": key.p_value, "q_value": key.q_value}
        if motif.matches:
            best = motif.matches[0]
            row.update({"best_match": best.target_id, "best_match_name": best.target_name,
                        "match_p_value": best.p_value, "match_q_value": best.q_value,
                        "match_similarity": best.similarity, "known": "yes" if best.q_value < report.match_q else "no"})
        rows.append(row)
    return rows


def write_report(report: MotifReport, output: str | Path, inputs: Iterable[str | Path | None] = (),
                 force: bool = False) -> list[Path]:
    """Write the report folder (module docstring) at once; the final paths of its files."""
    result = report.result
    with motif_folder(output, inputs, force) as folder:
        stage = folder.staging
        names = [MEME, SUMMARY, MATCHES, INSTANCES]
        write_meme(stage / MEME, [MemeMotif(m.name, m.consensus, m.probabilities, len(m.windows))
                                  for m in result.motifs])
        write_table(stage / SUMMARY, SUMMARY_COLUMNS, _summary_rows(report))
        write_table(stage / MATCHES, MATCH_COLUMNS, (
            {"motif": m.name, "rank": rank, **asdict(match)}
            for m in result.motifs for rank, match in enumerate(m.matches, 1)))
        write_table(stage / INSTANCES, INSTANCE_COLUMNS, (
            {"motif": m.name, "sequence": report.names[i], "start": start, "end": end,
             "window": report.positives[i][start:end]}
            for m in result.motifs for i, start, end in m.windows))
        for motif in result.motifs:
            title = f"{motif.name}  {motif.consensus}  ({len(motif.windows)} instances"
            if motif.matches:
                best = motif.matches[0]
                title += f"; best match {best.target_name} {best.target_id}, q = {best.q_value:.2g}"
            plot_logo(motif.probabilities, stage / f"{motif.name}.png", title + ")")
            names.append(f"{motif.name}.png")
        write_manifest(stage / MANIFEST, {
            "ielmscan_version": __version__,
            "model": report.model,
            "attention": report.member or "mean of all members",
            "params": asdict(result.params),
            "counts": {"positives": result.positives, "negatives": result.negatives, "regions": result.regions,
                       "patterns": result.patterns, "enriched_patterns": result.enriched, "groups": result.groups,
                       "motifs": len(result.motifs), "known": report.known() if report.database else None,
                       "known_when_columns_shuffled": report.shuffled_known},
            "database": report.database, "database_motifs": report.database_size, "match_q": report.match_q,
            "outputs": names,
        })
    return [Path(output) / name for name in [*names, MANIFEST]]


def summary(report: MotifReport) -> str:
    """A few lines for the terminal: the counts of each step and a line per motif."""
    r = report.result
    lines = [f"{r.positives} positives, {r.negatives} negatives: {r.regions} high-attention regions, "
             f"{r.patterns} distinct patterns, {r.enriched} enriched (q < {r.params.max_q:g}), {r.groups} groups, "
             f"{len(r.motifs)} motifs with at least {r.params.min_instances} instances"]
    if report.database:
        lines.append(f"{report.known()} of {len(r.motifs)} match {report.database} ({report.database_size} motifs) "
                     f"at q < {report.match_q:g}; copies with their columns shuffled: {report.shuffled_known}")
    for row in _summary_rows(report):
        match = (f"  {row['best_match_name']} {row['best_match']} q={row['match_q_value']:.2g}"
                 if "best_match" in row else "")
        lines.append(f"{row['motif']:<10} {row['consensus']}  {row['instances']:>5} instances  "
                     f"q={row['q_value']:.2g}{match}")
    return "\n".join(lines)
