"""`ielmscan evaluate`: how well a model separates labelled sequences, beside the GC and k-mer baselines."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ielmscan.cli.common import INPUT, MODEL, OUTPUT, Device, ModelDir, app, fail, friendly_errors, load_model


@app.command(no_args_is_help=True)
@friendly_errors
def evaluate(
    pos: Annotated[Path, typer.Option("--pos", help="Positive sequences, FASTA.", exists=True, dir_okay=False,
                                      rich_help_panel=INPUT)],
    neg: Annotated[Path, typer.Option("--neg", help="Negative sequences, FASTA.", exists=True, dir_okay=False,
                                      rich_help_panel=INPUT)],
    model: ModelDir = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Folder for metrics.json, roc.png and "
                                                   "pr.png.", file_okay=False, rich_help_panel=OUTPUT)] = None,
    baselines: Annotated[bool, typer.Option("--baselines/--no-baselines", help="Add the GC and k-mer baselines "
                                            "(5-fold CV on these sequences).", rich_help_panel=MODEL)] = True,
    device: Device = "auto",
) -> None:
    """Metrics of a model on labelled sequences (Acc, Sn, Sp, MCC, AUROC, AUPRC, F1) beside two baselines."""
    import json
    import shutil
    import tempfile

    from ielmscan.learn.dataset import load_labelled
    from ielmscan.learn.evaluate import evaluate as run_evaluation
    from ielmscan.learn.evaluate import jsonable, table, write_plots

    bundle = load_model(model)
    data = load_labelled(pos, neg)
    if output is not None and not output.resolve().parent.is_dir():
        raise fail(f"cannot write to {output}: folder {output.resolve().parent} does not exist")
    report = run_evaluation(bundle, data, device=device, baselines=baselines)
    typer.echo(table(report))
    if output is not None:
        # Build every file in a temporary folder beside the target, then move them in together.
        staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.tmp-", dir=output.resolve().parent))
        try:
            (staging / "metrics.json").write_text(json.dumps(jsonable(report), indent=2) + "\n")
            write_plots(report, staging, prevalence=float(data.labels.mean()))
            output.mkdir(exist_ok=True)
            for item in staging.iterdir():
                item.replace(output / item.name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        typer.echo(f"ielmscan: wrote {output}/metrics.json, roc.png, pr.png", err=True)
