"""Several scoring devices on one node: one :class:`EnsembleScorer` per device (``--device cuda:0,cuda:1``, or
``--workers N`` CPU scorers), chunks dealt to whichever is free, results handed back in run order.

A chunk is scored whole by one scorer, at the run's batch size and precision, so its window scores are
those any device of the same kind gives: the outputs, a checkpoint and a shard's scores do not depend on
how many devices ran (the run key holds the device kind, not the count).
"""
from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import replace
from typing import TypeVar

import torch

from ielmscan.inference.devices import Precision, device_names, native_bf16, resolve_devices
from ielmscan.inference.scorer import EnsembleScorer, ScorerSettings
from ielmscan.model.bundle import Bundle

T = TypeVar("T")
R = TypeVar("R")

# Chunks handed to the devices ahead of the oldest unfinished one, per device: a device that finishes early
# takes the next chunk instead of waiting for a slower one (each waiting chunk holds its token ids).
AHEAD_PER_DEVICE = 2


class ScorerPool:
    """The scorers of a scan, one per device; use it as a context manager (or call :meth:`close`).

    CPU scorers share the threads (``--threads``, or torch's count) equally, each running its own workers.
    Precision is one for all: ``auto`` is bf16 only where every device does it natively.
    """

    def __init__(self, bundle: Bundle, settings: ScorerSettings) -> None:
        devices = resolve_devices(device_names(settings.device, settings.workers))
        precision = Precision(settings.precision)
        if precision is Precision.auto:
            precision = Precision.bf16 if all(native_bf16(d) for d in devices) else Precision.fp32
        threads, share = settings.threads, None
        if devices[0].type == "cpu" and len(devices) > 1:
            if threads is not None:
                threads = max(1, threads // len(devices))
            else:
                share = max(1, torch.get_num_threads() // len(devices))
        self.kind = devices[0].type
        self.devices = [str(d) for d in devices]
        self.scorers: list[EnsembleScorer] = []
        try:
            for device in devices:
                one = replace(settings, device=str(device), precision=precision, threads=threads, workers=None)
                self.scorers.append(EnsembleScorer(bundle, one, cpu_threads=share))
        except BaseException:
            self.close()
            raise
        first = self.scorers[0]
        self.precision, self.batch_size = first.precision, first.batch_size
        self.workers = sum(s.workers for s in self.scorers)  # CPU worker threads (or 1 per GPU), all devices
        self.threads_per_worker = first.threads_per_worker
        self._free: queue.SimpleQueue[EnsembleScorer] = queue.SimpleQueue()
        for scorer in self.scorers:
            self._free.put(scorer)
        self._stopping = threading.Event()
        # One device alone scores in the caller's thread, exactly as a plain EnsembleScorer does.
        self._threads = (ThreadPoolExecutor(len(self.scorers), thread_name_prefix="ielmscan-device")
                         if len(self.scorers) > 1 else None)

    def map(self, items: Iterable[T], work: Callable[[EnsembleScorer, T], R]) -> Iterator[tuple[T, R]]:
        """``(item, work(scorer, item))`` for every item, in the order of ``items``, each on a free device.

        An error in ``work`` is raised here at that item's turn. Items are drawn from ``items`` as devices
        can take them; if the consumer stops early, items not yet started are dropped.
        """
        if len(self.scorers) == 1:
            for item in items:
                yield item, work(self.scorers[0], item)
            return
        pending: deque[tuple[T, Future[R]]] = deque()
        ahead = AHEAD_PER_DEVICE * len(self.scorers)
        try:
            for item in items:
                threads = self._threads
                if threads is None or self._stopping.is_set():
                    raise CancelledError()  # closed from another thread
                pending.append((item, threads.submit(self._on_free_scorer, work, item)))
                while pending and (len(pending) > ahead or pending[0][1].done()):
                    first, future = pending.popleft()
                    yield first, future.result()
            while pending:
                first, future = pending[0]
                result = future.result()
                pending.popleft()
                yield first, result
        finally:
            for _, future in pending:
                future.cancel()

    def _on_free_scorer(self, work: Callable[[EnsembleScorer, T], R], item: T) -> R:
        scorer = self._free.get()
        try:
            if self._stopping.is_set():
                raise CancelledError()
            # Kernels go to the scorer's GPU whatever this thread's current device is; allocations too.
            with torch.cuda.device(scorer.device) if scorer.device.type == "cuda" else nullcontext():
                return work(scorer, item)
        finally:
            self._free.put(scorer)

    def close(self) -> None:
        """Stop every scorer (a chunk being scored stops at its next batch) and the device threads."""
        if getattr(self, "_stopping", None) is not None:
            self._stopping.set()
        for scorer in self.scorers:
            scorer.close()
        threads, self._threads = getattr(self, "_threads", None), None
        if threads is not None:
            threads.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> ScorerPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
