"""The Typer app and what every command shares: panels, one-line errors (usage errors and failures to write
standard output included), model loading, progress.

Nothing heavy (torch, numba) is imported at module level, so ``ielmscan --help`` answers at once.
"""
from __future__ import annotations

import errno
import functools
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar

import typer
from typer.core import TyperGroup

from ielmscan import __version__
from ielmscan.errors import IelmscanError
from ielmscan.io.write_errors import StandardOutput, discard_pending_output
from ielmscan.model.defaults import (DEFAULT_BPE_VOCAB, DEFAULT_HEADS, DEFAULT_HIDDEN, DEFAULT_KS, DEFAULT_LAYERS,
                                     DEFAULT_WINDOW, MAX_BPE_VOCAB, MAX_K, MIN_BPE_VOCAB)

# Exit status of a command whose standard output was a pipe its reader closed (`ielmscan ... | head`): 128 +
# SIGPIPE, as the shell reports a Unix tool that SIGPIPE ended. `main` then ends the process by that signal.
BROKEN_PIPE_EXIT = 128 + signal.SIGPIPE


# Typer raises the exceptions of the click it runs on (its own copy in recent versions): find their base class
# from one Typer exports.
ClickException: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def usage_error_line(exc: Any) -> str:
    """A usage error (unknown option, bad value, missing argument, file that does not exist) as one line."""
    message = " ".join(exc.format_message().split()).replace(": Value error, ", ": ").rstrip(".")
    if message[:1].isupper() and message[1:2].islower():
        message = message[0].lower() + message[1:]
    ctx = getattr(exc, "ctx", None)
    if ctx is not None and exc.exit_code == 2:  # a usage error: the command's help says how
        message += f" (see '{ctx.command_path} --help')"
    return f"ielmscan: error: {message}"


class OneLineErrors(TyperGroup):
    """The app's command group: every usage error is one line on stderr (exit 2), where Typer draws a box.

    Help, asked for or shown for a command given without arguments, stays Typer's.
    """

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        stdout = sys.stdout
        sys.stdout = StandardOutput(stdout)  # type: ignore[assignment]  # results that cannot be written fail alike
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            if not (isinstance(result, int) and result):  # a failed command has said what failed
                sys.stdout.flush()
        except ClickException as exc:
            if type(exc).__name__ != "NoArgsIsHelpError":  # its help is already printed
                typer.echo(usage_error_line(exc), err=True)
            sys.exit(exc.exit_code)  # type: ignore[attr-defined]
        except typer.Abort:
            typer.echo("ielmscan: error: aborted", err=True)
            sys.exit(1)
        except OSError as exc:  # an output failing while options are read (--version into a full stdout)
            sys.exit(_report_os_error(exc))
        finally:
            sys.stdout = stdout
        # Not standalone, Typer returns an Exit's code, or the command's value (None).
        sys.exit(result if isinstance(result, int) else 0)


app = typer.Typer(
    cls=OneLineErrors,
    name="ielmscan",
    help="Find enhancers in whole genomes with a multi-scale k-mer transformer ensemble (iEnhancer-ELM method).\n\n"
    "`ielmscan genome.fa` is shorthand for `ielmscan scan genome.fa`.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    add_completion=False,
)
model_app = typer.Typer(help="Create and inspect model bundles.", no_args_is_help=True)
app.add_typer(model_app, name="model")

F = TypeVar("F", bound=Callable[..., Any])

INPUT, MODEL, SCAN, OUTPUT, PERF = "Input", "Model", "Scanning", "Output", "Performance"
CLUSTER = "Clusters: shards and resume"
SIZE = "Model size (new bundles)"

# Options several commands share, declared once so their names and help cannot drift apart.
ModelDir = Annotated[Optional[Path], typer.Option("--model", "-m", file_okay=False, rich_help_panel=MODEL,
                                                  help="Model bundle directory, or a shipped model's name: default, "
                                                       "ienhancer2l \\[default: the bundled trained model].")]
Device = Annotated[str, typer.Option("--device", "-d", help="auto, cpu, cuda or cuda:N.", rich_help_panel=PERF)]
# A genome scan runs one scorer per device: a list of GPUs, or --workers CPU scorers.
ScanDevices = Annotated[str, typer.Option("--device", "-d", rich_help_panel=PERF,
                                          help="auto, cpu, cuda, cuda:N, or several GPUs (cuda:0,cuda:1): one "
                                               "scorer each, chunks dealt to whichever is free.")]
