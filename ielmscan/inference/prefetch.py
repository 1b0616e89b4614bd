"""Run a producer one step ahead in a background thread (read + encode the next chunk during inference)."""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


@dataclass
class WaitTime:
    """Seconds a consumer spent waiting for its producer; accumulates over every stream it is given to.

    Near zero when the consumer is the slow side; a large share of the wall time means the producer
    (reading and encoding the genome) holds the consumer (the model) back.
    """

    seconds: float = 0.0


def prefetched(items: Iterable[T], depth: int = 2, wait: WaitTime | None = None) -> Iterator[T]:
    """Yield ``items`` in order while a background thread produces up to ``depth`` of them ahead.

    An exception in the producer is re-raised in the consumer at the point it occurred; if the consumer
    stops early (an exception, or closing the generator), the producer is told to stop and is joined.
    The time the consumer spends blocked on the next item is added to ``wait``.
    """
    buffer: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put(_Failure(exc))
            return
        put(_DONE)

    worker = threading.Thread(target=produce, name="ielmscan-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            asked = time.perf_counter()
            item = buffer.get()
            if wait is not None:
                wait.seconds += time.perf_counter() - asked
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()
