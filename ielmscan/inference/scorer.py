"""Batched ensemble inference, the one path that scores: an encoded chunk in, one probability per window out.

Genome scans, ``predict``, ``evaluate``, training's validation and the cascade's fit all score through
:class:`EnsembleScorer` (whole sequences through :func:`score_sequences`). Each member's tokenizer makes the
token rows of a batch of windows (:mod:`ielmscan.inference.windows`): a k-mer member's are strided views of
the chunk's per-base ids on the device, so no window is built in Python; a BPE member's are its tokens of the
windows' bases, padded with [PAD] and masked. Each window is scored by every member on both strands (optional)
and the probabilities are averaged: strands equally, members with the bundle's weights. On a CPU the batches
run side by side in a pool of single-threaded workers.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch

from ielmscan.errors import InputError
from ielmscan.inference.allocator import retain_freed_memory
from ielmscan.inference.devices import Precision, resolve_device, resolve_precision
from ielmscan.inference.windows import BpeWindows, EncodedChunk, KmerWindows, encode_chunk
from ielmscan.kernels.grid import WindowGrid
from ielmscan.model.bundle import Bundle
from ielmscan.model.network import token_mean
from ielmscan.model.tokenizers import BpeTokenizer, KmerTokenizer
from ielmscan.model.tokens import PAD_ID, encode_sequences

log = logging.getLogger(__name__)


# Small models on a CPU run fastest in small batches (the activations stay in cache; measured by the
# harness's model section, docs/performance.md); a GPU needs large ones to fill its cores.
CPU_BATCH = 64
GPU_BATCH = 1024
# Most CPU scoring workers by default (each holds its own activations), so memory stays bounded on large
# nodes; more threads than this are shared out among them as intra-op threads.
MAX_DEFAULT_WORKERS = 8


def default_batch_size(device: torch.device) -> int:
    """Windows per forward pass when the user gives none: :data:`GPU_BATCH` on CUDA, else :data:`CPU_BATCH`."""
    return GPU_BATCH if device.type == "cuda" else CPU_BATCH


@dataclass
class ScorerSettings:
    device: str = "auto"  # a genome scan also takes a list of one kind (cuda:0,cuda:1): one scorer per device
    precision: Precision = Precision.auto
    batch_size: int | None = None  # windows per forward pass (each on both strands); None: per device
    reverse_complement: bool = True
    compile: bool = False  # torch.compile the encoders (fixed batch shapes; one batch at a time, caller's thread)
    threads: int | None = None  # CPU threads for scoring; None: torch's own count (cores or OMP_NUM_THREADS)
    workers: int | None = None  # genome scans: CPU scorers taking whole chunks, sharing the threads (ScorerPool)


def cpu_workers(threads: int, explicit: bool) -> tuple[int, int]:
    """(workers, intra-op threads per worker) for ``threads`` CPU threads.

    One thread per worker when the user named the count; by default at most :data:`MAX_DEFAULT_WORKERS`
    workers, so that memory stays bounded on many-core nodes, with the other threads shared out among them.
    """
    workers = threads if explicit else min(threads, MAX_DEFAULT_WORKERS)
    return workers, max(1, threads // workers)


def _init_worker(threads: int) -> None:
    # torch applies its process-wide thread count to a thread lazily, on the thread's first parallel
    # operator; trigger that first, so that it cannot later undo this worker's own count.
    torch.get_num_threads()
    torch.set_num_threads(threads)


def batch_bucket(rows: int, full: int, smallest: int = 16) -> int:
    """Rows to pad a batch of ``rows`` to: the next power-of-two multiple of ``smallest``, at most ``full``.

    oneDNN (behind CPU matmuls) caches a compiled primitive per input shape, up to 1024 of them, and never
    frees them: with the last batch of every chunk a new size, memory grew with the length scanned. Bucketed
    shapes keep the cache to a handful of entries per member, at the cost of a few padded rows per chunk.
    """
    if rows >= full:
        return rows
    size = smallest
    while size < rows:
        size *= 2
    return min(size, full)


class EnsembleScorer:
    """Scores windows cut from per-base token ids with every member of a bundle.

    Use it as a context manager (or call :meth:`close`): on a CPU it owns a pool of scoring threads.
    ``cpu_threads`` is the share of the node's threads it may use when ``settings.threads`` names none
    (several scorers on one CPU: :class:`~ielmscan.inference.scorer_pool.ScorerPool`).
    """

    def __init__(self, bundle: Bundle, settings: ScorerSettings, cpu_threads: int | None = None) -> None:
        if settings.batch_size is not None and settings.batch_size < 1:
            raise InputError(f"batch size {settings.batch_size} must be at least 1")
        if settings.threads is not None and settings.threads < 1:
            raise InputError(f"thread count {settings.threads} must be at least 1")
        self.bundle = bundle
        self.settings = settings
        self.device = resolve_device(settings.device)
        self.precision = resolve_precision(settings.precision, self.device)
        self._closed = False  # set by close(): a chunk still being scored in another thread stops
        self.batch_size = settings.batch_size or default_batch_size(self.device)
        self._shrinking = threading.Lock()  # batch size changes after an out-of-memory error (workers share it)
        self._warned_memory = False  # the out-of-memory warning is given once per scorer
        self.models = [m.model.to(self.device).eval() for m in bundle.members]
        self.weights = bundle.normalised_weights()
        self.padded = [isinstance(m.tokenizer, BpeTokenizer) for m in bundle.members]  # rows with [PAD]: masked
        # The encoder alone is compiled (no data-dependent branches): k-mer rows are [CLS] k-mers [SEP] without
        # padding, pooled by a plain slice mean; a BPE member's rows are padded to the window's most tokens under
        # --compile, so that its encoder too sees one shape (BpeWindows), and pooled by a masked mean.
        self.encoders = [torch.compile(m.encoder, dynamic=False) if settings.compile else m.encoder
                         for m in self.models]
        retain_freed_memory(self.device)  # operators free tensors of a few MB: keep them for the next batch
        # The small members' operators are too short for torch's intra-op threads to pay on a CPU, so
        # batches go to single-threaded workers side by side. Compiled encoders stay in the caller's
        # thread: their graphs are guarded on the thread count, and compiled again in single-threaded
        # workers they ran slower than the eager workers (docs/performance.md).
        self._pool: ThreadPoolExecutor | None = None
        if self.device.type == "cpu" and not settings.compile:
            threads = settings.threads or cpu_threads or torch.get_num_threads()
            self.workers, self.threads_per_worker = cpu_workers(threads, explicit=settings.threads is not None)
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="ielmscan-score",
                                            initializer=_init_worker, initargs=(self.threads_per_worker,))
        else:
            if settings.threads is not None:
                torch.set_num_threads(settings.threads)
            self.workers, self.threads_per_worker = 1, torch.get_num_threads()

    def close(self) -> None:
        """Stop the CPU worker pool (queued batches are dropped); safe to call twice."""
        self._closed = True
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> EnsembleScorer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _autocast(self):
        if self.precision is Precision.bf16:
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return nullcontext()

    def score_chunk(self, chunk: EncodedChunk, window: int, stride: int, selected: np.ndarray) -> np.ndarray:
        """Ensemble probabilities of the selected windows of one chunk (see :meth:`score_members`)."""
        return np.asarray(self.weights, dtype=np.float32) @ self.score_members(chunk, window, stride, selected)

    @torch.inference_mode()
    def score_members(self, chunk: EncodedChunk, window: int, stride: int, selected: np.ndarray) -> np.ndarray:
        """Each member's probabilities of the selected windows of one chunk: (members, len(selected)).

        chunk: the chunk encoded for this bundle (:func:`~ielmscan.inference.windows.encode_chunk`; with its reverse
        complement for RC averaging); window j covers bases [j*stride, j*stride + window); selected: indices of the
        windows to score.
        """
        n_windows = WindowGrid(window, stride).count(len(chunk.codes))
        fwd = self._to_device(chunk.ids)
        rev = self._to_device(chunk.ids_rc) if chunk.ids_rc is not None else None
        chosen = torch.from_numpy(selected.astype(np.int64)).to(self.device)
        out = torch.zeros((len(self.models), len(selected)), dtype=torch.float32, device=self.device)
        sources: list[KmerWindows | BpeWindows] = []
        kmer_rows = iter(range(len(chunk.ids)))  # the k-mer members' rows of the ids, in bundle order
        for member in self.bundle.members:
            if isinstance(member.tokenizer, KmerTokenizer):
                row = next(kmer_rows)
                sources.append(KmerWindows(fwd[row], rev[row] if rev is not None else None, member.config.k, window,
                                           stride, n_windows))
            else:
                longest = member.config.tokens_per_window(window)
                sources.append(BpeWindows(member.tokenizer, chunk.codes, chunk.codes_rc, window, stride, n_windows,
                                          longest, longest if self.settings.compile else None, self._to_device))

        @torch.inference_mode()  # per thread: workers do not inherit the caller's mode
        def score_batch(row: int, begin: int, end: int) -> None:
            while begin < end:  # in pieces of the current batch size: an out-of-memory error may shrink it
                index = chosen[begin : min(end, begin + self.batch_size)]
                out[row, begin : begin + len(index)] = self._score_windows(row, sources[row], index,
                                                                           chunk.codes_rc is not None)
                begin += len(index)  # each batch owns its slice of ``out``

        step = self.batch_size
        jobs = [(row, begin, min(begin + step, len(selected)))
                for row in range(len(self.models)) for begin in range(0, len(selected), step)]
        if self._pool is None:
            for job in jobs:
                if self._closed:  # closed from another thread (a scorer pool stopping): drop the chunk
                    raise CancelledError()
                score_batch(*job)
        else:
            self._run_in_workers(score_batch, jobs)
        return out.cpu().numpy()

    def _score_windows(self, row: int, source: KmerWindows | BpeWindows, index: torch.Tensor,
                       both_strands: bool) -> torch.Tensor:
        """Member ``row``'s strand-averaged probabilities of the windows ``index`` of a chunk.

        When the device runs out of memory the windows are scored in two halves (and so on down to one
        window), and the scorer keeps the smaller batch size for the batches that follow: each window's
        probability does not depend on the batch it is in, so the results stay those of the full batch.
        """
        batch = source.rows(index)  # the windows, then their reverse complements
        try:
            probs = self._forward(row, batch)
        except torch.cuda.OutOfMemoryError:
            probs = None  # retried below, once the error and the tensors its frames hold are gone
        if probs is None:
            del batch
            if len(index) == 1:
                raise InputError(
                    f"the {self.device} device ran out of memory scoring a single window with member "
                    f"{self.bundle.members[row].name}: free its memory (other processes?) or use --device cpu")
            self._shrink(len(index))
            half = len(index) // 2
            return torch.cat([self._score_windows(row, source, part, both_strands)
                              for part in (index[:half], index[half:])])
        if both_strands:
            probs = 0.5 * (probs[: len(index)] + probs[len(index) :])
        return probs

    def _shrink(self, failed: int) -> None:
        """Halve the batch size below ``failed`` windows (once per size, whichever worker sees it first);
        warn the first time."""
        with self._shrinking:
            if self.device.type == "cuda":
                torch.cuda.empty_cache()  # cached blocks of the failed batch would crowd the smaller one
            if failed // 2 >= self.batch_size:
                return  # another batch already shrank it this far
            if not self._warned_memory:
                self._warned_memory = True
                log.warning("the %s device ran out of memory at %d windows per batch: continuing with smaller "
                            "batches (the scores are the same; a smaller --batch-size avoids the retries)",
                            self.device, self.batch_size)
            self.batch_size = max(1, failed // 2)

    def _run_in_workers(self, task: Callable[..., None], jobs: list[tuple[int, ...]]) -> None:
        """Run ``task(*job)`` for every job in the worker pool; on any error or interrupt, drop the rest."""
        pool = self._pool
        if pool is None:  # closed from another thread since the caller looked
            raise CancelledError()
        caller_threads = torch.get_num_threads()
        futures: list[Future] = [pool.submit(task, *job) for job in jobs]
        try:
            for future in futures:
                future.result()
        except BaseException:
            for future in futures:
                future.cancel()  # queued batches would otherwise keep the process alive after the error
            raise
        finally:
            # Workers set torch's process-wide default for new threads; give the caller's back.
            torch.set_num_threads(caller_threads)

    def _to_device(self, array: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(array)
        if self.device.type == "cuda":
            # Page-locked memory lets the copy run asynchronously with the previous batch's compute.
            tensor = tensor.pin_memory()
        return tensor.to(self.device, non_blocking=True)

    def _forward(self, member: int, rows: torch.Tensor) -> torch.Tensor:
        """(B, tokens) token rows ([CLS] … [SEP], [PAD] after a BPE member's) → (B,) float32 probabilities."""
        n = rows.shape[0]
        full = self.batch_size * (2 if self.settings.reverse_complement else 1)
        # The compiled encoder was built for one shape; eager kernels only see a few bucket sizes.
        padded = full if self.settings.compile else batch_bucket(n, full)
        if n < padded:
            rows = torch.cat([rows, rows[:1].expand(padded - n, -1)])
        masked = self.padded[member]

        def encode() -> torch.Tensor:
            encoder = self.encoders[member]
            return encoder(rows, keep=rows != PAD_ID) if masked else encoder(rows)

        with self._autocast():
            try:
                states = encode()
            except torch.cuda.OutOfMemoryError:
                raise  # not a compiler failure: the caller retries in smaller batches
            except Exception as exc:  # torch.compile needs a working C++ toolchain; eager always works
                if self.encoders[member] is self.models[member].encoder:
                    raise
                log.warning("torch.compile failed (%s); scoring without compilation", str(exc).splitlines()[0])
                self.encoders = [m.encoder for m in self.models]
                states = encode()
            # k-mer rows hold no [PAD]: the mean of every token but [CLS] and [SEP] is a slice mean.
            pooled = token_mean(rows, states) if masked else states[:, 1:-1].mean(1)
            logits = self.models[member].classify(pooled)
        return torch.sigmoid(logits.float())[:n]


def score_codes(bundle: Bundle, codes: np.ndarray, device: str = "cpu") -> np.ndarray:
    """Each member's probability of each of N equally long sequences given as (N, L) base codes: (members, N).

    Each sequence is one window; the sequences are laid end to end as one chunk (a grid whose stride is
    the window), so they go through exactly the path a genome scan takes, in fp32 and on both strands
    (what training, evaluation and the cascade's fit compare and choose by).
    """
    settings = ScorerSettings(device=device, precision=Precision.fp32)
    n, window = codes.shape
    if n == 0:
        return np.empty((len(bundle.members), 0), dtype=np.float32)
    chunk = encode_chunk(np.ascontiguousarray(codes).reshape(-1), bundle.ks, settings.reverse_complement)
    with EnsembleScorer(bundle, settings) as scorer:
        return scorer.score_members(chunk, window, window, np.arange(n))


def score_sequences(bundle: Bundle, seqs: list[str], device: str = "cpu") -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Probabilities of equally long sequences: (ensemble, {member name: probabilities}); see :func:`score_codes`."""
    members = score_codes(bundle, encode_sequences(seqs), device)
    ensemble = np.asarray(bundle.normalised_weights(), dtype=np.float32) @ members
    return ensemble, {m.name: members[i] for i, m in enumerate(bundle.members)}