ScoringWorkers = Annotated[Optional[int], typer.Option(
    "--workers", min=1, show_default=False, rich_help_panel=PERF,
    help="CPU scorers taking whole chunks, sharing --threads equally (the output is the same as with one) "
         "\\[default: 1]")]
ScoringBatch = Annotated[Optional[int], typer.Option("--batch-size", "-b", min=1, show_default=False, rich_help_panel=PERF,
                                                     help="Windows per forward pass. \\[default: 64 on CPU, 1024 on GPU]")]
# The shape of a new bundle (model init, train, pretrain): one declaration, ielmscan/model/defaults.py.
Kmers = Annotated[str, typer.Option("--k", help="Comma-separated k-mer sizes, one member each.", rich_help_panel=SIZE)]
Members = Annotated[str, typer.Option("--k", help="Comma-separated k-mer sizes, one member each; bpe adds a member "
                                      "reading byte-pair-encoding tokens learnt from the training sequences "
                                      "(e.g. 3,4,5,6,bpe).", rich_help_panel=SIZE)]
BpeVocab = Annotated[Optional[int], typer.Option(
    "--bpe-vocab", min=MIN_BPE_VOCAB, max=MAX_BPE_VOCAB, show_default=False, rich_help_panel=SIZE,
    help=f"With bpe in --k: tokens of the BPE member's vocabulary, special tokens included (on little data it may "
         f"come out smaller) \\[default: {DEFAULT_BPE_VOCAB}]")]
Layers = Annotated[int, typer.Option("--layers", min=1, max=24, help="Transformer layers per member.",
                                     rich_help_panel=SIZE)]
Hidden = Annotated[int, typer.Option("--hidden", min=8, max=2048, help="Hidden size per member.", rich_help_panel=SIZE)]
Heads = Annotated[int, typer.Option("--heads", min=1, max=64, help="Attention heads per member (must divide --hidden).",
                                    rich_help_panel=SIZE)]
Window = Annotated[int, typer.Option("--window", min=8, help="Window length in bases: what the bundle is trained on "
                                     "and scores.", rich_help_panel=SIZE)]
ScoringThreads = Annotated[Optional[int], typer.Option(
    "--threads", "-@", min=1, show_default=False, rich_help_panel=PERF,
    help="CPU threads for scoring (batches run side by side) \\[default: torch's count: the cores, or OMP_NUM_THREADS]")]
# Every command that writes: outputs never replace an input; an earlier run's outputs only with --force.
Force = Annotated[bool, typer.Option("--force", help="Replace the outputs of an earlier run (never an input).",
                                     rich_help_panel=OUTPUT)]
Bedgraph = Annotated[bool, typer.Option("--bedgraph", help="Also write PREFIX.bedGraph: the track's bins as text "
                                         "(4 decimals).", rich_help_panel=OUTPUT)]
Tabix = Annotated[bool, typer.Option("--tabix", help="Write the BED (and bedGraph) bgzip-compressed with a tabix index: "
                                     "PREFIX.bed.gz + PREFIX.bed.gz.tbi instead of PREFIX.bed.", rich_help_panel=OUTPUT)]
DEFAULT_K_TEXT = ",".join(map(str, DEFAULT_KS))
BPE_WORD = "bpe"  # in --k: a BPE member
__all__ = ["DEFAULT_BPE_VOCAB", "DEFAULT_HEADS", "DEFAULT_HIDDEN", "DEFAULT_K_TEXT", "DEFAULT_LAYERS", "DEFAULT_WINDOW"]


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one line on stderr and return the exit to raise."""
    typer.echo(f"ielmscan: error: {message}", err=True)
    return typer.Exit(code)


def _report_os_error(exc: OSError) -> int:
    """Say what went wrong with a file or stream, in one line; the exit status.

    A reader that closed our standard output (a broken pipe) is no error: nothing is said, as for `cat`.
    """
    discard_pending_output()  # a full or closed stdout must not fail again at exit
    if exc.errno == errno.EPIPE:
        return BROKEN_PIPE_EXIT
    if isinstance(exc, IelmscanError):
        message = str(exc)
    else:
        where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
        message = f"{exc.strerror or exc}{where}"
    try:
        typer.echo(f"ielmscan: error: {_with_notes(message, exc)}", err=True)
    except OSError as again:  # stderr is a closed pipe too
        return BROKEN_PIPE_EXIT if again.errno == errno.EPIPE else 1
    return 1


def _with_notes(message: str, exc: BaseException) -> str:
    """The message with what the library noted on the way out (e.g. a kept checkpoint), on the same line."""
    return "; ".join([message, *getattr(exc, "__notes__", [])])


def _stopped(how: str, streamed: bool) -> str:
    """What is true of the outputs when a run is stopped: files are never left, lines already streamed are."""
    if streamed:
        return (f"{how}; the lines already written to standard output are incomplete (no files were written)")
    return f"{how}; no outputs were written"


class Terminated(BaseException):
    """SIGTERM arrived (a batch scheduler's time limit, ``kill``): unwind so partial outputs are removed."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated()


def friendly_errors(func: F) -> F:
    """Turn the library's errors into one line on stderr and exit 1 (never a traceback)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, _on_sigterm)
        streamed_before = StandardOutput.handed_over
        try:
            result = func(*args, **kwargs)
            sys.stdout.flush()  # results still buffered must fail here, in one line, not at exit
            return result
        except OSError as exc:  # OutputError included: its errno tells a broken pipe
            raise typer.Exit(_report_os_error(exc)) from None
        except IelmscanError as exc:
            raise fail(_with_notes(str(exc), exc)) from None
        except KeyboardInterrupt as exc:
            raise fail(_with_notes(_stopped("interrupted", StandardOutput.handed_over > streamed_before), exc),
                       130) from None
        except Terminated as exc:
            raise fail(_with_notes(_stopped("terminated (SIGTERM)", StandardOutput.handed_over > streamed_before),
                                   exc), 143) from None

    return wrapper  # type: ignore[return-value]


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"ielmscan {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=version_callback, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Find enhancers in whole genomes."""
    import logging

    # The library logs; the CLI shows warnings as one line each on stderr.
    logging.basicConfig(level=logging.WARNING, format="ielmscan: warning: %(message)s")


def parse_members(text: str) -> tuple[list[int], bool]:
    """--k as k-mer sizes, and whether ``bpe`` asks for a BPE member too (it comes after the k-mer members)."""
    parts = [part.strip().lower() for part in text.split(",") if part.strip()]
    try:
        ks = [int(part) for part in parts if part != BPE_WORD]
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a comma-separated list of k-mer sizes, e.g. 3,4,5,6",
                                 param_hint="'--k'") from None
    bpe = parts.count(BPE_WORD)
    if not parts or any(not 1 <= k <= MAX_K for k in ks) or len(set(ks)) != len(ks) or bpe > 1:
        raise typer.BadParameter(f"{text!r}: give distinct k-mer sizes between 1 and {MAX_K}, e.g. 3,4,5,6",
                                 param_hint="'--k'")
    return ks, bool(bpe)


def parse_ks(text: str, command: str) -> list[int]:
    """--k of a command that makes k-mer members only (``command`` names it in the refusal of bpe)."""
    ks, bpe = parse_members(text)
    if bpe:
        raise typer.BadParameter(f"{command} makes k-mer members only: a BPE member's tokens are learnt from training "
                                 "data, so ask `ielmscan train --k ...,bpe` for one", param_hint="'--k'")
    return ks


def check_heads(hidden: int, heads: int) -> None:
    if hidden % heads:
        raise typer.BadParameter(f"--hidden {hidden} is not a multiple of --heads {heads}", param_hint="'--heads'")


def load_model(model: Optional[Path]) -> Any:
    """The bundle at ``model`` (a folder, or a shipped model's name), or the packaged default; exits with one
    line if there is none."""
    from ielmscan.model.bundle import default_bundle_path, load_bundle, shipped_bundle_path

    if model is not None and not model.exists() and shipped_bundle_path(str(model)) is not None:
        model = shipped_bundle_path(str(model))
    if model is None:
        model = default_bundle_path()
        if model is None:
            raise fail(
                "no trained default model is installed in this ielmscan yet: pass --model DIR "
                "(a bundle from `ielmscan model init` works, but its scores mean nothing)"
            )
    return load_bundle(model)


def progress_bar(quiet: bool, unit: str = "b") -> Callable[[int], Callable[[int], None]] | None:
    """A tqdm bar on stderr, unless quiet or stderr is not a terminal (batch jobs, pipes)."""
    if quiet or sys.stderr is None or not sys.stderr.isatty():  # None: stderr closed (2>&-)
        return None

    def factory(total: int) -> Callable[[int], None]:
        from tqdm import tqdm

        bar = tqdm(total=total, unit=unit, unit_scale=True, desc="scanning", file=sys.stderr, leave=False)

        def update(n: int) -> None:
            bar.update(n)
            if bar.n >= total:
                bar.close()

        return update

    return factory
